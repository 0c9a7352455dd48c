//! The engine sending and receiving 1:1 texts through the simulator over real sockets: engine → phone
//! arrives decrypted at the phone (delivery and read receipts raise the ack level), phone → engine is
//! decrypted and recorded in the same transaction as the session change (then acknowledged with a
//! delivery receipt the phone sees), an injected 463 refusal fails the send with that code, and a
//! restarted engine keeps its sessions and receives what was queued while it was away.

mod companion_support;

use chattu::engine::messaging::{EngineEvent, InboundSink, ReceivedMessage};
use chattu::engine::receive::AckLevel;
use chattu::engine::send::SendError;
use chattu::engine::{self, EngineConfig, EngineHandle, MemoryCredentialStore};
use chattu::protocol::jid::Jid;
use chattu::simulator::{Simulator, SimulatorHandle};
use companion_support::{
    ack_reached, connected, create_unnamed_phone, engine_over, http, next_event, pair, phone_sends,
    received_by_engine, scan_qr, TempDb,
};
use redb::{TableDefinition, WriteTransaction};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The test's own record of received messages, written inside the engine's transaction.
const INBOX: TableDefinition<&str, &str> = TableDefinition::new("test_inbox");

/// Records into [`INBOX`]; refuses (like a full disk) while `fail` is set.
#[derive(Default)]
struct TableSink {
    fail: std::sync::atomic::AtomicBool,
    attempts: std::sync::atomic::AtomicUsize,
}

impl InboundSink for TableSink {
    fn record(&self, txn: &WriteTransaction, message: &ReceivedMessage) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err("disk full".into());
        }
        let mut table = txn.open_table(INBOX).map_err(|e| e.to_string())?;
        let text = message.text.clone().unwrap_or_default();
        table
            .insert(message.id.as_str(), text.as_str())
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Reads back what [`TableSink`] recorded in a test database.
trait Recorded {
    fn recorded(&self, id: &str) -> Option<String>;
}

impl Recorded for TempDb {
    fn recorded(&self, id: &str) -> Option<String> {
        let txn = self.db.begin_read().unwrap();
        let table = txn.open_table(INBOX).ok()?;
        let value = table.get(id).unwrap();
        value.map(|v| v.value().to_string())
    }
}

fn start(sim: &SimulatorHandle, creds: &Arc<MemoryCredentialStore>, db: &TempDb) -> EngineHandle {
    start_with_sink(sim, creds, db, Arc::new(TableSink::default()))
}

fn start_with_sink(
    sim: &SimulatorHandle,
    creds: &Arc<MemoryCredentialStore>,
    db: &TempDb,
    sink: Arc<TableSink>,
) -> EngineHandle {
    engine_over(sim, creds, db.db.clone(), "client-1", sink)
}

/// Pairs a messaging engine with `phone` by QR.
async fn paired_engine(
    sim: &SimulatorHandle,
    phone: &str,
    creds: &Arc<MemoryCredentialStore>,
    db: &TempDb,
) -> EngineHandle {
    create_unnamed_phone(sim, phone).await;
    let engine = start(sim, creds, db);
    pair(sim, phone, &engine).await;
    engine
}

async fn phone_messages(sim: &SimulatorHandle, phone: &str) -> Value {
    let (status, body) = http(
        "GET",
        format!("{}/sim/phones/{phone}/messages", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(status, 200);
    body
}

/// Polls the phone until it received a message with `id`.
async fn phone_received(sim: &SimulatorHandle, phone: &str, id: &str) -> Value {
    for _ in 0..200 {
        let body = phone_messages(sim, phone).await;
        if let Some(found) = body["received"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == id))
        {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{phone} never received {id}");
}

#[tokio::test]
async fn texts_both_ways_with_receipts() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let db = TempDb::new("both-ways");
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = paired_engine(&sim, "15550003001", &creds, &db).await;
    create_unnamed_phone(&sim, "15550003002").await;
    let mut events = engine.events().unwrap();
    let friend = Jid::phone("15550003002");

    // Engine → phone: decrypted at the phone, delivered, then read.
    let sent = engine.send_text(&friend, "hello phone").await.unwrap();
    assert!(
        sent.id.starts_with("3EB0") && sent.id.len() == 22,
        "{}",
        sent.id
    );
    assert!(sent.ack >= AckLevel::Server);
    let got = phone_received(&sim, "15550003002", &sent.id).await;
    assert_eq!(got["text"], "hello phone");
    assert_eq!(got["from"], "15550003001:1@s.whatsapp.net");
    ack_reached(&mut events, &sent.id, AckLevel::Delivered).await;
    let (status, _) = http(
        "POST",
        format!("{}/sim/phones/15550003002/read", sim.http_base()),
        Some(json!({ "id": sent.id })),
    )
    .await;
    assert_eq!(status, 200);
    ack_reached(&mut events, &sent.id, AckLevel::Read).await;
    assert_eq!(engine.ack_level(&sent.id), Some(AckLevel::Read));

    // Phone → engine: decrypted, recorded in the engine's transaction, delivery receipt back.
    let id = phone_sends(&sim, "15550003002", "15550003001", "hi engine").await;
    let received = received_by_engine(&mut events, &id).await;
    assert_eq!(received.text.as_deref(), Some("hi engine"));
    assert_eq!(received.chat, friend);
    assert!(!received.from_me);
    assert_eq!(db.recorded(&id).as_deref(), Some("hi engine"));
    let mut delivered = false;
    for _ in 0..200 {
        let body = phone_messages(&sim, "15550003002").await;
        let status = body["sent"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == id.as_str()))
            .map(|m| m["status"].clone());
        if status == Some(json!("delivered")) {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        delivered,
        "the phone never saw the engine's delivery receipt"
    );

    // Established sessions keep working in both directions (msg instead of pkmsg).
    let again = engine.send_text(&friend, "second").await.unwrap();
    assert_eq!(
        phone_received(&sim, "15550003002", &again.id).await["text"],
        "second"
    );
    let id2 = phone_sends(&sim, "15550003002", "15550003001", "second back").await;
    assert_eq!(
        received_by_engine(&mut events, &id2).await.text.as_deref(),
        Some("second back")
    );

    // What the engine's own phone sends reaches the engine as a device-sent copy in the friend's chat.
    let mine = phone_sends(&sim, "15550003001", "15550003002", "from my phone").await;
    let copy = received_by_engine(&mut events, &mine).await;
    assert!(copy.from_me);
    assert_eq!(copy.chat, friend);
    assert_eq!(copy.from, Jid::phone("15550003001"));
    assert_eq!(copy.text.as_deref(), Some("from my phone"));
    assert_eq!(
        phone_received(&sim, "15550003002", &mine).await["text"],
        "from my phone"
    );

    // The engine's own phone got device-sent copies and could decrypt them (no failures).
    let own = phone_messages(&sim, "15550003001").await;
    assert_eq!(own["decryptFailures"], 0);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_send_fails_with_the_server_code() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let db = TempDb::new("refused");
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = paired_engine(&sim, "15550003101", &creds, &db).await;
    create_unnamed_phone(&sim, "15550003102").await;
    let mut events = engine.events().unwrap();
    let (status, _) = http(
        "POST",
        format!(
            "{}/sim/phones/15550003101/devices/1/refuse-send",
            sim.http_base()
        ),
        Some(json!({ "code": 463 })),
    )
    .await;
    assert_eq!(status, 200);
    let friend = Jid::phone("15550003102");
    let refused = engine.send_text(&friend, "not allowed").await;
    assert_eq!(refused, Err(SendError::Refused(463)));
    assert_eq!(refused.unwrap_err().code(), Some(463));
    match next_event(&mut events, |e| matches!(e, EngineEvent::SendFailed { .. })).await {
        EngineEvent::SendFailed { code, chat, .. } => {
            assert_eq!(code, 463);
            assert_eq!(chat, friend);
        }
        _ => unreachable!(),
    }
    let body = phone_messages(&sim, "15550003102").await;
    assert_eq!(body["received"].as_array().map(Vec::len), Some(0));
    // The refusal was for one send only.
    let sent = engine.send_text(&friend, "allowed now").await.unwrap();
    assert_eq!(
        phone_received(&sim, "15550003102", &sent.id).await["text"],
        "allowed now"
    );
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn sessions_and_queued_messages_survive_an_engine_restart() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let db = TempDb::new("restart");
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = paired_engine(&sim, "15550003201", &creds, &db).await;
    create_unnamed_phone(&sim, "15550003202").await;
    let friend = Jid::phone("15550003202");
    let mut events = engine.events().unwrap();
    let first = engine.send_text(&friend, "before restart").await.unwrap();
    phone_received(&sim, "15550003202", &first.id).await;
    let reply = phone_sends(&sim, "15550003202", "15550003201", "reply before").await;
    received_by_engine(&mut events, &reply).await;
    engine.shutdown().await;

    // While the engine is away the server queues for it.
    let queued = phone_sends(&sim, "15550003202", "15550003201", "while you were away").await;
    let (_, queue) = http(
        "GET",
        format!("{}/sim/phones/15550003201/devices/1/queue", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(queue["queued"], 1);

    let engine = start(&sim, &creds, &db);
    let mut events = engine.events().unwrap();
    connected(&engine).await;
    let got = received_by_engine(&mut events, &queued).await;
    assert_eq!(got.text.as_deref(), Some("while you were away"));
    assert!(got.offline);
    assert_eq!(db.recorded(&queued).as_deref(), Some("while you were away"));
    let after = engine.send_text(&friend, "after restart").await.unwrap();
    assert_eq!(
        phone_received(&sim, "15550003202", &after.id).await["text"],
        "after restart"
    );
    let failures = phone_messages(&sim, "15550003202").await["decryptFailures"].clone();
    assert_eq!(failures, 0);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn retry_receipts_rebuild_lost_sessions_both_ways() {
    use chattu::protocol::signal::SessionStore;
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let db = TempDb::new("retry");
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = paired_engine(&sim, "15550003301", &creds, &db).await;
    create_unnamed_phone(&sim, "15550003302").await;
    let friend = Jid::phone("15550003302");
    let mut events = engine.events().unwrap();
    let one = engine.send_text(&friend, "one").await.unwrap();
    phone_received(&sim, "15550003302", &one.id).await;
    let two = phone_sends(&sim, "15550003302", "15550003301", "two").await;
    received_by_engine(&mut events, &two).await;

    // The phone forgets its sessions: the engine's next message fails there, the phone asks for a
    // retry, and the engine sends it again over a new session.
    let (status, _) = http(
        "POST",
        format!("{}/sim/phones/15550003302/reset-sessions", sim.http_base()),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let three = engine.send_text(&friend, "three").await.unwrap();
    assert_eq!(
        phone_received(&sim, "15550003302", &three.id).await["text"],
        "three"
    );
    assert_eq!(
        phone_messages(&sim, "15550003302").await["decryptFailures"],
        1
    );

    // The engine forgets its session with the phone: the phone's next message fails, the engine
    // reports it and asks for a retry, and the resent message is recorded.
    chattu::store::signal::with_signal_txn(&db.db, "client-1", |txn| {
        txn.delete_user_sessions("15550003302")
    })
    .unwrap();
    let four = phone_sends(&sim, "15550003302", "15550003301", "four").await;
    next_event(
        &mut events,
        |e| matches!(e, EngineEvent::UndecryptableMessage { id, .. } if *id == four),
    )
    .await;
    let got = received_by_engine(&mut events, &four).await;
    assert_eq!(got.text.as_deref(), Some("four"));
    assert_eq!(db.recorded(&four).as_deref(), Some("four"));
    engine.shutdown().await;
    sim.shutdown().await;
}

/// Links a plain (non-messaging) companion to `phone` and stops it, leaving the device offline.
async fn link_offline_companion(sim: &SimulatorHandle, phone: &str) {
    let store = Arc::new(MemoryCredentialStore::new());
    let companion = engine::start(
        EngineConfig::simulator(sim.ws_url(), sim.trusted_root()),
        store,
    );
    scan_qr(sim, phone, &companion).await;
    connected(&companion).await;
    companion.shutdown().await;
}

async fn queued_for(sim: &SimulatorHandle, phone: &str, device: u16) -> u64 {
    let (_, body) = http(
        "GET",
        format!(
            "{}/sim/phones/{phone}/devices/{device}/queue",
            sim.http_base()
        ),
        None,
    )
    .await;
    body["queued"].as_u64().unwrap()
}

#[tokio::test]
async fn a_phash_mismatch_refreshes_the_cached_device_list() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let db = TempDb::new("phash");
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = paired_engine(&sim, "15550003401", &creds, &db).await;
    create_unnamed_phone(&sim, "15550003402").await;
    let friend = Jid::phone("15550003402");
    let first = engine.send_text(&friend, "x1").await.unwrap();
    phone_received(&sim, "15550003402", &first.id).await;

    // The friend links a companion; our cached list still has only the phone.
    link_offline_companion(&sim, "15550003402").await;
    let stale = engine.send_text(&friend, "x2").await.unwrap();
    phone_received(&sim, "15550003402", &stale.id).await;
    assert_eq!(queued_for(&sim, "15550003402", 1).await, 0);

    // The server's phash in that ack differed, so the next send asks for the devices again.
    let fresh = engine.send_text(&friend, "x3").await.unwrap();
    phone_received(&sim, "15550003402", &fresh.id).await;
    assert_eq!(queued_for(&sim, "15550003402", 1).await, 1);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_message_that_could_not_be_recorded_comes_again_after_reconnecting() {
    use std::sync::atomic::Ordering;
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let db = TempDb::new("unrecorded");
    let creds = Arc::new(MemoryCredentialStore::new());
    let engine = paired_engine(&sim, "15550003501", &creds, &db).await;
    engine.shutdown().await;
    create_unnamed_phone(&sim, "15550003502").await;

    // The store refuses: decrypted but not committed, so not acknowledged either.
    let sink = Arc::new(TableSink::default());
    sink.fail.store(true, Ordering::SeqCst);
    let engine = start_with_sink(&sim, &creds, &db, sink.clone());
    connected(&engine).await;
    let id = phone_sends(&sim, "15550003502", "15550003501", "keep me").await;
    for _ in 0..200 {
        if sink.attempts.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(sink.attempts.load(Ordering::SeqCst) > 0);
    assert_eq!(db.recorded(&id), None);
    engine.shutdown().await;

    // After a restart the server delivers it again and the same ciphertext decrypts.
    let sink = Arc::new(TableSink::default());
    let engine = start_with_sink(&sim, &creds, &db, sink.clone());
    let mut events = engine.events().unwrap();
    connected(&engine).await;
    let got = received_by_engine(&mut events, &id).await;
    assert_eq!(got.text.as_deref(), Some("keep me"));
    assert_eq!(db.recorded(&id).as_deref(), Some("keep me"));
    assert_eq!(sink.attempts.load(Ordering::SeqCst), 1);
    engine.shutdown().await;
    sim.shutdown().await;
}
