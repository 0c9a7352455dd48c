//! The scheduler: sends scheduled messages at their time, exactly once, across restarts
//! (docs/scheduler.md).
//!
//! - [`wheel`]: the hierarchical timing wheel holding the near horizon in memory; everything
//!   further out stays in redb's due index (src/store/schedule_wheel.rs) and is paged in as
//!   time advances, within [`SchedulerSettings::max_resident`] entries.
//! - [`runner`]: [`Scheduler`], the synchronous core: reload and reconciliation at start,
//!   claim (`pending → sending` with a stored message id, one transaction), send, record.
//! - [`sender`]: [`ScheduledSender`], implemented by the WhatsApp engine.
//! - task.rs: the tokio loop ([`start`] → [`SchedulerHandle`]).
//!
//! main.rs starts it with `scheduler::start(&app, sender)` inside the runtime.

mod delivery;
pub mod runner;
pub mod sender;
mod task;
pub mod wheel;

pub use runner::{Scheduler, SchedulerError, TickReport};
pub use sender::{
    new_message_id, NoEngine, Reconciled, ScheduledSender, ScheduledText, SendError, SentRef,
};
pub use task::SchedulerHandle;

use super::App;
use crate::config::Config;
use std::sync::Arc;
use std::time::Duration;

/// How the scheduler behaves. [`SchedulerSettings::from_config`] reads `[scheduler]`; the other
/// values are not configuration keys (yet), so their defaults apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// A schedule found more than this late (e.g. after downtime) is marked missed instead of
    /// sent; a send that keeps failing for this long is marked failed
    /// (`[scheduler] missed_after_secs`, default 3600).
    pub missed_grace_ms: i64,
    /// How far ahead of now pending schedules are paged into memory.
    pub horizon_ms: i64,
    /// Most wheel entries in memory; the horizon shrinks when more are due within it.
    pub max_resident: usize,
    /// Due-index keys read per store look.
    pub page_size: usize,
    /// Schedules claimed per write transaction.
    pub claim_batch: usize,
    /// Clients whose due schedules are sent at the same time (one thread each); one client's
    /// schedules always go out one at a time, in due order.
    pub send_parallelism: usize,
    /// Longest sleep between looks at the store (new schedules are noticed within this).
    pub poll_interval: Duration,
    /// First wait before sending again after `SendError::Unavailable`; doubles per attempt...
    pub retry_initial_ms: i64,
    /// ...up to this.
    pub retry_max_ms: i64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            missed_grace_ms: 3_600_000,
            horizon_ms: 3_600_000,
            max_resident: 50_000,
            page_size: 5_000,
            claim_batch: 256,
            send_parallelism: 4,
            poll_interval: Duration::from_millis(200),
            retry_initial_ms: 2_000,
            retry_max_ms: 60_000,
        }
    }
}

impl SchedulerSettings {
    pub fn from_config(config: &Config) -> SchedulerSettings {
        let grace_secs = i64::try_from(config.scheduler.missed_after_secs).unwrap_or(i64::MAX);
        SchedulerSettings {
            missed_grace_ms: grace_secs.saturating_mul(1000),
            ..SchedulerSettings::default()
        }
    }

    /// The wait before attempt `attempts + 1` of an unavailable send.
    pub fn retry_delay_ms(&self, attempts: u32) -> i64 {
        let doublings = attempts.saturating_sub(1).min(30);
        self.retry_initial_ms
            .saturating_mul(1i64 << doublings)
            .min(self.retry_max_ms)
            .max(1)
    }
}

/// Starts the scheduler of `app` on the current tokio runtime, sending through `sender` (the
/// engine's `EngineSenders` in `serve`; [`NoEngine`] in tests that need no WhatsApp). Reload and
/// reconciliation run in the first step.
pub fn start(app: &Arc<App>, sender: Arc<dyn ScheduledSender>) -> SchedulerHandle {
    let settings = SchedulerSettings::from_config(&app.config);
    start_with(
        Scheduler::new(
            app.store.clone(),
            app.clock.clone(),
            sender,
            settings.clone(),
        ),
        settings.poll_interval,
    )
}

/// Starts a scheduler built by hand (tests, benchmarks) with the given longest sleep.
pub fn start_with(scheduler: Scheduler, poll: Duration) -> SchedulerHandle {
    task::spawn(scheduler, poll)
}
