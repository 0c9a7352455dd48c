//! Store behaviour: persistence, atomic counters, plan checks, cascades, indexes and pruning.

use super::test_dir::TempDir;
use super::*;
use redb::ReadableTableMetadata;
use std::collections::HashSet;
use std::sync::Arc;

fn user(name: &str, max_clients: u32) -> UserRecord {
    UserRecord {
        username: name.into(),
        password_hash: "x".into(),
        api_key: format!("{name}-key"),
        role: Role::User,
        disabled: false,
        max_clients,
        created_ms: 1,
    }
}

fn client(id: &str, owner: &str) -> ClientRecord {
    ClientRecord {
        client_id: id.into(),
        owner: owner.into(),
        phone_number: "9721234567".into(),
        api_key: format!("{id}-key"),
        webhook_url: None,
        status: ClientStatus::PendingAuthentication,
        connected_number: None,
        created_ms: 1,
    }
}

fn sent(client_id: &str, at: i64) -> SentRecord {
    SentRecord {
        id: 0,
        client_id: client_id.into(),
        sender_number: "1".into(),
        recipient: "2".into(),
        message: format!("at {at}"),
        status: "sent".into(),
        sent_ms: at,
    }
}

fn schedule(client_id: &str, due_ms: i64) -> ScheduleRecord {
    ScheduleRecord {
        id: 0,
        client_id: client_id.into(),
        recipient: "+9721234567".into(),
        message: "hi".into(),
        due_ms,
        status: ScheduleStatus::Pending,
        created_ms: 0,
        sent_ms: None,
        failure: None,
        message_id: None,
        late_ms: None,
    }
}

#[test]
fn schema_version_is_recorded_and_newer_files_are_refused() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
    {
        let txn = store.database().begin_write().unwrap();
        txn.open_table(tables::META)
            .unwrap()
            .insert(tables::SCHEMA_VERSION_KEY, SCHEMA_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    drop(store);
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::NewerSchema { .. })
    ));
}

#[test]
fn a_new_or_empty_file_is_laid_out_then_reopened_and_keeps_what_is_written() {
    // A missing file and an empty one (left by an installer, say) are both laid out by the first
    // open, which closes and reopens the file (see `open_database`); the store must be usable
    // right after and keep its data across a later open.
    for precreate_empty in [false, true] {
        let dir = TempDir::new();
        let path = dir.path().join(DATABASE_FILE);
        if precreate_empty {
            std::fs::write(&path, b"").unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(
            store.insert_user(&user("alice", 1)).unwrap(),
            UserInsert::Inserted
        );
        drop(store);
        assert!(std::fs::metadata(&path).unwrap().len() > 0);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.user_count().unwrap(),
            1,
            "empty file first: {precreate_empty}"
        );
    }
}

#[test]
fn a_second_open_of_the_same_file_is_refused_while_the_first_is_alive() {
    let dir = TempDir::new();
    let _store = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn users_and_key_index_follow_key_changes() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.insert_user(&user("bob", 1)).unwrap(),
        UserInsert::Inserted
    );
    assert_eq!(
        store.insert_user(&user("bob", 1)).unwrap(),
        UserInsert::UsernameTaken
    );
    assert_eq!(
        store.key_owner(&digest("bob-key")).unwrap(),
        Some(KeyOwner::Account {
            username: "bob".into()
        })
    );
    store
        .update_user("bob", |u| u.api_key = "new-key".into())
        .unwrap()
        .unwrap();
    assert_eq!(store.key_owner(&digest("bob-key")).unwrap(), None);
    assert!(store.key_owner(&digest("new-key")).unwrap().is_some());
    assert_eq!(store.update_user("nobody", |_| ()).unwrap(), None);
}

#[test]
fn plan_limit_holds_under_concurrent_inserts() {
    let dir = TempDir::new();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    store.insert_user(&user("bob", 3)).unwrap();
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                store
                    .insert_client(&client(&format!("c{i}"), "bob"))
                    .unwrap()
            })
        })
        .collect();
    let outcomes: Vec<ClientInsert> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let inserted = outcomes
        .iter()
        .filter(|o| **o == ClientInsert::Inserted)
        .count();
    assert_eq!(inserted, 3);
    assert!(outcomes.iter().all(|o| matches!(
        o,
        ClientInsert::Inserted | ClientInsert::PlanLimit { max_clients: 3 }
    )));
    assert_eq!(store.clients_of("bob").unwrap().len(), 3);
    assert_eq!(
        store.insert_client(&client("x", "ghost")).unwrap(),
        ClientInsert::OwnerMissing
    );
}

#[test]
fn concurrent_appends_get_unique_ids_and_none_is_lost() {
    let dir = TempDir::new();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        store
                            .append_history(sent(&format!("c{t}"), i), 1_000)
                            .unwrap()
                            .id
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let ids: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 200);
    assert_eq!(store.history_len(HistoryKind::Sent).unwrap(), 200);
    let c3: Vec<SentRecord> = store.history_of(&["c3"], 1_000).unwrap();
    assert_eq!(c3.len(), 25);
    assert!(c3.iter().all(|r| r.client_id == "c3"));
    assert!(c3.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}

#[test]
fn history_listing_merges_clients_newest_first_with_a_limit() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..10 {
        store
            .append_history(sent(if i % 2 == 0 { "a" } else { "b" }, i), 100)
            .unwrap();
        store.append_history(sent("other", i), 100).unwrap();
    }
    let rows: Vec<SentRecord> = store.history_of(&["a", "b"], 4).unwrap();
    let times: Vec<i64> = rows.iter().map(|r| r.sent_ms).collect();
    assert_eq!(times, [9, 8, 7, 6]);
}

#[test]
fn row_limit_drops_the_oldest_on_append() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..10 {
        store.append_history(sent("a", i), 4).unwrap();
    }
    let rows: Vec<SentRecord> = store.history_of(&["a"], 100).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.sent_ms).collect::<Vec<_>>(),
        [9, 8, 7, 6]
    );
    assert_eq!(store.history_len(HistoryKind::Sent).unwrap(), 4);
}

#[test]
fn age_pruning_removes_old_rows_and_their_index_entries() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    for at in [10, 20, 30, 40] {
        store
            .append_history(
                ReceivedRecord {
                    id: 0,
                    client_id: "a".into(),
                    sender: "s".into(),
                    message: "m".into(),
                    received_ms: at,
                },
                100,
            )
            .unwrap();
    }
    assert_eq!(
        store.prune_history(HistoryKind::Received, 25, 100).unwrap(),
        2
    );
    let rows: Vec<ReceivedRecord> = store.history_of(&["a"], 100).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.received_ms).collect::<Vec<_>>(),
        [40, 30]
    );
    let txn = store.database().begin_read().unwrap();
    let index = txn.open_table(tables::RECEIVED_BY_CLIENT).unwrap();
    assert_eq!(index.len().unwrap(), 2);
}

#[test]
fn due_index_follows_status_and_pruning_keeps_pending() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    let early = store.insert_schedule(schedule("a", 100)).unwrap();
    let late = store.insert_schedule(schedule("a", 500)).unwrap();
    let third = store.insert_schedule(schedule("b", 50)).unwrap();
    assert_eq!((early.id, late.id, third.id), (1, 2, 3));
    let due: Vec<u64> = store
        .due_schedules(200, 10)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(due, [3, 1], "earliest first, only the due ones");
    assert_eq!(store.next_due_ms().unwrap(), Some(50));

    let (_, changed) = store
        .update_schedule(3, |s| {
            s.status = ScheduleStatus::Sent;
            true
        })
        .unwrap()
        .unwrap();
    assert!(changed);
    let (_, changed) = store.update_schedule(1, |_| false).unwrap().unwrap();
    assert!(!changed);
    let due: Vec<u64> = store
        .due_schedules(200, 10)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(due, [1]);
    assert_eq!(store.next_due_ms().unwrap(), Some(100));

    // Created at 0, cutoff 10: only the finished one goes.
    assert_eq!(store.prune_schedules(10, 100).unwrap(), 1);
    assert_eq!(store.schedules_of(&["a", "b"]).unwrap().len(), 2);
    assert_eq!(store.update_schedule(3, |_| true).unwrap(), None);
}

#[test]
fn deleting_a_client_removes_its_key_history_and_schedules() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    store.insert_user(&user("bob", 5)).unwrap();
    store.insert_client(&client("a", "bob")).unwrap();
    store.insert_client(&client("b", "bob")).unwrap();
    for c in ["a", "b"] {
        store.append_history(sent(c, 1), 100).unwrap();
        store.insert_schedule(schedule(c, 10)).unwrap();
    }
    assert!(store.delete_client("a").unwrap().is_some());
    assert_eq!(store.delete_client("a").unwrap(), None);
    assert_eq!(store.key_owner(&digest("a-key")).unwrap(), None);
    assert!(store
        .history_of::<SentRecord>(&["a"], 10)
        .unwrap()
        .is_empty());
    assert_eq!(store.history_of::<SentRecord>(&["b"], 10).unwrap().len(), 1);
    assert!(store.schedules_of(&["a"]).unwrap().is_empty());
    assert_eq!(
        store.due_schedules(100, 10).unwrap().len(),
        1,
        "a's due entry is gone too"
    );
    // A new client with the same id starts clean.
    store.insert_client(&client("a", "bob")).unwrap();
    assert!(store
        .history_of::<SentRecord>(&["a"], 10)
        .unwrap()
        .is_empty());
}

#[test]
fn deleting_a_user_cascades_to_clients_and_sessions() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    store.insert_user(&user("bob", 5)).unwrap();
    store.insert_user(&user("eve", 5)).unwrap();
    store.insert_client(&client("a", "bob")).unwrap();
    store.insert_client(&client("e", "eve")).unwrap();
    let session = SessionRecord {
        username: "bob".into(),
        created_ms: 0,
        expires_ms: 10,
    };
    store.insert_session(&digest("t1"), &session).unwrap();
    store
        .insert_session(
            &digest("t2"),
            &SessionRecord {
                username: "eve".into(),
                ..session.clone()
            },
        )
        .unwrap();
    assert!(store.delete_user("bob").unwrap().is_some());
    assert_eq!(store.user("bob").unwrap(), None);
    assert_eq!(store.client("a").unwrap(), None);
    assert_eq!(store.key_owner(&digest("bob-key")).unwrap(), None);
    assert_eq!(store.key_owner(&digest("a-key")).unwrap(), None);
    assert_eq!(store.session(&digest("t1")).unwrap(), None);
    assert!(store.session(&digest("t2")).unwrap().is_some());
    assert!(store.client("e").unwrap().is_some());
}

#[test]
fn sessions_expire_and_security_events_are_bounded() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    for (token, expires_ms) in [("old", 5), ("new", 50)] {
        let s = SessionRecord {
            username: "bob".into(),
            created_ms: 0,
            expires_ms,
        };
        store.insert_session(&digest(token), &s).unwrap();
    }
    assert_eq!(store.prune_sessions(10).unwrap(), 1);
    assert!(store.session(&digest("new")).unwrap().is_some());
    assert!(store.delete_session(&digest("new")).unwrap());
    assert!(!store.delete_session(&digest("new")).unwrap());

    for at in 0..7 {
        let e = SecurityEventRecord {
            id: 0,
            kind: "k".into(),
            ip: None,
            username: None,
            detail: String::new(),
            at_ms: at,
        };
        store.insert_security_event(e, 5).unwrap();
    }
    let events = store.security_events(100).unwrap();
    assert_eq!(
        events.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
        [6, 5, 4, 3, 2]
    );
    assert_eq!(store.prune_security_events(4).unwrap(), 2);
    assert_eq!(store.security_events(100).unwrap().len(), 3);
}

#[test]
fn updates_cannot_move_records_between_owners() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    store.insert_user(&user("bob", 5)).unwrap();
    store.insert_client(&client("a", "bob")).unwrap();
    let updated = store
        .update_client("a", |c| {
            c.owner = "eve".into();
            c.client_id = "z".into();
            c.status = ClientStatus::Authenticated;
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        (updated.owner.as_str(), updated.client_id.as_str()),
        ("bob", "a")
    );
    assert_eq!(
        store.client("a").unwrap().unwrap().status,
        ClientStatus::Authenticated
    );
    let row = store.append_history(sent("a", 1), 10).unwrap();
    let moved = store.update_history::<SentRecord>(row.id, |r| r.client_id = "other".into());
    assert!(moved.is_err());
}

#[test]
fn deleting_clients_clears_their_signal_records_only() {
    use crate::protocol::signal::PreKeyStore;
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    store.insert_user(&user("bob", 5)).unwrap();
    store.insert_user(&user("eve", 5)).unwrap();
    store.insert_client(&client("a", "bob")).unwrap();
    store.insert_client(&client("b", "bob")).unwrap();
    store.insert_client(&client("e", "eve")).unwrap();
    let set_counter = |namespace: &str| {
        let mut signal = signal::SignalTxn::begin(store.database(), namespace).unwrap();
        signal.set_next_pre_key_id(42).unwrap();
        signal.commit().unwrap();
    };
    let counter = |namespace: &str| {
        let signal = signal::SignalTxn::begin(store.database(), namespace).unwrap();
        signal.next_pre_key_id().unwrap()
    };
    for namespace in ["a", "b", "e"] {
        set_counter(namespace);
    }
    store.delete_client("a").unwrap();
    assert_eq!((counter("a"), counter("b"), counter("e")), (1, 42, 42));
    store.delete_user("bob").unwrap();
    assert_eq!((counter("b"), counter("e")), (1, 42));
}
