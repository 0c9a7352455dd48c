//! The redb Signal store: restarts, crashes before commit, accounts kept apart.

use super::*;
use chattu::store::signal::{with_signal_txn, SignalTxn};
use redb::{Database, TableDefinition};
use std::path::PathBuf;

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "chattu-signal-{tag}-{}-{:x}",
            std::process::id(),
            Chaos(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            )
            .next()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    fn db(&self) -> Database {
        Database::create(self.0.join("test.redb")).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BOB: &str = "bob-account";

/// Bob on redb: identity, signed prekey, prekeys; returns his bundle.
fn redb_bob(db: &Database) -> PreKeyBundle {
    with_signal_txn(db, BOB, |s: &mut SignalTxn| -> Result<_, SignalError> {
        init_party(s, 3);
        Ok(bundle_of(s, Some(2)))
    })
    .unwrap()
}

fn bob_decrypts(db: &Database, kind: MessageKind, bytes: &[u8]) -> Result<Vec<u8>, SignalError> {
    with_signal_txn(db, BOB, |s| {
        decrypt(s, &alice_addr(), kind, bytes, &mut OsRandom)
    })
}

#[test]
fn restart_in_the_middle_of_a_conversation_resumes_it() {
    let dir = TempDir::new("restart");
    let mut alice = MemoryStore::default();
    init_party(&mut alice, 0);
    let db = dir.db();
    let bundle = redb_bob(&db);
    process_bundle(&mut alice, &bob_addr(), &bundle, &mut OsRandom).unwrap();
    let first = encrypt(&mut alice, &bob_addr(), b"before restart").unwrap();
    let held = encrypt(&mut alice, &bob_addr(), b"delivered after restart").unwrap();
    assert_eq!(
        bob_decrypts(&db, first.kind, &first.bytes).unwrap(),
        b"before restart"
    );
    let reply = with_signal_txn(&db, BOB, |s| encrypt(s, &alice_addr(), b"reply")).unwrap();
    drop(db);

    let db = dir.db();
    assert_eq!(
        bob_decrypts(&db, held.kind, &held.bytes).unwrap(),
        b"delivered after restart"
    );
    assert_eq!(
        decrypt(
            &mut alice,
            &bob_addr(),
            reply.kind,
            &reply.bytes,
            &mut OsRandom
        )
        .unwrap(),
        b"reply"
    );
    let next = encrypt(&mut alice, &bob_addr(), b"after the reply").unwrap();
    assert_eq!(next.kind, MessageKind::Whisper);
    assert_eq!(
        bob_decrypts(&db, next.kind, &next.bytes).unwrap(),
        b"after the reply"
    );
    let prekey_left = with_signal_txn(&db, BOB, |s| s.load_pre_key(2)).unwrap();
    assert!(
        prekey_left.is_none(),
        "the one-time prekey was consumed and that was committed"
    );
}

const INBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("test_inbox");

#[test]
fn a_crash_before_commit_loses_neither_message_nor_session() {
    let dir = TempDir::new("crash");
    let db = dir.db();
    let mut alice = MemoryStore::default();
    init_party(&mut alice, 0);
    let bundle = redb_bob(&db);
    process_bundle(&mut alice, &bob_addr(), &bundle, &mut OsRandom).unwrap();
    let m1 = encrypt(&mut alice, &bob_addr(), b"one").unwrap();
    let m2 = encrypt(&mut alice, &bob_addr(), b"two").unwrap();

    // Decrypt and store the message in one transaction, then "crash" (drop it uncommitted).
    for attempt in 0..2 {
        let mut view = SignalTxn::begin(&db, BOB).unwrap();
        let plain = decrypt(&mut view, &alice_addr(), m2.kind, &m2.bytes, &mut OsRandom).unwrap();
        assert_eq!(plain, b"two", "attempt {attempt}");
        view.txn()
            .open_table(INBOX)
            .unwrap()
            .insert(2, plain.as_slice())
            .unwrap();
        drop(view);
    }
    drop(db);
    let db = dir.db();
    let read = db.begin_read().unwrap();
    assert!(
        read.open_table(INBOX).is_err(),
        "nothing of the crashed transactions was written"
    );
    drop(read);

    // Now commit: message and session state land together.
    let mut view = SignalTxn::begin(&db, BOB).unwrap();
    let plain = decrypt(&mut view, &alice_addr(), m2.kind, &m2.bytes, &mut OsRandom).unwrap();
    view.txn()
        .open_table(INBOX)
        .unwrap()
        .insert(2, plain.as_slice())
        .unwrap();
    view.commit().unwrap();
    let read = db.begin_read().unwrap();
    assert_eq!(
        read.open_table(INBOX)
            .unwrap()
            .get(2)
            .unwrap()
            .unwrap()
            .value(),
        b"two"
    );
    drop(read);
    assert_eq!(
        bob_decrypts(&db, m2.kind, &m2.bytes),
        Err(SignalError::DuplicateMessage)
    );
    assert_eq!(
        bob_decrypts(&db, m1.kind, &m1.bytes).unwrap(),
        b"one",
        "skipped key kept"
    );
}

#[test]
fn redb_store_keeps_accounts_apart_and_clears_one() {
    let dir = TempDir::new("accounts");
    let db = dir.db();
    let (alice, _) = pair();
    let record = alice.load_session(&bob_addr()).unwrap().unwrap();
    for ns in ["one", "two"] {
        with_signal_txn(&db, ns, |s: &mut SignalTxn| -> Result<(), SignalError> {
            init_party(s, 4);
            for addr in ["bob.0", "bob.7", "bobby.0"] {
                let (name, device) = addr.split_once('.').unwrap();
                s.store_session(
                    &ProtocolAddress::new(name, device.parse().unwrap()),
                    &record,
                )?;
            }
            Ok(())
        })
        .unwrap();
    }
    with_signal_txn(&db, "one", |s| s.delete_user_sessions("bob")).unwrap();
    let left = |ns: &str, name: &str, device: u32| {
        with_signal_txn(&db, ns, |s| {
            s.load_session(&ProtocolAddress::new(name, device))
        })
        .unwrap()
        .is_some()
    };
    assert!(!left("one", "bob", 0) && !left("one", "bob", 7));
    assert!(
        left("one", "bobby", 0),
        "another user with the same prefix is kept"
    );
    assert!(left("two", "bob", 0), "another account is untouched");

    with_signal_txn(&db, "one", |s| s.clear_account()).unwrap();
    let (identity_one, count_one) = with_signal_txn(&db, "one", |s| {
        Ok::<_, SignalError>((s.local_identity()?, s.pre_key_count()?))
    })
    .unwrap();
    assert!(identity_one.is_none());
    assert_eq!(count_one, 0);
    assert!(!left("one", "bobby", 0));
    let count_two = with_signal_txn(&db, "two", |s| s.pre_key_count()).unwrap();
    assert_eq!(count_two, 4);
    assert!(left("two", "bobby", 0));
}
