//! Signal throughput: pairwise encrypt + decrypt of a 200-byte message, the same with every decrypt
//! committed to redb, and the cost of a group send to 256 devices. Prints figures; asserts nothing
//! about time.
//!
//! Run: `cargo bench --bench signal`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chattu::protocol::crypto::{x25519, xeddsa_sign, xeddsa_verify, KeyPair};
use chattu::protocol::signal::{
    decrypt, encrypt, group_encrypt, process_bundle, sender_key_distribution, IdentityStore,
    LocalIdentity, MemoryStore, OsRandom, PreKeyBundle, ProtocolAddress, SenderKeyName,
    SignedPreKeyRecord,
};
use chattu::store::signal::with_signal_txn;

const MESSAGE_LEN: usize = 200;
const GROUP_DEVICES: usize = 256;

fn party() -> (MemoryStore, PreKeyBundle) {
    let identity = LocalIdentity::generate(&mut OsRandom);
    let signed = SignedPreKeyRecord::generate(1, &identity.key_pair, 0, &mut OsRandom);
    let one_time = KeyPair::generate();
    let bundle = PreKeyBundle {
        registration_id: identity.registration_id,
        identity_key: identity.key_pair.public,
        signed_pre_key_id: 1,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature,
        pre_key: Some((1, one_time.public)),
    };
    let mut store = MemoryStore::with_identity(identity);
    use chattu::protocol::signal::{PreKeyStore, SignedPreKeyStore};
    store.store_signed_pre_key(&signed).expect("store");
    store
        .store_pre_key(&chattu::protocol::signal::PreKeyRecord {
            id: 1,
            key_pair: one_time,
        })
        .expect("store");
    (store, bundle)
}

fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

/// The curve operations X3DH is made of, to explain the first-send figure.
fn primitives() {
    let a = KeyPair::generate();
    let b = KeyPair::generate();
    let n = 500u64;
    let time = |label: &str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        let e = start.elapsed();
        println!(
            "signal: primitive {label}: {:.1} µs",
            e.as_micros() as f64 / n as f64
        );
    };
    time("x25519 DH", &mut || {
        black_box(x25519(&a.private, &b.public));
    });
    time("key pair generation", &mut || {
        black_box(KeyPair::generate());
    });
    let sig = xeddsa_sign(&a.private, b"message", &[7; 64]);
    time("XEdDSA sign", &mut || {
        black_box(xeddsa_sign(&a.private, b"message", &[7; 64]));
    });
    time("XEdDSA verify", &mut || {
        black_box(xeddsa_verify(&a.public, b"message", &sig));
    });
}

fn main() {
    let plaintext = vec![0x42u8; MESSAGE_LEN];
    let a_addr = ProtocolAddress::new("15550001111", 1);
    let b_addr = ProtocolAddress::new("15550002222", 0);

    // Established session: Alice -> Bob, Bob replied once.
    let (mut alice, _) = party();
    let (mut bob, bundle) = party();
    process_bundle(&mut alice, &b_addr, &bundle, &mut OsRandom).expect("bundle");
    let first = encrypt(&mut alice, &b_addr, &plaintext).expect("encrypt");
    decrypt(&mut bob, &a_addr, first.kind, &first.bytes, &mut OsRandom).expect("decrypt");
    let reply = encrypt(&mut bob, &a_addr, &plaintext).expect("encrypt");
    decrypt(&mut alice, &b_addr, reply.kind, &reply.bytes, &mut OsRandom).expect("decrypt");

    // 1. One direction: chain steps only (the common case of several messages in a row).
    let n = 5_000u64;
    let start = Instant::now();
    for _ in 0..n {
        let m = encrypt(&mut alice, &b_addr, &plaintext).expect("encrypt");
        black_box(decrypt(&mut bob, &a_addr, m.kind, &m.bytes, &mut OsRandom).expect("decrypt"));
    }
    let e = start.elapsed();
    println!(
        "signal: encrypt+decrypt {MESSAGE_LEN} B, same direction (in-memory store): {:.0}/s ({:.1} µs each)",
        per_second(n, e),
        e.as_micros() as f64 / n as f64
    );

    // 2. Ping-pong: every message carries a new ratchet key (one DH ratchet step per decrypt).
    let n = 2_000u64;
    let start = Instant::now();
    for i in 0..n {
        let (from, to, to_addr, from_addr) = if i % 2 == 0 {
            (&mut alice, &mut bob, &b_addr, &a_addr)
        } else {
            (&mut bob, &mut alice, &a_addr, &b_addr)
        };
        let m = encrypt(from, to_addr, &plaintext).expect("encrypt");
        black_box(decrypt(to, from_addr, m.kind, &m.bytes, &mut OsRandom).expect("decrypt"));
    }
    let e = start.elapsed();
    println!(
        "signal: encrypt+decrypt {MESSAGE_LEN} B, alternating direction (DH ratchet each message): {:.0}/s ({:.1} µs each)",
        per_second(n, e),
        e.as_micros() as f64 / n as f64
    );

    // 3. Decrypt through redb, one committed write transaction per message (what the engine does).
    let dir = std::env::temp_dir().join(format!("chattu-signal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = redb::Database::create(dir.join("bench.redb")).expect("db");
    let (mut carol, _) = party();
    let dave_identity = LocalIdentity::generate(&mut OsRandom);
    let dave_signed = SignedPreKeyRecord::generate(1, &dave_identity.key_pair, 0, &mut OsRandom);
    let dave_bundle = PreKeyBundle {
        registration_id: dave_identity.registration_id,
        identity_key: dave_identity.key_pair.public,
        signed_pre_key_id: 1,
        signed_pre_key: dave_signed.key_pair.public,
        signed_pre_key_signature: dave_signed.signature,
        pre_key: None,
    };
    with_signal_txn(&db, "dave", |s| {
        use chattu::protocol::signal::SignedPreKeyStore;
        s.set_local_identity(&dave_identity)?;
        s.store_signed_pre_key(&dave_signed)
    })
    .expect("dave");
    process_bundle(&mut carol, &b_addr, &dave_bundle, &mut OsRandom).expect("bundle");
    let n = 1_000u64;
    let messages: Vec<_> = (0..n)
        .map(|_| encrypt(&mut carol, &b_addr, &plaintext).expect("encrypt"))
        .collect();
    let start = Instant::now();
    for m in &messages {
        let plain = with_signal_txn(&db, "dave", |s| {
            decrypt(s, &a_addr, m.kind, &m.bytes, &mut OsRandom)
        })
        .expect("decrypt");
        black_box(plain);
    }
    let e = start.elapsed();
    println!(
        "signal: decrypt {MESSAGE_LEN} B + redb commit per message: {:.0}/s ({:.1} µs each)",
        per_second(n, e),
        e.as_micros() as f64 / n as f64
    );
    drop(db);
    let _ = std::fs::remove_dir_all(&dir);

    // 4. Group send to 256 devices: one sender-key encrypt, plus the SKDM encrypted pairwise to each
    //    device. First send: 256 fresh sessions from bundles (X3DH) + 256 pkmsg encrypts.
    //    Later sends that re-send the SKDM (as whatsmeow does on every group send): 256 msg encrypts.
    let group = SenderKeyName::new("120363000000000000@g.us", a_addr.clone());
    let devices: Vec<(ProtocolAddress, PreKeyBundle)> = (0..GROUP_DEVICES)
        .map(|i| (ProtocolAddress::new(format!("1555{i:07}"), 0), party().1))
        .collect();
    let (mut sender, _) = party();
    let start = Instant::now();
    let skdm = sender_key_distribution(&mut sender, &group, &mut OsRandom).expect("skdm");
    black_box(group_encrypt(&mut sender, &group, &plaintext, &mut OsRandom).expect("group"));
    for (addr, bundle) in &devices {
        process_bundle(&mut sender, addr, bundle, &mut OsRandom).expect("bundle");
        black_box(encrypt(&mut sender, addr, skdm.serialized()).expect("skdm encrypt"));
    }
    let first = start.elapsed();
    let rounds = 5u32;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(group_encrypt(&mut sender, &group, &plaintext, &mut OsRandom).expect("group"));
        for (addr, _) in &devices {
            black_box(encrypt(&mut sender, addr, skdm.serialized()).expect("skdm encrypt"));
        }
    }
    let later = start.elapsed() / rounds;
    println!(
        "signal: group send to {GROUP_DEVICES} devices, first (256 X3DH sessions + 256 pkmsg SKDMs + 1 skmsg): {:.1} ms",
        first.as_secs_f64() * 1e3
    );
    println!(
        "signal: group send to {GROUP_DEVICES} devices, sessions exist (256 msg SKDMs + 1 skmsg): {:.1} ms",
        later.as_secs_f64() * 1e3
    );
    primitives();

    let mut lone = MemoryStore::default();
    let lone_name = SenderKeyName::new("120363000000000001@g.us", a_addr);
    sender_key_distribution(&mut lone, &lone_name, &mut OsRandom).expect("skdm");
    let n = 5_000u64;
    let start = Instant::now();
    for _ in 0..n {
        black_box(group_encrypt(&mut lone, &lone_name, &plaintext, &mut OsRandom).expect("group"));
    }
    let e = start.elapsed();
    println!(
        "signal: sender-key encrypt {MESSAGE_LEN} B alone (signature included): {:.0}/s",
        per_second(n, e)
    );
}
