//! The scheduler across restarts: pending schedules reload, ones missed while down are sent
//! late (lateness recorded) or marked missed past the grace, and schedules found in `sending`
//! are reconciled with the engine so none is lost or repeated.

mod scheduler_support;

use chattu::services::scheduler::{self, Reconciled, ScheduledText, SchedulerSettings};
use chattu::services::time::format_rfc3339;
use chattu::store::schedule_wheel::Claim;
use chattu::store::ScheduleStatus;
use scheduler_support::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn create(env: &AppEnv, due_ms: i64, text: &str) -> u64 {
    env.app
        .schedules
        .create(
            &env.owner,
            "c1",
            "+9721234567",
            text,
            &format_rfc3339(due_ms),
        )
        .unwrap()
        .id
}

#[test]
fn pending_schedules_reload_after_a_restart() {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let (a, b) = {
        let env = AppEnv::open(&dir, clock.clone(), 3600);
        let a = create(&env, START_MS + 60_000, "one minute");
        let b = create(&env, START_MS + 3 * 86_400_000, "three days");
        let mut first = scheduler(&env.app.store, &clock, &phone, settings());
        first.start().unwrap();
        clock.set_ms(START_MS + 30_000);
        first.tick().unwrap();
        (a, b)
    }; // everything dropped: the process "stops" here
    assert!(phone.attempts().is_empty());

    let env = AppEnv::open(&dir, clock.clone(), 3600);
    let mut second = scheduler(&env.app.store, &clock, &phone, settings());
    second.start().unwrap();
    clock.set_ms(START_MS + 60_000);
    second.tick().unwrap();
    clock.set_ms(START_MS + 3 * 86_400_000);
    second.tick().unwrap();
    assert_eq!(phone.delivered_texts(), ["one minute", "three days"]);
    assert_eq!(
        phone.send_times(),
        [START_MS + 60_000, START_MS + 3 * 86_400_000]
    );
    for id in [a, b] {
        assert_eq!(status(&env.app.store, id).late_ms, Some(0));
    }
}

#[test]
fn missed_while_down_is_sent_with_its_lateness_or_marked_missed_past_the_grace() {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let grace_secs = 600;
    let (late, missed, future) = {
        let env = AppEnv::open(&dir, clock.clone(), grace_secs);
        (
            create(&env, START_MS + 60_000, "due while down, within the grace"),
            create(&env, START_MS + 1_000, "due while down, past the grace"),
            create(&env, START_MS + 3_600_000, "after the restart"),
        )
    };
    // Down for 11 minutes: the first is 9 min 59 s late (+1 s before the test clock moves),
    // the second 10 min 59 s (over the 10-minute grace).
    clock.set_ms(START_MS + 659_000);
    let env = AppEnv::open(&dir, clock.clone(), grace_secs);
    let settings = SchedulerSettings::from_config(&env.app.config);
    assert_eq!(settings.missed_grace_ms, 600_000);
    let mut scheduler = scheduler(&env.app.store, &clock, &phone, settings);
    scheduler.start().unwrap();
    let report = scheduler.tick().unwrap();
    assert_eq!((report.sent, report.missed), (1, 1));
    assert_eq!(
        phone.delivered_texts(),
        ["due while down, within the grace"]
    );

    let listing = env.app.schedules.list(&env.owner).unwrap();
    let by_id = |id: u64| listing.iter().find(|s| s.id == id).unwrap().clone();
    assert_eq!(by_id(late).status, ScheduleStatus::Sent);
    assert_eq!(by_id(late).late_ms, Some(599_000));
    assert_eq!(by_id(missed).status, ScheduleStatus::Missed);
    assert_eq!(by_id(missed).late_ms, Some(658_000));
    assert_eq!(by_id(missed).sent_time, None);
    assert_eq!(by_id(future).status, ScheduleStatus::Pending);
    assert_eq!(by_id(future).late_ms, None);
    let json = serde_json::to_value(by_id(late)).unwrap();
    assert_eq!(json["lateMs"], 599_000);
    assert_eq!(json["status"], "sent");

    clock.set_ms(START_MS + 3_600_000);
    scheduler.tick().unwrap();
    assert_eq!(phone.delivered().len(), 2);
}

/// Leaves schedules in `sending`, as a process killed after the claim commit would.
fn claimed(store: &chattu::store::Store, texts: &[&str]) -> Vec<chattu::store::ScheduleRecord> {
    let ids: Vec<u64> = texts.iter().map(|t| schedule(store, START_MS, t)).collect();
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("3EB0TEST{n:014}")
    };
    store
        .claim_schedules(&ids, START_MS, 3_600_000, &mut next_id)
        .unwrap()
        .into_iter()
        .map(|claim| match claim {
            Claim::Sending(record) => record,
            other => panic!("not claimed: {other:?}"),
        })
        .collect()
}

fn as_text(record: &chattu::store::ScheduleRecord) -> ScheduledText {
    ScheduledText {
        schedule_id: record.id,
        client_id: record.client_id.clone(),
        recipient: record.recipient.clone(),
        text: record.message.clone(),
        message_id: record.message_id.clone().unwrap(),
    }
}

#[test]
fn sending_schedules_are_reconciled_at_start_sent_once_in_total() {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS + 5_000);
    let phone = Phone::new();
    let records = {
        let store = open_store(&dir);
        claimed(&store, &["went out before the crash", "never went out"])
    };
    // The first reached WhatsApp before the crash; the second did not.
    phone.already_delivered(as_text(&records[0]));

    let store = open_store(&dir);
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    let report = scheduler.start().unwrap();
    assert_eq!((report.reconciled, report.sent), (1, 1));
    // Only the unsent one was sent, under the id stored before the crash.
    let attempts = phone.attempts();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].message_id,
        records[1].message_id.clone().unwrap()
    );
    assert_eq!(
        phone.delivered_texts(),
        ["went out before the crash", "never went out"]
    );
    for record in &records {
        let now = status(&store, record.id);
        assert_eq!(now.status, ScheduleStatus::Sent);
        assert_eq!(now.message_id, record.message_id);
    }
    assert!(store.sending_schedules().unwrap().is_empty());
    // A further restart has nothing left to reconcile.
    drop(scheduler);
    let mut again = scheduler_support::scheduler(&store, &clock, &phone, settings());
    assert_eq!(again.start().unwrap(), Default::default());
}

#[test]
fn unknown_reconciliation_sends_again_under_the_same_id_and_whatsapp_drops_the_repeat() {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS + 5_000);
    let phone = Phone::new();
    let store = open_store(&dir);
    let records = claimed(&store, &["maybe sent", "maybe not"]);
    phone.already_delivered(as_text(&records[0]));
    phone.answer_reconcile(Reconciled::Unknown);
    let mut scheduler = scheduler(&store, &clock, &phone, settings());
    let report = scheduler.start().unwrap();
    assert_eq!(report.sent, 2);
    let attempts = phone.attempts();
    assert_eq!(attempts.len(), 2, "both sent again");
    for (attempt, record) in attempts.iter().zip(&records) {
        assert_eq!(Some(&attempt.message_id), record.message_id.as_ref());
    }
    // WhatsApp delivered each message id once.
    assert_eq!(phone.delivered_texts(), ["maybe sent", "maybe not"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokio_loop_fires_on_the_test_clock_and_stops() {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let env = AppEnv::open(&dir, clock.clone(), 3600);
    let id = create(&env, START_MS + 86_400_000, "tomorrow");
    let settings = SchedulerSettings {
        poll_interval: Duration::from_millis(20),
        ..SchedulerSettings::from_config(&env.app.config)
    };
    let handle = scheduler::start_with(
        scheduler_support::scheduler(&env.app.store, &clock, &phone, settings),
        Duration::from_millis(20),
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(phone.attempts().is_empty());
    clock.set_ms(START_MS + 86_400_000);
    handle.wake();
    let deadline = Instant::now() + Duration::from_secs(10);
    while phone.delivered().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(phone.delivered_texts(), ["tomorrow"]);
    handle.shutdown().await;
    assert_eq!(status(&env.app.store, id).status, ScheduleStatus::Sent);
    // A schedule created after shutdown is not sent by the stopped loop.
    create(&env, START_MS + 86_400_000, "after shutdown");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(phone.delivered().len(), 1);
    let _keep: Arc<Phone> = phone;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_notices_a_new_schedule_without_being_woken() {
    let dir = TempDir::new();
    let clock = ManualClock::at(START_MS);
    let phone = Phone::with_clock(&clock);
    let env = AppEnv::open(&dir, clock.clone(), 3600);
    let settings = SchedulerSettings::from_config(&env.app.config);
    let poll = settings.poll_interval;
    let handle = scheduler::start_with(
        scheduler_support::scheduler(&env.app.store, &clock, &phone, settings),
        poll,
    );
    tokio::time::sleep(Duration::from_millis(30)).await;
    // Created through the service after the loop started, due now: the next poll sends it.
    create(&env, START_MS, "created while running");
    let deadline = Instant::now() + Duration::from_secs(10);
    while phone.delivered().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(phone.delivered_texts(), ["created while running"]);
    handle.shutdown().await;
}
