//! Unit tests of the receive path's transaction: decrypt + record commit together, a failed record
//! rolls the session back (the same ciphertext decrypts on redelivery), and a redelivery after the
//! commit is only a duplicate.

use super::*;
use crate::engine::creds::DeviceCreds;
use crate::engine::inbox::{handle_incoming, Handled};
use crate::engine::receive::{Incoming, ReceiveError};
use crate::engine::send::text_message;
use crate::protocol::proto::{pad, ProtoMessage};
use crate::protocol::signal::{
    encrypt, process_bundle, LocalIdentity, MemoryStore, MessageKind, OsRandom, PreKeyBundle,
    ProtocolAddress,
};
use crate::store::test_dir::TempDir;
use std::sync::atomic::AtomicUsize;

/// Records into a counter, or refuses while `fail` is set.
struct CountingSink {
    recorded: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

impl InboundSink for CountingSink {
    fn record(&self, _: &WriteTransaction, _: &ReceivedMessage) -> Result<(), String> {
        if self.fail.load(Ordering::SeqCst) {
            return Err("disk full".into());
        }
        self.recorded.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn setup(dir: &TempDir, sink: Arc<CountingSink>) -> (MessagingSetup, DeviceCreds) {
    let db = Arc::new(redb::Database::create(dir.path().join("t.redb")).unwrap());
    let creds = DeviceCreds::generate();
    with_signal_txn(&db, "c1", |txn| {
        txn.set_local_identity(&local_identity(&creds))?;
        txn.store_signed_pre_key(&signed_pre_key(&creds))?;
        Ok::<_, StoreError>(())
    })
    .unwrap();
    let setup = MessagingSetup {
        db,
        namespace: "c1".into(),
        sink,
    };
    (setup, creds)
}

/// A peer's first message to the engine (a pkmsg to its signed prekey).
fn first_message(creds: &DeviceCreds, text: &str) -> Incoming {
    let mut peer = MemoryStore::with_identity(LocalIdentity::generate(&mut OsRandom));
    let engine_address = ProtocolAddress::new("15550009999", 1);
    let bundle = PreKeyBundle {
        registration_id: creds.registration_id,
        identity_key: creds.identity_key.public,
        signed_pre_key_id: creds.signed_prekey.id,
        signed_pre_key: creds.signed_prekey.key_pair.public,
        signed_pre_key_signature: creds.signed_prekey.signature,
        pre_key: None,
    };
    process_bundle(&mut peer, &engine_address, &bundle, &mut OsRandom).unwrap();
    let plain = pad(&text_message(text).encode_to_vec(), 3);
    let sealed = encrypt(&mut peer, &engine_address, &plain).unwrap();
    assert_eq!(sealed.kind, MessageKind::PreKey);
    Incoming {
        id: "3EB0AA".into(),
        from: Jid::phone("15550001111"),
        chat: Jid::phone("15550001111"),
        from_me: false,
        timestamp: 1,
        push_name: None,
        kind: Some(sealed.kind),
        ciphertext: sealed.bytes,
        offline: false,
        alternate: None,
    }
}

#[test]
fn decrypt_and_record_commit_together_and_redelivery_is_a_duplicate() {
    let dir = TempDir::new();
    let sink = Arc::new(CountingSink {
        recorded: AtomicUsize::new(0),
        fail: false.into(),
    });
    let (setup, creds) = setup(&dir, sink.clone());
    let incoming = first_message(&creds, "hello");

    // The sink fails: nothing is committed, so the same ciphertext still decrypts afterwards.
    sink.fail.store(true, Ordering::SeqCst);
    assert!(handle_incoming(&setup, &incoming).is_err());
    assert_eq!(sink.recorded.load(Ordering::SeqCst), 0);

    sink.fail.store(false, Ordering::SeqCst);
    match handle_incoming(&setup, &incoming) {
        Ok(Handled::Recorded(m)) => assert_eq!(m.text.as_deref(), Some("hello")),
        _ => panic!("expected the message to be recorded"),
    }
    assert_eq!(sink.recorded.load(Ordering::SeqCst), 1);

    // The server delivers it again: acknowledged, not recorded twice.
    assert!(matches!(
        handle_incoming(&setup, &incoming),
        Ok(Handled::Duplicate)
    ));
    assert_eq!(sink.recorded.load(Ordering::SeqCst), 1);
}

#[test]
fn garbage_is_a_decrypt_error_not_a_store_error() {
    let dir = TempDir::new();
    let sink = Arc::new(CountingSink {
        recorded: AtomicUsize::new(0),
        fail: false.into(),
    });
    let (setup, creds) = setup(&dir, sink.clone());
    let mut incoming = first_message(&creds, "x");
    incoming.ciphertext.truncate(10);
    match handle_incoming(&setup, &incoming) {
        Err(ReceiveError::Decrypt(SignalError::Store(e))) => panic!("store error {e}"),
        Err(_) => {}
        Ok(_) => panic!("garbage decrypted"),
    }
    assert_eq!(sink.recorded.load(Ordering::SeqCst), 0);
}
