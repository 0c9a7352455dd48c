//! Failures and logout end to end: the engine's reaction to injected server failures (402 temporary
//! ban with code and expiry, 405 outdated client, 503 retry) and to its own logout request.

mod companion_support;

use chattu::engine::{
    self, CredentialStore, EngineConfig, EngineHandle, EngineStatus, MemoryCredentialStore,
    StopReason,
};
use chattu::simulator::SimulatorHandle;
use companion_support::{call, scan_qr, simulator, wait, PATIENCE};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn config(sim: &SimulatorHandle) -> EngineConfig {
    let mut config = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
    config.backoff_base = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(200);
    config
}

/// A simulator with one phone and an engine paired to it (device 1).
async fn setup(phone: &str) -> (SimulatorHandle, EngineHandle, Arc<MemoryCredentialStore>) {
    let sim = simulator().await;
    let base = sim.http_base();
    call(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({ "phone": phone })),
    )
    .await;
    let store = Arc::new(MemoryCredentialStore::new());
    let engine = engine::start(config(&sim), store.clone());
    scan_qr(&sim, phone, &engine).await;
    wait(&engine, "connected", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await;
    (sim, engine, store)
}

async fn inject(sim: &SimulatorHandle, phone: &str, body: Value) {
    let (status, answer) = call(
        "POST",
        format!("{}/sim/phones/{phone}/devices/1/failure", sim.http_base()),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn logout_unlinks_and_wipes() {
    let (sim, engine, store) = setup("15550002020").await;
    engine.logout().await.unwrap();
    assert!(matches!(engine.status(), EngineStatus::LoggedOut { .. }));
    assert!(store.load().unwrap().is_none());
    // The server heard it: the phone no longer lists the companion.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, phone) = call(
            "GET",
            format!("{}/sim/phones/15550002020", sim.http_base()),
            None,
        )
        .await;
        if phone["devices"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "device still linked: {phone}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn temporary_ban_stops_with_code_and_expiry() {
    let (sim, engine, store) = setup("15550002121").await;
    inject(
        &sim,
        "15550002121",
        json!({"reason": 402, "code": "101", "expire": 3600}),
    )
    .await;
    let status = wait(&engine, "the ban", EngineStatus::is_final).await;
    assert_eq!(
        status,
        EngineStatus::Stopped {
            reason: StopReason::TemporarilyBanned {
                code: Some("101".into()),
                expire: Some(3600)
            }
        }
    );
    assert!(store.load().unwrap().is_some(), "a ban is not a logout");
    sim.shutdown().await;
}

#[tokio::test]
async fn outdated_client_at_login_stops() {
    let (sim, engine, store) = setup("15550002222").await;
    engine.shutdown().await;
    inject(&sim, "15550002222", json!({"reason": 405})).await;
    let engine = engine::start(config(&sim), store);
    let status = wait(&engine, "405", EngineStatus::is_final).await;
    assert_eq!(
        status,
        EngineStatus::Stopped {
            reason: StopReason::ClientOutdated
        }
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn service_unavailable_is_retried() {
    let (sim, engine, _store) = setup("15550002323").await;
    inject(&sim, "15550002323", json!({"reason": 503})).await;
    wait(&engine, "reconnecting", |s| {
        matches!(s, EngineStatus::Reconnecting { .. })
    })
    .await;
    wait(&engine, "connected again", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await;
    let (status, _) = call(
        "POST",
        format!(
            "{}/sim/phones/15550002323/devices/1/failure",
            sim.http_base()
        ),
        Some(json!({"reason": 200})),
    )
    .await;
    assert_eq!(status, 400);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_reconnects_without_qr() {
    let (sim, engine, _store) = setup("15550002424").await;
    let (status, body) = call(
        "POST",
        format!("{}/sim/phones/15550002424/devices/1/drop", sim.http_base()),
        None,
    )
    .await;
    assert_eq!((status, body["dropped"].as_u64()), (200, Some(1)), "{body}");
    wait(&engine, "reconnecting", |s| {
        matches!(s, EngineStatus::Reconnecting { .. })
    })
    .await;
    let status = wait(&engine, "back online", |s| {
        matches!(
            s,
            EngineStatus::Connected { .. } | EngineStatus::PendingAuth { .. }
        )
    })
    .await;
    assert!(
        matches!(status, EngineStatus::Connected { .. }),
        "{status:?}"
    );
    engine.shutdown().await;
    sim.shutdown().await;
}
