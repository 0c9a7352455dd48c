//! The outbox shares the transaction of the data it describes: both or neither.

mod webhooks_support;

use chattu::store::outbox::outbox_signal;
use chattu::store::SentRecord;
use webhooks_support::*;

fn pending(env: &Env) -> usize {
    env.app
        .store
        .webhook_pending("client-1", 100)
        .unwrap()
        .len()
}

#[test]
fn an_event_recorded_in_the_callers_transaction_commits_or_vanishes_with_it() {
    let env = Env::new(true);
    env.set_webhook("http://127.0.0.1:9/hook");
    let db = env.app.store.database();

    let txn = db.begin_write().unwrap();
    env.app
        .history
        .record_received_in(&txn, "client-1", "1@c.us", "dropped")
        .unwrap();
    drop(txn); // aborted: e.g. the Signal session could not be saved
    assert_eq!(pending(&env), 0);
    assert!(env
        .app
        .history
        .received(&env.owner, "client-1")
        .unwrap()
        .is_empty());

    let txn = db.begin_write().unwrap();
    env.app
        .history
        .record_received_in(&txn, "client-1", "1@c.us", "kept")
        .unwrap();
    txn.commit().unwrap();
    outbox_signal().notify_waiters();
    let queued = env.app.store.webhook_pending("client-1", 10).unwrap();
    assert_eq!(queued.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(body["data"]["body"], "kept");
    assert_eq!(
        env.app
            .history
            .received(&env.owner, "client-1")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn each_client_has_its_own_increasing_sequence_and_unique_ids() {
    let env = Env::new(true);
    env.set_webhook("http://127.0.0.1:9/hook");
    let (other, _) = env
        .app
        .clients
        .create(&env.owner, "client-2", "9721234568")
        .unwrap();
    env.app
        .clients
        .update_webhook(&env.owner, &other.client_id, "http://127.0.0.1:9/other")
        .unwrap();
    for i in 0..5 {
        env.app
            .history
            .record_sent("client-1", "1", &format!("a{i}"), "sent")
            .unwrap();
        env.app
            .history
            .record_sent("client-2", "1", &format!("b{i}"), "sent")
            .unwrap();
    }
    let a = env.app.store.webhook_pending("client-1", 100).unwrap();
    let b = env.app.store.webhook_pending("client-2", 100).unwrap();
    assert_eq!(a.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(b.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let mut ids: Vec<&str> = a.iter().chain(&b).map(|r| r.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);
    let heads = env.app.store.webhook_heads().unwrap();
    assert_eq!(
        heads
            .iter()
            .map(|h| (h.client_id.as_str(), h.seq))
            .collect::<Vec<_>>(),
        [("client-1", 1), ("client-2", 1)]
    );
}

#[test]
fn a_status_update_of_a_missing_row_queues_nothing() {
    let env = Env::new(true);
    env.set_webhook("http://127.0.0.1:9/hook");
    assert!(env.app.history.update_sent_status(42, "read").is_err());
    let updated: Option<SentRecord> = env
        .app
        .store
        .update_sent_with_event(42, |_| {}, |_| None, START_MS)
        .unwrap();
    assert!(updated.is_none());
    assert_eq!(pending(&env), 0);
}
