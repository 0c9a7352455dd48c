//! Scheduler benchmark: 1,000,000 pending schedules in redb.
//!
//! Prints: the API-style insert rate (one transaction per schedule) and the bulk insert rate,
//! RSS (VmRSS) before and with a running scheduler holding only its near horizon, the reload
//! time, and firing lateness p50/p99/max on the real clock for a sample of near schedules.
//!
//! Run: `cargo bench --bench scheduler` (CHATTU_BENCH_PENDING=N to change the million).

use chattu::services::scheduler::{
    self, Reconciled, ScheduledSender, ScheduledText, Scheduler, SchedulerSettings, SendError,
    SentRef,
};
use chattu::services::{Clock, SystemClock};
use chattu::store::{ScheduleRecord, ScheduleStatus, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SAMPLE: usize = 2_000;
const SINGLE_INSERTS: usize = 2_000;

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

fn record(due_ms: i64, i: usize) -> ScheduleRecord {
    ScheduleRecord {
        id: 0,
        client_id: format!("client-{}", i % 10),
        recipient: "+9721234567".into(),
        message: format!("scheduled message number {i}"),
        due_ms,
        status: ScheduleStatus::Pending,
        created_ms: due_ms,
        sent_ms: None,
        failure: None,
        message_id: None,
        late_ms: None,
    }
}

/// Records how late each send happened on the real clock.
struct LatenessRecorder {
    due: HashMap<u64, i64>,
    late: Mutex<Vec<i64>>,
}

impl ScheduledSender for LatenessRecorder {
    fn send_text(&self, message: &ScheduledText) -> Result<SentRef, SendError> {
        let now = SystemClock.now_ms();
        if let Some(due) = self.due.get(&message.schedule_id) {
            if let Ok(mut late) = self.late.lock() {
                late.push(now - due);
            }
        }
        Ok(SentRef::default())
    }

    fn reconcile(&self, _client_id: &str, _message_id: &str) -> Reconciled {
        Reconciled::NotSent
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let pending: usize = std::env::var("CHATTU_BENCH_PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("chattu-bench-scheduler-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir).expect("open store"));
    let now = SystemClock.now_ms();
    let rss_start = rss_kib();

    // One transaction per schedule, as POST /schedule-message stores them.
    let started = Instant::now();
    for i in 0..SINGLE_INSERTS {
        store
            .insert_schedule(record(now + 86_400_000 + i as i64, i))
            .expect("insert");
    }
    let single_rate = SINGLE_INSERTS as f64 / started.elapsed().as_secs_f64();

    // The million, bulk loaded in batches of 10,000: a tenth due within the first hour (more
    // than the scheduler keeps in memory, so the horizon is capped), the rest over 30 days.
    let started = Instant::now();
    let near = pending / 10;
    let due_of = |n: usize| {
        if n < near {
            now + 60_000 + (n as i64 * 3_540_000 / near.max(1) as i64)
        } else {
            now + 3_600_000 + ((n - near) as i64 * 2_592_000_000 / pending as i64)
        }
    };
    let mut i = 0;
    while i < pending {
        let batch: Vec<ScheduleRecord> = (i..(i + 10_000).min(pending))
            .map(|n| record(due_of(n), n))
            .collect();
        i += batch.len();
        store.insert_schedules(batch).expect("bulk insert");
    }
    let bulk_secs = started.elapsed().as_secs_f64();
    let file_mib = std::fs::metadata(store.path())
        .map(|m| m.len())
        .unwrap_or(0) as f64
        / 1048576.0;

    // A near sample, due 3 to 13 s from now, spread evenly, for lateness.
    let sample_start = SystemClock.now_ms() + 3_000;
    let sample: Vec<ScheduleRecord> = (0..SAMPLE)
        .map(|n| record(sample_start + (n as i64 * 10_000 / SAMPLE as i64), n))
        .collect();
    let stored = store.insert_schedules(sample).expect("sample insert");
    let due: HashMap<u64, i64> = stored.iter().map(|s| (s.id, s.due_ms)).collect();
    let recorder = Arc::new(LatenessRecorder {
        due,
        late: Mutex::new(Vec::new()),
    });
    let total = store.pending_schedule_count().expect("count");
    let rss_loaded = rss_kib();

    let settings = SchedulerSettings::default();
    let mut scheduler = Scheduler::new(
        store.clone(),
        Arc::new(SystemClock),
        recorder.clone(),
        settings.clone(),
    );
    let started = Instant::now();
    scheduler.start().expect("start");
    let reload_ms = started.elapsed().as_secs_f64() * 1000.0;
    let resident = scheduler.resident();
    let rss_running = rss_kib();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let handle = scheduler::start_with(scheduler, settings.poll_interval);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = recorder.late.lock().map(|l| l.len()).unwrap_or(0);
            if done >= SAMPLE || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        handle.shutdown().await;
    });
    let rss_after = rss_kib();
    let mut late = recorder.late.lock().map(|l| l.clone()).unwrap_or_default();
    late.sort_unstable();

    println!("scheduler benchmark, {total} pending schedules ({file_mib:.0} MiB redb file)");
    println!("insert, one transaction each (API path): {single_rate:.0}/s");
    println!(
        "insert, bulk 10,000 per transaction: {:.0}/s ({bulk_secs:.1} s for {pending})",
        pending as f64 / bulk_secs
    );
    println!("RSS at start: {:.1} MiB", rss_start as f64 / 1024.0);
    println!(
        "RSS with all pending stored, before the scheduler: {:.1} MiB",
        rss_loaded as f64 / 1024.0
    );
    println!(
        "RSS with the scheduler started ({resident} entries in memory): {:.1} MiB",
        rss_running as f64 / 1024.0
    );
    println!(
        "RSS after firing the sample: {:.1} MiB",
        rss_after as f64 / 1024.0
    );
    println!("reload (start with {total} pending): {reload_ms:.0} ms");
    println!(
        "firing lateness, {} of {SAMPLE} near schedules on the real clock: p50 {} ms, p99 {} ms, max {} ms",
        late.len(),
        percentile(&late, 0.50),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0)
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
