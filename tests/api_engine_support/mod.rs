//! Shared by the engine API tests: runs the real `chattu` binary (`serve --sandbox`, plain `serve`
//! pointed at a standalone `chattu sim`, or `sim` itself) on ephemeral loopback ports with a
//! temporary data directory, and talks HTTP to it with ureq.

#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "engine-test-admin-1";

#[path = "../temp_dir/mod.rs"]
mod temp_dir;
pub use temp_dir::TempDir;

/// Polls `probe` until it returns Some (at most 30 s).
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `chattu` process and the lines it printed.
pub struct Process {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Process {
    /// Starts `chattu ARGS` with a clean CHATTU_* environment plus `env`.
    pub fn spawn(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chattu"));
        cmd.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("CHATTU_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(cwd)
            .env("CHATTU_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CHATTU_LOG_LEVEL", "info")
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
            std::thread::spawn(move || forward(out, tx));
        }
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || forward(err, tx));
        }
        Process {
            child: Some(child),
            lines: rx,
            log: Vec::new(),
        }
    }

    /// Waits for a printed line containing `needle` and returns it.
    pub fn wait_line(&mut self, needle: &str) -> String {
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?}; output so far:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// The address of the `listening on ADDR` line.
    pub fn listening_addr(&mut self) -> SocketAddr {
        let line = self.wait_line("listening on ");
        let text = line.rsplit("listening on ").next().unwrap_or("");
        let addr = text.split_whitespace().next().unwrap_or("");
        addr.parse()
            .unwrap_or_else(|_| panic!("bad address in {line:?}"))
    }

    /// Everything printed so far.
    pub fn output(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    /// SIGTERM, then wait; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.output();
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
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn forward(stream: impl std::io::Read, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// A standalone `chattu sim`.
pub struct Sim {
    pub process: Process,
    pub addr: SocketAddr,
    pub root_hex: String,
    _dir: TempDir,
}

impl Sim {
    pub fn start() -> Sim {
        Sim::start_with(&[])
    }

    /// `chattu sim --listen 127.0.0.1:0 EXTRA`.
    pub fn start_with(extra: &[&str]) -> Sim {
        let dir = TempDir::new("sim");
        let mut args = vec!["sim", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut process = Process::spawn(&args, &[], &dir.0);
        let addr = process.listening_addr();
        let line = process.wait_line("root public key ");
        let root_hex = line
            .rsplit("root public key ")
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        assert_eq!(root_hex.len(), 64, "root key line: {line}");
        Sim {
            process,
            addr,
            root_hex,
            _dir: dir,
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws/chat", self.addr)
    }

    pub fn http(&self) -> Http {
        Http::new(self.addr)
    }
}

/// A running `chattu serve` with its data directory.
pub struct Chattu {
    pub process: Process,
    pub addr: SocketAddr,
    pub data: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Chattu {
    /// `chattu serve --sandbox` on a fresh data directory.
    pub fn sandbox() -> Chattu {
        Chattu::start(&["--sandbox"], &[])
    }

    /// `chattu serve` (no sandbox) pointed at `sim` through `[whatsapp]` environment overrides.
    pub fn against(sim: &Sim) -> Chattu {
        let url = sim.ws_url();
        Chattu::start(
            &[],
            &[
                ("CHATTU_WHATSAPP_URL", url.as_str()),
                ("CHATTU_WHATSAPP_ROOT_PUBLIC_KEY", sim.root_hex.as_str()),
            ],
        )
    }

    /// `chattu serve EXTRA --listen 127.0.0.1:0 --data-dir <tmp>`.
    pub fn start(extra: &[&str], env: &[(&str, &str)]) -> Chattu {
        let data = TempDir::new("data");
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (process, addr) = launch(&data.0, &args, &env);
        Chattu {
            process,
            addr,
            data,
            args,
            env,
        }
    }

    /// Stops (SIGTERM) and starts again on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Stops with SIGTERM; asserts a clean exit.
    pub fn stop(&mut self) {
        assert!(self.process.stop(), "chattu did not shut down cleanly");
    }

    /// Starts again after [`Chattu::stop`], on the same data directory (a new port).
    pub fn start_again(&mut self) {
        let (process, addr) = launch(&self.data.0, &self.args, &self.env);
        self.process = process;
        self.addr = addr;
    }

    pub fn http(&self) -> Http {
        Http::new(self.addr)
    }

    /// Logs in as admin: (session cookie, account API key).
    pub fn admin(&self) -> (String, String) {
        let http = self.http();
        let res = http.send(
            "POST",
            "/login",
            &[],
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        );
        assert_eq!(res.status, 200, "login: {}", res.text());
        let cookie = res
            .header("set-cookie")
            .and_then(|c| c.split(';').next().map(str::to_string))
            .expect("session cookie");
        let profile = http.send("GET", "/api/profile", &[("cookie", &cookie)], None);
        let key = profile.json()["apiKey"]
            .as_str()
            .expect("apiKey")
            .to_string();
        (cookie, key)
    }

    /// Adds client `client_id` for the simulated phone `phone` (which must exist) with the
    /// account `key`, has the phone scan its QR, and waits until the client is Authenticated.
    pub fn link_client(&self, key: &str, client_id: &str, phone: &str) {
        let http = self.http();
        let added = http.add_number(key, json!({"clientId": client_id, "phoneNumber": phone}));
        assert_eq!(added.status, 200, "{}", added.text());
        let qr = added.json()["qrText"]
            .as_str()
            .expect("sandbox qrText")
            .to_string();
        let scan = http.post(&format!("/sim/phones/{phone}/scan"), json!({"qr": qr}));
        assert_eq!(scan.status, 200, "scan: {}", scan.text());
        self.wait_status(key, client_id, "Authenticated");
    }

    /// Polls GET /api/clients until `client_id` has `status`; returns the client.
    pub fn wait_status(&self, key: &str, client_id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res = self
                .http()
                .send("GET", "/api/clients", &[("x-api-key", key)], None);
            let list = res.json();
            let client = list
                .as_array()
                .and_then(|l| l.iter().find(|c| c["clientId"] == client_id))
                .cloned();
            if let Some(client) = client.filter(|c| c["status"] == status) {
                return client;
            }
            assert!(
                Instant::now() < deadline,
                "{client_id} never reached {status:?}; clients: {list}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn launch(data: &Path, extra: &[String], env: &[(String, String)]) -> (Process, SocketAddr) {
    let data_arg = data.display().to_string();
    let mut args: Vec<&str> = vec!["serve"];
    args.extend(extra.iter().map(String::as_str));
    args.extend(["--listen", "127.0.0.1:0", "--data-dir", data_arg.as_str()]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut process = Process::spawn(&args, &env, data);
    let addr = process.listening_addr();
    (process, addr)
}

/// An HTTP answer.
pub struct Res {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Res {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// Minimal HTTP client for one server.
pub struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Http {
        Http {
            base: format!("http://{addr}"),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(40))
                .redirects(0)
                .build(),
        }
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Res {
        let mut req = self.agent.request(method, &format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(body) => req.send_json(body),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
            .collect();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("read body");
        Res {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Res {
        self.send("GET", path, &[], None)
    }

    pub fn post(&self, path: &str, body: Value) -> Res {
        self.send("POST", path, &[], Some(body))
    }

    /// POST /api/add-number with an account key.
    pub fn add_number(&self, key: &str, body: Value) -> Res {
        self.send("POST", "/api/add-number", &[("x-api-key", key)], Some(body))
    }

    /// GET `path` with an API key; asserts a 200 and answers the JSON body.
    pub fn get_ok(&self, key: &str, path: &str) -> Value {
        let res = self.send("GET", path, &[("x-api-key", key)], None);
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()
    }

    /// The `groups` of GET /api/groups/{client_id} with an API key (asserts a 200).
    pub fn groups(&self, key: &str, client_id: &str) -> Vec<Value> {
        self.get_ok(key, &format!("/api/groups/{client_id}"))["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Decodes a `data:image/png;base64,…` URL and checks it is a PNG image; returns (width, height).
pub fn decode_png_data_url(url: &str) -> (u32, u32) {
    use base64::Engine as _;
    let b64 = url
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("not a PNG data URL: {}", &url[..url.len().min(40)]));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    decode_png(&bytes)
}

/// Decodes PNG bytes fully; returns (width, height).
pub fn decode_png(bytes: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG image data");
    assert!(
        info.width > 100 && info.width == info.height,
        "square QR image"
    );
    // A QR code has both dark and light modules.
    assert!(buf.contains(&0) && buf.contains(&0xff));
    (info.width, info.height)
}

/// Creates a simulated phone through a control API at `http` (sandbox or standalone).
pub fn create_phone(http: &Http, phone: &str, name: &str) {
    let res = http.post("/sim/phones", json!({"phone": phone, "name": name}));
    assert_eq!(res.status, 201, "create phone: {}", res.text());
}

/// The linked devices (companions) of a simulated phone.
pub fn phone_devices(http: &Http, phone: &str) -> Vec<Value> {
    let res = http.get(&format!("/sim/phones/{phone}"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// One request the webhook receiver got: the `X-Chattu-Event` header and the JSON body.
pub struct Delivery {
    pub event: String,
    pub body: Value,
}

/// A webhook receiver on 127.0.0.1 answering 200 to everything; returns its URL.
pub fn webhook_receiver() -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let (mut length, mut event) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-chattu-event:") {
                    event = line["x-chattu-event:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            );
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if tx.send(Delivery { event, body }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}
