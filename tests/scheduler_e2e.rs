//! The scheduler sends through the real engine, exactly once, across a SIGKILL: the real `chattu`
//! binary, a client linked to a simulated phone, schedules made through POST /schedule-message,
//! and the recipient phone's inbox read back from the simulator's control API.
//!
//! For the kill test the simulator is a standalone `chattu sim` process, so the phones' inboxes
//! survive when chattu (with its engines) is killed with SIGKILL while sends are due.

mod api_engine_support;

use api_engine_support::{create_phone, Chattu, Http, Process, Sim};
use chattu::services::time::format_rfc3339;
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `ms` since the epoch as `2025-10-06T18:30:00Z`.
fn rfc3339(ms: u64) -> String {
    format_rfc3339(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Logs in as admin and returns the session cookie (the schedule routes are session-only).
fn session(chattu: &Chattu) -> String {
    chattu.admin().0
}

fn schedule(http: &Http, cookie: &str, client: &str, to: &str, text: &str, at: &str) -> u64 {
    let res = http.send(
        "POST",
        "/schedule-message",
        &[("cookie", cookie)],
        Some(json!({"clientId": client, "number": to, "message": text, "scheduleTime": at})),
    );
    assert!(res.status == 200 || res.status == 201, "{}", res.text());
    res.json()["id"].as_u64().expect("schedule id")
}

fn schedules(http: &Http, cookie: &str) -> Vec<Value> {
    let res = http.send("GET", "/scheduled-messages", &[("cookie", cookie)], None);
    assert_eq!(res.status, 200, "{}", res.text());
    res.json().as_array().cloned().unwrap_or_default()
}

/// Texts in the phone's inbox, in arrival order.
fn inbox(sim: &Http, phone: &str) -> Vec<String> {
    let res = sim.get(&format!("/sim/phones/{phone}/messages"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["received"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|m| m["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls until `done` holds, for at most `secs` seconds.
fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_scheduled_message_reaches_the_phone_once_and_is_marked_sent() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    create_phone(&http, "15550007101", "Desk");
    create_phone(&http, "15550007102", "Noa");
    let added = http.add_number(
        &key,
        json!({"clientId": "planner", "phoneNumber": "15550007101"}),
    );
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    let scan = http.post("/sim/phones/15550007101/scan", json!({"qr": qr}));
    assert_eq!(scan.status, 200, "{}", scan.text());
    chattu.wait_status(&key, "planner", "Authenticated");

    let at = rfc3339(now_ms() + 2_000);
    let id = schedule(
        &http,
        &cookie,
        "planner",
        "+15550007102",
        "good morning",
        &at,
    );
    let before = schedules(&http, &cookie);
    let mine = before.iter().find(|s| s["id"] == id).expect("listed");
    assert_eq!(mine["status"], "pending", "{mine}");
    assert_eq!(mine["sentTime"], Value::Null);

    wait_until(30, "the scheduled text at the phone", || {
        !inbox(&http, "15550007102").is_empty()
    });
    wait_until(30, "the schedule marked sent", || {
        schedules(&http, &cookie)
            .iter()
            .any(|s| s["id"] == id && s["status"] == "sent")
    });
    let after = schedules(&http, &cookie);
    let mine = after.iter().find(|s| s["id"] == id).expect("listed");
    let sent_time = mine["sentTime"].as_str().expect("sentTime");
    assert!(sent_time >= at.as_str(), "sent {sent_time} before due {at}");
    // Not again on a later tick.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inbox(&http, "15550007102"), ["good morning"]);
}

#[test]
fn scheduled_messages_due_during_a_sigkill_reach_the_phone_exactly_once() {
    let sim = Sim::start();
    let sim_http = sim.http();
    let mut chattu = Chattu::against(&sim);
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    create_phone(&sim_http, "15550007201", "Office");
    create_phone(&sim_http, "15550007202", "Dana");
    // Outside the sandbox the API gives no QR text; pair by code.
    let added = http.add_number(
        &key,
        json!({"clientId": "office", "phoneNumber": "15550007201", "pairingMethod": "code"}),
    );
    let body = added.json();
    let code = body["pairingCode"].as_str().expect("pairingCode");
    let linked = sim_http.post("/sim/phones/15550007201/link-code", json!({"code": code}));
    assert_eq!(linked.status, 200, "{}", linked.text());
    chattu.wait_status(&key, "office", "Authenticated");

    // Several schedules due at the same second; one client sends them one at a time, so a kill
    // right after the first arrives catches the others pending, claimed or on the wire.
    // Half of them are due two seconds later, so they are still pending at the kill.
    let count = 8;
    let base = now_ms() + 3_000;
    let texts: Vec<String> = (0..count).map(|i| format!("reminder {i}")).collect();
    for (i, text) in texts.iter().enumerate() {
        let at = rfc3339(base + if i < count / 2 { 0 } else { 2_000 });
        schedule(&http, &cookie, "office", "15550007202", text, &at);
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while inbox(&sim_http, "15550007202").is_empty() {
        assert!(Instant::now() < deadline, "no scheduled text arrived");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL: dropping a Process kills its child with SIGKILL (std's Child::kill).
    let placeholder = Process::spawn(&["--version"], &[], &chattu.data.0);
    drop(std::mem::replace(&mut chattu.process, placeholder));
    let delivered_before_kill = inbox(&sim_http, "15550007202").len();
    eprintln!("{delivered_before_kill} of {count} delivered before the kill");

    chattu.start_again();
    let http = chattu.http();
    let cookie = session(&chattu);
    wait_until(90, "every schedule marked sent after the restart", || {
        let list = schedules(&http, &cookie);
        list.len() == count && list.iter().all(|s| s["status"] == "sent")
    });
    // Which path each interrupted schedule took (informative; the kill's timing varies).
    for line in chattu.process.output().lines() {
        if line.contains("after restart") {
            eprintln!("{line}");
        }
    }
    // Give a duplicate time to arrive before counting.
    std::thread::sleep(Duration::from_secs(2));
    let mut received = inbox(&sim_http, "15550007202");
    received.sort();
    let mut expected = texts.clone();
    expected.sort();
    assert_eq!(received, expected, "each scheduled text exactly once");
    for s in schedules(&http, &cookie) {
        assert!(s["sentTime"].is_string(), "{s}");
    }
}

/// The resend after an `Unknown` reconciliation: the same scheduled message sent twice under its
/// message id is recorded once and reaches the phone once (the simulated phone, like WhatsApp,
/// drops a repeated id from the same device). In-process, through the engine-backed sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_under_the_same_message_id_reaches_the_phone_once() {
    use chattu::engine::EngineStatus;
    use chattu::services::scheduler::{new_message_id, Reconciled, ScheduledSender, ScheduledText};
    use chattu::services::whatsapp::{self, EngineSenders};
    use chattu::services::{App, OpenOptions, Role, SystemClock};
    use http_body_util::BodyExt;
    use hyper::Method;
    use std::sync::Arc;

    let dir = api_engine_support::TempDir::new("resend");
    let mut config = chattu::config::Config::default();
    config.storage.data_dir = dir.0.clone();
    config.accounts.argon2_memory_kib = 1024;
    config.accounts.argon2_iterations = 1;
    let options = OpenOptions {
        clock: Arc::new(SystemClock),
        initial_admin_password: Some("admin-password-1".into()),
    };
    let app = App::open_with(config, options).expect("open app");
    let (_, key) = (app.accounts)
        .create_user_local("ops", Role::User, "ops-password-1")
        .expect("user");
    let caller = app.accounts.authenticate_api_key(&key).expect("caller");
    app.clients
        .create(&caller, "desk", "15550007401")
        .expect("client");
    let manager = whatsapp::start(&app, true).await.expect("engines");
    let sandbox = app.whatsapp.sandbox().expect("sandbox").clone();
    let control = |method: Method, path: String, body: Value| {
        let sandbox = sandbox.clone();
        async move {
            let bytes = match body {
                Value::Null => bytes::Bytes::new(),
                body => bytes::Bytes::from(body.to_string()),
            };
            let res = sandbox.control(method, &path, bytes).await;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.expect("body").to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    for phone in ["15550007401", "15550007402"] {
        let (status, body) = control(
            Method::POST,
            "/sim/phones".into(),
            json!({"phone": phone, "name": phone}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let status = manager
        .settled_status("desk", Duration::from_secs(10))
        .await
        .expect("engine");
    let EngineStatus::PendingAuth { qr, .. } = status else {
        panic!("expected a QR code, got {status:?}");
    };
    let (status, body) = control(
        Method::POST,
        "/sim/phones/15550007401/scan".into(),
        json!({"qr": qr}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let engine = manager.handle("desk").expect("engine");
    tokio::time::timeout(
        Duration::from_secs(20),
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await
    .expect("connected in time");

    let senders = Arc::new(EngineSenders::new(&app));
    let message = ScheduledText {
        schedule_id: 1,
        client_id: "desk".into(),
        recipient: "+15550007402".into(),
        text: "only once".into(),
        message_id: new_message_id(),
    };
    let sender = senders.clone();
    let sent = tokio::task::spawn_blocking(move || {
        assert_eq!(
            sender.reconcile("desk", &message.message_id),
            Reconciled::NotSent
        );
        let mut sends = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        // Connected is published a moment before the engine can send; Unavailable is retried.
        while sends < 2 {
            match sender.send_text(&message) {
                Ok(_) => sends += 1,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("not yet: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("send: {e}"),
            }
        }
        message
    })
    .await
    .expect("sends");

    let mut received = Vec::new();
    for _ in 0..40 {
        let (_, inbox) = control(
            Method::GET,
            "/sim/phones/15550007402/messages".into(),
            Value::Null,
        )
        .await;
        received = inbox["received"].as_array().cloned().unwrap_or_default();
        if !received.is_empty() {
            // Time for a duplicate to show up.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (_, inbox) = control(
                Method::GET,
                "/sim/phones/15550007402/messages".into(),
                Value::Null,
            )
            .await;
            received = inbox["received"].as_array().cloned().unwrap_or_default();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["text"], "only once");
    assert_eq!(received[0]["id"], sent.message_id.as_str());
    // One history row for the two attempts, and the server's ack recorded for reconciliation.
    let history = app.history.sent(&caller).expect("history");
    assert_eq!(
        history.iter().filter(|m| m.message == "only once").count(),
        1
    );
    for _ in 0..40 {
        if senders.reconcile("desk", &sent.message_id) == Reconciled::Sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        senders.reconcile("desk", &sent.message_id),
        Reconciled::Sent
    );
    whatsapp::stop(&app).await;
}
