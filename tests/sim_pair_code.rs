//! Pairing by phone code (§5.4) end to end: the engine asks for a code, the simulated phone types it
//! through the control API, and the engine ends up logged in. A wrong code links nothing.

mod companion_support;

use chattu::engine::{
    self, CredentialStore, EngineConfig, EngineHandle, EngineStatus, MemoryCredentialStore,
};
use chattu::simulator::SimulatorHandle;
use companion_support::simulator;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Longer than companion_support::PATIENCE (20 s), which is why `call` and `wait` below are this
/// file's own rather than the shared ones.
const PATIENCE: Duration = Duration::from_secs(30);

async fn call(method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let method = method.to_string();
    tokio::task::spawn_blocking(move || {
        let request = ureq::request(&method, &url).timeout(PATIENCE);
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {url}: {e}"),
        };
        (
            response.status(),
            response.into_json().unwrap_or(Value::Null),
        )
    })
    .await
    .unwrap()
}

async fn wait(
    engine: &EngineHandle,
    what: &str,
    pred: impl FnMut(&EngineStatus) -> bool,
) -> EngineStatus {
    match tokio::time::timeout(PATIENCE, engine.wait_for(pred)).await {
        Ok(status) => status,
        Err(_) => panic!(
            "timed out waiting for {what}; status is {:?}",
            engine.status()
        ),
    }
}

async fn unpaired_engine(sim: &SimulatorHandle) -> (EngineHandle, Arc<MemoryCredentialStore>) {
    let store = Arc::new(MemoryCredentialStore::new());
    let engine = engine::start(
        EngineConfig::simulator(sim.ws_url(), sim.trusted_root()),
        store.clone(),
    );
    wait(&engine, "QR codes", |s| {
        matches!(s, EngineStatus::PendingAuth { .. })
    })
    .await;
    (engine, store)
}

#[tokio::test]
async fn pair_by_code() {
    let sim = simulator().await;
    let base = sim.http_base();
    let (code, _) = call(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({"phone": "15550006666"})),
    )
    .await;
    assert_eq!(code, 201);
    let (engine, store) = unpaired_engine(&sim).await;

    let pairing_code = engine
        .pair_with_code("+1 555 000 6666")
        .await
        .expect("a code");
    assert_eq!(pairing_code.len(), 9);
    assert_eq!(&pairing_code[4..5], "-");

    let (status, body) = call(
        "POST",
        format!("{base}/sim/phones/15550006666/link-code"),
        Some(json!({ "code": pairing_code })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    match wait(&engine, "connected", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await
    {
        EngineStatus::Connected { jid, .. } => assert_eq!(jid, body["jid"].as_str().unwrap()),
        other => panic!("expected connected, got {other:?}"),
    }
    assert!(store.load().unwrap().unwrap().is_paired());
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_code_links_nothing() {
    let sim = simulator().await;
    let base = sim.http_base();
    call(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({"phone": "15550007777"})),
    )
    .await;
    let (engine, store) = unpaired_engine(&sim).await;
    let pairing_code = engine.pair_with_code("15550007777").await.expect("a code");
    // Same alphabet and shape, different code.
    let wrong = if pairing_code.starts_with('A') {
        "BBBB-BBBB"
    } else {
        "AAAA-AAAA"
    };
    let (status, body) = call(
        "POST",
        format!("{base}/sim/phones/15550007777/link-code"),
        Some(json!({ "code": wrong })),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("LINK_FAILED")),
        "{body}"
    );
    assert!(matches!(engine.status(), EngineStatus::PendingAuth { .. }));
    assert!(!store.load().unwrap().unwrap().is_paired());
    let (_, phone) = call("GET", format!("{base}/sim/phones/15550007777"), None).await;
    assert!(phone["devices"].as_array().unwrap().is_empty());
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn code_for_an_unknown_phone_is_refused_by_the_server() {
    let sim = simulator().await;
    let (engine, _) = unpaired_engine(&sim).await;
    assert!(engine.pair_with_code("15550008888").await.is_err());
    // No companion waits for a code for that phone either.
    let (status, body) = call(
        "POST",
        format!("{}/sim/phones/15550008888/link-code", sim.http_base()),
        Some(json!({ "code": "AAAA-AAAA" })),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    engine.shutdown().await;
    sim.shutdown().await;
}
