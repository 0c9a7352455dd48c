//! End to end over real sockets: an engine pairs with an in-process simulator by QR (scanned through the
//! control API over HTTP), logs in again with stored credentials, survives the server going away, and is
//! logged out when the phone unlinks it. A server with the wrong root is refused.

mod companion_support;

use chattu::engine::{
    self, CredentialStore, EngineConfig, EngineHandle, EngineStatus, MemoryCredentialStore,
    StopReason,
};
use chattu::simulator::{ServerIdentity, SimulatorHandle};
use companion_support::{call, simulator, wait, PATIENCE};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

fn config_for(sim: &SimulatorHandle) -> EngineConfig {
    let mut config = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
    config.backoff_base = Duration::from_millis(100);
    config.backoff_max = Duration::from_millis(500);
    config
}

async fn qr_of(engine: &EngineHandle) -> String {
    match wait(engine, "a QR code", |s| {
        matches!(s, EngineStatus::PendingAuth { .. })
    })
    .await
    {
        EngineStatus::PendingAuth { qr, qr_png, .. } => {
            assert!(qr_png.starts_with("data:image/png;base64,"));
            qr
        }
        other => panic!("expected a QR code, got {other:?}"),
    }
}

/// Every phone here is Dana.
async fn create_phone(sim: &SimulatorHandle, phone: &str) {
    companion_support::create_phone(sim, phone, "Dana").await;
}

/// Pairs a fresh engine with `phone`; returns the engine (connected) and its store.
async fn paired_engine(
    sim: &SimulatorHandle,
    phone: &str,
) -> (EngineHandle, Arc<MemoryCredentialStore>) {
    let store = Arc::new(MemoryCredentialStore::new());
    let engine = engine::start(config_for(sim), store.clone());
    let qr = qr_of(&engine).await;
    let (status, body) = call(
        "POST",
        format!("{}/sim/phones/{phone}/scan", sim.http_base()),
        Some(json!({ "qr": qr })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let device = body["device"].as_u64().unwrap();
    match wait(&engine, "connected", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await
    {
        EngineStatus::Connected { jid, lid } => {
            assert_eq!(jid, format!("{phone}:{device}@s.whatsapp.net"));
            assert!(lid.is_some_and(|l| l.len() == 15));
        }
        other => panic!("expected connected, got {other:?}"),
    }
    (engine, store)
}

#[tokio::test]
async fn pair_by_qr_resume_with_stored_creds_then_unlink() {
    let sim = simulator().await;
    create_phone(&sim, "15550001111").await;
    let (engine, store) = paired_engine(&sim, "15550001111").await;
    let creds = store.load().unwrap().expect("creds stored");
    let paired = creds.paired.clone().expect("paired");
    assert_eq!(paired.phone, "15550001111");
    assert!(engine.last_frame_at().is_some());

    let (_, phone) = call(
        "GET",
        format!("{}/sim/phones/15550001111", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(phone["devices"].as_array().unwrap().len(), 1);
    assert_eq!(phone["devices"][0]["connected"], true);

    // Restart: the stored creds log in, no QR is shown.
    engine.shutdown().await;
    let engine = engine::start(config_for(&sim), store.clone());
    let status = wait(&engine, "login", |s| {
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

    // The phone unlinks the companion: logged out, creds wiped, no reconnect.
    let (code, body) = call(
        "DELETE",
        format!(
            "{}/sim/phones/15550001111/devices/{}",
            sim.http_base(),
            paired.device
        ),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let status = wait(&engine, "logout", |s| {
        matches!(s, EngineStatus::LoggedOut { .. })
    })
    .await;
    assert!(
        matches!(status, EngineStatus::LoggedOut { .. }),
        "{status:?}"
    );
    assert!(store.load().unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(matches!(engine.status(), EngineStatus::LoggedOut { .. }));
    let (_, phone) = call(
        "GET",
        format!("{}/sim/phones/15550001111", sim.http_base()),
        None,
    )
    .await;
    assert!(phone["devices"].as_array().unwrap().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_root_is_refused() {
    let sim = simulator().await;
    let other_root = ServerIdentity::generate().trusted_root();
    let config = EngineConfig::simulator(sim.ws_url(), other_root);
    let engine = engine::start(config, Arc::new(MemoryCredentialStore::new()));
    let status = wait(&engine, "a refusal", |s| {
        matches!(
            s,
            EngineStatus::Reconnecting { .. } | EngineStatus::PendingAuth { .. }
        )
    })
    .await;
    match status {
        EngineStatus::Reconnecting { reason, .. } => {
            assert!(reason.contains("server refused"), "{reason}")
        }
        other => panic!("an untrusted server must not get as far as {other:?}"),
    }
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn second_login_replaces_the_first() {
    let sim = simulator().await;
    create_phone(&sim, "15550002222").await;
    let (first, store) = paired_engine(&sim, "15550002222").await;
    let creds = store.load().unwrap().unwrap();
    let second = engine::start(
        config_for(&sim),
        Arc::new(MemoryCredentialStore::with(creds)),
    );
    wait(&second, "second login", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await;
    let status = wait(&first, "replaced", |s| s.is_final()).await;
    assert_eq!(
        status,
        EngineStatus::Stopped {
            reason: StopReason::Replaced
        }
    );
    // Replaced is not a logout: the first engine's creds are kept.
    assert!(store.load().unwrap().is_some());
    second.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn server_down_and_up_reconnects_without_qr() {
    let sim = simulator().await;
    create_phone(&sim, "15550003333").await;
    let (engine, _store) = paired_engine(&sim, "15550003333").await;
    let addr = sim.addr;
    let state = sim.simulator().clone();
    sim.shutdown().await;
    wait(&engine, "reconnecting", |s| {
        matches!(s, EngineStatus::Reconnecting { .. })
    })
    .await;
    let listener = TcpListener::bind(addr).await.unwrap();
    let sim = state.serve(listener).unwrap();
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

#[tokio::test]
async fn qr_codes_rotate_then_time_out() {
    let sim = simulator().await;
    let mut config = config_for(&sim);
    config.qr_first_timeout = Duration::from_millis(300);
    config.qr_next_timeout = Duration::from_millis(150);
    let engine = engine::start(config, Arc::new(MemoryCredentialStore::new()));
    let first = qr_of(&engine).await;
    let second = wait(
        &engine,
        "the next QR",
        |s| matches!(s, EngineStatus::PendingAuth { qr, .. } if *qr != first),
    )
    .await;
    assert!(matches!(second, EngineStatus::PendingAuth { .. }));
    let status = wait(&engine, "QR timeout", |s| s.is_final()).await;
    assert_eq!(
        status,
        EngineStatus::Stopped {
            reason: StopReason::QrTimeout
        }
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn push_name_is_announced_with_presence() {
    let sim = simulator().await;
    create_phone(&sim, "15550006060").await;
    let (engine, store) = paired_engine(&sim, "15550006060").await;
    engine.shutdown().await;
    let mut config = config_for(&sim);
    config.push_name = Some("Shop Bot".into());
    let engine = engine::start(config, store);
    wait(&engine, "connected", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, phone) = call(
            "GET",
            format!("{}/sim/phones/15550006060", sim.http_base()),
            None,
        )
        .await;
        if phone["devices"][0]["pushName"] == "Shop Bot" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{phone}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn keepalive_pings_are_answered() {
    let sim = simulator().await;
    create_phone(&sim, "15550004444").await;
    let (engine, store) = paired_engine(&sim, "15550004444").await;
    engine.shutdown().await;
    let mut config = config_for(&sim);
    config.keepalive_min = Duration::from_millis(50);
    config.keepalive_max = Duration::from_millis(100);
    config.keepalive_timeout = Duration::from_secs(5);
    let engine = engine::start(config, store);
    wait(&engine, "connected", |s| {
        matches!(s, EngineStatus::Connected { .. })
    })
    .await;
    let before = engine.last_frame_at().unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Pongs keep arriving, and the engine is still connected (an unanswered ping would drop it).
    assert!(engine.last_frame_at().unwrap() > before);
    assert!(engine.is_live(Duration::from_secs(1)));
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn control_api_rejects_bad_input() {
    let sim = simulator().await;
    let base = sim.http_base();
    let (code, body) = call(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({"phone": "12ab"})),
    )
    .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    create_phone(&sim, "15550005555").await;
    let (code, _) = call(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({"phone": "15550005555"})),
    )
    .await;
    assert_eq!(code, 409);
    let (code, body) = call(
        "POST",
        format!("{base}/sim/phones/15550005555/scan"),
        Some(json!({"qr": "not a qr"})),
    )
    .await;
    assert_eq!((code, body["code"].as_str()), (400, Some("INVALID_QR")));
    let (code, _) = call("GET", format!("{base}/sim/phones/19999999999"), None).await;
    assert_eq!(code, 404);
    let (code, _) = call(
        "DELETE",
        format!("{base}/sim/phones/15550005555/devices/7"),
        None,
    )
    .await;
    assert_eq!(code, 404);
    let (code, info) = call("GET", format!("{base}/sim/info"), None).await;
    assert_eq!(code, 200);
    let root: String = sim
        .trusted_root()
        .public
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(info["rootPublicKey"], root.as_str());
    sim.shutdown().await;
}
