//! The pairing code over `/ws`: when `POST /api/add-number` asks for a phone-number pairing code
//! (`"pairingMethod": "code"`), the owner's open sockets get a `qr` frame carrying that code in
//! `pairingCode` (with the current QR image); another account's socket sees nothing of it.
//! Real `chattu serve --sandbox`.

mod api_engine_support;

use api_engine_support::{create_phone, Chattu};
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// A socket authenticated by `key`, after its `hello` frame (so it is subscribed).
fn live(addr: SocketAddr, key: &str) -> Socket {
    let mut req = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("x-api-key", HeaderValue::from_str(key).expect("key header"));
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let (mut socket, _) =
        tungstenite::client::client(req, MaybeTlsStream::Plain(stream)).expect("ws opens");
    let hello = next_json(&mut socket, Duration::from_secs(10)).expect("hello");
    assert_eq!(hello["type"], "hello", "{hello}");
    socket
}

/// The next JSON frame within `wait`, or None.
fn next_json(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn a_requested_pairing_code_reaches_the_owners_socket() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    create_phone(&http, "15550033001", "Coded");
    // Another account, with its own socket.
    let made = http.send(
        "POST",
        "/api/admin/users",
        &[("cookie", cookie.as_str())],
        Some(json!({"username": "other", "password": "other-password-1"})),
    );
    assert!(made.status == 200 || made.status == 201, "{}", made.text());
    let other_key = made.json()["apiKey"]
        .as_str()
        .or(made.json()["user"]["apiKey"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no apiKey in {}", made.text()));
    let addr = chattu.addr;
    let mut mine = live(addr, &key);
    let mut theirs = live(addr, &other_key);

    let added = http.add_number(
        &key,
        json!({"clientId": "coded", "phoneNumber": "15550033001", "pairingMethod": "code"}),
    );
    assert_eq!(added.status, 200, "{}", added.text());
    let code = added.json()["pairingCode"]
        .as_str()
        .expect("pairingCode")
        .to_string();

    let deadline = Instant::now() + Duration::from_secs(30);
    let frame = loop {
        assert!(
            Instant::now() < deadline,
            "no qr frame with the pairing code"
        );
        let Some(frame) = next_json(&mut mine, Duration::from_secs(1)) else {
            continue;
        };
        if frame["type"] == "qr" && frame["pairingCode"] == code.as_str() {
            break frame;
        }
    };
    assert_eq!(frame["clientId"], "coded");
    assert!(
        frame["qrCode"]
            .as_str()
            .is_some_and(|q| q.starts_with("data:image/png;base64,")),
        "{frame}"
    );
    // The other account hears nothing about this client.
    while let Some(frame) = next_json(&mut theirs, Duration::from_millis(500)) {
        assert_ne!(frame["clientId"], "coded", "{frame}");
    }
}
