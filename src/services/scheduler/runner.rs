//! The scheduler itself, without threads or timers: [`Scheduler::start`] reloads after a
//! (re)start, [`Scheduler::tick`] fires whatever is due by the injected clock. The tokio task in
//! task.rs calls these from a blocking thread; tests call them directly with a test clock.

use super::delivery::Courier;
use super::sender::{new_message_id, Reconciled, ScheduledSender};
use super::wheel::{Entry, Wheel};
use super::SchedulerSettings;
use crate::services::Clock;
use crate::store::schedule_wheel::{Claim, DueKey, SendingOutcome};
use crate::store::{ScheduleRecord, ScheduleStatus, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Most due-index pages read in one look at the store (bounds the time one tick takes).
const PAGES_PER_SYNC: usize = 8;

/// What one call did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Sent and recorded as sent.
    pub sent: u64,
    /// Found more than the grace late, marked missed.
    pub missed: u64,
    /// Refused by the engine, or still unsendable past the grace: marked failed.
    pub failed: u64,
    /// Unsendable for now: will be tried again with the same message id.
    pub retried: u64,
    /// Cancelled or already handled by the time they fired.
    pub skipped: u64,
    /// Found in `sending` at start and confirmed sent by the engine (not sent again).
    pub reconciled: u64,
}

impl TickReport {
    pub(super) fn add(&mut self, other: TickReport) {
        self.sent += other.sent;
        self.missed += other.missed;
        self.failed += other.failed;
        self.retried += other.retried;
        self.skipped += other.skipped;
        self.reconciled += other.reconciled;
    }
}

/// The scheduler could not reach its store; the next call reloads from redb.
#[derive(Debug)]
pub struct SchedulerError(pub StoreError);

impl std::fmt::Display for SchedulerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "scheduler store: {}", self.0)
    }
}

impl std::error::Error for SchedulerError {}

impl From<StoreError> for SchedulerError {
    fn from(e: StoreError) -> Self {
        SchedulerError(e)
    }
}

pub struct Scheduler {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    sender: Arc<dyn ScheduledSender>,
    settings: SchedulerSettings,
    /// The near horizon: every pending schedule with a due key at or before `cursor`.
    wheel: Wheel,
    /// How far the due index has been paged into the wheel (None: not at all).
    cursor: Option<DueKey>,
    /// The last page reached the horizon's end (rather than the page or memory limit).
    page_complete: bool,
    /// The highest schedule id already looked at.
    seen_id: u64,
    /// Schedules in `sending` waiting to be tried again: id → attempts so far.
    retries: HashMap<u64, u32>,
    started: bool,
}

impl Scheduler {
    pub fn new(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        sender: Arc<dyn ScheduledSender>,
        settings: SchedulerSettings,
    ) -> Scheduler {
        let now = clock.now_ms();
        Scheduler {
            store,
            clock,
            sender,
            settings,
            wheel: Wheel::new(now),
            cursor: None,
            page_complete: false,
            seen_id: 0,
            retries: HashMap::new(),
            started: false,
        }
    }

    /// Reloads from redb: finishes every schedule left in `sending` (asking the engine whether
    /// its message id went out: sent → recorded; not sent or unknown → sent again under the
    /// same id), then pages in the near horizon. Overdue schedules fire on the next tick.
    pub fn start(&mut self) -> Result<TickReport, SchedulerError> {
        self.store.prepare_scheduler()?;
        let now = self.clock.now_ms();
        self.wheel = Wheel::new(now);
        self.cursor = None;
        self.page_complete = false;
        self.seen_id = 0;
        self.retries.clear();
        let mut report = TickReport::default();
        for schedule in self.store.sending_schedules()? {
            let Some(message_id) = schedule.message_id.clone() else {
                let failed = SendingOutcome::Failed {
                    reason: "in sending without a message id".into(),
                };
                self.store.finish_sending(schedule.id, &failed)?;
                report.failed += 1;
                continue;
            };
            match self.sender.reconcile(&schedule.client_id, &message_id) {
                Reconciled::Sent => {
                    let sent = SendingOutcome::Sent {
                        sent_ms: self.clock.now_ms(),
                    };
                    if super::delivery::finish(&self.store, &schedule, &sent)?.is_some() {
                        report.reconciled += 1;
                    }
                }
                verdict => {
                    log::info!(
                        "scheduled message {} ({message_id}) {verdict:?} after restart; sending it under the same id",
                        schedule.id
                    );
                    report.add(self.send(&schedule)?);
                }
            }
        }
        self.sync(now)?;
        self.started = true;
        Ok(report)
    }

    /// Fires everything due by the clock, in due order; pages more of the horizon in as needed.
    /// After an error the in-memory state is dropped and the next call reloads from redb.
    pub fn tick(&mut self) -> Result<TickReport, SchedulerError> {
        let result = self.tick_inner();
        if result.is_err() {
            self.started = false;
        }
        result
    }

    fn tick_inner(&mut self) -> Result<TickReport, SchedulerError> {
        let mut report = TickReport::default();
        if !self.started {
            report.add(self.start()?);
        }
        loop {
            let now = self.clock.now_ms();
            self.sync(now)?;
            let due = self.wheel.advance(now);
            if due.is_empty() {
                return Ok(report);
            }
            report.add(self.fire(due)?);
        }
    }

    /// When the next tick has work: a wheel deadline, or the time to page more in.
    pub fn next_wake_ms(&self) -> Option<i64> {
        if !self.started {
            return Some(self.clock.now_ms());
        }
        let wheel = self.wheel.next_deadline();
        let room = self.wheel.len() < self.settings.max_resident;
        let page = match self.cursor {
            _ if !room => None,
            None => Some(self.wheel.now()),
            Some(_) if !self.page_complete => Some(self.wheel.now()),
            Some((due, _)) => Some(due.saturating_sub(self.settings.horizon_ms / 2)),
        };
        match (wheel, page) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Makes the recorded outcomes durable (they are committed without their own fsync).
    pub fn persist(&self) -> Result<(), SchedulerError> {
        Ok(self.store.persist_schedules()?)
    }

    /// The injected clock's time.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// How many entries sit in memory (the near horizon, plus retries).
    pub fn resident(&self) -> usize {
        self.wheel.len()
    }

    /// Picks up schedules created since the last look and pages the due index into the wheel
    /// up to `now + horizon`, within the memory bound.
    fn sync(&mut self, now: i64) -> Result<(), SchedulerError> {
        let until = now.saturating_add(self.settings.horizon_ms);
        for _ in 0..PAGES_PER_SYNC {
            let room = self.settings.max_resident.saturating_sub(self.wheel.len());
            let behind = match self.cursor {
                None => true,
                Some((due, _)) => {
                    !self.page_complete || due <= now.saturating_add(self.settings.horizon_ms / 2)
                }
            };
            let limit = if room > 0 && behind {
                room.min(self.settings.page_size)
            } else {
                0
            };
            let scan = self
                .store
                .scan_schedules(self.seen_id, self.cursor, until, limit)?;
            for (due, id) in &scan.created {
                self.wheel.insert(*due, *id);
            }
            self.seen_id = self.seen_id.max(scan.last_id);
            if limit == 0 {
                return Ok(());
            }
            for (due, id) in &scan.page {
                self.wheel.insert(*due, *id);
            }
            if let Some(last) = scan.page.last() {
                self.cursor = Some(*last);
            }
            self.page_complete = scan.page_complete;
            if scan.page_complete {
                let end = (until.saturating_sub(1), u64::MAX);
                self.cursor = Some(self.cursor.map_or(end, |c| c.max(end)));
                return Ok(());
            }
        }
        Ok(())
    }

    /// Handles due wheel entries in order: retries are sent again, the rest claimed in batches.
    fn fire(&mut self, due: Vec<Entry>) -> Result<TickReport, SchedulerError> {
        let mut report = TickReport::default();
        let mut batch: Vec<u64> = Vec::new();
        for (_, id) in due {
            if self.retries.contains_key(&id) {
                report.add(self.claim_and_send(&mut batch)?);
                report.add(self.retry(id)?);
            } else {
                batch.push(id);
                if batch.len() >= self.settings.claim_batch {
                    report.add(self.claim_and_send(&mut batch)?);
                }
            }
        }
        report.add(self.claim_and_send(&mut batch)?);
        Ok(report)
    }

    /// Claims a batch in one transaction (pending → sending with a message id, or → missed),
    /// then sends the claimed ones one by one.
    fn claim_and_send(&mut self, batch: &mut Vec<u64>) -> Result<TickReport, SchedulerError> {
        let mut report = TickReport::default();
        if batch.is_empty() {
            return Ok(report);
        }
        let now = self.clock.now_ms();
        let claims = self.store.claim_schedules(
            batch,
            now,
            self.settings.missed_grace_ms,
            &mut new_message_id,
        )?;
        batch.clear();
        let mut sending = Vec::new();
        for claim in claims {
            match claim {
                Claim::Sending(schedule) => sending.push(schedule),
                Claim::Missed(schedule) => {
                    log::warn!(
                        "scheduled message {} of client {} missed: {} ms late, over the grace",
                        schedule.id,
                        schedule.client_id,
                        schedule.late_ms.unwrap_or(0)
                    );
                    report.missed += 1;
                }
                Claim::Skipped => report.skipped += 1,
            }
        }
        report.add(self.send_all(sending)?);
        Ok(report)
    }

    fn retry(&mut self, id: u64) -> Result<TickReport, SchedulerError> {
        match self.store.schedule(id)? {
            Some(schedule) if schedule.status == ScheduleStatus::Sending => self.send(&schedule),
            _ => {
                self.retries.remove(&id);
                Ok(TickReport {
                    skipped: 1,
                    ..TickReport::default()
                })
            }
        }
    }

    /// Sends schedules in `sending` (see delivery.rs) and queues the ones to try again.
    fn send_all(&mut self, schedules: Vec<ScheduleRecord>) -> Result<TickReport, SchedulerError> {
        if schedules.is_empty() {
            return Ok(TickReport::default());
        }
        let courier = Courier {
            store: &self.store,
            clock: self.clock.as_ref(),
            sender: self.sender.as_ref(),
            grace_ms: self.settings.missed_grace_ms,
        };
        let ids: Vec<u64> = schedules.iter().map(|s| s.id).collect();
        let delivered = courier.deliver_all(schedules, self.settings.send_parallelism)?;
        for id in ids {
            if !delivered.retry.contains(&id) {
                self.retries.remove(&id);
            }
        }
        let now = self.clock.now_ms();
        for &id in &delivered.retry {
            let attempts = self.retries.entry(id).or_insert(0);
            *attempts += 1;
            let wait = self.settings.retry_delay_ms(*attempts);
            self.wheel.insert(now.saturating_add(wait), id);
        }
        Ok(delivered.report)
    }

    fn send(&mut self, schedule: &ScheduleRecord) -> Result<TickReport, SchedulerError> {
        self.send_all(vec![schedule.clone()])
    }
}
