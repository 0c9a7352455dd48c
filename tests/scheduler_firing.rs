//! The scheduler fires schedules at their time, in due order, across every wheel level, with
//! only the near horizon in memory; retries and failures keep the same message id.

mod scheduler_support;

use chattu::services::scheduler::{SchedulerSettings, TickReport};
use chattu::services::Clock;
use chattu::store::ScheduleStatus;
use scheduler_support::*;

#[test]
fn fires_at_the_exact_millisecond_not_before() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    let first = schedule(&store, START_MS + 1_500, "first");
    let second = schedule(&store, START_MS + 1_501, "second");
    scheduler.start().unwrap();

    clock.set_ms(START_MS + 1_499);
    assert_eq!(scheduler.tick().unwrap(), TickReport::default());
    assert!(phone.attempts().is_empty());
    // The wheel asks to be woken no later than the first due time.
    assert!(scheduler.next_wake_ms().unwrap() <= START_MS + 1_500);

    clock.set_ms(START_MS + 1_500);
    assert_eq!(scheduler.tick().unwrap().sent, 1);
    assert_eq!(phone.delivered_texts(), ["first"]);
    clock.set_ms(START_MS + 1_501);
    assert_eq!(scheduler.tick().unwrap().sent, 1);
    assert_eq!(phone.delivered_texts(), ["first", "second"]);
    assert_eq!(phone.send_times(), [START_MS + 1_500, START_MS + 1_501]);

    let first = status(&store, first);
    assert_eq!(first.status, ScheduleStatus::Sent);
    assert_eq!(first.sent_ms, Some(START_MS + 1_500));
    assert_eq!(first.late_ms, Some(0));
    let id = first.message_id.unwrap();
    assert_eq!(phone.delivered()[0].message_id, id);
    assert_eq!(status(&store, second).status, ScheduleStatus::Sent);
}

/// 10,000 schedules spread from 1 ms to 40 days ahead (every wheel level), with 300 allowed in
/// memory: they fire in (due, id) order, each exactly once, never early, and memory stays bounded.
#[test]
fn ten_thousand_schedules_across_all_levels_fire_in_order() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let settings = SchedulerSettings {
        max_resident: 300,
        page_size: 64,
        horizon_ms: 30 * 60_000,
        ..settings()
    };
    let mut scheduler = scheduler(&store, &clock, &phone, settings);
    // Offsets of every magnitude: ms, seconds, minutes, hours, days (a deterministic LCG).
    let mut expected = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut batch = Vec::new();
    for i in 0..10_000u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let scale = [256i64, 16_384, 1_048_576, 67_108_864, 3_456_000_000][(i % 5) as usize];
        let offset = 1 + (x >> 11) as i64 % scale;
        batch.push(record("c1", START_MS + offset, &format!("m{i}")));
    }
    for chunk in batch.chunks(1000) {
        for stored in store.insert_schedules(chunk.to_vec()).unwrap() {
            expected.push((stored.due_ms, stored.id, stored.message.clone()));
        }
    }
    expected.sort();
    scheduler.start().unwrap();
    assert!(scheduler.resident() <= 300);

    // Walk time forward the way the loop would: to each wake-up the scheduler asks for.
    let end = START_MS + 41 * 86_400_000;
    let mut max_resident = 0;
    let mut steps = 0;
    while let Some(at) = scheduler.next_wake_ms() {
        if at > end {
            break;
        }
        clock.set_ms(at.max(clock.now_ms()));
        scheduler.tick().unwrap();
        max_resident = max_resident.max(scheduler.resident());
        steps += 1;
        assert!(steps < 1_000_000, "the scheduler keeps asking to be woken");
    }
    let delivered = phone.delivered();
    assert_eq!(delivered.len(), 10_000);
    let texts: Vec<String> = delivered.iter().map(|m| m.text.clone()).collect();
    let want: Vec<String> = expected.iter().map(|e| e.2.clone()).collect();
    assert_eq!(texts, want, "fired in due order");
    // Woken exactly at each due time: never early, never late under a stepped clock.
    let times = phone.send_times();
    for (time, (due, _, text)) in times.iter().zip(&expected) {
        assert_eq!(time, due, "{text}");
    }
    assert!(max_resident <= 300, "{max_resident} entries in memory");
    assert_eq!(store.pending_schedule_count().unwrap(), 0);
}

#[test]
fn schedules_created_after_start_are_picked_up_even_behind_the_page_cursor() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    schedule(&store, START_MS + 50_000, "paged");
    scheduler.start().unwrap();
    // After start the horizon (60 s) is paged; these land behind and beyond the cursor.
    let near = schedule(&store, START_MS + 10, "near");
    let far = schedule(&store, START_MS + 5 * 60_000, "far");
    let past = schedule(&store, START_MS - 30_000, "overdue but within the grace");
    scheduler.tick().unwrap();
    assert_eq!(phone.delivered_texts(), ["overdue but within the grace"]);
    assert_eq!(status(&store, past).late_ms, Some(30_000));
    clock.set_ms(START_MS + 10);
    scheduler.tick().unwrap();
    clock.set_ms(START_MS + 50_000);
    scheduler.tick().unwrap();
    clock.set_ms(START_MS + 5 * 60_000 - 1);
    scheduler.tick().unwrap();
    assert_eq!(phone.delivered().len(), 3);
    clock.set_ms(START_MS + 5 * 60_000);
    scheduler.tick().unwrap();
    assert_eq!(
        phone.delivered_texts(),
        ["overdue but within the grace", "near", "paged", "far"]
    );
    assert_eq!(status(&store, near).sent_ms, Some(START_MS + 10));
    assert_eq!(status(&store, far).sent_ms, Some(START_MS + 5 * 60_000));
}

#[test]
fn a_cancelled_schedule_is_not_sent() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::new();
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    let keep = schedule(&store, START_MS + 1_000, "keep");
    let drop = schedule(&store, START_MS + 1_000, "drop");
    scheduler.start().unwrap();
    // The service's cancel: pending → cancelled, only from pending.
    let (_, changed) = store
        .update_schedule(drop, |s| {
            let pending = s.status == ScheduleStatus::Pending;
            if pending {
                s.status = ScheduleStatus::Cancelled;
            }
            pending
        })
        .unwrap()
        .unwrap();
    assert!(changed);
    clock.set_ms(START_MS + 1_000);
    let report = scheduler.tick().unwrap();
    assert_eq!((report.sent, report.skipped), (1, 1));
    assert_eq!(phone.delivered_texts(), ["keep"]);
    assert_eq!(status(&store, keep).status, ScheduleStatus::Sent);
    assert_eq!(status(&store, drop).status, ScheduleStatus::Cancelled);
}

#[test]
fn an_unavailable_engine_is_retried_with_the_same_message_id() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    let id = schedule(&store, START_MS, "retry me");
    phone.then(&[Behaviour::Unavailable, Behaviour::Unavailable]);
    scheduler.start().unwrap();
    assert_eq!(scheduler.tick().unwrap().retried, 1);
    assert_eq!(status(&store, id).status, ScheduleStatus::Sending);
    // Backoff 2 s, then 4 s: nothing before, a second attempt at +2 s, the third at +6 s.
    clock.set_ms(START_MS + 1_999);
    assert_eq!(scheduler.tick().unwrap(), TickReport::default());
    clock.set_ms(START_MS + 2_000);
    assert_eq!(scheduler.tick().unwrap().retried, 1);
    clock.set_ms(START_MS + 6_000);
    assert_eq!(scheduler.tick().unwrap().sent, 1);
    let attempts = phone.attempts();
    assert_eq!(attempts.len(), 3);
    assert!(attempts
        .iter()
        .all(|a| a.message_id == attempts[0].message_id));
    let done = status(&store, id);
    assert_eq!(done.status, ScheduleStatus::Sent);
    assert_eq!(done.late_ms, Some(6_000));
    assert_eq!(
        done.message_id.as_deref(),
        Some(attempts[0].message_id.as_str())
    );
}

#[test]
fn a_rejected_send_fails_and_an_endless_outage_fails_after_the_grace() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::new();
    let settings = SchedulerSettings {
        missed_grace_ms: 10_000,
        ..settings()
    };
    let mut scheduler = scheduler(&store, &clock, &phone, settings);
    let rejected = schedule(&store, START_MS, "rejected");
    let offline = schedule(&store, START_MS + 1, "offline");
    phone.then(&[Behaviour::Reject]);
    phone.then(&[Behaviour::Unavailable; 20]);
    scheduler.start().unwrap();
    clock.set_ms(START_MS + 1);
    scheduler.tick().unwrap();
    assert_eq!(status(&store, rejected).status, ScheduleStatus::Failed);
    while clock.now_ms() < START_MS + 30_000 {
        clock.advance_ms(500);
        scheduler.tick().unwrap();
    }
    let offline = status(&store, offline);
    assert_eq!(offline.status, ScheduleStatus::Failed);
    assert!(offline.failure.unwrap().contains("grace"));
    assert!(phone.delivered().is_empty());
    assert_eq!(scheduler.resident(), 0, "no retry left behind");
}

#[test]
fn several_clients_are_sent_in_parallel_each_in_due_order() {
    let dir = TempDir::new();
    let store = open_store(&dir);
    let clock = ManualClock::at(START_MS);
    let phone = Phone::new();
    let mut records = Vec::new();
    for i in 0..300 {
        let client = format!("client-{}", i % 5);
        records.push(record(
            &client,
            START_MS + 1_000 + (i / 7) as i64,
            &format!("{client} {i}"),
        ));
    }
    let stored = store.insert_schedules(records).unwrap();
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    scheduler.start().unwrap();
    clock.set_ms(START_MS + 2_000);
    assert_eq!(scheduler.tick().unwrap().sent, 300);
    let delivered = phone.delivered();
    assert_eq!(delivered.len(), 300);
    for c in 0..5 {
        let client = format!("client-{c}");
        let got: Vec<u64> = delivered
            .iter()
            .filter(|m| m.client_id == client)
            .map(|m| m.schedule_id)
            .collect();
        let want: Vec<u64> = stored
            .iter()
            .filter(|s| s.client_id == client)
            .map(|s| s.id)
            .collect();
        assert_eq!(got, want, "{client} in due order");
    }
    assert!(store.sending_schedules().unwrap().is_empty());
}
