//! Calls end to end through `chattu serve --sandbox`: a simulated phone calls a linked client, the
//! client's engine rejects the offer, the phone sees the call declined, the call appears in
//! `GET /api/incoming-calls/:clientId` and `GET /api/call-logs`, and the client's webhook gets one
//! signed `call_rejected` event with exactly the documented payload.

mod api_engine_support;

use api_engine_support::{create_phone, Chattu, Http};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_REJECTION: &str = "מצטער אינני זמין כעת.";

/// One request the webhook receiver got.
struct Delivery {
    headers: Vec<(String, String)>,
    raw: Vec<u8>,
    body: Value,
}

impl Delivery {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on 127.0.0.1 answering 200 with `answer(body)`; returns its URL.
fn receiver(answer: fn(&Value) -> Value) -> (String, mpsc::Receiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    let (name, value) = (name.trim().to_string(), value.trim().to_string());
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.parse().unwrap_or(0);
                    }
                    headers.push((name, value));
                }
            }
            let mut raw = vec![0; length];
            if reader.read_exact(&mut raw).is_err() {
                continue;
            }
            let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            let reply = answer(&body).to_string();
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                )
                .as_bytes(),
            );
            if tx.send(Delivery { headers, raw, body }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// The next delivery of `event`, skipping others (client_status, …).
fn next_event(
    deliveries: &mpsc::Receiver<Delivery>,
    event: &str,
    wait: Duration,
) -> Option<Delivery> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = deliveries.recv_timeout(left).ok()?;
        if delivery.body["event"] == event {
            return Some(delivery);
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Starts Chattu in the sandbox with webhooks to loopback allowed (and `extra_env`), creates the
/// client's phone and links `client_id` to it; returns (chattu, account API key, client API key).
fn linked_client(
    client_id: &str,
    number: &str,
    webhook: Option<&str>,
    extra_env: &[(&str, &str)],
) -> (Chattu, String, String) {
    let mut env = vec![
        ("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true"),
        ("CHATTU_WEBHOOKS_DELIVER", "true"),
        // The tests poll the API.
        ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
    ];
    env.extend_from_slice(extra_env);
    let chattu = Chattu::start(&["--sandbox"], &env);
    let http = chattu.http();
    let (_, key) = chattu.admin();
    create_phone(&http, number, "Desk");
    let added = http.add_number(&key, json!({"clientId": client_id, "phoneNumber": number}));
    assert_eq!(added.status, 200, "{}", added.text());
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    if let Some(url) = webhook {
        let set = http.send(
            "POST",
            "/api/update-webhook",
            &[("x-api-key", &key)],
            Some(json!({"clientId": client_id, "webhookUrl": url})),
        );
        assert_eq!(set.status, 200, "{}", set.text());
    }
    let scan = http.post(&format!("/sim/phones/{number}/scan"), json!({"qr": qr}));
    assert_eq!(scan.status, 200, "{}", scan.text());
    let client = chattu.wait_status(&key, client_id, "Authenticated");
    let client_key = client["apiKey"]
        .as_str()
        .expect("client apiKey")
        .to_string();
    (chattu, key, client_key)
}

fn place_call(http: &Http, from: &str, body: Value) -> String {
    let res = http.post(&format!("/sim/phones/{from}/calls"), body);
    assert_eq!(res.status, 201, "{}", res.text());
    res.json()["callId"].as_str().expect("callId").to_string()
}

/// Polls the phone's calls until `call_id` satisfies `done`; returns it.
fn wait_call(http: &Http, phone: &str, call_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = http.get(&format!("/sim/phones/{phone}/calls"));
        assert_eq!(res.status, 200, "{}", res.text());
        let calls = res.json()["calls"].as_array().cloned().unwrap_or_default();
        if let Some(call) = calls.into_iter().find(|c| c["callId"] == call_id) {
            if done(&call) {
                return call;
            }
            assert!(Instant::now() < deadline, "call never got there: {call}");
        }
        assert!(Instant::now() < deadline, "call {call_id} not listed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls GET /api/incoming-calls/:clientId until it lists `count` calls satisfying `done`.
fn wait_incoming(
    http: &Http,
    key: &str,
    client_id: &str,
    count: usize,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = http.get_ok(key, &format!("/api/incoming-calls/{client_id}"));
        assert_eq!(body["status"], "success");
        let calls = body["calls"].as_array().cloned().unwrap_or_default();
        if calls.len() == count && calls.iter().all(&done) {
            return calls;
        }
        assert!(Instant::now() < deadline, "incoming calls: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_call_to_a_client_is_rejected_recorded_and_reported_once() {
    let (url, deliveries) = receiver(|_| json!({"status": "success"}));
    let (chattu, key, client_key) = linked_client("desk", "15550020001", Some(&url), &[]);
    let http = chattu.http();
    create_phone(&http, "15550020002", "Noa");

    let before = now_ms();
    let call_id = place_call(&http, "15550020002", json!({"to": "15550020001"}));
    let call = wait_call(&http, "15550020002", &call_id, |c| c["status"] != "ringing");
    assert_eq!(call["status"], "rejected", "{call}");
    assert_eq!(call["terminateReceived"], true);
    assert_eq!(call["offeredTo"], 1);
    assert_eq!(call["rejects"], 1);
    assert_eq!(call["video"], false);
    let by = call["rejectedBy"].as_str().expect("rejectedBy");
    assert!(by.starts_with("15550020001:"), "{by}");

    // The history lists it with the documented fields.
    let calls = wait_incoming(&http, &key, "desk", 1, |c| !c["end_time"].is_null());
    let row = &calls[0];
    let mut fields: Vec<&str> = row
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "call_from",
            "client_id",
            "created_at",
            "duration",
            "end_time",
            "id",
            "is_video",
            "start_time"
        ]
    );
    assert_eq!(row["client_id"], "desk");
    assert_eq!(row["call_from"], "15550020002@c.us");
    assert_eq!(row["is_video"], false);
    assert_eq!(row["duration"], 0);
    let logs = http.send("GET", "/api/call-logs", &[("x-api-key", &key)], None);
    assert_eq!(logs.status, 200, "{}", logs.text());
    let logs = logs.json();
    let listed = logs["calls"].as_array().cloned().unwrap_or_default();
    assert!(
        listed
            .iter()
            .any(|c| c["id"] == row["id"] && c["call_from"] == "15550020002@c.us"),
        "{logs}"
    );

    // One signed call_rejected webhook, exactly the documented payload.
    let delivery =
        next_event(&deliveries, "call_rejected", Duration::from_secs(20)).expect("call_rejected");
    let timestamp = delivery.body["data"]["timestamp"]
        .as_i64()
        .expect("ms timestamp");
    // The offer's server time (whole seconds) in milliseconds.
    assert!(
        timestamp >= before / 1000 * 1000 && timestamp <= now_ms(),
        "{timestamp}"
    );
    assert_eq!(
        delivery.body,
        json!({
            "event": "call_rejected",
            "data": {
                "from": "15550020002",
                "to": "desk",
                "isVideo": false,
                "timestamp": timestamp,
                "type": "call_rejected"
            }
        })
    );
    assert_eq!(delivery.header("x-api-key"), Some(client_key.as_str()));
    let stamp = delivery
        .header("x-chattu-timestamp")
        .expect("timestamp header");
    let mut signed = format!("{stamp}.").into_bytes();
    signed.extend_from_slice(&delivery.raw);
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, client_key.as_bytes()),
        &signed,
    );
    assert_eq!(
        delivery.header("x-chattu-signature"),
        Some(format!("sha256={}", hex(mac.as_ref())).as_str())
    );

    // A video call: its own row and event, and the first call's event never comes again.
    let video_id = place_call(
        &http,
        "15550020002",
        json!({"to": "15550020001@c.us", "video": true}),
    );
    wait_call(&http, "15550020002", &video_id, |c| {
        c["status"] == "rejected"
    });
    let second =
        next_event(&deliveries, "call_rejected", Duration::from_secs(20)).expect("second event");
    assert_eq!(second.body["data"]["isVideo"], true);
    assert!(
        next_event(&deliveries, "call_rejected", Duration::from_secs(2)).is_none(),
        "a call_rejected event came twice"
    );
    let calls = wait_incoming(&http, &key, "desk", 2, |c| !c["end_time"].is_null());
    assert_eq!(calls.iter().filter(|c| c["is_video"] == true).count(), 1);
}

/// The receiver's answer to a voice call carries a rejection message; to a video call none.
fn busy_for_voice(body: &Value) -> Value {
    if body["data"]["isVideo"] == false {
        json!({"status": "success", "rejectionMessage": "Busy"})
    } else {
        json!({"status": "success"})
    }
}

/// Polls the phone's received texts until one from `from_number` equals `text`.
fn wait_text(http: &Http, phone: &str, from_number: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = http.get(&format!("/sim/phones/{phone}/messages"));
        assert_eq!(res.status, 200, "{}", res.text());
        let body = res.json();
        let received = body["received"].as_array().cloned().unwrap_or_default();
        if received.iter().any(|m| {
            m["text"] == text
                && m["chat"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(from_number))
        }) {
            return;
        }
        assert!(Instant::now() < deadline, "{text:?} never arrived: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_rejection_message_reaches_the_caller() {
    let (url, deliveries) = receiver(busy_for_voice);
    let (chattu, _, _) = linked_client("front", "15550020011", Some(&url), &[]);
    let http = chattu.http();
    create_phone(&http, "15550020012", "Dan");

    let voice = place_call(&http, "15550020012", json!({"to": "15550020011"}));
    wait_call(&http, "15550020012", &voice, |c| c["status"] == "rejected");
    next_event(&deliveries, "call_rejected", Duration::from_secs(20)).expect("voice event");
    wait_text(&http, "15550020012", "15550020011", "Busy");

    let video = place_call(
        &http,
        "15550020012",
        json!({"to": "15550020011", "video": true}),
    );
    wait_call(&http, "15550020012", &video, |c| c["status"] == "rejected");
    next_event(&deliveries, "call_rejected", Duration::from_secs(20)).expect("video event");
    wait_text(&http, "15550020012", "15550020011", DEFAULT_REJECTION);
}

#[test]
fn with_auto_reject_off_a_call_keeps_ringing_and_is_recorded() {
    let (url, deliveries) = receiver(|_| json!({"status": "success"}));
    let (chattu, key, _) = linked_client(
        "quiet",
        "15550020021",
        Some(&url),
        &[("CHATTU_WHATSAPP_AUTO_REJECT_CALLS", "false")],
    );
    let http = chattu.http();
    create_phone(&http, "15550020022", "Ori");

    let call_id = place_call(
        &http,
        "15550020022",
        json!({"to": "15550020021", "ringSecs": 120}),
    );
    let calls = wait_incoming(&http, &key, "quiet", 1, |c| c["end_time"].is_null());
    assert_eq!(calls[0]["call_from"], "15550020022@c.us");
    assert!(calls[0]["duration"].is_null());
    let call = wait_call(&http, "15550020022", &call_id, |c| c["offeredTo"] == 1);
    assert_eq!(call["status"], "ringing", "{call}");
    assert_eq!(call["rejects"], 0);
    assert!(
        next_event(&deliveries, "call_rejected", Duration::from_secs(2)).is_none(),
        "a call nobody rejected was reported as rejected"
    );

    // The caller hangs up: the engine hears the terminate and the call gets its end.
    let cancel = http.post(
        &format!("/sim/phones/15550020022/calls/{call_id}/cancel"),
        json!({}),
    );
    assert_eq!(cancel.status, 200, "{}", cancel.text());
    let calls = wait_incoming(&http, &key, "quiet", 1, |c| !c["end_time"].is_null());
    assert!(calls[0]["duration"].as_u64().is_some());
    let again = http.post(
        &format!("/sim/phones/15550020022/calls/{call_id}/cancel"),
        json!({}),
    );
    assert_eq!(
        again.status, 404,
        "a finished call cannot be cancelled again"
    );
}

#[test]
fn a_call_to_an_account_without_online_companions_times_out() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    create_phone(&http, "15550020031", "Gil");
    create_phone(&http, "15550020032", "Yael");
    let call_id = place_call(
        &http,
        "15550020031",
        json!({"to": "15550020032", "ringSecs": 1}),
    );
    let call = wait_call(&http, "15550020031", &call_id, |c| c["status"] != "ringing");
    assert_eq!(call["status"], "timeout");
    assert_eq!(call["offeredTo"], 0);
    assert!(!call["endedAt"].is_null());

    let unknown = http.post(
        "/sim/phones/15550020031/calls",
        json!({"to": "15550029999"}),
    );
    assert_eq!(unknown.status, 404);
    let bad = http.post(
        "/sim/phones/15550020031/calls",
        json!({"to": "15550020032", "ringSecs": 0}),
    );
    assert_eq!(bad.status, 400);
}
