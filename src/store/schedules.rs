//! Scheduled messages, with an index of the pending ones by due time for the scheduler.

use super::{all_json, decode, encode, get_json, next_id, tables, ScheduleRecord, ScheduleStatus};
use super::{Store, StoreResult};
use redb::{ReadableTable, WriteTransaction};

impl Store {
    /// Stores a new schedule (its id is assigned here) and indexes it if pending.
    pub fn insert_schedule(&self, mut schedule: ScheduleRecord) -> StoreResult<ScheduleRecord> {
        let txn = self.db.begin_write()?;
        {
            schedule.id = next_id(&txn, "seq:schedules")?;
            put_schedule(&txn, &schedule, None)?;
        }
        txn.commit()?;
        Ok(schedule)
    }

    pub fn schedule(&self, id: u64) -> StoreResult<Option<ScheduleRecord>> {
        let txn = self.db.begin_read()?;
        let schedules = txn.open_table(tables::SCHEDULES)?;
        get_json(&schedules, id)
    }

    /// Every schedule of the given clients, oldest id first.
    pub fn schedules_of(&self, client_ids: &[&str]) -> StoreResult<Vec<ScheduleRecord>> {
        let txn = self.db.begin_read()?;
        let schedules = txn.open_table(tables::SCHEDULES)?;
        let mut all: Vec<ScheduleRecord> = all_json(&schedules)?;
        all.retain(|s| client_ids.contains(&s.client_id.as_str()));
        Ok(all)
    }

    /// Changes a schedule in one transaction; `change` returns false to leave it untouched (for
    /// example "cancel only if still pending"). The due index follows the status.
    /// Returns None when it does not exist, else the record as stored and whether it changed.
    pub fn update_schedule(
        &self,
        id: u64,
        change: impl FnOnce(&mut ScheduleRecord) -> bool,
    ) -> StoreResult<Option<(ScheduleRecord, bool)>> {
        let txn = self.db.begin_write()?;
        let outcome;
        {
            let schedules = txn.open_table(tables::SCHEDULES)?;
            let Some(old) = get_json::<u64, ScheduleRecord, _>(&schedules, id)? else {
                return Ok(None);
            };
            drop(schedules);
            let mut new = old.clone();
            if change(&mut new) {
                new.id = id;
                put_schedule(&txn, &new, Some(&old))?;
                outcome = (new, true);
            } else {
                outcome = (old, false);
            }
        }
        txn.commit()?;
        Ok(Some(outcome))
    }

    /// Pending schedules due at or before `now_ms`, earliest first, at most `limit`.
    pub fn due_schedules(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<ScheduleRecord>> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(tables::SCHEDULES_DUE)?;
        let schedules = txn.open_table(tables::SCHEDULES)?;
        let mut out = Vec::new();
        for entry in due
            .range((i64::MIN, 0u64)..=(now_ms, u64::MAX))?
            .take(limit)
        {
            let (key, _) = entry?;
            if let Some(s) = get_json::<u64, ScheduleRecord, _>(&schedules, key.value().1)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// When the next pending schedule is due (lets the scheduler sleep exactly that long).
    pub fn next_due_ms(&self) -> StoreResult<Option<i64>> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(tables::SCHEDULES_DUE)?;
        let first = due.first()?.map(|(k, _)| k.value().0);
        Ok(first)
    }

    /// Removes finished (not pending) schedules created before `cutoff_ms`, and the oldest
    /// finished ones beyond `max_rows` in total. Pending schedules and sends in flight
    /// (`sending`) are never pruned.
    pub fn prune_schedules(&self, cutoff_ms: i64, max_rows: u64) -> StoreResult<u64> {
        let txn = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut schedules = txn.open_table(tables::SCHEDULES)?;
            let mut finished = Vec::new();
            for entry in schedules.iter()? {
                let (id, value) = entry?;
                let s: ScheduleRecord = decode(value.value())?;
                if !matches!(s.status, ScheduleStatus::Pending | ScheduleStatus::Sending) {
                    finished.push((id.value(), s.created_ms));
                }
            }
            let excess = (finished.len() as u64).saturating_sub(max_rows);
            for (index, (id, created_ms)) in finished.into_iter().enumerate() {
                if (index as u64) < excess || created_ms < cutoff_ms {
                    schedules.remove(id)?;
                    removed += 1;
                }
            }
        }
        txn.commit()?;
        Ok(removed)
    }
}

/// Writes a schedule and keeps the due index equal to "pending schedules by due time".
pub(super) fn put_schedule(
    txn: &WriteTransaction,
    new: &ScheduleRecord,
    old: Option<&ScheduleRecord>,
) -> StoreResult<()> {
    let mut schedules = txn.open_table(tables::SCHEDULES)?;
    let mut due = txn.open_table(tables::SCHEDULES_DUE)?;
    if let Some(old) = old {
        due.remove((old.due_ms, old.id))?;
    }
    schedules.insert(new.id, encode(new)?.as_slice())?;
    if new.status == ScheduleStatus::Pending {
        due.insert((new.due_ms, new.id), ())?;
    }
    Ok(())
}
