//! Shared by the webhook integration tests: an app on a temporary data dir with a hand-driven
//! clock, a webhook receiver on 127.0.0.1 that records what it gets and answers as told, and a
//! reply sender that records what it was asked to send.

#![allow(dead_code)]

use chattu::config::Config;
use chattu::services::webhooks::{
    self, policy, signing, ReplyError, ReplySender, WebhookSettings, WorkerHandle,
};
use chattu::services::{App, Caller, Clock, OpenOptions, Role};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const START_MS: i64 = 1_760_000_000_000;

/// A clock the test moves by hand.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "chattu-webhooks-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn open_app(dir: &TempDir, clock: Arc<ManualClock>, allow_private: bool) -> Arc<App> {
    open_app_at(dir.path(), clock, allow_private)
}

pub fn open_app_at(dir: &Path, clock: Arc<ManualClock>, allow_private: bool) -> Arc<App> {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_path_buf();
    config.accounts.argon2_memory_kib = 1024;
    config.accounts.argon2_iterations = 1;
    config.network.allow_private_addresses = allow_private;
    let options = OpenOptions {
        clock,
        initial_admin_password: Some("admin-password-1".into()),
    };
    App::open_with(config, options).unwrap()
}

/// An app with one account ("owner") and one client ("client-1").
pub struct Env {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub dir: TempDir,
    pub owner: Caller,
    pub client_id: String,
    pub client_key: String,
}

impl Env {
    /// `allow_private` is the app's `[network] allow_private_addresses` (checked when a URL is
    /// set); the worker's own setting is chosen separately in [`settings`].
    pub fn new(allow_private: bool) -> Env {
        let dir = TempDir::new();
        let clock = Arc::new(ManualClock(AtomicI64::new(START_MS)));
        let app = open_app(&dir, clock.clone(), allow_private);
        let (_, key) = app
            .accounts
            .create_user_local("owner", Role::User, "owner-password")
            .unwrap();
        let owner = app.accounts.authenticate_api_key(&key).unwrap();
        let (view, _) = app
            .clients
            .create(&owner, "client-1", "9721234567")
            .unwrap();
        Env {
            app,
            clock,
            dir,
            owner,
            client_id: view.client_id,
            client_key: view.api_key,
        }
    }

    pub fn set_webhook(&self, url: &str) {
        self.app
            .clients
            .update_webhook(&self.owner, &self.client_id, url)
            .unwrap();
    }

    pub fn start_worker(
        &self,
        settings: WebhookSettings,
        replies: Arc<dyn ReplySender>,
    ) -> WorkerHandle {
        webhooks::start_worker_with(
            self.app.store.clone(),
            self.clock.clone(),
            settings,
            replies,
            policy::system_lookup(),
        )
    }

    /// Reopens the app on the same data dir (the old one must be dropped first).
    pub fn reopen(&mut self) {
        let placeholder = open_app(&TempDir::new(), self.clock.clone(), true);
        let old = std::mem::replace(&mut self.app, placeholder);
        assert_eq!(Arc::strong_count(&old), 1, "something still holds the app");
        drop(old);
        self.app = open_app(&self.dir, self.clock.clone(), true);
    }
}

/// Short timeouts and a one-second first backoff (in clock time) for tests.
pub fn settings(allow_private: bool) -> WebhookSettings {
    WebhookSettings {
        timeout: Duration::from_secs(2),
        call_timeout: Duration::from_millis(300),
        retry_window_ms: 60_000,
        backoff_initial_ms: 1_000,
        backoff_max_ms: 8_000,
        max_attempts: 0,
        allow_private_addresses: allow_private,
        max_parallel_clients: 4,
        idle_poll: Duration::from_millis(20),
    }
}

/// Records every reply the worker asks for.
#[derive(Default)]
pub struct RecordingReplies(pub Mutex<Vec<(String, String, String)>>);

impl ReplySender for RecordingReplies {
    fn send_text(&self, client_id: &str, to: &str, text: &str) -> Result<(), ReplyError> {
        self.0
            .lock()
            .unwrap()
            .push((client_id.into(), to.into(), text.into()));
        Ok(())
    }
}

impl RecordingReplies {
    pub fn sent(&self) -> Vec<(String, String, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verifies the signature as a receiver would (5-minute tolerance around `now_ms`).
    pub fn verify(&self, api_key: &str, now_ms: i64) -> Result<(), signing::VerifyError> {
        signing::verify(
            api_key,
            self.header("x-chattu-timestamp"),
            &self.body,
            self.header("x-chattu-signature"),
            now_ms / 1000,
            300,
        )
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    pub extra_headers: String,
}

impl Answer {
    pub fn ok(body: &str) -> Answer {
        Answer {
            status: 200,
            body: body.into(),
            delay: Duration::ZERO,
            extra_headers: String::new(),
        }
    }

    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            ..Answer::ok("{\"error\":\"nope\"}")
        }
    }
}

struct ReceiverState {
    hits: Vec<Hit>,
    answer: Answer,
    /// Answers by event name, overriding `answer`.
    by_event: HashMap<String, Answer>,
}

/// An HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length bodies).
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    stop: Arc<AtomicBool>,
}

/// A port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on(0)
    }

    pub fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ReceiverState {
            hits: Vec::new(),
            answer: Answer::ok(
                "{\"status\":\"success\",\"message\":\"Webhook received successfully.\"}",
            ),
            by_event: HashMap::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s, st) = (s.clone(), st.clone());
                std::thread::spawn(move || serve_connection(conn, s, st));
            }
        });
        Receiver { addr, state, stop }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }

    pub fn answer(&self, answer: Answer) {
        self.state.lock().unwrap().answer = answer;
    }

    pub fn answer_event(&self, event: &str, answer: Answer) {
        self.state
            .lock()
            .unwrap()
            .by_event
            .insert(event.into(), answer);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    /// Waits (up to 10 s of real time) until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let hits = self.hits();
            if hits.len() >= n || Instant::now() > deadline {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve_connection(conn: TcpStream, state: Arc<Mutex<ReceiverState>>, stop: Arc<AtomicBool>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let event = headers.get("x-chattu-event").cloned().unwrap_or_default();
        let answer = {
            let mut s = state.lock().unwrap();
            s.hits.push(Hit {
                path,
                headers,
                body,
            });
            s.by_event
                .get(&event)
                .cloned()
                .unwrap_or_else(|| s.answer.clone())
        };
        if !answer.delay.is_zero() {
            std::thread::sleep(answer.delay);
        }
        let response = format!(
            "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{}",
            answer.status,
            answer.body.len(),
            answer.extra_headers,
            answer.body
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Waits (up to 10 s of real time, waking the worker) until `done` holds.
pub fn wait_until(worker: &WorkerHandle, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        worker.wake();
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}
