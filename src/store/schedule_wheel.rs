//! The scheduler's transactions over scheduled messages (src/services/scheduler).
//!
//! Every status change here is one redb write transaction that checks the current status first
//! (compare-and-set). redb has a single writer, so a cancel (`pending → cancelled`, in
//! schedules.rs) and a claim (`pending → sending`, here) can never both succeed.

use super::outbox::NewOutboxEvent;
use super::schedules::put_schedule;
use super::{
    decode, get_json, next_id, tables, ScheduleRecord, ScheduleStatus, Store, StoreResult,
};
use redb::{Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

/// id → () for every schedule in `sending`: what a restart must reconcile.
const SCHEDULES_SENDING: TableDefinition<u64, ()> = TableDefinition::new("schedules_sending");

/// The id counter of scheduled messages (see `insert_schedule`).
const SCHEDULE_SEQ: &str = "seq:schedules";

/// A position in the due index: (due ms, schedule id).
pub type DueKey = (i64, u64);

/// What [`Store::scan_schedules`] saw in one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleScan {
    /// The highest schedule id assigned so far.
    pub last_id: u64,
    /// Pending schedules created after `seen_id` whose key is at or before the cursor: the
    /// caller has already paged past their place in the index.
    pub created: Vec<DueKey>,
    /// The next due-index keys after the cursor and before `until_ms`, earliest first.
    pub page: Vec<DueKey>,
    /// The page stopped at `until_ms` rather than at the limit.
    pub page_complete: bool,
}

/// The result of claiming one due schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// `pending → sending`, message id and lateness stored: send it now.
    Sending(ScheduleRecord),
    /// `pending → missed`: found later than the grace allows.
    Missed(ScheduleRecord),
    /// Not pending (cancelled, already claimed or finished) or gone: nothing to do.
    Skipped,
}

/// How a send in flight ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendingOutcome {
    Sent { sent_ms: i64 },
    Failed { reason: String },
}

impl Store {
    /// Stores many new schedules in one transaction (ids assigned here, in order): bulk loading
    /// for imports and the benchmark; the API stores one at a time with `insert_schedule`.
    pub fn insert_schedules(
        &self,
        records: Vec<ScheduleRecord>,
    ) -> StoreResult<Vec<ScheduleRecord>> {
        let txn = self.db.begin_write()?;
        let mut stored = Vec::with_capacity(records.len());
        for mut schedule in records {
            schedule.id = next_id(&txn, SCHEDULE_SEQ)?;
            put_schedule(&txn, &schedule, None)?;
            stored.push(schedule);
        }
        txn.commit()?;
        Ok(stored)
    }

    /// Creates the scheduler's own table (once, at scheduler start).
    ///
    /// Drops index entries whose schedule is gone (its client was deleted mid-send) or no longer
    /// in `sending`, so the index stays equal to "schedules in sending".
    pub fn prepare_scheduler(&self) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut sending = txn.open_table(SCHEDULES_SENDING)?;
            let schedules = txn.open_table(tables::SCHEDULES)?;
            let mut stale = Vec::new();
            for entry in sending.iter()? {
                let id = entry?.0.value();
                let record: Option<ScheduleRecord> = get_json(&schedules, id)?;
                if !matches!(record, Some(s) if s.status == ScheduleStatus::Sending) {
                    stale.push(id);
                }
            }
            for id in stale {
                sending.remove(id)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// In one read snapshot: the id counter, pending schedules created after `seen_id` whose
    /// key is at or before `cursor`, and up to `limit` due-index keys after `cursor` due before
    /// `until_ms`.
    pub fn scan_schedules(
        &self,
        seen_id: u64,
        cursor: Option<DueKey>,
        until_ms: i64,
        limit: usize,
    ) -> StoreResult<ScheduleScan> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(tables::META)?;
        let last_id = meta.get(SCHEDULE_SEQ)?.map(|v| v.value()).unwrap_or(0);
        let schedules = txn.open_table(tables::SCHEDULES)?;
        let mut scan = ScheduleScan {
            last_id,
            ..ScheduleScan::default()
        };
        if let Some(cursor) = cursor {
            if last_id > seen_id {
                for entry in schedules.range(seen_id.saturating_add(1)..=last_id)? {
                    let (_, value) = entry?;
                    let s: ScheduleRecord = decode(value.value())?;
                    if s.status == ScheduleStatus::Pending && (s.due_ms, s.id) <= cursor {
                        scan.created.push((s.due_ms, s.id));
                    }
                }
            }
        }
        let due = txn.open_table(tables::SCHEDULES_DUE)?;
        let Some(last) = until_ms.checked_sub(1).map(|ms| (ms, u64::MAX)) else {
            scan.page_complete = true;
            return Ok(scan);
        };
        let range = match cursor {
            None => due.range(..=last)?,
            Some(c) if c >= last => {
                scan.page_complete = true;
                return Ok(scan);
            }
            Some(c) => due.range((
                std::ops::Bound::Excluded(c),
                std::ops::Bound::Included(last),
            ))?,
        };
        for entry in range {
            if scan.page.len() >= limit {
                return Ok(scan);
            }
            let (key, _) = entry?;
            scan.page.push(key.value());
        }
        scan.page_complete = true;
        Ok(scan)
    }

    /// Claims due schedules in one transaction. Each pending one becomes `sending` with a new
    /// message id from `new_message_id` and its lateness, or `missed` when it is more than
    /// `grace_ms` late; anything else is skipped. Results follow the order of `ids`.
    pub fn claim_schedules(
        &self,
        ids: &[u64],
        now_ms: i64,
        grace_ms: i64,
        new_message_id: &mut dyn FnMut() -> String,
    ) -> StoreResult<Vec<Claim>> {
        let txn = self.db.begin_write()?;
        let mut claims = Vec::with_capacity(ids.len());
        {
            let mut sending = txn.open_table(SCHEDULES_SENDING)?;
            for &id in ids {
                let schedules = txn.open_table(tables::SCHEDULES)?;
                let old: Option<ScheduleRecord> = get_json(&schedules, id)?;
                drop(schedules);
                let Some(old) = old.filter(|s| s.status == ScheduleStatus::Pending) else {
                    claims.push(Claim::Skipped);
                    continue;
                };
                let mut new = old.clone();
                let late = now_ms.saturating_sub(old.due_ms).max(0);
                new.late_ms = Some(late);
                if late > grace_ms {
                    new.status = ScheduleStatus::Missed;
                    put_schedule(&txn, &new, Some(&old))?;
                    claims.push(Claim::Missed(new));
                } else {
                    new.status = ScheduleStatus::Sending;
                    if new.message_id.is_none() {
                        new.message_id = Some(new_message_id());
                    }
                    put_schedule(&txn, &new, Some(&old))?;
                    sending.insert(id, ())?;
                    claims.push(Claim::Sending(new));
                }
            }
        }
        txn.commit()?;
        Ok(claims)
    }

    /// Ends a send in flight: `sending → sent` or `sending → failed`, in one transaction.
    /// None when the schedule is gone or not in `sending` (nothing changes then).
    pub fn finish_sending(
        &self,
        id: u64,
        outcome: &SendingOutcome,
    ) -> StoreResult<Option<ScheduleRecord>> {
        self.finish_sending_with_event(id, outcome, None)
    }

    /// [`Store::finish_sending`], queuing `sent_event` (the `message_sent` webhook) in the same
    /// transaction when, and only when, the schedule moves to `sent`: a send WhatsApp refused
    /// never announces itself as sent. The caller signals the outbox after a queued event.
    pub fn finish_sending_with_event(
        &self,
        id: u64,
        outcome: &SendingOutcome,
        sent_event: Option<NewOutboxEvent>,
    ) -> StoreResult<Option<ScheduleRecord>> {
        let mut txn = self.db.begin_write()?;
        // No fsync of its own: the next durable commit (the next claim, any other write, or
        // `persist_schedules`) carries it. Losing it in a crash leaves the schedule in
        // `sending`, which the restart reconciles with the engine; the claim is what must be
        // durable, and it is.
        txn.set_durability(Durability::None);
        let finished;
        {
            let schedules = txn.open_table(tables::SCHEDULES)?;
            let old: Option<ScheduleRecord> = get_json(&schedules, id)?;
            drop(schedules);
            let mut sending = txn.open_table(SCHEDULES_SENDING)?;
            match old.filter(|s| s.status == ScheduleStatus::Sending) {
                None => {
                    // Keep the index equal to "schedules in sending".
                    sending.remove(id)?;
                    finished = None;
                }
                Some(old) => {
                    let mut new = old.clone();
                    match outcome {
                        SendingOutcome::Sent { sent_ms } => {
                            new.status = ScheduleStatus::Sent;
                            new.sent_ms = Some(*sent_ms);
                            new.late_ms = Some(sent_ms.saturating_sub(old.due_ms).max(0));
                        }
                        SendingOutcome::Failed { reason } => {
                            new.status = ScheduleStatus::Failed;
                            new.failure = Some(reason.clone());
                        }
                    }
                    put_schedule(&txn, &new, Some(&old))?;
                    sending.remove(id)?;
                    if let (SendingOutcome::Sent { sent_ms }, Some(event)) = (outcome, sent_event) {
                        Store::enqueue_webhook_in(&txn, &new.client_id, event, *sent_ms)?;
                    }
                    finished = Some(new);
                }
            }
        }
        txn.commit()?;
        Ok(finished)
    }

    /// Makes every earlier commit durable (an empty commit with fsync), at shutdown.
    pub fn persist_schedules(&self) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        txn.commit()?;
        Ok(())
    }

    /// Every schedule in `sending` (a send was started and not recorded as finished), by id.
    pub fn sending_schedules(&self) -> StoreResult<Vec<ScheduleRecord>> {
        let txn = self.db.begin_read()?;
        let sending = match txn.open_table(SCHEDULES_SENDING) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let schedules = txn.open_table(tables::SCHEDULES)?;
        let mut out = Vec::new();
        for entry in sending.iter()? {
            let (id, _) = entry?;
            if let Some(s) = get_json::<u64, ScheduleRecord, _>(&schedules, id.value())? {
                if s.status == ScheduleStatus::Sending {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// How many schedules wait in the due index (pending), for the benchmark and status pages.
    pub fn pending_schedule_count(&self) -> StoreResult<u64> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(tables::SCHEDULES_DUE)?;
        Ok(due.len()?)
    }
}
