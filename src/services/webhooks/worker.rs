//! The delivery worker: a tokio task that finds clients whose oldest queued event is due and
//! drains each of them on a blocking thread (ureq is blocking), one client per thread, a bounded
//! number of clients at a time.
//!
//! Order: only a client's head is ever attempted, so a later event waits behind a failing one
//! until that one is delivered or dead-lettered. Time: "due" is decided with the injectable
//! clock; the task sleeps at most `idle_poll` of real time before looking again, and wakes early
//! on new events (the store's outbox signal) or [`WorkerHandle::wake`]. Restarts: everything is
//! in redb, so a new worker picks up where the last one stopped; an attempt interrupted by a
//! crash is simply attempted again (at-least-once; receivers deduplicate by event id).

use super::delivery::{self, AttemptResult, DeliveryRequest};
use super::events::CALL_REJECTED;
use super::policy::{Lookup, PolicyResolver};
use super::replies::{reply_text, ReplySender};
use super::WebhookSettings;
use crate::services::Clock;
use crate::store::outbox::{
    outbox_signal, AttemptOutcome, DeliveryAttemptRecord, OutboxRecord, RetryDecision,
};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// How long a client's thread waits after a store error before its head may be tried again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(5);

/// Controls a running worker.
pub struct WorkerHandle {
    wake: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle").finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// Makes the worker look at the outbox now (e.g. after moving a test clock forward).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops taking new work, waits for attempts in flight to finish, and returns when no
    /// thread of the worker holds the store any more.
    pub async fn shutdown(self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        if let Err(e) = self.task.await {
            log::error!("webhook worker ended abnormally: {e}");
        }
    }
}

/// What the blocking side needs.
struct Worker {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    replies: Arc<dyn ReplySender>,
    agent: ureq::Agent,
    stopping: Arc<AtomicBool>,
}

/// Starts the worker on the current tokio runtime. `lookup` resolves host names (the system
/// resolver in production, see [`super::policy::system_lookup`]).
pub fn spawn(
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    replies: Arc<dyn ReplySender>,
    lookup: Lookup,
) -> WorkerHandle {
    let resolver = PolicyResolver {
        allow_private: settings.allow_private_addresses,
        lookup,
    };
    let stopping = Arc::new(AtomicBool::new(false));
    let worker = Arc::new(Worker {
        store,
        clock,
        settings,
        replies,
        agent: delivery::build_agent(resolver),
        stopping: stopping.clone(),
    });
    let wake = Arc::new(Notify::new());
    let task = tokio::spawn(run(worker, wake.clone()));
    WorkerHandle {
        wake,
        stopping,
        task,
    }
}

async fn run(worker: Arc<Worker>, wake: Arc<Notify>) {
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, String> = HashMap::new();
    let idle = worker.settings.idle_poll;
    while !worker.stopping.load(Ordering::SeqCst) {
        // Registered before scanning, so an event committed during the scan still wakes us.
        let signal = outbox_signal().notified();
        tokio::pin!(signal);
        signal.as_mut().enable();

        let now = worker.clock.now_ms();
        let mut sleep_for = idle;
        // A short read transaction; not worth a thread hop.
        match worker.store.webhook_heads() {
            Ok(heads) => {
                for head in heads {
                    if in_flight.values().any(|c| c == &head.client_id) {
                        continue;
                    }
                    if head.next_attempt_ms <= now {
                        if in_flight.len() >= worker.settings.max_parallel_clients {
                            continue; // a finishing client wakes us
                        }
                        let w = worker.clone();
                        let client_id = head.client_id.clone();
                        let handle = tasks.spawn_blocking(move || w.drain_client(&client_id));
                        in_flight.insert(handle.id(), head.client_id);
                    } else {
                        let wait = u64::try_from(head.next_attempt_ms - now).unwrap_or(0);
                        sleep_for = sleep_for.min(Duration::from_millis(wait));
                    }
                }
            }
            Err(e) => log::error!("webhook outbox cannot be read: {e}"),
        }

        tokio::select! {
            _ = &mut signal => {}
            _ = wake.notified() => {}
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        log::error!("webhook delivery thread failed: {e}");
                        e.id()
                    }
                };
                in_flight.remove(&id);
            }
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            log::error!("webhook delivery thread failed: {e}");
        }
    }
}

impl Worker {
    /// Delivers the client's due events in order until one fails, none is due, or we stop.
    fn drain_client(&self, client_id: &str) {
        while !self.stopping.load(Ordering::SeqCst) {
            let head = match self.store.webhook_head(client_id) {
                Ok(Some(head)) => head,
                Ok(None) => return,
                Err(e) => {
                    log::error!("webhook outbox of {client_id} cannot be read: {e}");
                    self.pause_after_store_error();
                    return;
                }
            };
            if head.next_attempt_ms > self.clock.now_ms() || !self.deliver(&head) {
                return;
            }
        }
    }

    /// One attempt at the head; true when the client's next event may be attempted right away.
    fn deliver(&self, head: &OutboxRecord) -> bool {
        let client_id = head.client_id.as_str();
        let client = match self.store.client(client_id) {
            Ok(Some(client)) => client,
            Ok(None) => {
                match self.store.webhook_purge_client(client_id) {
                    Ok(n) => log::info!("client {client_id} is gone; dropped {n} webhook events"),
                    Err(e) => log::error!("webhook purge of {client_id} failed: {e}"),
                }
                return false;
            }
            Err(e) => {
                log::error!("client {client_id} cannot be read: {e}");
                self.pause_after_store_error();
                return false;
            }
        };
        let started_ms = self.clock.now_ms();
        let Some(url) = client.webhook_url.as_deref() else {
            // The URL was removed after the event was queued: keep the event where it can be
            // seen and replayed, rather than deliver it nowhere.
            let failure = Failure {
                status: None,
                error: "no webhook URL is set".into(),
                duration_ms: 0,
            };
            return self.record_failure(head, started_ms, failure, true);
        };
        let timeout = if head.event == CALL_REJECTED {
            self.settings.call_timeout
        } else {
            self.settings.timeout
        };
        let request = DeliveryRequest {
            url,
            api_key: &client.api_key,
            record: head,
            timestamp_secs: started_ms.div_euclid(1000),
            timeout,
        };
        let clock_start = Instant::now();
        let result = delivery::attempt(&self.agent, &request);
        let duration_ms = u64::try_from(clock_start.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            AttemptResult::Delivered { status, answer } => {
                let attempt = attempt_record(
                    head,
                    started_ms,
                    duration_ms,
                    Some(status),
                    None,
                    AttemptOutcome::Delivered,
                );
                match self.store.webhook_delivered(head, attempt) {
                    Ok(true) => {
                        self.send_reply(head, answer.as_ref());
                        true
                    }
                    Ok(false) => false,
                    Err(e) => {
                        log::error!("webhook delivery of {} not recorded: {e}", head.event_id);
                        self.pause_after_store_error();
                        false
                    }
                }
            }
            AttemptResult::Failed { status, error } => {
                log::warn!(
                    "webhook {} {} for {client_id} failed: {error}",
                    head.event,
                    head.event_id
                );
                let failure = Failure {
                    status,
                    error,
                    duration_ms,
                };
                self.record_failure(head, started_ms, failure, false)
            }
        }
    }

    /// Logs a failed attempt and schedules the retry (or dead-letters). True when the event left
    /// the queue, so the next one may go.
    fn record_failure(
        &self,
        head: &OutboxRecord,
        started_ms: i64,
        failure: Failure,
        dead_now: bool,
    ) -> bool {
        let now = self.clock.now_ms();
        let decision = if dead_now {
            RetryDecision::DeadLetter
        } else {
            self.settings.decide(head, now, random_unit())
        };
        let outcome = match decision {
            RetryDecision::RetryAt(_) => AttemptOutcome::Retrying,
            RetryDecision::DeadLetter => AttemptOutcome::DeadLettered,
        };
        let attempt = attempt_record(
            head,
            started_ms,
            failure.duration_ms,
            failure.status,
            Some(failure.error),
            outcome,
        );
        match self.store.webhook_failed(head, attempt, decision, now) {
            Ok(Some(_)) => {
                if decision == RetryDecision::DeadLetter {
                    log::warn!(
                        "webhook {} {} for {} moved to the dead letters",
                        head.event,
                        head.event_id,
                        head.client_id
                    );
                }
                decision == RetryDecision::DeadLetter
            }
            Ok(None) => false,
            Err(e) => {
                log::error!("webhook failure of {} not recorded: {e}", head.event_id);
                self.pause_after_store_error();
                false
            }
        }
    }

    /// When the store cannot be written (disk full, ...) the head stays due; without a pause the
    /// worker would pick it up again at once and hammer the receiver with repeats.
    fn pause_after_store_error(&self) {
        let until = Instant::now() + STORE_ERROR_PAUSE;
        while Instant::now() < until && !self.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send_reply(&self, head: &OutboxRecord, answer: Option<&serde_json::Value>) {
        let (Some(to), Some(text)) = (head.reply_to.as_deref(), reply_text(&head.event, answer))
        else {
            return;
        };
        if let Err(e) = self.replies.send_text(&head.client_id, to, &text) {
            log::warn!(
                "reply to {} for webhook {} not sent: {e}",
                head.client_id,
                head.event_id
            );
        }
    }
}

struct Failure {
    status: Option<u16>,
    error: String,
    duration_ms: u64,
}

fn attempt_record(
    head: &OutboxRecord,
    at_ms: i64,
    duration_ms: u64,
    status_code: Option<u16>,
    error: Option<String>,
    outcome: AttemptOutcome,
) -> DeliveryAttemptRecord {
    DeliveryAttemptRecord {
        id: 0,
        client_id: head.client_id.clone(),
        event_id: head.event_id.clone(),
        seq: head.seq,
        event: head.event.clone(),
        attempt: head.attempts.saturating_add(1),
        at_ms,
        duration_ms,
        status_code,
        error,
        outcome,
    }
}

/// A uniform number in [0, 1) for jitter (the system RNG; 0.5 if it is unavailable).
fn random_unit() -> f64 {
    match crate::services::secrets::random_bytes::<8>() {
        Ok(bytes) => (u64::from_be_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    }
}
