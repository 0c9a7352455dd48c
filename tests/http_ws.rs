//! GET /ws against the real binary (`chattu serve --sandbox`, so engines talk to the in-process
//! simulator and nothing leaves loopback): refusals before any socket exists (no or bad
//! credentials, cross-site Origin, no upgrade), per-account isolation of real client_status and
//! QR events, logout and shutdown closing sockets. Message, ack and reaction frames are checked
//! in-process (`chattu::http::serve_on`) by recording history the way the engine does.

mod common_http;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common_http::{TempDir, ADMIN_PASSWORD};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Response;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{HandshakeError, Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// `chattu serve --sandbox` on an ephemeral loopback port.
struct Sandboxed {
    addr: SocketAddr,
    child: Child,
    _data: TempDir,
}

impl Sandboxed {
    fn start() -> Sandboxed {
        let data = TempDir::new("ws");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chattu"));
        cmd.args([
            "serve",
            "--sandbox",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data.0);
        for (k, _) in std::env::vars() {
            if k.starts_with("CHATTU_") {
                cmd.env_remove(k);
            }
        }
        cmd.current_dir(&data.0)
            .env("CHATTU_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("CHATTU_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start chattu");
        let (tx, rx) = mpsc::channel::<String>();
        for out in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|e| Box::new(e) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        // Nobody reads any more; keep draining so the server never blocks.
                        continue;
                    }
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chattu did not log `listening on`");
            };
            let addr = line
                .split("listening on ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse::<SocketAddr>().ok());
            if let Some(addr) = addr {
                return Sandboxed {
                    addr,
                    child,
                    _data: data,
                };
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs JSON with a cookie or key; returns status and JSON body.
    fn post(&self, path: &str, auth: Auth<'_>, body: Value) -> (u16, Value, Option<String>) {
        let req = auth.apply(ureq::post(&self.url(path)));
        let res = match req.send_json(body) {
            Ok(res) => res,
            Err(ureq::Error::Status(_, res)) => res,
            Err(e) => panic!("POST {path}: {e}"),
        };
        let status = res.status();
        let cookie = res
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .map(str::to_string);
        (status, res.into_json().unwrap_or(Value::Null), cookie)
    }

    fn login(&self, username: &str, password: &str) -> String {
        let body = json!({"username": username, "password": password});
        let (status, _, cookie) = self.post("/login", Auth::None, body);
        assert_eq!(status, 200, "login {username}");
        cookie.expect("session cookie")
    }

    /// Creates a user with room for clients and returns its session cookie.
    fn user(&self, admin: &str, username: &str) -> String {
        let password = format!("{username}-password-1");
        let body = json!({"username": username, "password": password, "role": "user"});
        let (status, body, _) = self.post("/api/admin/users", Auth::Cookie(admin), body);
        assert!(status == 200 || status == 201, "create {username}: {body}");
        let plan = format!("/api/admin/users/{username}/plan");
        let (status, _, _) = self.post(&plan, Auth::Cookie(admin), json!({"maxClients": 10}));
        assert_eq!(status, 200);
        self.login(username, &password)
    }

    /// Adds a number (the sandbox engine starts and shows a QR); returns the answer (apiKey,
    /// qrCode, and in sandbox mode qrText).
    fn add_number(&self, cookie: &str, client_id: &str, phone: &str) -> Value {
        let body = json!({"clientId": client_id, "phoneNumber": phone});
        let (status, body, _) = self.post("/api/add-number", Auth::Cookie(cookie), body);
        assert_eq!(status, 200, "add-number {client_id}: {body}");
        body
    }

    /// A simulated phone scans the QR code of an add-number answer.
    fn scan(&self, phone: &str, added: &Value) {
        let (status, body, _) = self.post("/sim/phones", Auth::None, json!({"phone": phone}));
        assert!(status == 201 || status == 409, "phone: {body}");
        let qr = added["qrText"].as_str().expect("qrText in sandbox mode");
        let path = format!("/sim/phones/{phone}/scan");
        let (status, body, _) = self.post(&path, Auth::None, json!({"qr": qr}));
        assert_eq!(status, 200, "scan: {body}");
    }

    /// Opens /ws with the given headers (name, value).
    fn ws(&self, headers: &[(&str, &str)]) -> Result<(Socket, Response), (u16, Value)> {
        let mut req = format!("ws://{}/ws", self.addr)
            .into_client_request()
            .expect("ws request");
        for (name, value) in headers {
            let name: tungstenite::http::HeaderName = name.parse().expect("header name");
            req.headers_mut()
                .insert(name, HeaderValue::from_str(value).expect("header value"));
        }
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        match tungstenite::client::client(req, MaybeTlsStream::Plain(stream)) {
            Ok(pair) => Ok(pair),
            Err(HandshakeError::Failure(tungstenite::Error::Http(res))) => {
                let body = res
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((res.status().as_u16(), body))
            }
            Err(e) => panic!("ws handshake: {e}"),
        }
    }

    /// A socket of the session, after its `hello` (so it is subscribed).
    fn live(&self, cookie: &str) -> Socket {
        let host = self.addr.to_string();
        let origin = format!("http://{host}");
        let (mut socket, _) = self
            .ws(&[("cookie", cookie), ("origin", &origin)])
            .expect("ws opens");
        let hello = next_json(&mut socket).expect("hello");
        assert_eq!(hello["type"], "hello", "{hello}");
        socket
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }
}

impl Drop for Sandboxed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Cookie(&'a str),
}

impl Auth<'_> {
    fn apply(self, req: ureq::Request) -> ureq::Request {
        match self {
            Auth::None => req,
            Auth::Cookie(c) => req.set("cookie", c),
        }
    }
}

fn set_timeout(socket: &mut Socket, timeout: Duration) {
    if let MaybeTlsStream::Plain(stream) = socket.get_mut() {
        stream
            .set_read_timeout(Some(timeout))
            .expect("read timeout");
    }
}

/// The next JSON text frame; None when the socket closed (pings are answered by tungstenite).
fn next_json(socket: &mut Socket) -> Option<Value> {
    loop {
        match socket.read() {
            Ok(Message::Text(text)) => {
                return Some(serde_json::from_str(&text).expect("JSON frame"))
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Reads frames until one satisfies `want`; returns everything read, that one last.
fn read_until(socket: &mut Socket, want: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(event) = next_json(socket) else {
            panic!("socket closed before the wanted event; saw {seen:?}");
        };
        let done = want(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
    panic!("no wanted event within 30 s; saw {seen:?}");
}

fn is(kind: &'static str, client: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == kind && e["clientId"] == client
}

/// The close frame code the server sent, reading past any data frames.
fn close_code(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        match socket.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| f.code),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

#[test]
fn each_account_hears_only_its_own_clients() {
    let server = Sandboxed::start();
    let admin = server.login("admin", ADMIN_PASSWORD);
    let alice = server.user(&admin, "alice");
    let bob = server.user(&admin, "bob");
    let mut alice_ws = server.live(&alice);
    let mut bob_ws = server.live(&bob);
    let mut admin_ws = server.live(&admin);

    let a1 = server.add_number(&alice, "a1", "972501234567");
    let b1 = server.add_number(&bob, "b1", "15550001111");
    server.add_number(&admin, "z1", "15550002222");
    // A client key's socket sees its own client only.
    let a1_key = a1["apiKey"].as_str().expect("client key");
    let (mut a1_ws, _) = server.ws(&[("x-api-key", a1_key)]).expect("key socket");
    assert_eq!(next_json(&mut a1_ws).expect("hello")["clientId"], "a1");
    server.add_number(&alice, "a2", "972501234568");

    // The sandbox engines show QR codes: each account hears of its own only.
    for (socket, own, last) in [
        (&mut alice_ws, ["a1", "a2"].as_slice(), "a2"),
        (&mut bob_ws, ["b1"].as_slice(), "b1"),
        (&mut admin_ws, ["z1"].as_slice(), "z1"),
    ] {
        let seen = read_until(socket, move |e| e["type"] == "qr" && e["clientId"] == last);
        assert_own(&seen, own);
        let qr = seen.last().expect("qr")["qrCode"].as_str().unwrap_or("");
        assert!(qr.starts_with("data:image/png;base64,"), "{qr}");
    }

    // The phones scan: the status changes reach the owner (and a1's key) only.
    server.scan("972501234567", &a1);
    let seen = read_until(&mut alice_ws, is_status("a1", "Authenticated"));
    assert_own(&seen, &["a1", "a2"]);
    let number = &seen.last().expect("status")["connectedNumber"];
    assert_eq!(number, "972501234567@c.us");
    let seen = read_until(&mut a1_ws, is_status("a1", "Authenticated"));
    assert_own(&seen, &["a1"]);
    server.scan("15550001111", &b1);
    let seen = read_until(&mut bob_ws, is_status("b1", "Authenticated"));
    assert_own(&seen, &["b1"]);
    // The admin's socket: z1's QR rotations at most, nothing of alice's or bob's.
    set_timeout(&mut admin_ws, Duration::from_millis(700));
    let mut rest = Vec::new();
    while let Some(event) = next_json(&mut admin_ws) {
        rest.push(event);
    }
    assert_own(&rest, &["z1"]);
}

fn assert_own(seen: &[Value], own: &[&str]) {
    for event in seen {
        let client = event["clientId"].as_str().unwrap_or("");
        assert!(own.contains(&client), "foreign event {event} for {own:?}");
    }
}

fn is_status(client: &'static str, status: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == "client_status" && e["clientId"] == client && e["status"] == status
}

#[test]
fn refusals_happen_before_any_socket_exists() {
    let server = Sandboxed::start();
    let admin = server.login("admin", ADMIN_PASSWORD);
    let host = server.addr.to_string();
    let same_origin = format!("http://{host}");

    let (status, body) = server.ws(&[]).map(|_| ()).expect_err("no cookie refused");
    assert_eq!((status, body["code"].as_str()), (401, Some("AUTH_ERROR")));
    let forged = "chattu_session=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let (status, _) = server
        .ws(&[("cookie", forged)])
        .map(|_| ())
        .expect_err("bad cookie");
    assert_eq!(status, 401);
    let (status, body) = server
        .ws(&[("cookie", &admin), ("origin", "https://evil.example")])
        .map(|_| ())
        .expect_err("cross-site refused");
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("CROSS_SITE_REQUEST"))
    );
    server
        .ws(&[("cookie", &admin), ("origin", &same_origin)])
        .expect("same origin accepted");

    // Without the upgrade headers: 426, no upgrade.
    let res = ureq::get(&server.url("/ws")).set("cookie", &admin).call();
    match res {
        Err(ureq::Error::Status(426, res)) => {
            let body: Value = res.into_json().unwrap();
            assert_eq!(body["code"], "UPGRADE_REQUIRED");
        }
        other => panic!("expected 426, got {other:?}"),
    }

    // A raw unauthenticated handshake: a JSON 401, and the connection never speaks WebSocket.
    let mut raw = TcpStream::connect(server.addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let handshake = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    raw.write_all(handshake.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = raw.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(!head.contains("sec-websocket-accept"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
}

#[test]
fn logout_and_shutdown_close_open_sockets() {
    let mut server = Sandboxed::start();
    let admin = server.login("admin", ADMIN_PASSWORD);
    let alice = server.user(&admin, "alice");
    let mut alice_ws = server.live(&alice);
    let mut admin_ws = server.live(&admin);

    let started = Instant::now();
    let (status, _, _) = server.post("/logout", Auth::Cookie(&alice), json!({}));
    assert_eq!(status, 200);
    assert_eq!(close_code(&mut alice_ws), Some(CloseCode::Policy));
    // At once, not at the periodic re-check.
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, _) = server
        .ws(&[("cookie", &alice)])
        .map(|_| ())
        .expect_err("ended session");
    assert_eq!(status, 401);

    // Disabling an account closes its sockets at once too.
    let bob = server.user(&admin, "bob");
    let mut bob_ws = server.live(&bob);
    let body = json!({"disabled": true});
    let (status, _, _) = server.post("/api/admin/users/bob/disable", Auth::Cookie(&admin), body);
    assert_eq!(status, 200);
    assert_eq!(close_code(&mut bob_ws), Some(CloseCode::Policy));
    assert!(started.elapsed() < Duration::from_secs(20));

    // The admin's session is still valid: its socket stays open until the server stops.
    server.terminate();
    assert_eq!(close_code(&mut admin_ws), Some(CloseCode::Away));
}

/// Messages, acks and reactions as the engine records them, through an in-process server.
#[test]
fn messages_and_acks_reach_only_their_owner() {
    use chattu::services::live::LiveEvent;
    use chattu::services::webhooks::{AckLevel, Webhooks};
    use chattu::services::{App, Role};

    let data = TempDir::new("ws-inproc");
    let mut env = std::collections::HashMap::new();
    env.insert("CHATTU_DATA_DIR".to_string(), data.0.display().to_string());
    let config = chattu::config::Config::load_with(
        None,
        &env,
        &[std::path::PathBuf::from("/nonexistent/chattu.toml")],
    )
    .expect("config");
    let app = App::open_with(
        config,
        chattu::services::OpenOptions {
            initial_admin_password: Some(ADMIN_PASSWORD.into()),
            ..Default::default()
        },
    )
    .expect("app");
    let (admin, _) = app.accounts.login("admin", ADMIN_PASSWORD).unwrap();
    for name in ["alice", "bob"] {
        app.accounts
            .create_user(&admin, name, Role::User, &format!("{name}-password-1"))
            .unwrap();
    }
    let (alice, alice_token) = app.accounts.login("alice", "alice-password-1").unwrap();
    let (bob, bob_token) = app.accounts.login("bob", "bob-password-1").unwrap();
    app.clients.create(&alice, "a1", "972501234567").unwrap();
    app.clients.create(&bob, "b1", "15550001111").unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = app.clone();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let stop = async {
            let _ = stop_rx.await;
        };
        let _ = chattu::http::serve_on(listener, served, stop).await;
    });
    let connect = |token: &str| {
        let mut req = format!("ws://{addr}/ws").into_client_request().unwrap();
        let cookie = format!("chattu_session={token}");
        req.headers_mut()
            .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut ws, _) = tungstenite::client::client(req, MaybeTlsStream::Plain(stream)).unwrap();
        assert_eq!(next_json(&mut ws).unwrap()["type"], "hello");
        ws
    };
    let mut alice_ws = connect(&alice_token);
    let mut bob_ws = connect(&bob_token);

    app.history
        .record_received("b1", "15550009999@s.whatsapp.net", "for bob")
        .unwrap();
    app.history
        .record_received("a1", "972521111111:4@s.whatsapp.net", "שלום")
        .unwrap();
    let sent = app
        .history
        .record_sent("a1", "972521111111", "hi back", "sent")
        .unwrap();
    Webhooks::new(&app)
        .message_ack(sent.id, "3EB0AA", AckLevel::Read, None)
        .unwrap();
    app.live.publish(LiveEvent::reaction(
        "alice",
        "a1",
        "972521111111@c.us",
        "3EB0AA",
        "👍",
        "972521111111",
        1,
    ));

    let seen = read_until(&mut alice_ws, is("reaction", "a1"));
    let kinds: Vec<&str> = seen.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds, ["message", "message", "ack", "reaction"], "{seen:?}");
    assert!(seen.iter().all(|e| e["clientId"] == "a1"), "{seen:?}");
    assert!(seen.iter().all(|e| e["chatId"] == "972521111111@c.us"));
    assert_eq!(
        (&seen[0]["body"], &seen[0]["fromMe"]),
        (&json!("שלום"), &json!(false))
    );
    assert_eq!(seen[1]["fromMe"], true);
    assert_eq!(seen[1]["messageId"], sent.id.to_string());
    assert_eq!(
        (&seen[2]["messageId"], &seen[2]["ack"]),
        (&json!("3EB0AA"), &json!("read"))
    );
    let bobs = read_until(&mut bob_ws, is("message", "b1"));
    assert_eq!(bobs.len(), 1, "{bobs:?}");
    assert_eq!(bobs[0]["body"], "for bob");

    // Bob's socket got nothing of alice's: the next thing it sees is the shutdown.
    let _ = stop_tx.send(());
    match bob_ws.read() {
        Ok(Message::Close(frame)) => assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away)),
        other => panic!("expected the shutdown close, got {other:?}"),
    }
    drop(alice_ws);
    runtime.shutdown_timeout(Duration::from_secs(5));
}

#[test]
fn clients_that_talk_too_much_are_disconnected() {
    let server = Sandboxed::start();
    let admin = server.login("admin", ADMIN_PASSWORD);

    // One oversized frame: the server drops the socket.
    let mut big = server.live(&admin);
    big.send(Message::text("x".repeat(5000))).expect("send");
    assert!(next_json(&mut big).is_none(), "socket still open");

    // Many small frames: closed with a policy violation.
    let mut chatty = server.live(&admin);
    for _ in 0..100 {
        if chatty.send(Message::text("hi")).is_err() {
            break;
        }
    }
    set_timeout(&mut chatty, Duration::from_secs(5));
    assert_eq!(close_code(&mut chatty), Some(CloseCode::Policy));

    // A quiet socket of the same account still gets its events.
    let mut quiet = server.live(&admin);
    server.add_number(&admin, "q1", "15550003333");
    let seen = read_until(&mut quiet, is("qr", "q1"));
    assert_own(&seen, &["q1"]);
}
