//! Engine status changes reach the client's webhook: linking a client in the sandbox delivers a
//! signed `client_status` event with `Authenticated` and the connected number.

mod api_engine_support;

use api_engine_support::{create_phone, Chattu};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One request the receiver got: the `X-Chattu-Event` header and the JSON body.
struct Delivery {
    event: String,
    body: Value,
}

/// A webhook receiver on 127.0.0.1 answering 200 to everything; returns its URL.
fn receiver() -> (String, mpsc::Receiver<Delivery>) {
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

#[test]
fn linking_a_client_delivers_a_client_status_webhook() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true")],
    );
    let http = chattu.http();
    let (_, key) = chattu.admin();
    let (url, deliveries) = receiver();
    create_phone(&http, "15550008881", "Tal");

    let added = http.add_number(
        &key,
        json!({"clientId": "hooked", "phoneNumber": "15550008881"}),
    );
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    let set = http.send(
        "POST",
        "/api/update-webhook",
        &[("x-api-key", &key)],
        Some(json!({"clientId": "hooked", "webhookUrl": url})),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    let scan = http.post("/sim/phones/15550008881/scan", json!({"qr": qr}));
    assert_eq!(scan.status, 200, "{}", scan.text());

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = deliveries
            .recv_timeout(left)
            .expect("a client_status event with Authenticated");
        if delivery.event != "client_status" {
            continue;
        }
        assert_eq!(delivery.body["event"], "client_status");
        let data = &delivery.body["data"];
        assert_eq!(data["clientId"], "hooked");
        if data["status"] == "Authenticated" {
            assert_eq!(data["connectedNumber"], "15550008881@c.us");
            break;
        }
    }
}
