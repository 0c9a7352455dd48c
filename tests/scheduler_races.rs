//! Cancel racing fire: the claim (`pending → sending`) and the cancel (`pending → cancelled`)
//! are compare-and-sets in single redb transactions, so a schedule is either cancelled or sent,
//! never both and never neither — even with two schedulers (a bug we guard against anyway).

mod scheduler_support;

use chattu::services::Error;
use chattu::store::ScheduleStatus;
use scheduler_support::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier, Mutex};

const SCHEDULES: usize = 1_500;
const CANCELLERS: usize = 4;

#[test]
fn cancel_racing_fire_never_both_cancels_and_sends() {
    let (mut cancelled, mut sent) = (0, 0);
    for round in 0..3 {
        let (c, s) = race(round);
        cancelled += c;
        sent += s;
    }
    // Both sides won some of the races (else the test did not test a race).
    assert!(
        cancelled > 0 && sent > 0,
        "{cancelled} cancelled, {sent} sent"
    );
}

fn race(round: usize) -> (usize, usize) {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS);
    let env = AppEnv::open(&dir, clock.clone(), 3600);
    let due = START_MS + 1_000;
    let records = (0..SCHEDULES)
        .map(|i| record("c1", due + (i % 7) as i64, &format!("r{round}-{i}")))
        .collect();
    let ids: Vec<u64> = env
        .app
        .store
        .insert_schedules(records)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let phone = Phone::new();
    let settings = chattu::services::scheduler::SchedulerSettings {
        claim_batch: 8,
        ..settings()
    };
    let mut schedulers: Vec<_> = (0..2)
        .map(|_| scheduler(&env.app.store, &clock, &phone, settings.clone()))
        .collect();
    for s in &mut schedulers {
        s.start().unwrap();
    }
    clock.set_ms(due + 7);

    let barrier = Arc::new(Barrier::new(CANCELLERS + schedulers.len()));
    let cancelled = Arc::new(Mutex::new(HashSet::new()));
    let refused = Arc::new(Mutex::new(HashMap::new()));
    std::thread::scope(|scope| {
        for mut s in schedulers.drain(..) {
            let barrier = barrier.clone();
            scope.spawn(move || {
                barrier.wait();
                while s.tick().unwrap() != Default::default() {}
            });
        }
        for k in 0..CANCELLERS {
            let (barrier, cancelled, refused) =
                (barrier.clone(), cancelled.clone(), refused.clone());
            let (env, ids) = (&env, &ids);
            scope.spawn(move || {
                barrier.wait();
                // Half the cancellers walk from the front, half from the back, over
                // overlapping shares, so cancels meet claims and other cancels.
                let mut mine: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|id| id % 2 == (k % 2) as u64)
                    .collect();
                if k >= 2 {
                    mine.reverse();
                }
                for id in mine {
                    match env.app.schedules.cancel(&env.owner, id) {
                        Ok(view) => {
                            assert_eq!(view.status, ScheduleStatus::Cancelled);
                            assert!(
                                cancelled.lock().unwrap().insert(id),
                                "cancelled twice: {id}"
                            );
                        }
                        Err(Error::Conflict(why)) => {
                            refused.lock().unwrap().insert(id, why);
                        }
                        Err(other) => panic!("cancel {id}: {other:?}"),
                    }
                }
            });
        }
    });

    let cancelled = cancelled.lock().unwrap().clone();
    let attempts = phone.attempts();
    let delivered: HashSet<u64> = phone.delivered().iter().map(|m| m.schedule_id).collect();
    // Every send attempt was a distinct schedule (no double claim), and none was cancelled.
    assert_eq!(attempts.len(), delivered.len(), "a schedule was sent twice");
    assert!(cancelled.is_disjoint(&delivered), "cancelled and sent");
    assert_eq!(
        cancelled.len() + delivered.len(),
        SCHEDULES,
        "cancelled or sent, every one"
    );
    for id in &ids {
        let stored = status(&env.app.store, *id);
        if cancelled.contains(id) {
            assert_eq!(stored.status, ScheduleStatus::Cancelled);
        } else {
            assert_eq!(stored.status, ScheduleStatus::Sent, "{id}");
        }
    }
    // A refused cancel saw a schedule that was no longer pending.
    for (id, why) in refused.lock().unwrap().iter() {
        assert!(
            delivered.contains(id) || cancelled.contains(id),
            "{id}: {why}"
        );
    }
    (cancelled.len(), delivered.len())
}
