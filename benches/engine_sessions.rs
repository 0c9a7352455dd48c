//! Many paired engines against one in-process simulator: resident memory with 0, 10 and 100 connected
//! sessions, and the time from a restart until all of them are connected again (no QR, stored creds).
//!
//! Run: `cargo bench --bench engine_sessions` (optionally `-- 200` for another session count).
//! The memory figures include the simulator's side of every connection, since it runs in the same
//! process; a real deployment only carries the engine side.

use chattu::engine::{self, EngineConfig, EngineHandle, EngineStatus, MemoryCredentialStore};
use chattu::simulator::{Simulator, SimulatorHandle};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn config(sim: &SimulatorHandle) -> EngineConfig {
    EngineConfig::simulator(sim.ws_url(), sim.trusted_root())
}

async fn connected(engine: &EngineHandle) {
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

/// Pairs one engine with a new phone through the simulator's registry (no HTTP in the way).
async fn pair(sim: &SimulatorHandle, index: usize) -> (EngineHandle, Arc<MemoryCredentialStore>) {
    let phone = format!("1555{index:07}");
    sim.simulator()
        .registry()
        .create_phone(&phone, "Bench")
        .expect("fresh phone");
    let store = Arc::new(MemoryCredentialStore::new());
    let engine = engine::start(config(sim), store.clone());
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
        .scan(&phone, &qr)
        .expect("scan accepted");
    linked.await.expect("link answered").expect("linked");
    connected(&engine).await;
    (engine, store)
}

async fn run(sessions: usize) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sim = Simulator::start(listener).expect("simulator");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss0 = rss_kib();

    let mut engines = Vec::with_capacity(sessions);
    let mut stores = Vec::with_capacity(sessions);
    let mut rss10 = None;
    for batch in (0..sessions).collect::<Vec<_>>().chunks(10) {
        let paired = futures_util::future::join_all(batch.iter().map(|i| pair(&sim, *i))).await;
        for (engine, store) in paired {
            engines.push(engine);
            stores.push(store);
        }
        if engines.len() == 10.min(sessions) && rss10.is_none() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            rss10 = Some(rss_kib());
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_all = rss_kib();
    let rss10 = rss10.unwrap_or(rss0);

    for engine in engines.drain(..) {
        engine.shutdown().await;
    }
    let started = Instant::now();
    let engines: Vec<EngineHandle> = stores
        .iter()
        .map(|store| engine::start(config(&sim), store.clone()))
        .collect();
    futures_util::future::join_all(engines.iter().map(connected)).await;
    let reconnect = started.elapsed();

    let extra = sessions.saturating_sub(10).max(1) as u64;
    println!("engine sessions against an in-process simulator ({sessions} sessions)");
    println!("  RSS, 0 sessions:            {rss0} KiB");
    println!("  RSS, 10 connected:          {rss10} KiB");
    println!("  RSS, {sessions} connected:         {rss_all} KiB");
    println!(
        "  per extra connected session: {:.1} KiB (engine + simulator side)",
        rss_all.saturating_sub(rss10) as f64 / extra as f64
    );
    println!(
        "  restart until all {sessions} connected: {:.0} ms",
        reconnect.as_secs_f64() * 1000.0
    );
    for engine in engines {
        engine.shutdown().await;
    }
    sim.shutdown().await;
}

fn main() {
    let sessions = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(sessions));
}
