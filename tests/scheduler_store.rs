//! The scheduler's redb transactions (src/store/schedule_wheel.rs): paging snapshots, claims
//! as compare-and-sets, outcomes only from `sending`, and the `sending` index.

mod scheduler_support;

use chattu::store::schedule_wheel::{Claim, SendingOutcome};
use chattu::store::ScheduleStatus;
use scheduler_support::*;

fn ids(n: &mut u32) -> impl FnMut() -> String + '_ {
    move || {
        *n += 1;
        format!("3EB0{:018X}", *n)
    }
}

#[test]
fn scan_pages_the_due_index_and_reports_creations_behind_the_cursor() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let a = schedule(&store, START_MS + 10, "a");
    let b = schedule(&store, START_MS + 20, "b");
    let c = schedule(&store, START_MS + 30, "c");
    let far = schedule(&store, START_MS + 10_000, "far");

    let first = store.scan_schedules(0, None, START_MS + 1_000, 2).unwrap();
    assert_eq!(first.page, [(START_MS + 10, a), (START_MS + 20, b)]);
    assert!(!first.page_complete);
    assert_eq!(first.last_id, far);
    assert!(first.created.is_empty());

    let second = store
        .scan_schedules(far, Some((START_MS + 20, b)), START_MS + 1_000, 2)
        .unwrap();
    assert_eq!(second.page, [(START_MS + 30, c)]);
    assert!(
        second.page_complete,
        "stopped at the horizon, not the limit"
    );

    // Created later: one behind the cursor (reported), one ahead (left to paging).
    let behind = schedule(&store, START_MS + 15, "behind");
    let ahead = schedule(&store, START_MS + 1_500, "ahead");
    let third = store
        .scan_schedules(far, Some((START_MS + 999, u64::MAX)), START_MS + 2_000, 10)
        .unwrap();
    assert_eq!(third.created, [(START_MS + 15, behind)]);
    assert_eq!(third.last_id, ahead);
    assert_eq!(third.page, [(START_MS + 1_500, ahead)]);
    assert!(third.page_complete);
}

#[test]
fn claims_are_compare_and_sets_and_outcomes_only_follow_sending() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let on_time = schedule(&store, START_MS, "on time");
    let too_late = schedule(&store, START_MS - 7_200_000, "too late");
    let cancelled = schedule(&store, START_MS, "cancelled");
    store
        .update_schedule(cancelled, |s| {
            s.status = ScheduleStatus::Cancelled;
            true
        })
        .unwrap();
    let mut n = 0;
    let claims = store
        .claim_schedules(
            &[on_time, too_late, cancelled, 999],
            START_MS + 250,
            3_600_000,
            &mut ids(&mut n),
        )
        .unwrap();
    let Claim::Sending(sending) = &claims[0] else {
        panic!("{claims:?}")
    };
    assert_eq!(sending.status, ScheduleStatus::Sending);
    assert_eq!(sending.late_ms, Some(250));
    assert_eq!(
        sending.message_id.as_deref(),
        Some("3EB0000000000000000001")
    );
    let Claim::Missed(missed) = &claims[1] else {
        panic!("{claims:?}")
    };
    assert_eq!(missed.late_ms, Some(7_200_250));
    assert_eq!(claims[2], Claim::Skipped);
    assert_eq!(claims[3], Claim::Skipped);
    // Claimed and missed schedules left the due index; only the claimed one is in `sending`.
    assert_eq!(store.pending_schedule_count().unwrap(), 0);
    let in_flight = store.sending_schedules().unwrap();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].id, on_time);

    // A second claim of the same schedule does nothing (and keeps the id).
    let again = store
        .claim_schedules(&[on_time], START_MS + 300, 3_600_000, &mut ids(&mut n))
        .unwrap();
    assert_eq!(again, [Claim::Skipped]);
    // Cancelling from sending is refused by the service's rule (only from pending).
    let (_, changed) = store
        .update_schedule(on_time, |s| {
            let pending = s.status == ScheduleStatus::Pending;
            if pending {
                s.status = ScheduleStatus::Cancelled;
            }
            pending
        })
        .unwrap()
        .unwrap();
    assert!(!changed);

    let sent = SendingOutcome::Sent {
        sent_ms: START_MS + 400,
    };
    let done = store.finish_sending(on_time, &sent).unwrap().unwrap();
    assert_eq!(done.status, ScheduleStatus::Sent);
    assert_eq!(done.late_ms, Some(400));
    assert_eq!(done.message_id.as_deref(), Some("3EB0000000000000000001"));
    assert!(store.sending_schedules().unwrap().is_empty());
    // Outcomes apply only from sending: a second one, or one for a missed schedule, is ignored.
    let failed = SendingOutcome::Failed {
        reason: "late".into(),
    };
    assert_eq!(store.finish_sending(on_time, &failed).unwrap(), None);
    assert_eq!(store.finish_sending(too_late, &sent).unwrap(), None);
    assert_eq!(status(&store, on_time).status, ScheduleStatus::Sent);
    assert_eq!(status(&store, too_late).status, ScheduleStatus::Missed);
    store.persist_schedules().unwrap();
}

#[test]
fn retention_never_prunes_a_send_in_flight() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let in_flight = schedule(&store, START_MS, "in flight");
    let done = schedule(&store, START_MS, "done");
    let waiting = schedule(&store, START_MS + 1_000, "waiting");
    let mut n = 0;
    store
        .claim_schedules(&[in_flight, done], START_MS, 3_600_000, &mut ids(&mut n))
        .unwrap();
    let sent = SendingOutcome::Sent { sent_ms: START_MS };
    store.finish_sending(done, &sent).unwrap();
    // Everything finished is past retention and over the row limit.
    assert_eq!(store.prune_schedules(i64::MAX, 0).unwrap(), 1);
    assert!(store.schedule(done).unwrap().is_none());
    assert_eq!(status(&store, in_flight).status, ScheduleStatus::Sending);
    assert_eq!(status(&store, waiting).status, ScheduleStatus::Pending);
    assert_eq!(store.sending_schedules().unwrap().len(), 1);
}
