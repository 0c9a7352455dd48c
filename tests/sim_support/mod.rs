//! Shared by the simulator-level tests: the control API over HTTP and pairing an engine with a
//! simulated phone to get a logged-in companion's credentials.
#![allow(dead_code)]

use chattu::engine::{
    self, CredentialStore, DeviceCreds, EngineConfig, EngineStatus, MemoryCredentialStore,
};
use chattu::simulator::SimulatorHandle;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a test waits for any one step before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// POSTs JSON to the control API; returns the status and the JSON answer.
pub async fn post(url: String, body: Value) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let response = match ureq::post(&url).timeout(PATIENCE).send_json(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        (response.status(), response.into_json().unwrap())
    })
    .await
    .unwrap()
}

/// Creates `phone` and pairs a companion with it through the engine; returns its credentials.
pub async fn paired_creds(sim: &SimulatorHandle, phone: &str) -> DeviceCreds {
    post(
        format!("{}/sim/phones", sim.http_base()),
        json!({ "phone": phone }),
    )
    .await;
    let store = Arc::new(MemoryCredentialStore::new());
    let engine = engine::start(
        EngineConfig::simulator(sim.ws_url(), sim.trusted_root()),
        store.clone(),
    );
    let qr = match tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::PendingAuth { .. })),
    )
    .await
    {
        Ok(EngineStatus::PendingAuth { qr, .. }) => qr,
        other => panic!("no QR: {other:?}"),
    };
    post(
        format!("{}/sim/phones/{phone}/scan", sim.http_base()),
        json!({ "qr": qr }),
    )
    .await;
    let status = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(matches!(status, Ok(EngineStatus::Connected { .. })));
    engine.shutdown().await;
    store.load().unwrap().unwrap()
}
