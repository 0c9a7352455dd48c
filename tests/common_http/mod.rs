//! Shared by the HTTP integration tests: starts the real `chattu` binary (`serve --sandbox`) on an
//! ephemeral loopback port with a temporary data dir, and speaks HTTP/1.1 to it over a plain
//! `TcpStream`.

#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "admin-test-password-1";

#[path = "../temp_dir/mod.rs"]
mod temp_dir;
pub use temp_dir::TempDir;

/// A running `chattu serve`.
pub struct Server {
    pub addr: SocketAddr,
    child: Option<Child>,
    env: Vec<(String, String)>,
    /// Lines the server printed (stdout and stderr), collected in the background.
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
    pub data: TempDir,
}

impl Server {
    /// Starts with the documented defaults (plus a known admin password).
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts with extra environment overrides (`CHATTU_<SECTION>_<KEY>`).
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let data = TempDir::new("data");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, lines, addr, log) = spawn(&data.0, &env);
        Server {
            addr,
            child: Some(child),
            env,
            lines,
            log,
            data,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Stops the process with SIGTERM and waits for it; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.drain_log();
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops and starts again on the same data dir (a new port).
    pub fn restart(&mut self) {
        assert!(self.stop(), "server did not shut down cleanly");
        self.restart_stopped();
    }

    /// Starts again after [`Server::stop`], on the same data dir.
    pub fn restart_stopped(&mut self) {
        let (child, lines, addr, log) = spawn(&self.data.0, &self.env);
        self.child = Some(child);
        self.lines = lines;
        self.addr = addr;
        self.log.extend(log);
    }

    /// Everything the server logged so far.
    pub fn drain_log(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    pub fn req(&self, method: &str, path: &str) -> Req {
        Req {
            addr: self.addr,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> Req {
        self.req("GET", path)
    }

    pub fn post(&self, path: &str) -> Req {
        self.req("POST", path)
    }

    pub fn delete(&self, path: &str) -> Req {
        self.req("DELETE", path)
    }

    /// Logs in and returns the `chattu_session=...` cookie pair.
    pub fn login(&self, username: &str, password: &str) -> String {
        let res = self
            .post("/login")
            .json(&serde_json::json!({"username": username, "password": password}))
            .send();
        assert_eq!(res.status, 200, "login as {username}: {}", res.text());
        res.session_cookie().expect("login sets the session cookie")
    }

    pub fn admin_cookie(&self) -> String {
        self.login("admin", ADMIN_PASSWORD)
    }

    /// The account API key of whoever the cookie belongs to.
    pub fn api_key_for_cookie(&self, cookie: &str) -> String {
        let res = self.get("/api/profile").cookie(cookie).send();
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()["apiKey"].as_str().expect("apiKey").to_string()
    }

    /// Creates a user through the admin API and returns its account API key.
    pub fn create_user(&self, admin_cookie: &str, username: &str, password: &str) -> String {
        let res = self
            .post("/api/admin/users")
            .cookie(admin_cookie)
            .json(&serde_json::json!({"username": username, "password": password, "role": "user"}))
            .send();
        assert!(
            res.status == 200 || res.status == 201,
            "create user: {} {}",
            res.status,
            res.text()
        );
        res.json()["apiKey"]
            .as_str()
            .expect("apiKey of new user")
            .to_string()
    }

    /// Adds a WhatsApp client with an account key and returns the client API key.
    pub fn add_client(&self, account_key: &str, client_id: &str, phone: &str) -> String {
        let res = self
            .post("/api/add-number")
            .key(account_key)
            .json(&serde_json::json!({"clientId": client_id, "phoneNumber": phone}))
            .send();
        assert_eq!(res.status, 200, "add-number: {}", res.text());
        res.json()["apiKey"]
            .as_str()
            .expect("client apiKey")
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(
    data: &Path,
    env: &[(String, String)],
) -> (Child, mpsc::Receiver<String>, SocketAddr, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chattu"));
    // Sandbox mode: WhatsApp clients talk to an in-process simulator on loopback, so adding a
    // number yields a real QR code quickly and no traffic leaves the machine.
    cmd.arg("serve")
        .arg("--sandbox")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data);
    // Start from a clean slate: no inherited CHATTU_* settings, no config file from the cwd.
    for (k, _) in std::env::vars() {
        if k.starts_with("CHATTU_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(data)
        .env("CHATTU_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CHATTU_LOG_LEVEL", "info")
        // These tests set public webhook URLs: keep events queued so nothing leaves loopback.
        .env("CHATTU_WEBHOOKS_DELIVER", "false")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start chattu");
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || forward_lines(out, tx));
    }
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || forward_lines(err, tx));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let addr = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|a| a.parse::<SocketAddr>().ok());
                seen.push(line);
                if let Some(addr) = addr {
                    return (child, rx, addr, seen);
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chattu did not log `listening on`; output:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
}

fn forward_lines(stream: impl Read, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        if tx.send(line).is_err() {
            break;
        }
    }
}

/// Sends raw bytes and parses whatever comes back (for malformed or chunked requests).
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Res {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    // The server may answer and close before taking everything: a write error is fine.
    let _ = stream.write_all(bytes);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    Res::parse(&raw)
        .unwrap_or_else(|| panic!("unparseable response: {:?}", String::from_utf8_lossy(&raw)))
}

/// A request being built.
#[derive(Clone)]
pub struct Req {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn key(self, key: &str) -> Req {
        self.header("x-api-key", key)
    }

    pub fn cookie(self, cookie: &str) -> Req {
        self.header("cookie", cookie)
    }

    pub fn json(self, value: &Value) -> Req {
        self.raw("application/json", value.to_string().into_bytes())
    }

    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Req {
        self.headers
            .push(("content-type".into(), content_type.into()));
        self.body = body;
        self
    }

    pub fn send(&self) -> Res {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.method, self.path, self.addr
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        stream.write_all(&bytes).expect("write request");
        let mut raw = Vec::new();
        // The server may answer (413) and close before reading the whole body: read what came.
        let _ = stream.read_to_end(&mut raw);
        Res::parse(&raw).unwrap_or_else(|| {
            panic!(
                "unparseable response to {} {}: {:?}",
                self.method,
                self.path,
                String::from_utf8_lossy(&raw)
            )
        })
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Res {
    pub status: u16,
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Vec<u8>,
}

impl Res {
    fn parse(raw: &[u8]) -> Option<Res> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(raw.get(..split)?).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in lines {
            let (k, v) = line.split_once(':')?;
            headers
                .entry(k.trim().to_ascii_lowercase())
                .or_default()
                .push(v.trim().to_string());
        }
        let rest = raw.get(split + 4..)?;
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|v| v.iter().any(|t| t.contains("chunked")));
        let body = if chunked {
            dechunk(rest)?
        } else {
            rest.to_vec()
        };
        Some(Res {
            status,
            headers,
            body,
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The error code of a JSON error answer.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }

    /// `chattu_session=<token>` from Set-Cookie.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers.get("set-cookie")?.iter().find_map(|c| {
            let pair = c.split(';').next()?.trim();
            pair.starts_with("chattu_session=")
                .then(|| pair.to_string())
        })
    }
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(rest.get(..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = rest.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// A random-looking but unknown API key (right shape, no owner).
pub const WRONG_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

/// Accounts and clients most tests need: admin; alice (clients a1, a2); bob (client b1).
pub struct Fixture {
    pub admin_cookie: String,
    pub admin_key: String,
    pub alice_key: String,
    pub alice_cookie: String,
    pub bob_key: String,
    pub bob_cookie: String,
    pub a1_key: String,
    pub a2_key: String,
    pub b1_key: String,
}

pub const ALICE_PASSWORD: &str = "alice-password-1";
pub const BOB_PASSWORD: &str = "bob-password-1";

impl Fixture {
    pub fn new(server: &Server) -> Fixture {
        let admin_cookie = server.admin_cookie();
        let admin_key = server.api_key_for_cookie(&admin_cookie);
        let alice_key = server.create_user(&admin_cookie, "alice", ALICE_PASSWORD);
        let bob_key = server.create_user(&admin_cookie, "bob", BOB_PASSWORD);
        for user in ["alice", "bob"] {
            let res = server
                .post(&format!("/api/admin/users/{user}/plan"))
                .cookie(&admin_cookie)
                .json(&serde_json::json!({"maxClients": 1000}))
                .send();
            assert_eq!(res.status, 200, "set plan: {}", res.text());
        }
        let a1_key = server.add_client(&alice_key, "a1", "9721234567");
        let a2_key = server.add_client(&alice_key, "a2", "972512345678");
        let b1_key = server.add_client(&bob_key, "b1", "12345678901");
        Fixture {
            alice_cookie: server.login("alice", ALICE_PASSWORD),
            bob_cookie: server.login("bob", BOB_PASSWORD),
            admin_cookie,
            admin_key,
            alice_key,
            bob_key,
            a1_key,
            a2_key,
            b1_key,
        }
    }
}

/// Headers a browser adds to a request made by another site's page.
pub fn cross_site(req: Req) -> Req {
    req.header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
}

/// Opens the server's data dir in-process (the server must be stopped) to add history the
/// engine would record, so the history routes have something to show.
pub fn with_app(data: &std::path::Path, f: impl FnOnce(&std::sync::Arc<chattu::services::App>)) {
    let mut env = std::collections::HashMap::new();
    env.insert("CHATTU_DATA_DIR".to_string(), data.display().to_string());
    let config = chattu::config::Config::load_with(
        None,
        &env,
        &[std::path::PathBuf::from("/nonexistent/chattu.toml")],
    )
    .expect("config");
    let app = chattu::services::App::open(config).expect("open store");
    f(&app);
}
