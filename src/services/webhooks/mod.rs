//! Durable, signed, ordered webhooks (docs/webhooks.md).
//!
//! Events are written to the outbox (src/store/outbox.rs) in the same transaction as the data
//! they describe: `History::record_sent` / `record_received` / `record_call` /
//! `update_sent_status` do it for history rows, [`Webhooks::set_client_status`] and
//! [`Webhooks::message_ack`] for connection states and acks. The delivery [`worker`] posts them
//! to the client's webhook URL with signed headers, in order per client, retrying with
//! exponential backoff and jitter for the retry window, then moving them to the dead letters,
//! from where [`Webhooks::replay`] re-queues them. Replies asked for in a webhook's answer go out
//! through the engine's [`ReplySender`].

pub mod delivery;
pub mod events;
pub mod policy;
pub mod replies;
pub mod signing;
mod worker;

pub use events::AckLevel;
pub use replies::{LogOnlyReplies, ReplyError, ReplySender, DEFAULT_REJECTION_MESSAGE};
pub use worker::WorkerHandle;

use super::live::LiveEvent;
use super::time::format_rfc3339;
use super::{App, Caller, Clock, Error};
use crate::config::Config;
use crate::store::outbox::{DeliveryAttemptRecord, OutboxRecord, RetryDecision};
use crate::store::{ClientRecord, ClientStatus, SentRecord, Store};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// Delivery settings. [`WebhookSettings::from_config`] reads `[webhooks]` and `[network]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// Answer timeout for message, ack and status events (`[webhooks] timeout_secs`).
    pub timeout: Duration,
    /// Answer timeout for call events (`[webhooks] call_timeout_secs`).
    pub call_timeout: Duration,
    /// How long after it was queued an event is retried before it becomes a dead letter.
    pub retry_window_ms: i64,
    /// The wait after the first failure; it doubles with each further failure...
    pub backoff_initial_ms: i64,
    /// ...up to this. Each wait is jittered to between half and all of its value.
    pub backoff_max_ms: i64,
    /// Failed attempts after which an event is dead-lettered even inside the window; 0 = no limit.
    pub max_attempts: u32,
    /// `[network] allow_private_addresses`: deliver to loopback and private addresses.
    pub allow_private_addresses: bool,
    /// Clients delivered to at the same time (one blocking thread each).
    pub max_parallel_clients: usize,
    /// Longest real-time sleep between looks at the outbox.
    pub idle_poll: Duration,
}

pub const DEFAULT_RETRY_WINDOW_MS: i64 = 24 * 3_600_000;
pub const DEFAULT_BACKOFF_INITIAL_MS: i64 = 10_000;
pub const DEFAULT_BACKOFF_MAX_MS: i64 = 3_600_000;

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(3),
            retry_window_ms: DEFAULT_RETRY_WINDOW_MS,
            backoff_initial_ms: DEFAULT_BACKOFF_INITIAL_MS,
            backoff_max_ms: DEFAULT_BACKOFF_MAX_MS,
            max_attempts: 0,
            allow_private_addresses: false,
            max_parallel_clients: 8,
            idle_poll: Duration::from_secs(1),
        }
    }
}

impl WebhookSettings {
    pub fn from_config(config: &Config) -> WebhookSettings {
        let hooks = &config.webhooks;
        let ms = |secs: u64| {
            i64::try_from(secs.saturating_mul(1000))
                .unwrap_or(i64::MAX)
                .max(1)
        };
        WebhookSettings {
            timeout: Duration::from_secs(hooks.timeout_secs.max(1)),
            call_timeout: Duration::from_secs(hooks.call_timeout_secs.max(1)),
            retry_window_ms: ms(hooks.retry_window_secs),
            backoff_initial_ms: ms(hooks.backoff_initial_secs),
            backoff_max_ms: ms(hooks.backoff_max_secs),
            max_attempts: hooks.max_attempts,
            allow_private_addresses: config.network.allow_private_addresses,
            max_parallel_clients: usize::try_from(hooks.max_parallel_clients.max(1)).unwrap_or(1),
            ..WebhookSettings::default()
        }
    }

    /// The un-jittered wait after `failures` failed attempts (1 = the first failure).
    pub fn backoff_ms(&self, failures: u32) -> i64 {
        let doublings = failures.saturating_sub(1).min(40);
        self.backoff_initial_ms
            .max(1)
            .saturating_mul(1i64 << doublings)
            .min(self.backoff_max_ms.max(1))
    }

    /// What to do after a failed attempt at `now_ms`; `jitter` is uniform in [0, 1). An event
    /// is dead-lettered when the retry window has passed or its attempts have run out.
    pub fn decide(&self, record: &OutboxRecord, now_ms: i64, jitter: f64) -> RetryDecision {
        let deadline = record.created_ms.saturating_add(self.retry_window_ms);
        let failures = record.attempts.saturating_add(1);
        if now_ms >= deadline || (self.max_attempts > 0 && failures >= self.max_attempts) {
            return RetryDecision::DeadLetter;
        }
        let full = self.backoff_ms(failures);
        let half = full / 2;
        let wait = half + ((full - half) as f64 * jitter.clamp(0.0, 1.0)) as i64;
        // The last attempt happens at the end of the window, not after it.
        RetryDecision::RetryAt(now_ms.saturating_add(wait.max(1)).min(deadline))
    }
}

/// Starts the delivery worker for the app (on the current tokio runtime), with the system DNS
/// resolver. Call once at start-up; pending events from before a restart are delivered.
pub fn start_worker(app: &App, replies: Arc<dyn ReplySender>) -> WorkerHandle {
    start_worker_with(
        app.store.clone(),
        app.clock.clone(),
        WebhookSettings::from_config(&app.config),
        replies,
        policy::system_lookup(),
    )
}

/// [`start_worker`] with every part chosen by the caller (tests: a manual clock, short
/// backoff, a fixed DNS table).
pub fn start_worker_with(
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    settings: WebhookSettings,
    replies: Arc<dyn ReplySender>,
    lookup: policy::Lookup,
) -> WorkerHandle {
    worker::spawn(store, clock, settings, replies, lookup)
}

/// A queued or dead event, as the deliveries route shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub event_id: String,
    pub seq: u64,
    pub event: String,
    /// "pending" or "dead".
    pub state: &'static str,
    /// Failed attempts so far.
    pub attempts: u32,
    pub created_at: String,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub dead_at: Option<String>,
    /// The body that is POSTed.
    pub payload: serde_json::Value,
}

impl From<&OutboxRecord> for DeliveryView {
    fn from(r: &OutboxRecord) -> Self {
        DeliveryView {
            event_id: r.event_id.clone(),
            seq: r.seq,
            event: r.event.clone(),
            state: if r.dead_ms.is_some() {
                "dead"
            } else {
                "pending"
            },
            attempts: r.attempts,
            created_at: format_rfc3339(r.created_ms),
            next_attempt_at: r
                .dead_ms
                .is_none()
                .then(|| format_rfc3339(r.next_attempt_ms)),
            last_error: r.last_error.clone(),
            dead_at: r.dead_ms.map(format_rfc3339),
            payload: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// One logged attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    pub event_id: String,
    pub seq: u64,
    pub event: String,
    pub attempt: u32,
    pub at: String,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// "delivered", "retrying" or "dead_lettered".
    pub outcome: crate::store::outbox::AttemptOutcome,
}

impl From<&DeliveryAttemptRecord> for AttemptView {
    fn from(r: &DeliveryAttemptRecord) -> Self {
        AttemptView {
            event_id: r.event_id.clone(),
            seq: r.seq,
            event: r.event.clone(),
            attempt: r.attempt,
            at: format_rfc3339(r.at_ms),
            duration_ms: r.duration_ms,
            status_code: r.status_code,
            error: r.error.clone(),
            outcome: r.outcome,
        }
    }
}

/// GET /api/webhooks/:clientId/deliveries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesView {
    pub client_id: String,
    pub webhook_url: Option<String>,
    /// Oldest first (the delivery order), at most [`LIST_LIMIT`].
    pub pending: Vec<DeliveryView>,
    /// Newest first, at most [`LIST_LIMIT`].
    pub dead_letters: Vec<DeliveryView>,
    /// Newest first, at most [`ATTEMPTS_LIMIT`].
    pub recent_attempts: Vec<AttemptView>,
}

pub const LIST_LIMIT: usize = 100;
pub const ATTEMPTS_LIMIT: usize = 50;

/// The webhook operations of the API and of the engine. Cheap: build one per call.
pub struct Webhooks<'a> {
    app: &'a App,
}

impl<'a> Webhooks<'a> {
    pub fn new(app: &'a App) -> Webhooks<'a> {
        Webhooks { app }
    }

    /// GET /api/webhooks/:clientId/deliveries: pending events, dead letters, recent attempts.
    pub fn deliveries(&self, caller: &Caller, client_id: &str) -> Result<DeliveriesView, Error> {
        let client = self.app.clients.record(caller, client_id)?;
        let store = &self.app.store;
        Ok(DeliveriesView {
            client_id: client.client_id,
            webhook_url: client.webhook_url,
            pending: store
                .webhook_pending(client_id, LIST_LIMIT)?
                .iter()
                .map(DeliveryView::from)
                .collect(),
            dead_letters: store
                .webhook_dead_letters(client_id, LIST_LIMIT)?
                .iter()
                .map(DeliveryView::from)
                .collect(),
            recent_attempts: store
                .webhook_attempts(client_id, ATTEMPTS_LIMIT)?
                .iter()
                .map(AttemptView::from)
                .collect(),
        })
    }

    /// POST /api/webhooks/:clientId/deliveries/:id/replay: a dead letter goes back to the end of
    /// the client's queue with its event id, attempted at once.
    pub fn replay(
        &self,
        caller: &Caller,
        client_id: &str,
        event_id: &str,
    ) -> Result<DeliveryView, Error> {
        self.app.clients.record(caller, client_id)?;
        let now = self.app.clock.now_ms();
        let record = self
            .app
            .store
            .webhook_replay(client_id, event_id, now)?
            .ok_or_else(|| Error::NotFound("Dead letter".into()))?;
        Ok(DeliveryView::from(&record))
    }

    /// POST /api/webhooks/:clientId/test: queues a `webhook_test` event.
    pub fn send_test(&self, caller: &Caller, client_id: &str) -> Result<DeliveryView, Error> {
        let client = self.app.clients.record(caller, client_id)?;
        if client.webhook_url.is_none() {
            return Err(Error::validation("webhookUrl", "no webhook URL is set"));
        }
        let now = self.app.clock.now_ms();
        let record = self
            .app
            .store
            .enqueue_webhook(client_id, events::webhook_test(client_id, now), now)?
            .ok_or(Error::ClientNotFound)?;
        let live = LiveEvent::webhook_test(&client.owner, client_id, &record.event_id, now);
        self.app.live.publish(live);
        Ok(DeliveryView::from(&record))
    }

    // ---- For the engine (trusted, no caller) ----

    /// Records a connection status and, when it changed, queues `client_status`, in one
    /// transaction (use this rather than `Clients::set_status` so the webhook hears of it).
    pub fn set_client_status(
        &self,
        client_id: &str,
        status: ClientStatus,
        connected_number: Option<&str>,
    ) -> Result<ClientRecord, Error> {
        let now = self.app.clock.now_ms();
        let changed = std::cell::Cell::new(false);
        let client = self
            .app
            .store
            .set_client_status_with_event(
                client_id,
                status,
                connected_number,
                |c| {
                    changed.set(true);
                    events::client_status(client_id, c.status, c.connected_number.as_deref(), now)
                },
                now,
            )?
            .ok_or(Error::ClientNotFound)?;
        if changed.get() {
            let number = client.connected_number.as_deref();
            let live =
                LiveEvent::client_status(&client.owner, client_id, client.status, number, now);
            self.app.live.publish(live);
        }
        Ok(client)
    }

    /// Records a sent message's new ack level (with WhatsApp's error code for failures) and
    /// queues `message_ack`, in one transaction. `message_id` is the id the API returned for
    /// the message.
    pub fn message_ack(
        &self,
        sent_id: u64,
        message_id: &str,
        ack: AckLevel,
        error_code: Option<i64>,
    ) -> Result<SentRecord, Error> {
        let now = self.app.clock.now_ms();
        let sent = self
            .app
            .store
            .update_sent_with_event(
                sent_id,
                |r| r.status = ack.as_str().to_string(),
                |r| {
                    Some(events::message_ack(
                        &r.client_id,
                        message_id,
                        &r.recipient,
                        ack,
                        error_code,
                        now,
                    ))
                },
                now,
            )?
            .ok_or_else(|| Error::NotFound("Sent message".into()))?;
        let (client_id, peer) = (&sent.client_id, &sent.recipient);
        self.app
            .live
            .publish_for_client(&self.app.store, client_id, |owner| {
                LiveEvent::ack(owner, client_id, peer, message_id, ack, now)
            });
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(created_ms: i64, attempts: u32) -> OutboxRecord {
        OutboxRecord {
            event_id: "evt_1".into(),
            client_id: "c".into(),
            seq: 1,
            event: "message_sent".into(),
            body: "{}".into(),
            reply_to: None,
            created_ms,
            attempts,
            next_attempt_ms: created_ms,
            last_error: None,
            dead_ms: None,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = WebhookSettings::default();
        assert_eq!(s.backoff_ms(1), 10_000);
        assert_eq!(s.backoff_ms(2), 20_000);
        assert_eq!(s.backoff_ms(3), 40_000);
        assert_eq!(s.backoff_ms(12), 3_600_000);
        assert_eq!(s.backoff_ms(u32::MAX), 3_600_000);
    }

    #[test]
    fn jitter_stays_between_half_and_full_wait() {
        let s = WebhookSettings::default();
        let r = record(0, 2); // third failure: 40 s
        assert_eq!(s.decide(&r, 1_000, 0.0), RetryDecision::RetryAt(21_000));
        assert_eq!(
            s.decide(&r, 1_000, 0.999_999),
            RetryDecision::RetryAt(40_999)
        );
    }

    #[test]
    fn retries_end_at_the_window() {
        let s = WebhookSettings::default();
        let r = record(0, 30);
        let near_end = DEFAULT_RETRY_WINDOW_MS - 5;
        assert_eq!(
            s.decide(&r, near_end, 0.5),
            RetryDecision::RetryAt(DEFAULT_RETRY_WINDOW_MS)
        );
        assert_eq!(
            s.decide(&r, DEFAULT_RETRY_WINDOW_MS, 0.5),
            RetryDecision::DeadLetter
        );
    }

    #[test]
    fn attempts_limit_dead_letters_early_and_zero_means_unlimited() {
        let limited = WebhookSettings {
            max_attempts: 3,
            ..WebhookSettings::default()
        };
        // Two failures so far: the third failure uses up the attempts.
        assert!(matches!(
            limited.decide(&record(0, 1), 1_000, 0.5),
            RetryDecision::RetryAt(_)
        ));
        assert_eq!(
            limited.decide(&record(0, 2), 1_000, 0.5),
            RetryDecision::DeadLetter
        );
        let unlimited = WebhookSettings::default();
        assert!(matches!(
            unlimited.decide(&record(0, 500), 1_000, 0.5),
            RetryDecision::RetryAt(_)
        ));
    }

    #[test]
    fn settings_follow_the_configuration() {
        let mut config = Config::default();
        config.webhooks.retry_window_secs = 120;
        config.webhooks.backoff_initial_secs = 2;
        config.webhooks.backoff_max_secs = 30;
        config.webhooks.max_parallel_clients = 3;
        config.webhooks.max_attempts = 4;
        let s = WebhookSettings::from_config(&config);
        assert_eq!(s.retry_window_ms, 120_000);
        assert_eq!(s.backoff_ms(1), 2_000);
        assert_eq!(s.backoff_ms(10), 30_000);
        assert_eq!(s.max_parallel_clients, 3);
        assert_eq!(s.max_attempts, 4);
        // The shipped defaults give the documented schedule.
        let defaults = WebhookSettings::from_config(&Config::default());
        assert_eq!(defaults, WebhookSettings::default());
    }
}
