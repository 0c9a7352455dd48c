//! Groups on the simulator over real sockets: a group created through `/sim/groups` is described by
//! the control API, a phone's group message (SKDM pairwise, then one skmsg) is decrypted by every
//! other participant and by nobody outside the group, announce-only groups refuse non-admins, and
//! unknown phones or groups are refused.

use chattu::simulator::{Simulator, SimulatorHandle};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpListener;

const PATIENCE: Duration = Duration::from_secs(20);

async fn http(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let request = ureq::request(method, &url).timeout(PATIENCE);
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        (response.status(), response.into_json().unwrap())
    })
    .await
    .unwrap()
}

async fn simulator() -> SimulatorHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(listener).unwrap()
}

async fn create_phone(sim: &SimulatorHandle, phone: &str) {
    let (status, body) = http(
        "POST",
        format!("{}/sim/phones", sim.http_base()),
        Some(json!({ "phone": phone })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn inbox(sim: &SimulatorHandle, group: &str, phone: &str) -> Vec<Value> {
    let (status, body) = http(
        "GET",
        format!("{}/sim/groups/{group}/inbox/{phone}", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn phone_group_messages_reach_every_other_participant_decrypted() {
    let sim = simulator().await;
    for phone in ["15550101001", "15550101002", "15550101003", "15550101004"] {
        create_phone(&sim, phone).await;
    }
    let (status, created) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({
            "creator": "15550101001",
            "subject": "קבוצת בדיקה",
            "participants": ["15550101002", "15550101003"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.ends_with("@g.us"), "{id}");

    let (status, meta) = http("GET", format!("{}/sim/groups/{id}", sim.http_base()), None).await;
    assert_eq!(status, 200);
    assert_eq!(meta["subject"], "קבוצת בדיקה");
    assert_eq!(meta["participants"].as_array().unwrap().len(), 3);

    for (from, text) in [
        ("15550101002", "שלום לכולם"),
        ("15550101002", "second"),
        ("15550101001", "from the creator"),
    ] {
        let (status, sent) = http(
            "POST",
            format!("{}/sim/groups/{id}/send", sim.http_base()),
            Some(json!({ "from": from, "text": text })),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
    }
    let texts = |messages: Vec<Value>| -> Vec<String> {
        messages
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        texts(inbox(&sim, &id, "15550101001").await),
        ["שלום לכולם", "second"]
    );
    assert_eq!(
        texts(inbox(&sim, &id, "15550101003").await),
        ["שלום לכולם", "second", "from the creator"]
    );
    assert_eq!(
        texts(inbox(&sim, &id, "15550101002").await),
        ["from the creator"]
    );
    assert!(inbox(&sim, &id, "15550101004").await.is_empty());

    // Someone outside the group cannot post to it.
    let (status, body) = http(
        "POST",
        format!("{}/sim/groups/{id}/send", sim.http_base()),
        Some(json!({ "from": "15550101004", "text": "intruder" })),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn announce_groups_and_unknown_ids_are_refused() {
    let sim = simulator().await;
    for phone in ["15550102001", "15550102002"] {
        create_phone(&sim, phone).await;
    }
    let (status, body) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({ "creator": "15550102001", "subject": "x", "participants": ["15550109999"] })),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("PHONE_NOT_FOUND"))
    );
    let (status, created) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({
            "creator": "15550102001",
            "subject": "Announcements",
            "participants": ["15550102002"],
            "announce": true,
        })),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    let send = |from: &'static str| {
        http(
            "POST",
            format!("{}/sim/groups/{id}/send", sim.http_base()),
            Some(json!({ "from": from, "text": "hi" })),
        )
    };
    let (status, body) = send("15550102002").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("READ_ONLY_CHAT"))
    );
    let (status, _) = send("15550102001").await;
    assert_eq!(status, 200);
    assert_eq!(inbox(&sim, &id, "15550102002").await.len(), 1);
    let (status, body) = http(
        "GET",
        format!("{}/sim/groups/1203630000@g.us", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("GROUP_NOT_FOUND"))
    );
    sim.shutdown().await;
}
