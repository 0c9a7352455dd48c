//! Raw protocol clients for the simulator tests (groups, presence, TLS, faults): any control-API
//! call, logging a paired companion in over the wire, and waiting for the next stanza of a kind.
#![allow(dead_code)]

use chattu::engine::client_payload::login_payload;
use chattu::engine::wire::{self, ClientConn};
use chattu::engine::DeviceCreds;
use chattu::protocol::binary::Node;
use chattu::protocol::noise::TrustedRoot;
use serde_json::Value;
use std::time::Duration;

/// How long a test waits for any one step before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Any control-API call; returns the status and the JSON answer (`null` when there is none).
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
        let status = response.status();
        (status, response.into_json().unwrap_or(Value::Null))
    })
    .await
    .unwrap()
}

/// Logs in as the paired device at `url`; returns the connection once the offline marker came,
/// with what came before it.
pub async fn login(url: &str, root: TrustedRoot, creds: &DeviceCreds) -> (ClientConn, Vec<Node>) {
    let paired = creds.paired.as_ref().unwrap();
    let payload = login_payload(paired.phone.parse().unwrap(), paired.device, None);
    let mut conn = wire::connect(url, &creds.noise_key, root, &payload, PATIENCE)
        .await
        .unwrap();
    assert_eq!(next(&mut conn).await.tag, "success");
    let mut before = Vec::new();
    loop {
        let node = next(&mut conn).await;
        if node.tag == "ib" && node.child("offline").is_some() {
            return (conn, before);
        }
        before.push(node);
    }
}

/// The next stanza; fails the test after [`PATIENCE`].
pub async fn next(conn: &mut ClientConn) -> Node {
    tokio::time::timeout(PATIENCE, conn.recv())
        .await
        .expect("nothing arrived in time")
        .unwrap()
}

/// The next stanza for which `wanted` holds (others are skipped).
pub async fn next_where(conn: &mut ClientConn, wanted: impl Fn(&Node) -> bool) -> Node {
    loop {
        let node = next(conn).await;
        if wanted(&node) {
            return node;
        }
    }
}

/// The next stanza with this tag.
pub async fn next_tagged(conn: &mut ClientConn, tag: &str) -> Node {
    next_where(conn, |n| n.tag == tag).await
}

/// The answer to the iq with this id.
pub async fn iq_answer(conn: &mut ClientConn, id: &str) -> Node {
    next_where(conn, |n| n.tag == "iq" && n.attr("id") == Some(id)).await
}

/// Sends an iq and waits for its answer.
pub async fn ask(conn: &mut ClientConn, iq: Node) -> Node {
    let id = iq.attr("id").expect("iq without id").to_string();
    conn.send(&iq).await.unwrap();
    iq_answer(conn, &id).await
}

/// Stanzas matching `wanted` that arrive within `window` (used to show that something did NOT
/// arrive: the caller first proves the connection is live with a stanza that must arrive).
pub async fn collect_within(
    conn: &mut ClientConn,
    window: Duration,
    wanted: impl Fn(&Node) -> bool,
) -> Vec<Node> {
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Ok(node)) = tokio::time::timeout_at(deadline, conn.recv()).await {
        if wanted(&node) {
            found.push(node);
        }
    }
    found
}

/// A temporary Signal database for a messaging engine, removed on drop.
pub struct TempDb {
    dir: std::path::PathBuf,
    pub db: std::sync::Arc<redb::Database>,
}

impl TempDb {
    pub fn new(name: &str) -> TempDb {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("chattu-sim-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = std::sync::Arc::new(redb::Database::create(dir.join("signal.redb")).unwrap());
        TempDb { dir, db }
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Creates `phone` and pairs a messaging engine (configured by `config`) with it by QR; returns
/// once the engine is connected and has uploaded prekeys.
pub async fn messaging_engine(
    base: &str,
    config: chattu::engine::EngineConfig,
    phone: &str,
    db: &TempDb,
) -> chattu::engine::EngineHandle {
    use chattu::engine::messaging::{MessagingSetup, NoSink, SignalDb};
    use chattu::engine::signal_prekeys::RedbPreKeys;
    use chattu::engine::{EngineStatus, MemoryCredentialStore};
    use serde_json::json;
    use std::sync::Arc;
    let (status, _) = http(
        "POST",
        format!("{base}/sim/phones"),
        Some(json!({ "phone": phone })),
    )
    .await;
    assert_eq!(status, 201);
    let signal_db: Arc<dyn SignalDb> = db.db.clone();
    let engine = chattu::engine::start_messaging(
        config,
        Arc::new(MemoryCredentialStore::default()),
        Arc::new(RedbPreKeys::new(signal_db.clone(), "client-1")),
        MessagingSetup {
            db: signal_db,
            namespace: "client-1".into(),
            sink: Arc::new(NoSink),
        },
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
    let (status, _) = http(
        "POST",
        format!("{base}/sim/phones/{phone}/scan"),
        Some(json!({ "qr": qr })),
    )
    .await;
    assert_eq!(status, 200);
    let connected = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(
        matches!(connected, Ok(EngineStatus::Connected { .. })),
        "{connected:?}"
    );
    for _ in 0..400 {
        let (_, view) = http("GET", format!("{base}/sim/phones/{phone}"), None).await;
        if view["devices"][0]["prekeys"].as_u64().unwrap_or(0) > 0 {
            return engine;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the engine never uploaded prekeys");
}
