//! Webhook delivery end to end through the services: events written with their data, delivered
//! in order to a receiver on 127.0.0.1 with valid signatures and stable ids, and the replies the
//! receiver asks for handed to the reply sender.

mod webhooks_support;

use chattu::services::webhooks::{AckLevel, Webhooks, DEFAULT_REJECTION_MESSAGE};
use chattu::services::{ClientStatus, Clock, NewCall};
use serde_json::json;
use std::sync::Arc;
use webhooks_support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn receiver_down_then_up_gets_every_event_in_order_signed_with_stable_ids() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let port = free_port();
    env.set_webhook(&format!("http://127.0.0.1:{port}/hook"));
    let h = &env.app.history;
    h.record_received("client-1", "1234567890@c.us", "first")
        .unwrap();
    h.record_sent("client-1", "+1234567890", "second", "sent")
        .unwrap();
    h.record_call(NewCall {
        client_id: "client-1".into(),
        call_from: "1234567890@c.us".into(),
        is_video: true,
        start_ms: env.clock.now_ms(),
        end_ms: None,
        duration_secs: None,
    })
    .unwrap();
    h.record_received("client-1", "5555@c.us", "fourth")
        .unwrap();
    let queued = env.app.store.webhook_pending("client-1", 100).unwrap();
    assert_eq!(queued.len(), 4);

    let replies = Arc::new(RecordingReplies::default());
    let worker = env.start_worker(settings(true), replies.clone());
    // Nobody listens: the head fails and waits; nothing behind it is attempted.
    assert!(wait_until(&worker, || {
        !env.app
            .store
            .webhook_attempts("client-1", 10)
            .unwrap()
            .is_empty()
    }));
    let attempts = env.app.store.webhook_attempts("client-1", 10).unwrap();
    assert!(attempts.iter().all(|a| a.event_id == queued[0].event_id));

    let receiver = Receiver::start_on(port);
    env.clock.advance_ms(30_000);
    assert!(wait_until(&worker, || receiver.hits().len() >= 4));
    assert!(wait_until(&worker, || env
        .app
        .store
        .webhook_pending("client-1", 10)
        .unwrap()
        .is_empty()));
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4, "each event once after the receiver came up");
    let ids: Vec<&str> = hits.iter().map(|h| h.header("x-chattu-event-id")).collect();
    let expected: Vec<&str> = queued.iter().map(|q| q.event_id.as_str()).collect();
    assert_eq!(ids, expected, "same ids, same order as queued");
    let seqs: Vec<u64> = hits
        .iter()
        .map(|h| h.header("x-chattu-sequence").parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    for hit in &hits {
        assert_eq!(hit.path, "/hook");
        assert_eq!(hit.header("content-type"), "application/json");
        assert_eq!(hit.header("x-api-key"), env.client_key);
        assert_eq!(hit.verify(&env.client_key, env.clock.now_ms()), Ok(()));
        assert!(hit.verify("some-other-key", env.clock.now_ms()).is_err());
    }
    let events: Vec<String> = hits
        .iter()
        .map(|h| h.json()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        [
            "message_received",
            "message_sent",
            "call_rejected",
            "message_received"
        ]
    );
    let first = hits[0].json();
    assert_eq!(
        first,
        json!({"event": "message_received", "data": {"from": "1234567890", "to": "client-1",
            "body": "first", "message": "first", "timestamp": START_MS,
            "type": "received_message"}})
    );
    assert_eq!(hits[1].json()["data"]["to"], "1234567890");
    assert_eq!(hits[2].json()["data"]["isVideo"], true);
    // The call was answered with the plain success body: the default rejection text goes out.
    assert_eq!(
        replies.sent(),
        vec![(
            "client-1".to_string(),
            "1234567890@c.us".to_string(),
            DEFAULT_REJECTION_MESSAGE.to_string()
        )]
    );
    rt.block_on(worker.shutdown());
}

#[test]
fn answers_turn_into_replies_to_the_sender_and_the_caller() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    env.set_webhook(&receiver.url("/"));
    receiver.answer_event(
        "message_received",
        Answer::ok(r#"{"status":"success","response":"Thank you for your message!"}"#),
    );
    receiver.answer_event(
        "call_rejected",
        Answer::ok(
            r#"{"status":"success","rejectionMessage":"מצטער אינני זמין כעת. אנא שלח הודעה"}"#,
        ),
    );
    let replies = Arc::new(RecordingReplies::default());
    let worker = env.start_worker(settings(true), replies.clone());
    let h = &env.app.history;
    h.record_received("client-1", "972500000001@s.whatsapp.net", "hi")
        .unwrap();
    h.record_call(NewCall {
        client_id: "client-1".into(),
        call_from: "972500000002@s.whatsapp.net".into(),
        is_video: false,
        start_ms: env.clock.now_ms(),
        end_ms: None,
        duration_secs: None,
    })
    .unwrap();
    // A sent message's answer never produces a reply, whatever it says.
    receiver.answer_event(
        "message_sent",
        Answer::ok(r#"{"response":"must not be sent"}"#),
    );
    h.record_sent("client-1", "972500000003", "out", "sent")
        .unwrap();
    assert!(wait_until(&worker, || receiver.hits().len() >= 3
        && replies.sent().len() >= 2));
    assert!(wait_until(&worker, || env
        .app
        .store
        .webhook_pending("client-1", 10)
        .unwrap()
        .is_empty()));
    assert_eq!(
        replies.sent(),
        vec![
            (
                "client-1".to_string(),
                "972500000001@s.whatsapp.net".to_string(),
                "Thank you for your message!".to_string()
            ),
            (
                "client-1".to_string(),
                "972500000002@s.whatsapp.net".to_string(),
                "מצטער אינני זמין כעת. אנא שלח הודעה".to_string()
            ),
        ]
    );
    rt.block_on(worker.shutdown());
}

#[test]
fn acks_status_changes_and_test_events_are_delivered_too() {
    let rt = runtime();
    let _guard = rt.enter();
    let env = Env::new(true);
    let receiver = Receiver::start();
    env.set_webhook(&receiver.url("/w"));
    let worker = env.start_worker(settings(true), Arc::new(RecordingReplies::default()));
    let sent = env
        .app
        .history
        .record_sent("client-1", "1234567890", "hello", "sent")
        .unwrap();
    env.app.history.update_sent_status(sent.id, "read").unwrap();
    // A status that is not an ack level changes the row but sends nothing.
    env.app
        .history
        .update_sent_status(sent.id, "archived")
        .unwrap();
    let hooks = Webhooks::new(&env.app);
    hooks
        .message_ack(sent.id, "3EB0ABCDEF", AckLevel::Failed, Some(479))
        .unwrap();
    hooks
        .set_client_status(
            "client-1",
            ClientStatus::Authenticated,
            Some("9721234567@c.us"),
        )
        .unwrap();
    // Unchanged status: no second event.
    hooks
        .set_client_status("client-1", ClientStatus::Authenticated, None)
        .unwrap();
    hooks.send_test(&env.owner, "client-1").unwrap();
    assert!(wait_until(&worker, || receiver.hits().len() >= 5));
    std::thread::sleep(std::time::Duration::from_millis(100));
    let hits = receiver.hits();
    let bodies: Vec<serde_json::Value> = hits.iter().map(|h| h.json()).collect();
    let names: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "message_sent",
            "message_ack",
            "message_ack",
            "client_status",
            "webhook_test"
        ]
    );
    assert_eq!(
        bodies[1]["data"],
        json!({"messageId": sent.id.to_string(), "from": "client-1", "to": "1234567890",
            "ack": "read", "errorCode": null, "timestamp": START_MS, "type": "message_ack"})
    );
    assert_eq!(bodies[2]["data"]["ack"], "failed");
    assert_eq!(bodies[2]["data"]["errorCode"], 479);
    assert_eq!(bodies[2]["data"]["messageId"], "3EB0ABCDEF");
    assert_eq!(
        bodies[3]["data"],
        json!({"clientId": "client-1", "status": "Authenticated",
            "connectedNumber": "9721234567@c.us", "timestamp": START_MS, "type": "client_status"})
    );
    let client = env.app.clients.by_id("client-1").unwrap();
    assert_eq!(client.status, ClientStatus::Authenticated);
    rt.block_on(worker.shutdown());
}

#[test]
fn without_a_webhook_url_nothing_is_queued() {
    let env = Env::new(true);
    env.app
        .history
        .record_received("client-1", "1@c.us", "x")
        .unwrap();
    assert!(env
        .app
        .store
        .webhook_pending("client-1", 10)
        .unwrap()
        .is_empty());
    let err = Webhooks::new(&env.app)
        .send_test(&env.owner, "client-1")
        .unwrap_err();
    assert_eq!(err.code(), "VALIDATION_ERROR");
}

#[test]
fn another_account_cannot_see_or_replay_deliveries() {
    let env = Env::new(true);
    env.set_webhook("http://127.0.0.1:9/x");
    let (_, key) = env
        .app
        .accounts
        .create_user_local(
            "intruder",
            chattu::services::Role::User,
            "intruder-password",
        )
        .unwrap();
    let intruder = env.app.accounts.authenticate_api_key(&key).unwrap();
    let hooks = Webhooks::new(&env.app);
    assert_eq!(
        hooks.deliveries(&intruder, "client-1").unwrap_err().code(),
        "ACCESS_DENIED"
    );
    assert_eq!(
        hooks
            .replay(&intruder, "client-1", "evt_x")
            .unwrap_err()
            .code(),
        "ACCESS_DENIED"
    );
    assert_eq!(
        hooks.send_test(&intruder, "client-1").unwrap_err().code(),
        "ACCESS_DENIED"
    );
    assert_eq!(
        hooks
            .replay(&env.owner, "client-1", "evt_missing")
            .unwrap_err()
            .code(),
        "NOT_FOUND"
    );
}
