//! A webhook's answer to `message_received` is sent back to the sender through the real engine:
//! `chattu serve --sandbox`, a client linked to a simulated phone, a webhook receiver on
//! 127.0.0.1 answering with a `response`, and the sender phone's inbox read from /sim/.
//!
//! The other reply, `rejectionMessage` to `call_rejected` (custom and the default Hebrew text),
//! goes through the same sender; tests/calls_e2e.rs shows it reaching the caller.

mod api_engine_support;

use api_engine_support::{create_phone, Chattu, Http};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A webhook receiver on 127.0.0.1: answers `message_received` with `answer` and everything else
/// with `{}`; reports each event name. Returns its URL.
fn receiver(answer: Value) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let Ok(read_half) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(read_half);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let event = body["event"].as_str().unwrap_or("").to_string();
            let reply = if event == "message_received" {
                answer.to_string()
            } else {
                "{}".to_string()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reply.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(reply.as_bytes());
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// Texts the phone received from `from` (digits), in arrival order.
fn received_from(http: &Http, phone: &str, from: &str) -> Vec<String> {
    let res = http.get(&format!("/sim/phones/{phone}/messages"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["received"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|m| m["from"].as_str().is_some_and(|f| f.starts_with(from)))
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_webhook_response_goes_back_to_the_sender() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true")],
    );
    let http = chattu.http();
    let (_, key) = chattu.admin();
    let (url, events) = receiver(json!({"status": "success", "response": "Thanks!"}));
    create_phone(&http, "15550007301", "Shop");
    create_phone(&http, "15550007302", "Yael");
    let added = http.add_number(
        &key,
        json!({"clientId": "shop", "phoneNumber": "15550007301"}),
    );
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    let set = http.send(
        "POST",
        "/api/update-webhook",
        &[("x-api-key", &key)],
        Some(json!({"clientId": "shop", "webhookUrl": url})),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    let scan = http.post("/sim/phones/15550007301/scan", json!({"qr": qr}));
    assert_eq!(scan.status, 200, "{}", scan.text());
    chattu.wait_status(&key, "shop", "Authenticated");

    let sent = http.post(
        "/sim/phones/15550007302/messages",
        json!({"to": "15550007301", "text": "is the shop open?"}),
    );
    assert_eq!(sent.status, 201, "{}", sent.text());

    // The webhook saw the message...
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events.recv_timeout(left).expect("a message_received event");
        if event == "message_received" {
            break;
        }
    }
    // ...and its answer reached the sender, once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while received_from(&http, "15550007302", "15550007301").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the reply never reached the phone"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        received_from(&http, "15550007302", "15550007301"),
        ["Thanks!"]
    );
}
