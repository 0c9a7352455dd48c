//! Shared by the tests that pair an engine with a simulated phone (engine messaging, groups,
//! receipts, history sync, app state, LIDs, media; the simulator's pairing, fault, group and
//! presence tests): a simulator on a loopback port, a temporary app store or bare Signal database
//! (removed on drop), the simulator's control API, pairing by QR (a messaging engine, or a plain
//! companion's credentials for raw logins), and waiting for engine events.
#![allow(dead_code)]

use chattu::engine::messaging::{
    EngineEvent, InboundSink, MessagingSetup, NoSink, ReceivedMessage, SignalDb,
};
use chattu::engine::receive::AckLevel;
use chattu::engine::signal_prekeys::RedbPreKeys;
use chattu::engine::{
    self, CredentialStore, DeviceCreds, EngineConfig, EngineHandle, EngineStatus,
    MemoryCredentialStore,
};
use chattu::simulator::{Simulator, SimulatorHandle};
use chattu::store::Store;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

pub const PATIENCE: Duration = Duration::from_secs(20);

/// A simulator listening on an ephemeral loopback port.
pub async fn simulator() -> SimulatorHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(listener).unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::env::temp_dir().join(format!(
        "chattu-companion-{name}-{}-{nanos}",
        std::process::id()
    ))
}

/// An app store in a temporary directory, removed on drop.
pub struct TempStore {
    dir: PathBuf,
    pub store: Arc<Store>,
}

impl TempStore {
    pub fn new(name: &str) -> TempStore {
        let dir = temp_dir(name);
        let store = Arc::new(Store::open(&dir).unwrap());
        TempStore { dir, store }
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bare Signal database (no app store) in a temporary directory, removed on drop.
pub struct TempDb {
    dir: PathBuf,
    pub db: Arc<redb::Database>,
}

impl TempDb {
    pub fn new(name: &str) -> TempDb {
        let dir = temp_dir(name);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Arc::new(redb::Database::create(dir.join("signal.redb")).unwrap());
        TempDb { dir, db }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One control-API call; returns the status and the JSON answer (which must be JSON).
pub async fn http(method: &'static str, url: String, body: Option<Value>) -> (u16, Value) {
    request(method, url, body, |response| response.into_json().unwrap()).await
}

/// One control-API call for tests that also meet answers without a JSON body: those read as
/// `null`.
pub async fn call(method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    request(method, url, body, |response| {
        response.into_json().unwrap_or(Value::Null)
    })
    .await
}

async fn request(
    method: &str,
    url: String,
    body: Option<Value>,
    read: fn(ureq::Response) -> Value,
) -> (u16, Value) {
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
        (response.status(), read(response))
    })
    .await
    .unwrap()
}

/// A control-API call over https to a simulator serving TLS, trusting only `cert` (its self-signed
/// certificate); returns the status and the JSON answer (Null when the answer is not JSON).
pub async fn https(
    method: &'static str,
    url: String,
    cert: Vec<u8>,
    body: Option<Value>,
) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(cert))
            .unwrap();
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let agent = ureq::AgentBuilder::new().tls_config(Arc::new(tls)).build();
        let request = agent.request(method, &url).timeout(PATIENCE);
        let result = match body {
            Some(body) => request.send_json(body),
            None => request.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        (
            response.status(),
            response.into_json().unwrap_or(Value::Null),
        )
    })
    .await
    .unwrap()
}

/// POSTs JSON to the control API; returns the status and the JSON answer.
pub async fn post(url: String, body: Value) -> (u16, Value) {
    http("POST", url, Some(body)).await
}

/// Creates a simulated phone described by `spec` (`phone`, optionally `name`).
async fn add_phone(sim: &SimulatorHandle, spec: Value) {
    let (status, body) = http(
        "POST",
        format!("{}/sim/phones", sim.http_base()),
        Some(spec),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

pub async fn create_phone(sim: &SimulatorHandle, phone: &str, name: &str) {
    add_phone(sim, json!({ "phone": phone, "name": name })).await;
}

/// A simulated phone with no push name.
pub async fn create_unnamed_phone(sim: &SimulatorHandle, phone: &str) {
    add_phone(sim, json!({ "phone": phone })).await;
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
    engine_over(sim, creds, store.store.clone(), client, sink)
}

/// A messaging engine for `creds` whose Signal state lives in `db` under namespace `client`.
pub fn engine_over(
    sim: &SimulatorHandle,
    creds: &Arc<MemoryCredentialStore>,
    db: Arc<dyn SignalDb>,
    client: &str,
    sink: Arc<dyn InboundSink>,
) -> EngineHandle {
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

/// Waits until the engine's status satisfies `pred`; on timeout names `what` and the status.
pub async fn wait(
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
    scan_qr(sim, phone, engine).await;
    connected(engine).await;
    prekeys_uploaded(sim, phone).await;
}

/// Waits for the engine's QR and scans it with `phone` (which must exist).
pub async fn scan_qr(sim: &SimulatorHandle, phone: &str, engine: &EngineHandle) {
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
}

/// Waits until the simulator holds one-time prekeys for the phone's first companion.
pub async fn prekeys_uploaded(sim: &SimulatorHandle, phone: &str) {
    // 400 polls 50 ms apart: as long as PATIENCE.
    for _ in 0..400 {
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

/// Creates `phone` and pairs a plain companion with it through the engine; returns its
/// credentials once it connected (the engine is shut down), for tests that then log in raw.
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
    scan_qr(sim, phone, &engine).await;
    connected(&engine).await;
    engine.shutdown().await;
    store.load().unwrap().unwrap()
}

/// A new unnamed phone `phone` paired with a messaging engine (credentials in memory) whose
/// Signal state lives in the bare database `db` under namespace `client-1`, recording nothing.
pub async fn paired_engine_in_db(sim: &SimulatorHandle, phone: &str, db: &TempDb) -> EngineHandle {
    create_unnamed_phone(sim, phone).await;
    let engine = engine_over(
        sim,
        &Arc::new(MemoryCredentialStore::default()),
        db.db.clone(),
        "client-1",
        Arc::new(NoSink),
    );
    pair(sim, phone, &engine).await;
    engine
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

/// The message `id` as the engine received it.
pub async fn received_by_engine(
    events: &mut broadcast::Receiver<EngineEvent>,
    id: &str,
) -> ReceivedMessage {
    match next_event(
        events,
        |e| matches!(e, EngineEvent::MessageReceived(m) if m.id == id),
    )
    .await
    {
        EngineEvent::MessageReceived(m) => m,
        _ => unreachable!(),
    }
}

/// Waits until the ack level of sent message `id` is at least `level`.
pub async fn ack_reached(events: &mut broadcast::Receiver<EngineEvent>, id: &str, level: AckLevel) {
    next_event(
        events,
        |e| matches!(e, EngineEvent::AckChanged { id: i, level: l, .. } if i == id && *l >= level),
    )
    .await;
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
