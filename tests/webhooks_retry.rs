//! Failures, backoff, dead letters, replay and restarts, driven by a hand-moved clock.

mod webhooks_support;

use chattu::services::webhooks::Webhooks;
use chattu::services::Clock;
use chattu::store::outbox::AttemptOutcome;
use std::sync::Arc;
use std::time::Duration;
use webhooks_support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn attempts(env: &Env) -> usize {
    env.app
        .store
        .webhook_attempts("client-1", 100)
        .unwrap()
        .len()
}

#[test]
fn non_2xx_answers_are_retried_with_growing_jittered_backoff() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    receiver.answer(Answer::status(500));
    env.set_webhook(&receiver.url("/"));
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    env.app
        .history
        .record_sent("client-1", "1", "m", "sent")
        .unwrap();

    // Test settings: first wait 1 s, doubling; each jittered into [half, full].
    for (failures, full_wait) in [(1u32, 1_000i64), (2, 2_000), (3, 4_000)] {
        assert!(wait_until(&worker, || attempts(&env) >= failures as usize));
        let pending = env.app.store.webhook_pending("client-1", 1).unwrap();
        let head = &pending[0];
        assert_eq!(head.attempts, failures);
        assert_eq!(head.last_error.as_deref(), Some("HTTP 500"));
        let wait = head.next_attempt_ms - env.clock.now_ms();
        assert!(
            (full_wait / 2..=full_wait).contains(&wait),
            "wait {wait} after {failures} failures"
        );
        // Just before it is due, nothing happens.
        env.clock.advance_ms(wait - 1);
        worker.wake();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(receiver.hits().len(), failures as usize);
        env.clock.advance_ms(1);
        assert!(wait_until(&worker, || receiver.hits().len() > failures as usize));
    }
    // Every retry carries the same event id, and a fresh signed timestamp.
    let hits = receiver.hits();
    let first_id = hits[0].header("x-chattu-event-id").to_string();
    assert!(hits
        .iter()
        .all(|h| h.header("x-chattu-event-id") == first_id));
    for hit in &hits {
        assert_eq!(hit.verify(&env.client_key, env.clock.now_ms()), Ok(()));
    }
    // The log says what happened.
    let log = env.app.store.webhook_attempts("client-1", 100).unwrap();
    assert!(log.iter().all(|a| a.status_code == Some(500)));
    assert!(log.iter().all(|a| a.outcome == AttemptOutcome::Retrying));
    receiver.answer(Answer::ok("{}"));
    let pending = env.app.store.webhook_pending("client-1", 1).unwrap();
    env.clock
        .advance_ms(pending[0].next_attempt_ms - env.clock.now_ms());
    assert!(wait_until(&worker, || env
        .app
        .store
        .webhook_pending("client-1", 1)
        .unwrap()
        .is_empty()));
    let log = env.app.store.webhook_attempts("client-1", 1).unwrap();
    assert_eq!(log[0].outcome, AttemptOutcome::Delivered);
    assert_eq!(log[0].attempt, 5);
    rt.block_on(worker.shutdown());
}

#[test]
fn a_timeout_is_a_failure_and_call_events_get_the_shorter_timeout() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    // Slower than the call timeout (300 ms), well within the message timeout (2 s).
    receiver.answer(Answer {
        delay: Duration::from_millis(800),
        ..Answer::ok("{}")
    });
    env.set_webhook(&receiver.url("/"));
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    env.app
        .history
        .record_received("client-1", "1@c.us", "slow but fine")
        .unwrap();
    env.app
        .history
        .record_call(chattu::services::NewCall {
            client_id: "client-1".into(),
            call_from: "2@c.us".into(),
            is_video: false,
            start_ms: env.clock.now_ms(),
            end_ms: None,
            duration_secs: None,
        })
        .unwrap();
    assert!(wait_until(&worker, || attempts(&env) >= 2));
    let log = env.app.store.webhook_attempts("client-1", 10).unwrap();
    let call = log.iter().find(|a| a.event == "call_rejected").unwrap();
    let message = log.iter().find(|a| a.event == "message_received").unwrap();
    assert_eq!(message.outcome, AttemptOutcome::Delivered);
    assert_eq!(call.outcome, AttemptOutcome::Retrying);
    assert_eq!(call.status_code, None);
    let error = call.error.as_deref().unwrap_or("");
    assert!(error.contains("timed out"), "{error}");
    rt.block_on(worker.shutdown());
}

#[test]
fn after_the_retry_window_events_become_dead_letters_and_replay_requeues_them() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    receiver.answer(Answer::status(503));
    env.set_webhook(&receiver.url("/"));
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    env.app
        .history
        .record_sent("client-1", "1", "doomed", "sent")
        .unwrap();
    assert!(wait_until(&worker, || attempts(&env) >= 1));
    // Walk the clock through the 60 s window of the test settings.
    assert!(wait_until(&worker, || {
        if let Some(head) = env.app.store.webhook_head("client-1").unwrap() {
            let now = env.clock.now_ms();
            if head.next_attempt_ms > now {
                env.clock.advance_ms(head.next_attempt_ms - now);
            }
        }
        !env.app
            .store
            .webhook_dead_letters("client-1", 10)
            .unwrap()
            .is_empty()
    }));
    let dead = env.app.store.webhook_dead_letters("client-1", 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].dead_ms.unwrap() >= START_MS + 60_000);
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 503"));
    let log = env.app.store.webhook_attempts("client-1", 1).unwrap();
    assert_eq!(log[0].outcome, AttemptOutcome::DeadLettered);
    let tries = receiver.hits().len();
    assert!(tries >= 5, "retried {tries} times within the window");

    // A later event is not held back by the dead one.
    receiver.answer(Answer::ok("{}"));
    env.app
        .history
        .record_sent("client-1", "1", "later", "sent")
        .unwrap();
    assert!(wait_until(&worker, || receiver.hits().len() > tries));
    // The deliveries view lists the dead letter; replay puts it back at the end.
    let hooks = Webhooks::new(&env.app);
    let view = hooks.deliveries(&env.owner, "client-1").unwrap();
    assert_eq!(view.dead_letters.len(), 1);
    assert_eq!(view.dead_letters[0].state, "dead");
    assert_eq!(view.dead_letters[0].payload["data"]["body"], "doomed");
    let replayed = hooks
        .replay(&env.owner, "client-1", &dead[0].event_id)
        .unwrap();
    assert_eq!(replayed.event_id, dead[0].event_id);
    assert!(replayed.seq > dead[0].seq);
    assert!(wait_until(&worker, || receiver.hits().len() > tries + 1));
    let last = receiver.hits().pop().unwrap();
    assert_eq!(last.header("x-chattu-event-id"), dead[0].event_id);
    assert_eq!(last.json()["data"]["body"], "doomed");
    assert!(wait_until(&worker, || env
        .app
        .store
        .webhook_pending("client-1", 1)
        .unwrap()
        .is_empty()));
    assert!(env
        .app
        .store
        .webhook_dead_letters("client-1", 10)
        .unwrap()
        .is_empty());
    // Replaying it again finds nothing.
    assert_eq!(
        hooks
            .replay(&env.owner, "client-1", &dead[0].event_id)
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );
    rt.block_on(worker.shutdown());
}

#[test]
fn pending_deliveries_resume_after_a_restart() {
    let rt = runtime();
    let _guard = rt.enter();
    let mut env = Env::new(true);
    let receiver = Receiver::start();
    receiver.answer(Answer::status(500));
    env.set_webhook(&receiver.url("/"));
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    for text in ["one", "two", "three"] {
        env.app
            .history
            .record_received("client-1", "1@c.us", text)
            .unwrap();
    }
    assert!(wait_until(&worker, || attempts(&env) >= 1));
    let before: Vec<String> = env
        .app
        .store
        .webhook_pending("client-1", 10)
        .unwrap()
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    assert_eq!(before.len(), 3);
    rt.block_on(worker.shutdown());

    env.reopen();
    receiver.answer(Answer::ok("{}"));
    let first_hits = receiver.hits().len();
    env.clock.advance_ms(10_000);
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    assert!(wait_until(&worker, || receiver.hits().len() >= first_hits + 3));
    let after: Vec<String> = receiver.hits()[first_hits..]
        .iter()
        .map(|h| h.header("x-chattu-event-id").to_string())
        .collect();
    assert_eq!(after, before);
    let texts: Vec<String> = receiver.hits()[first_hits..]
        .iter()
        .map(|h| h.json()["data"]["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    rt.block_on(worker.shutdown());
}

#[test]
fn a_deleted_client_takes_its_queue_with_it() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    receiver.answer(Answer::status(500));
    env.set_webhook(&receiver.url("/"));
    env.app
        .history
        .record_sent("client-1", "1", "m", "sent")
        .unwrap();
    env.app
        .clients
        .delete(&env.owner, "client-1", "owner-password")
        .unwrap();
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    assert!(wait_until(&worker, || env
        .app
        .store
        .webhook_heads()
        .unwrap()
        .is_empty()));
    assert!(receiver.hits().is_empty());
    rt.block_on(worker.shutdown());
}

#[test]
fn removing_the_url_moves_waiting_events_to_the_dead_letters_for_a_later_replay() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    receiver.answer(Answer::status(500));
    env.set_webhook(&receiver.url("/"));
    for text in ["a", "b"] {
        env.app
            .history
            .record_sent("client-1", "1", text, "sent")
            .unwrap();
    }
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    assert!(wait_until(&worker, || attempts(&env) >= 1));
    env.set_webhook("");
    env.clock.advance_ms(10_000);
    assert!(wait_until(&worker, || env
        .app
        .store
        .webhook_dead_letters("client-1", 10)
        .unwrap()
        .len()
        == 2));
    let dead = env.app.store.webhook_dead_letters("client-1", 10).unwrap();
    assert!(dead
        .iter()
        .all(|d| d.last_error.as_deref() == Some("no webhook URL is set")));
    // Nothing new is queued without a URL.
    env.app
        .history
        .record_sent("client-1", "1", "c", "sent")
        .unwrap();
    assert!(env
        .app
        .store
        .webhook_pending("client-1", 10)
        .unwrap()
        .is_empty());

    receiver.answer(Answer::ok("{}"));
    env.set_webhook(&receiver.url("/again"));
    let hooks = Webhooks::new(&env.app);
    // Oldest first, so they arrive in their original order.
    for d in dead.iter().rev() {
        hooks.replay(&env.owner, "client-1", &d.event_id).unwrap();
    }
    assert!(wait_until(&worker, || receiver
        .hits()
        .iter()
        .filter(|h| h.path == "/again")
        .count()
        == 2));
    let bodies: Vec<String> = receiver
        .hits()
        .iter()
        .filter(|h| h.path == "/again")
        .map(|h| h.json()["data"]["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["a", "b"]);
    rt.block_on(worker.shutdown());
}
