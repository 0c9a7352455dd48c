//! Shared by the engine tests for history sync, LIDs and group receipts: a temporary app store
//! (the engine keeps its Signal state, chats and LID map in it), the simulator's control API, and
//! a messaging engine paired with a simulated phone by QR.
#![allow(dead_code)]

use chattu::engine::messaging::{EngineEvent, InboundSink, MessagingSetup, NoSink, SignalDb};
use chattu::engine::signal_prekeys::RedbPreKeys;
use chattu::engine::{self, EngineConfig, EngineHandle, EngineStatus, MemoryCredentialStore};
use chattu::simulator::SimulatorHandle;
use chattu::store::Store;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

pub const PATIENCE: Duration = Duration::from_secs(20);

/// An app store in a temporary directory, removed on drop.
pub struct TempStore {
    dir: PathBuf,
    pub store: Arc<Store>,
}

impl TempStore {
    pub fn new(name: &str) -> TempStore {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "chattu-companion-{name}-{}-{nanos}",
            std::process::id()
        ));
        let store = Arc::new(Store::open(&dir).unwrap());
        TempStore { dir, store }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One control-API call; returns the status and the JSON answer.
pub async fn http(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
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

pub async fn create_phone(sim: &SimulatorHandle, phone: &str, name: &str) {
    let (status, body) = http(
        "POST",
        format!("{}/sim/phones", sim.http_base()),
        Some(json!({ "phone": phone, "name": name })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

/// The LID user of a simulated phone.
pub async fn lid_of(sim: &SimulatorHandle, phone: &str) -> String {
    let (status, view) = http(
        "GET",
        format!("{}/sim/phones/{phone}", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{view}");
    view["lid"].as_str().unwrap().to_string()
}

/// `phone` sends `text` to `to`; returns the message id.
pub async fn phone_sends(sim: &SimulatorHandle, from: &str, to: &str, text: &str) -> String {
    let (status, body) = http(
        "POST",
        format!("{}/sim/phones/{from}/messages", sim.http_base()),
        Some(json!({ "to": to, "text": text })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// A messaging engine for `creds` whose state lives in `store` under namespace `client`.
pub fn messaging_engine(
    sim: &SimulatorHandle,
    creds: &Arc<MemoryCredentialStore>,
    store: &TempStore,
    client: &str,
    sink: Arc<dyn InboundSink>,
) -> EngineHandle {
    let db: Arc<dyn SignalDb> = store.store.clone();
    engine::start_messaging(
        EngineConfig::simulator(sim.ws_url(), sim.trusted_root()),
        creds.clone(),
        Arc::new(RedbPreKeys::new(db.clone(), client)),
        MessagingSetup {
            db,
            namespace: client.to_string(),
            sink,
        },
    )
}

pub async fn connected(engine: &EngineHandle) {
    let status = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(
        matches!(status, Ok(EngineStatus::Connected { .. })),
        "{status:?}"
    );
}

/// Scans the engine's QR with `phone` (which must exist) and waits until it is connected and
/// its prekeys are on the server.
pub async fn pair(sim: &SimulatorHandle, phone: &str, engine: &EngineHandle) {
    let qr = match tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::PendingAuth { .. })),
    )
    .await
    {
        Ok(EngineStatus::PendingAuth { qr, .. }) => qr,
        other => panic!("no QR: {other:?}"),
    };
    let (status, body) = http(
        "POST",
        format!("{}/sim/phones/{phone}/scan", sim.http_base()),
        Some(json!({ "qr": qr })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    connected(engine).await;
    for _ in 0..200 {
        let (_, view) = http(
            "GET",
            format!("{}/sim/phones/{phone}", sim.http_base()),
            None,
        )
        .await;
        if view["devices"][0]["prekeys"].as_u64().unwrap_or(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the engine never uploaded prekeys");
}

/// A new engine paired with `phone` (created first, named `name`), recording nothing.
pub async fn paired_engine(
    sim: &SimulatorHandle,
    phone: &str,
    name: &str,
    store: &TempStore,
    client: &str,
) -> (EngineHandle, Arc<MemoryCredentialStore>) {
    create_phone(sim, phone, name).await;
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = messaging_engine(sim, &creds, store, client, Arc::new(NoSink));
    pair(sim, phone, &engine).await;
    (engine, creds)
}

/// The next event satisfying `wanted` (panics after [`PATIENCE`]).
pub async fn next_event(
    events: &mut broadcast::Receiver<EngineEvent>,
    mut wanted: impl FnMut(&EngineEvent) -> bool,
) -> EngineEvent {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) if wanted(&event) => return event,
            Ok(Ok(_)) => {}
            other => panic!("event never came: {other:?}"),
        }
    }
}

/// Polls `probe` (async) every 50 ms until it answers Some.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
