//! Delayed frames (`POST /sim/faults/delay`): with the engine's next frames held by the server, a
//! text send still completes with the server ack, only later; the injection is used up and
//! reported, and bad injections are refused.

mod companion_support;

use chattu::protocol::jid::Jid;
use companion_support::{call, paired_engine_in_db, simulator, TempDb};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_delayed_ack_still_completes_the_send() {
    let sim = simulator().await;
    let base = sim.http_base();
    let db = TempDb::new("delay");
    let engine = paired_engine_in_db(&sim, "15550009001", &db).await;
    let (status, _) = call(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({ "phone": "15550009002" })),
    )
    .await;
    assert_eq!(status, 201);
    // Warm up: sessions and device lists exist, so the timed send is one message frame.
    engine
        .send_text(&Jid::phone("15550009002"), "warm-up")
        .await
        .unwrap();

    let (status, injected) = call(
        "POST",
        format!("{base}/sim/faults/delay"),
        Some(json!({ "ms": 400, "count": 1, "phone": "15550009001", "device": 1 })),
    )
    .await;
    assert_eq!(status, 201, "{injected}");
    assert_eq!(injected["remaining"], 1);
    let started = Instant::now();
    let sent = engine
        .send_text(&Jid::phone("15550009002"), "slow link")
        .await
        .expect("the send failed under a delayed ack");
    // The held frame is the message itself: its ack cannot have come sooner.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    let (_, faults) = call("GET", format!("{base}/sim/faults"), None).await;
    assert_eq!(faults["delays"], json!([]));
    assert!(faults["delayed"].as_u64().unwrap() >= 1);
    let (_, inbox) = call(
        "GET",
        format!("{base}/sim/phones/15550009002/messages"),
        None,
    )
    .await;
    let texts: Vec<&str> = inbox["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default())
        .collect();
    assert!(texts.contains(&"slow link"), "{inbox}");
    assert!(inbox["received"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == sent.id.as_str()));

    for bad in [
        json!({ "ms": 0 }),
        json!({ "ms": 100, "count": 0 }),
        json!({ "ms": 100, "device": 1 }),
    ] {
        let (status, body) = call("POST", format!("{base}/sim/faults/delay"), Some(bad)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("VALIDATION_ERROR"))
        );
    }
    let (status, _) = call(
        "POST",
        format!("{base}/sim/faults/delay"),
        Some(json!({ "ms": 100, "phone": "15550000000" })),
    )
    .await;
    assert_eq!(status, 404);
    engine.shutdown().await;
    sim.shutdown().await;
}
