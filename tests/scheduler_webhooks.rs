//! A scheduled message announces itself with `message_sent` only once WhatsApp accepted it: the
//! webhook is queued in the transaction that marks the schedule `sent`. A send WhatsApp refuses
//! (the simulator's injected 463) ends `failed` and no `message_sent` is ever delivered for it.
//! Real `chattu serve --sandbox`, a webhook receiver on 127.0.0.1.

mod api_engine_support;

use api_engine_support::{create_phone, webhook_receiver as receiver, Chattu, Delivery, Http};
use chattu::services::time::format_rfc3339;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLIENT_PHONE: &str = "15550007301";
const FRIEND: &str = "15550007302";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn schedule(http: &Http, cookie: &str, text: &str) -> u64 {
    let at = format_rfc3339(now_ms() + 1_500);
    let res = http.send(
        "POST",
        "/schedule-message",
        &[("cookie", cookie)],
        Some(json!({"clientId": "planner", "number": format!("+{FRIEND}"), "message": text, "scheduleTime": at})),
    );
    assert!(res.status == 200 || res.status == 201, "{}", res.text());
    res.json()["id"].as_u64().expect("schedule id")
}

fn wait_status(http: &Http, cookie: &str, id: u64, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let res = http.send("GET", "/scheduled-messages", &[("cookie", cookie)], None);
        assert_eq!(res.status, 200, "{}", res.text());
        let all = res.json();
        let mine = all
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == id).cloned());
        if let Some(mine) = mine.filter(|s| s["status"] == status) {
            return mine;
        }
        assert!(
            Instant::now() < deadline,
            "schedule {id} never became {status}: {all}"
        );
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn a_refused_scheduled_send_emits_no_message_sent() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true")],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let (url, deliveries) = receiver();
    create_phone(&http, CLIENT_PHONE, "Desk");
    create_phone(&http, FRIEND, "Noa");
    let added = http.add_number(
        &key,
        json!({"clientId": "planner", "phoneNumber": CLIENT_PHONE}),
    );
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    let set = http.send(
        "POST",
        "/api/update-webhook",
        &[("x-api-key", &key)],
        Some(json!({"clientId": "planner", "webhookUrl": url})),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    let scan = http.post(
        &format!("/sim/phones/{CLIENT_PHONE}/scan"),
        json!({"qr": qr}),
    );
    assert_eq!(scan.status, 200, "{}", scan.text());
    chattu.wait_status(&key, "planner", "Authenticated");

    // WhatsApp refuses the first send: the schedule fails.
    let refuse = http.post(
        &format!("/sim/phones/{CLIENT_PHONE}/devices/1/refuse-send"),
        json!({"code": 463}),
    );
    assert_eq!(refuse.status, 200, "{}", refuse.text());
    let refused = schedule(&http, &cookie, "refused plan");
    wait_status(&http, &cookie, refused, "failed");

    // The next one goes out and is announced once.
    let accepted = schedule(&http, &cookie, "accepted plan");
    wait_status(&http, &cookie, accepted, "sent");
    let mut seen: Vec<Delivery> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen
        .iter()
        .any(|d| d.event == "message_sent" && d.body["data"]["body"] == "accepted plan")
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match deliveries.recv_timeout(left) {
            Ok(d) => seen.push(d),
            Err(_) => panic!(
                "no message_sent for the accepted schedule; got {:?}",
                seen.iter().map(|d| (&d.event, &d.body)).collect::<Vec<_>>()
            ),
        }
    }
    // Events of a client arrive in the order they were queued, so anything queued for the
    // refused send (before the accepted one) would have arrived by now.
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(d) = deliveries.try_recv() {
        seen.push(d);
    }
    let sent: Vec<&Value> = seen
        .iter()
        .filter(|d| d.event == "message_sent")
        .map(|d| &d.body)
        .collect();
    assert_eq!(sent.len(), 1, "exactly one message_sent: {sent:?}");
    let inbox = http.get(&format!("/sim/phones/{FRIEND}/messages")).json();
    let texts: Vec<&str> = inbox["received"]
        .as_array()
        .map(|all| all.iter().filter_map(|m| m["text"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        texts,
        ["accepted plan"],
        "the refused text never reached the phone"
    );
    assert_eq!(sent[0]["event"], "message_sent");
    assert_eq!(sent[0]["data"]["to"], FRIEND);
    assert_eq!(sent[0]["data"]["from"], "planner");
    assert_eq!(sent[0]["data"]["type"], "sent_message");
    assert!(
        seen.iter()
            .all(|d| d.body["data"]["body"] != "refused plan" || d.event != "message_sent"),
        "the refused schedule was announced as sent"
    );
}
