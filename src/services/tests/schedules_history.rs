use super::*;
use crate::services::schedules::ScheduleOutcome;

#[test]
fn schedules_validate_their_fields() {
    let h = harness();
    let (bob, _) = h.user("bob");
    h.client(&bob, "c1");
    let create = |number: &str, message: &str, when: &str| {
        h.app.schedules.create(&bob, "c1", number, message, when)
    };
    let field_of = |r: Result<ScheduledMessageView, Error>| match r {
        Err(Error::Validation { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    assert_eq!(
        field_of(create("12ab", "hi", "2025-10-06T18:30:00Z")),
        "number"
    );
    assert_eq!(
        field_of(create("+9721234567", "", "2025-10-06T18:30:00Z")),
        "message"
    );
    assert_eq!(
        field_of(create(
            "+9721234567",
            &"x".repeat(4097),
            "2025-10-06T18:30:00Z"
        )),
        "message"
    );
    assert_eq!(
        field_of(create("+9721234567", "hi", "tomorrow")),
        "scheduleTime"
    );
    assert_eq!(
        field_of(create("+9721234567", "hi", "2025-10-06T18:30:00")),
        "scheduleTime"
    );
    assert_eq!(
        field_of(create("+9721234567", "hi", "2025-10-06T11:58:00Z")),
        "scheduleTime",
        "in the past"
    );
    assert!(
        create("+9721234567", "hi", "2025-10-06T11:59:30Z").is_ok(),
        "a little clock skew is fine"
    );
    assert_eq!(
        h.app
            .schedules
            .create(&bob, "nope", "9721234567", "hi", "2025-10-06T18:30:00Z"),
        Err(Error::ClientNotFound)
    );
}

#[test]
fn create_list_cancel_in_the_documented_shape() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (eve, _) = h.user("eve");
    h.client(&bob, "client-id");
    h.client(&eve, "e1");
    let made = h
        .app
        .schedules
        .create(
            &bob,
            "client-id",
            "9721234567",
            "Scheduled hello",
            "2025-10-06T18:30:00Z",
        )
        .unwrap();
    h.app
        .schedules
        .create(&eve, "e1", "9721234567", "eve's", "2025-10-06T18:30:00Z")
        .unwrap();
    let listed = h.app.schedules.list(&bob).unwrap();
    assert_eq!(
        serde_json::to_value(&listed).unwrap(),
        serde_json::json!([{
            "id": made.id,
            "clientId": "client-id",
            "recipient": "+9721234567",
            "message": "Scheduled hello",
            "scheduleTime": "2025-10-06T18:30:00Z",
            "status": "pending",
            "createdAt": "2025-10-06T12:00:00Z",
            "sentTime": null,
            "lateMs": null
        }])
    );
    let eves = h.app.schedules.list(&eve).unwrap();
    assert_eq!(
        h.app.schedules.cancel(&bob, eves[0].id).map(|_| ()),
        Err(Error::AccessDenied)
    );
    assert_eq!(
        h.app.schedules.cancel(&bob, 999).map(|_| ()),
        Err(Error::NotFound("Scheduled message".into()))
    );
    let cancelled = h.app.schedules.cancel(&bob, made.id).unwrap();
    assert_eq!(cancelled.status, ScheduleStatus::Cancelled);
    assert!(matches!(
        h.app.schedules.cancel(&bob, made.id),
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        h.app.schedules.list(&bob).unwrap()[0].status,
        ScheduleStatus::Cancelled
    );
}

#[test]
fn the_scheduler_sees_due_schedules_and_finishes_them() {
    let h = harness_with(|c| c.scheduler.missed_after_secs = 600);
    let (bob, _) = h.user("bob");
    h.client(&bob, "c1");
    let at = |t: &str| {
        h.app
            .schedules
            .create(&bob, "c1", "9721234567", "hi", t)
            .unwrap()
            .id
    };
    let first = at("2025-10-06T12:10:00Z");
    let second = at("2025-10-06T12:05:00Z");
    let later = at("2025-10-06T13:00:00Z");
    assert!(h.app.schedules.due(10).unwrap().is_empty());
    assert_eq!(
        h.app.schedules.next_due_ms().unwrap(),
        Some(time::parse_rfc3339("2025-10-06T12:05:00Z").unwrap())
    );
    h.clock.advance_secs(10 * 60);
    let due: Vec<u64> = h
        .app
        .schedules
        .due(10)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(due, [second, first]);

    let sent_ms = h.clock.now_ms();
    let (record, changed) = h
        .app
        .schedules
        .finish(second, ScheduleOutcome::Sent { sent_ms })
        .unwrap();
    assert!(changed && record.status == ScheduleStatus::Sent);
    // A cancel that raced the send: the finish does not overwrite it.
    h.app.schedules.cancel(&bob, first).unwrap();
    let (record, changed) = h
        .app
        .schedules
        .finish(first, ScheduleOutcome::Sent { sent_ms })
        .unwrap();
    assert!(!changed && record.status == ScheduleStatus::Cancelled);
    assert!(h.app.schedules.due(10).unwrap().is_empty());

    h.clock.advance_secs(3 * 3600);
    let overdue = h.app.schedules.due(10).unwrap();
    assert_eq!(overdue.len(), 1);
    assert!(h.app.schedules.is_overdue(&overdue[0]));
    h.app
        .schedules
        .finish(later, ScheduleOutcome::Missed)
        .unwrap();
    let listed = h.app.schedules.list(&bob).unwrap();
    let by_id = |id: u64| listed.iter().find(|s| s.id == id).unwrap();
    assert_eq!(
        by_id(second).sent_time.as_deref(),
        Some("2025-10-06T12:10:00Z")
    );
    assert_eq!(by_id(later).status, ScheduleStatus::Missed);
}

#[test]
fn history_shapes_match_the_api_document() {
    let h = harness();
    let (bob, _) = h.user("bob");
    h.client(&bob, "client-id");
    let sent = h
        .app
        .history
        .record_sent("client-id", "1234567890", "Hello from WhatsApp!", "sent")
        .unwrap();
    h.app
        .history
        .record_received("client-id", "1234567890", "Hello!")
        .unwrap();
    let call = h
        .app
        .history
        .record_call(NewCall {
            client_id: "client-id".into(),
            call_from: "1234567890@c.us".into(),
            is_video: false,
            start_ms: h.clock.now_ms(),
            end_ms: None,
            duration_secs: None,
        })
        .unwrap();
    assert_eq!(
        serde_json::to_value(h.app.history.sent(&bob).unwrap()).unwrap(),
        serde_json::json!([{
            "id": sent.id, "clientId": "client-id", "senderNumber": "9721234567", "recipient": "1234567890",
            "message": "Hello from WhatsApp!", "status": "sent", "sentAt": "2025-10-06T12:00:00Z"
        }])
    );
    assert_eq!(
        serde_json::to_value(h.app.history.received(&bob, "client-id").unwrap()).unwrap(),
        serde_json::json!([{
            "id": 1, "client_id": "client-id", "sender": "1234567890", "message": "Hello!",
            "received_at": "2025-10-06T12:00:00Z"
        }])
    );
    h.clock.advance_secs(42);
    h.app
        .history
        .finish_call(call.id, h.clock.now_ms())
        .unwrap();
    let expected = serde_json::json!([{
        "id": call.id, "client_id": "client-id", "call_from": "1234567890@c.us", "is_video": false,
        "start_time": "2025-10-06T12:00:00Z", "end_time": "2025-10-06T12:00:42Z", "duration": 42,
        "created_at": "2025-10-06T12:00:00Z"
    }]);
    assert_eq!(
        serde_json::to_value(h.app.history.calls(&bob, "client-id").unwrap()).unwrap(),
        expected
    );
    assert_eq!(
        serde_json::to_value(h.app.history.call_logs(&bob).unwrap()).unwrap(),
        expected
    );
    let updated = h.app.history.update_sent_status(sent.id, "read").unwrap();
    assert_eq!(updated.status, "read");
    assert_eq!(
        h.app
            .history
            .record_sent("ghost", "1", "x", "sent")
            .map(|_| ()),
        Err(Error::ClientNotFound)
    );
}

#[test]
fn listings_are_limited_newest_first_and_per_caller() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (eve, _) = h.user("eve");
    let (_, c1_key) = h.client(&bob, "c1");
    h.client(&bob, "c2");
    h.client(&eve, "e1");
    for i in 0..120 {
        let client = ["c1", "c2", "e1"][i % 3];
        h.app
            .history
            .record_sent(client, "1234567", &format!("m{i}"), "sent")
            .unwrap();
        h.app
            .history
            .record_call(NewCall {
                client_id: client.into(),
                call_from: "1@c.us".into(),
                is_video: i % 2 == 0,
                start_ms: 0,
                end_ms: None,
                duration_secs: None,
            })
            .unwrap();
    }
    let sent = h.app.history.sent(&bob).unwrap();
    assert_eq!(sent.len(), 80, "all of bob's 80, none of eve's");
    assert!(sent.iter().all(|s| s.client_id != "e1"));
    assert!(sent.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(h.app.history.call_logs(&bob).unwrap().len(), 50);
    let own = h.app.history.sent(&c1_key).unwrap();
    assert_eq!(own.len(), 40);
    assert!(own.iter().all(|s| s.client_id == "c1"));
    assert_eq!(h.app.history.calls(&bob, "c1").unwrap().len(), 40);
}

#[test]
fn maintenance_applies_retention() {
    let h = harness_with(|c| {
        c.storage.retention_days = 1;
        c.storage.max_history_rows = 1000;
    });
    let (bob, _) = h.user("bob");
    h.client(&bob, "c1");
    h.app.history.record_received("c1", "1", "old").unwrap();
    let old_schedule = h
        .app
        .schedules
        .create(&bob, "c1", "9721234567", "x", "2025-10-06T12:00:00Z")
        .unwrap();
    h.app.schedules.cancel(&bob, old_schedule.id).unwrap();
    let pending = h
        .app
        .schedules
        .create(&bob, "c1", "9721234567", "x", "2025-10-09T12:00:00Z")
        .unwrap();
    h.app
        .security
        .record(SecurityEvent {
            kind: "k".into(),
            ip: None,
            username: None,
            detail: String::new(),
        })
        .unwrap();
    let (_, token) = h.app.accounts.login("bob", "bob-password").unwrap();
    h.clock.advance_secs(2 * 86_400);
    h.app.history.record_received("c1", "1", "new").unwrap();
    let report = h.app.run_maintenance().unwrap();
    assert_eq!(
        report,
        MaintenanceReport {
            history_rows: 1,
            schedules: 1,
            security_events: 1,
            sessions: 0
        }
    );
    let left: Vec<String> = h
        .app
        .history
        .received(&bob, "c1")
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(left, ["new"]);
    let schedules: Vec<u64> = h
        .app
        .schedules
        .list(&bob)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        schedules,
        [pending.id],
        "pending schedules are never pruned"
    );
    h.clock.advance_secs(7 * 86_400);
    assert_eq!(h.app.run_maintenance().unwrap().sessions, 1);
    assert_eq!(
        h.app.accounts.authenticate_session(&token),
        Err(Error::AuthFailed)
    );
}

#[test]
fn received_messages_can_share_the_callers_transaction() {
    let h = harness();
    let (bob, _) = h.user("bob");
    h.client(&bob, "c1");
    let txn = h.app.store.database().begin_write().unwrap();
    h.app
        .history
        .record_received_in(&txn, "c1", "123", "dropped")
        .unwrap();
    drop(txn); // not committed: as if we crashed before the commit
    assert!(h.app.history.received(&bob, "c1").unwrap().is_empty());
    let txn = h.app.store.database().begin_write().unwrap();
    h.app
        .history
        .record_received_in(&txn, "c1", "123", "kept")
        .unwrap();
    txn.commit().unwrap();
    let messages: Vec<String> = h
        .app
        .history
        .received(&bob, "c1")
        .unwrap()
        .into_iter()
        .map(|m| m.message)
        .collect();
    assert_eq!(messages, ["kept"]);
}
