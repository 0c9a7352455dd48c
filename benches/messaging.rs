//! 1:1 text throughput and latency against an in-process simulator, with the engine's Signal state in
//! a real redb file (every send and every receive commits one transaction, so disk sync speed shows).
//!
//! Run: `cargo bench --bench messaging` (optionally `-- 500` for another message count). Prints
//! engine → phone sends (each waits for the server ack; the simulated phone decrypts in the same
//! process) and phone → engine receives (decrypt + record + commit, then the delivery receipt).

use chattu::engine::messaging::{EngineEvent, MessagingSetup, NoSink, SignalDb};
use chattu::engine::signal_prekeys::RedbPreKeys;
use chattu::engine::{self, EngineConfig, EngineHandle, EngineStatus, MemoryCredentialStore};
use chattu::protocol::jid::Jid;
use chattu::simulator::{Simulator, SimulatorHandle};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

async fn wait_connected(engine: &EngineHandle) {
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(
        matches!(status, Ok(EngineStatus::Connected { .. })),
        "{status:?}"
    );
}

async fn paired_engine(sim: &SimulatorHandle, db: Arc<dyn SignalDb>) -> EngineHandle {
    sim.simulator()
        .registry()
        .create_phone("15550020001", "Bench")
        .expect("fresh phone");
    let engine = engine::start_messaging(
        EngineConfig::simulator(sim.ws_url(), sim.trusted_root()),
        Arc::new(MemoryCredentialStore::new()),
        Arc::new(RedbPreKeys::new(db.clone(), "bench")),
        MessagingSetup {
            db,
            namespace: "bench".into(),
            sink: Arc::new(NoSink),
        },
    );
    let qr = match engine
        .wait_for(|s| matches!(s, EngineStatus::PendingAuth { .. }))
        .await
    {
        EngineStatus::PendingAuth { qr, .. } => qr,
        other => panic!("no QR: {other:?}"),
    };
    let linked = sim
        .simulator()
        .registry()
        .scan("15550020001", &qr)
        .expect("scan accepted");
    linked.await.expect("link answered").expect("linked");
    wait_connected(&engine).await;
    // Let the prekey upload land before the phone fetches a bundle.
    for _ in 0..200 {
        let uploaded = sim
            .simulator()
            .registry()
            .phone("15550020001")
            .and_then(|v| v.devices.first().map(|d| d.prekeys))
            .unwrap_or(0);
        if uploaded > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine
}

fn phone_send(base: &str, text: &str) {
    let url = format!("{base}/sim/phones/15550020002/messages");
    ureq::post(&url)
        .send_json(serde_json::json!({ "to": "15550020001", "text": text }))
        .expect("phone send");
}

async fn run(count: usize) {
    let dir = std::env::temp_dir().join(format!("chattu-bench-messaging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db: Arc<dyn SignalDb> =
        Arc::new(redb::Database::create(dir.join("signal.redb")).expect("redb"));
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.expect("bind")).expect("sim");
    let engine = paired_engine(&sim, db).await;
    sim.simulator()
        .registry()
        .create_phone("15550020002", "Friend")
        .expect("friend");
    let friend = Jid::phone("15550020002");
    // The first send builds the session (usync + bundle fetch); it is timed apart.
    let started = Instant::now();
    engine
        .send_text(&friend, "warm-up")
        .await
        .expect("first send");
    let first = started.elapsed();

    let started = Instant::now();
    for i in 0..count {
        engine
            .send_text(&friend, &format!("message {i}"))
            .await
            .expect("send");
    }
    let sending = started.elapsed();

    let mut events = engine.events().expect("events");
    let base = format!("http://{}", sim.addr);
    let started = Instant::now();
    let sender = {
        let base = base.clone();
        tokio::task::spawn_blocking(move || {
            for i in 0..count {
                phone_send(&base, &format!("reply {i}"));
            }
        })
    };
    let mut received = 0;
    while received < count {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(EngineEvent::MessageReceived(_))) => received += 1,
            Ok(Ok(_)) => {}
            other => panic!("receive stalled after {received}: {other:?}"),
        }
    }
    let receiving = started.elapsed();
    sender.await.expect("sender");

    let per = |d: Duration| d.as_secs_f64() * 1000.0 / count as f64;
    let rate = |d: Duration| count as f64 / d.as_secs_f64();
    println!(
        "messaging benchmark ({count} texts, redb file in {})",
        dir.display()
    );
    println!(
        "  first send (usync + bundle + pkmsg + ack): {:.1} ms",
        first.as_secs_f64() * 1000.0
    );
    println!(
        "  engine -> phone, sequential, each awaiting the server ack: {:.0} msg/s ({:.2} ms each)",
        rate(sending),
        per(sending)
    );
    println!(
        "  phone -> engine, decrypt + record + commit + receipt (sender over loopback HTTP): {:.0} msg/s ({:.2} ms each)",
        rate(receiving),
        per(receiving)
    );
    engine.shutdown().await;
    sim.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let count = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(count));
}
