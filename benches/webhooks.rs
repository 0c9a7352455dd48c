//! Webhook deliveries per second to a local receiver (127.0.0.1, keep-alive), through the real
//! outbox and worker: every delivery is an HTTP round trip plus a durable redb commit.
//!
//! Run: `cargo bench --bench webhooks` (EVENTS=n to change the number of events per run).

#[path = "../tests/webhooks_support/mod.rs"]
mod webhooks_support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use webhooks_support::*;

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    println!("webhook delivery benchmark, {events} events per run");
    for clients in [1usize, 4] {
        let env = Env::new(true);
        let receiver = Receiver::start();
        let mut ids = vec![env.client_id.clone()];
        for n in 2..=clients {
            let (view, _) = env
                .app
                .clients
                .create(&env.owner, &format!("client-{n}"), "9721234567")
                .expect("client");
            ids.push(view.client_id);
        }
        for id in &ids {
            env.app
                .clients
                .update_webhook(&env.owner, id, &receiver.url("/"))
                .expect("webhook");
        }
        let queue_start = Instant::now();
        for i in 0..events {
            let id = &ids[i % ids.len()];
            env.app
                .history
                .record_received(id, "1234567890@c.us", &format!("message {i}"))
                .expect("record");
        }
        let queue_secs = queue_start.elapsed().as_secs_f64();

        let start = Instant::now();
        let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
        let deadline = start + Duration::from_secs(300);
        while receiver.hits().len() < events && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        let secs = start.elapsed().as_secs_f64();
        let delivered = receiver.hits().len();
        rt.block_on(worker.shutdown());
        println!(
            "  {clients} client(s): queued {events} events with their history rows in {:.2} s ({:.0}/s); \
             delivered {delivered} in {secs:.2} s = {:.0} deliveries/s",
            queue_secs,
            events as f64 / queue_secs,
            delivered as f64 / secs
        );
    }
}
