//! Scheduled messages: create, list and cancel for callers; due/finish for the scheduler.

use super::time::{format_rfc3339, parse_rfc3339};
use super::validate;
use super::{Caller, Error, ScheduleStatus, Shared};
use crate::store::ScheduleRecord;
use serde::Serialize;

/// A schedule may be at most this far in the past when created (clock skew between the
/// dashboard and us); anything older is refused as a mistake.
const PAST_TOLERANCE_MS: i64 = 60_000;

/// One entry of GET /scheduled-messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledMessageView {
    pub id: u64,
    pub client_id: String,
    pub recipient: String,
    pub message: String,
    pub schedule_time: String,
    /// pending, sending, sent, cancelled, failed or missed.
    pub status: ScheduleStatus,
    pub created_at: String,
    pub sent_time: Option<String>,
    /// How late the scheduler sent it (or found it, if missed), in ms; null until then.
    pub late_ms: Option<i64>,
}

impl From<&ScheduleRecord> for ScheduledMessageView {
    fn from(s: &ScheduleRecord) -> Self {
        ScheduledMessageView {
            id: s.id,
            client_id: s.client_id.clone(),
            recipient: s.recipient.clone(),
            message: s.message.clone(),
            schedule_time: format_rfc3339(s.due_ms),
            status: s.status,
            created_at: format_rfc3339(s.created_ms),
            sent_time: s.sent_ms.map(format_rfc3339),
            late_ms: s.late_ms,
        }
    }
}

/// How the scheduler finished a due schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleOutcome {
    Sent {
        sent_ms: i64,
    },
    Failed {
        reason: String,
    },
    /// Found too long after its time (e.g. the appliance was off); not sent.
    Missed,
}

pub struct Schedules {
    shared: Shared,
}

impl Schedules {
    pub(super) fn new(shared: Shared) -> Schedules {
        Schedules { shared }
    }

    /// POST /schedule-message. `schedule_time` is RFC 3339 (`2025-10-06T18:30:00Z`).
    pub fn create(
        &self,
        caller: &Caller,
        client_id: &str,
        number: &str,
        message: &str,
        schedule_time: &str,
    ) -> Result<ScheduledMessageView, Error> {
        let digits = validate::phone_digits("number", number)?;
        validate::message_text("message", message)?;
        let due_ms = parse_rfc3339(schedule_time.trim()).map_err(|why| {
            Error::validation(
                "scheduleTime",
                format!("must be ISO-8601 UTC like 2025-10-06T18:30:00Z ({why})"),
            )
        })?;
        let now = self.shared.now_ms();
        if due_ms < now - PAST_TOLERANCE_MS {
            return Err(Error::validation("scheduleTime", "must not be in the past"));
        }
        self.shared.owned_client(caller, client_id)?;
        let record = ScheduleRecord {
            id: 0,
            client_id: client_id.to_string(),
            recipient: format!("+{digits}"),
            message: message.to_string(),
            due_ms,
            status: ScheduleStatus::Pending,
            created_ms: now,
            sent_ms: None,
            failure: None,
            message_id: None,
            late_ms: None,
        };
        let stored = self.shared.store.insert_schedule(record)?;
        Ok(ScheduledMessageView::from(&stored))
    }

    /// GET /scheduled-messages: the caller's schedules, oldest first.
    pub fn list(&self, caller: &Caller) -> Result<Vec<ScheduledMessageView>, Error> {
        let clients = self.shared.visible_clients(caller)?;
        let ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
        Ok(self
            .shared
            .store
            .schedules_of(&ids)?
            .iter()
            .map(ScheduledMessageView::from)
            .collect())
    }

    /// DELETE /scheduled-messages/:id. Only pending schedules can be cancelled (409 otherwise).
    pub fn cancel(&self, caller: &Caller, id: u64) -> Result<ScheduledMessageView, Error> {
        let schedule = self
            .shared
            .store
            .schedule(id)?
            .ok_or_else(|| Error::NotFound("Scheduled message".into()))?;
        match self.shared.owned_client(caller, &schedule.client_id) {
            Ok(_) => {}
            // A schedule whose client is gone is someone's leftover, not the caller's.
            Err(Error::ClientNotFound) => return Err(Error::NotFound("Scheduled message".into())),
            Err(e) => return Err(e),
        }
        let (stored, changed) = self
            .shared
            .store
            .update_schedule(id, |s| {
                if s.status == ScheduleStatus::Pending {
                    s.status = ScheduleStatus::Cancelled;
                    true
                } else {
                    false
                }
            })?
            .ok_or_else(|| Error::NotFound("Scheduled message".into()))?;
        if !changed {
            return Err(Error::Conflict(format!(
                "Schedule is already {}.",
                stored.status.as_str()
            )));
        }
        Ok(ScheduledMessageView::from(&stored))
    }

    // ---- For the scheduler (trusted, no caller) ----

    /// Pending schedules due now, earliest first (at most `limit`).
    pub fn due(&self, limit: usize) -> Result<Vec<ScheduleRecord>, Error> {
        Ok(self
            .shared
            .store
            .due_schedules(self.shared.now_ms(), limit)?)
    }

    /// When the next pending schedule is due, if any.
    pub fn next_due_ms(&self) -> Result<Option<i64>, Error> {
        Ok(self.shared.store.next_due_ms()?)
    }

    /// Whether a due schedule is so late it should be marked missed instead of sent
    /// (`[scheduler] missed_after_secs`).
    pub fn is_overdue(&self, schedule: &ScheduleRecord) -> bool {
        let limit_ms = i64::try_from(self.shared.config.scheduler.missed_after_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        self.shared.now_ms().saturating_sub(schedule.due_ms) > limit_ms
    }

    /// Records the outcome of a due schedule. Only a pending schedule changes (a cancel that
    /// raced the send keeps "cancelled"); returns the stored record and whether it changed.
    pub fn finish(
        &self,
        id: u64,
        outcome: ScheduleOutcome,
    ) -> Result<(ScheduleRecord, bool), Error> {
        self.shared
            .store
            .update_schedule(id, |s| {
                if s.status != ScheduleStatus::Pending {
                    return false;
                }
                match &outcome {
                    ScheduleOutcome::Sent { sent_ms } => {
                        s.status = ScheduleStatus::Sent;
                        s.sent_ms = Some(*sent_ms);
                    }
                    ScheduleOutcome::Failed { reason } => {
                        s.status = ScheduleStatus::Failed;
                        s.failure = Some(reason.clone());
                    }
                    ScheduleOutcome::Missed => s.status = ScheduleStatus::Missed,
                }
                true
            })?
            .ok_or_else(|| Error::NotFound("Scheduled message".into()))
    }
}
