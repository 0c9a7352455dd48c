//! Sending claimed schedules and recording how each went. Schedules of one client go out one at
//! a time in due order; different clients are sent in parallel, on up to
//! `SchedulerSettings::send_parallelism` threads, so one slow or offline number does not hold
//! up the others.

use super::runner::TickReport;
use super::sender::{ScheduledSender, ScheduledText, SendError};
use crate::services::webhooks::events as webhook_events;
use crate::services::Clock;
use crate::store::outbox::outbox_signal;
use crate::store::schedule_wheel::SendingOutcome;
use crate::store::{ScheduleRecord, Store, StoreError};

pub(super) struct Courier<'a> {
    pub store: &'a Store,
    pub clock: &'a dyn Clock,
    pub sender: &'a dyn ScheduledSender,
    pub grace_ms: i64,
}

/// What the delivery of a batch left to do: schedules to try again (still `sending`).
#[derive(Default)]
pub(super) struct Delivered {
    pub report: TickReport,
    pub retry: Vec<u64>,
}

impl Delivered {
    fn merge(&mut self, other: Delivered) {
        self.report.add(other.report);
        self.retry.extend(other.retry);
    }
}

impl Courier<'_> {
    /// Delivers schedules already in `sending`, in order per client.
    pub fn deliver_all(
        &self,
        schedules: Vec<ScheduleRecord>,
        parallel: usize,
    ) -> Result<Delivered, StoreError> {
        let mut by_client: Vec<(String, Vec<ScheduleRecord>)> = Vec::new();
        for schedule in schedules {
            match by_client.iter_mut().find(|(c, _)| *c == schedule.client_id) {
                Some((_, list)) => list.push(schedule),
                None => by_client.push((schedule.client_id.clone(), vec![schedule])),
            }
        }
        let threads = parallel.max(1).min(by_client.len());
        if threads <= 1 {
            let all: Vec<ScheduleRecord> = by_client.into_iter().flat_map(|(_, l)| l).collect();
            return self.deliver_in_order(&all);
        }
        // Clients dealt round-robin to the threads; each thread works through its clients.
        let mut shares: Vec<Vec<ScheduleRecord>> = (0..threads).map(|_| Vec::new()).collect();
        for (index, (_, list)) in by_client.into_iter().enumerate() {
            if let Some(share) = shares.get_mut(index % threads) {
                share.extend(list);
            }
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> = shares
                .iter()
                .map(|share| scope.spawn(move || self.deliver_in_order(share)))
                .collect();
            let mut delivered = Delivered::default();
            let mut failure = None;
            for worker in workers {
                match worker.join() {
                    Ok(Ok(part)) => delivered.merge(part),
                    Ok(Err(e)) => failure = Some(e),
                    Err(_) => failure = Some(StoreError::Corrupt("a send thread panicked".into())),
                }
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(delivered),
            }
        })
    }

    fn deliver_in_order(&self, schedules: &[ScheduleRecord]) -> Result<Delivered, StoreError> {
        let mut delivered = Delivered::default();
        for schedule in schedules {
            self.deliver(schedule, &mut delivered)?;
        }
        Ok(delivered)
    }

    /// Sends one schedule under its stored message id and records the outcome, unless it
    /// should be tried again.
    fn deliver(&self, schedule: &ScheduleRecord, into: &mut Delivered) -> Result<(), StoreError> {
        let Some(message_id) = schedule.message_id.clone() else {
            return Ok(());
        };
        let message = ScheduledText {
            schedule_id: schedule.id,
            client_id: schedule.client_id.clone(),
            recipient: schedule.recipient.clone(),
            text: schedule.message.clone(),
            message_id,
        };
        let outcome = match self.sender.send_text(&message) {
            Ok(_) => {
                into.report.sent += 1;
                SendingOutcome::Sent {
                    sent_ms: self.clock.now_ms(),
                }
            }
            Err(SendError::Rejected(why)) => {
                log::warn!("scheduled message {} failed: {why}", schedule.id);
                into.report.failed += 1;
                SendingOutcome::Failed { reason: why }
            }
            Err(SendError::Unavailable(why)) => {
                let late = self.clock.now_ms().saturating_sub(schedule.due_ms);
                if late <= self.grace_ms {
                    log::info!("scheduled message {} not sent yet: {why}", schedule.id);
                    into.report.retried += 1;
                    into.retry.push(schedule.id);
                    return Ok(());
                }
                log::warn!(
                    "scheduled message {} failed: still unsendable past the grace ({why})",
                    schedule.id
                );
                into.report.failed += 1;
                SendingOutcome::Failed {
                    reason: format!("not sent within the grace: {why}"),
                }
            }
        };
        finish(self.store, schedule, &outcome)?;
        Ok(())
    }
}

/// Records how a send ended; a `sent` schedule's `message_sent` webhook is queued in that same
/// transaction (so a send WhatsApp refused, or one never made, announces nothing).
pub(super) fn finish(
    store: &Store,
    schedule: &ScheduleRecord,
    outcome: &SendingOutcome,
) -> Result<Option<ScheduleRecord>, StoreError> {
    let event = match outcome {
        SendingOutcome::Sent { sent_ms } => Some(webhook_events::message_sent(
            &schedule.client_id,
            &schedule.recipient,
            &schedule.message,
            *sent_ms,
        )),
        SendingOutcome::Failed { .. } => None,
    };
    let queued = event.is_some();
    let finished = store.finish_sending_with_event(schedule.id, outcome, event)?;
    if queued && finished.is_some() {
        outbox_signal().notify_waiters();
    }
    Ok(finished)
}
