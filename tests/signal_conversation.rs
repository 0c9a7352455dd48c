//! Two parties in our own Signal code talking under reordering, loss and duplication; restarts and
//! crashes with the redb store (in `signal_conversation/redb.rs`); tampering; the bounds against
//! hostile peers; identity changes; group messages.

use chattu::protocol::crypto::KeyPair;
use chattu::protocol::signal::{
    self, accept_identity_change, decrypt, encrypt, group_decrypt, group_encrypt, process_bundle,
    process_sender_key_distribution, sender_key_distribution, IdentityStore, LocalIdentity,
    MemoryStore, MessageKind, OsRandom, PreKeyBundle, PreKeyStore, ProtocolAddress, SenderKeyName,
    SessionStore, SignalError, SignalMessage, SignalStore, SignedPreKeyRecord,
};
use std::collections::{HashMap, HashSet};

#[path = "signal_conversation/redb.rs"]
mod redb_store;

/// SplitMix64: a tiny deterministic PRNG, so every run sees the same chaos.
struct Chaos(u64);

impl Chaos {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn alice_addr() -> ProtocolAddress {
    ProtocolAddress::new("15550001111", 3)
}

fn bob_addr() -> ProtocolAddress {
    ProtocolAddress::new("15550002222", 0)
}

/// Gives `store` a fresh identity, signed prekey 1 and one-time prekeys 1..=count.
fn init_party<S: SignalStore>(store: &mut S, count: u32) -> LocalIdentity {
    let identity = LocalIdentity::generate(&mut OsRandom);
    store.set_local_identity(&identity).unwrap();
    let signed = SignedPreKeyRecord::generate(1, &identity.key_pair, 0, &mut OsRandom);
    store.store_signed_pre_key(&signed).unwrap();
    signal::generate_pre_keys(store, count, &mut OsRandom).unwrap();
    identity
}

fn bundle_of<S: SignalStore>(store: &S, pre_key: Option<u32>) -> PreKeyBundle {
    let identity = store.local_identity().unwrap().unwrap();
    let signed = store.load_signed_pre_key(1).unwrap().unwrap();
    PreKeyBundle {
        registration_id: identity.registration_id,
        identity_key: identity.key_pair.public,
        signed_pre_key_id: signed.id,
        signed_pre_key: signed.key_pair.public,
        signed_pre_key_signature: signed.signature,
        pre_key: pre_key.map(|id| (id, store.load_pre_key(id).unwrap().unwrap().key_pair.public)),
    }
}

/// Alice (memory) with a session to Bob (memory) built from Bob's bundle.
fn pair() -> (MemoryStore, MemoryStore) {
    let mut alice = MemoryStore::default();
    let mut bob = MemoryStore::default();
    init_party(&mut alice, 0);
    init_party(&mut bob, 5);
    let bundle = bundle_of(&bob, Some(1));
    process_bundle(&mut alice, &bob_addr(), &bundle, &mut OsRandom).unwrap();
    (alice, bob)
}

struct InFlight {
    id: usize,
    kind: MessageKind,
    bytes: Vec<u8>,
    ratchet: [u8; 32],
}

fn ratchet_of(kind: MessageKind, bytes: &[u8]) -> [u8; 32] {
    match kind {
        MessageKind::PreKey => {
            signal::PreKeySignalMessage::parse(bytes)
                .unwrap()
                .message
                .ratchet_key
        }
        MessageKind::Whisper => SignalMessage::parse(bytes).unwrap().ratchet_key,
    }
}

#[test]
fn chaotic_network_delivers_everything_within_bounds() {
    for seed in 1..=4u64 {
        let (alice, bob) = pair();
        let mut chaos = Chaos(seed);
        let mut stores = [alice, bob];
        let addrs = [alice_addr(), bob_addr()];
        let mut queues: [Vec<InFlight>; 2] = [Vec::new(), Vec::new()]; // queues[i]: to party i
        let mut texts: HashMap<usize, Vec<u8>> = HashMap::new();
        let mut delivered: [HashSet<usize>; 2] = [HashSet::new(), HashSet::new()];
        // Receiving chains each party has seen, in order of first sight (the model of the 5-chain bound).
        let mut chains_seen: [Vec<[u8; 32]>; 2] = [Vec::new(), Vec::new()];
        let (mut ok, mut out_of_bounds, mut duplicates) = (0, 0, 0);
        for id in 0..600 {
            let from = chaos.below(2);
            let to = 1 - from;
            if signal::has_session(&stores[from], &addrs[to]).unwrap() {
                let text = format!("message {id} from {from}").into_bytes();
                let out = encrypt(&mut stores[from], &addrs[to], &text).unwrap();
                texts.insert(id, text);
                if !chaos.chance(10) {
                    let ratchet = ratchet_of(out.kind, &out.bytes);
                    queues[to].push(InFlight {
                        id,
                        kind: out.kind,
                        bytes: out.bytes,
                        ratchet,
                    });
                }
            }
            // Deliver up to two messages to a random party, picked from the first eight in flight.
            for _ in 0..2 {
                let to = chaos.below(2);
                if queues[to].is_empty() {
                    continue;
                }
                let pick = chaos.below(queues[to].len().min(8));
                let msg = if chaos.chance(15) {
                    let m = &queues[to][pick];
                    InFlight {
                        id: m.id,
                        kind: m.kind,
                        bytes: m.bytes.clone(),
                        ratchet: m.ratchet,
                    }
                } else {
                    queues[to].remove(pick)
                };
                let result = decrypt(
                    &mut stores[to],
                    &addrs[1 - to],
                    msg.kind,
                    &msg.bytes,
                    &mut OsRandom,
                );
                let seen = &mut chains_seen[to];
                let in_bounds = match seen.iter().position(|k| *k == msg.ratchet) {
                    Some(pos) => seen.len() - pos <= 5,
                    None => true,
                };
                if delivered[to].contains(&msg.id) {
                    assert_eq!(
                        result,
                        Err(SignalError::DuplicateMessage),
                        "seed {seed} id {}",
                        msg.id
                    );
                    duplicates += 1;
                } else if in_bounds {
                    assert_eq!(
                        result.as_ref(),
                        Ok(&texts[&msg.id]),
                        "seed {seed} id {}",
                        msg.id
                    );
                    delivered[to].insert(msg.id);
                    if !seen.contains(&msg.ratchet) {
                        seen.push(msg.ratchet);
                    }
                    ok += 1;
                } else {
                    assert!(
                        result.is_err(),
                        "a message on a dropped chain cannot decrypt"
                    );
                    out_of_bounds += 1;
                }
            }
        }
        println!("seed {seed}: {ok} delivered, {duplicates} duplicates refused, {out_of_bounds} beyond the chain bound");
        assert!(ok > 300, "seed {seed}: only {ok} delivered");
        assert!(duplicates > 10, "seed {seed}: duplicates were exercised");
        assert!(
            out_of_bounds < ok / 10,
            "seed {seed}: {out_of_bounds} out of bounds"
        );
    }
}

#[test]
fn tampering_is_refused_and_leaves_the_session_working() {
    let (mut alice, mut bob) = pair();
    let first = encrypt(&mut alice, &bob_addr(), b"hello").unwrap();
    decrypt(
        &mut bob,
        &alice_addr(),
        first.kind,
        &first.bytes,
        &mut OsRandom,
    )
    .unwrap();
    let reply = encrypt(&mut bob, &alice_addr(), b"hi").unwrap();
    decrypt(
        &mut alice,
        &bob_addr(),
        reply.kind,
        &reply.bytes,
        &mut OsRandom,
    )
    .unwrap();
    let m = encrypt(&mut alice, &bob_addr(), b"sealed").unwrap();
    assert_eq!(m.kind, MessageKind::Whisper);
    for position in [m.bytes.len() - 1, m.bytes.len() - 9, m.bytes.len() / 2] {
        let mut bad = m.bytes.clone();
        bad[position] ^= 0x40;
        let result = decrypt(&mut bob, &alice_addr(), m.kind, &bad, &mut OsRandom);
        assert!(result.is_err(), "tampered byte {position} accepted");
    }
    let mut bad_mac = m.bytes.clone();
    let last = bad_mac.len() - 1;
    bad_mac[last] ^= 1;
    assert_eq!(
        decrypt(&mut bob, &alice_addr(), m.kind, &bad_mac, &mut OsRandom),
        Err(SignalError::BadMac)
    );
    assert_eq!(
        decrypt(&mut bob, &alice_addr(), m.kind, &m.bytes, &mut OsRandom).unwrap(),
        b"sealed"
    );

    // A bundle whose signed prekey signature is wrong is refused.
    let mut carol = MemoryStore::default();
    init_party(&mut carol, 1);
    let mut bundle = bundle_of(&carol, Some(1));
    bundle.signed_pre_key_signature[5] ^= 1;
    let result = process_bundle(
        &mut alice,
        &ProtocolAddress::new("carol", 0),
        &bundle,
        &mut OsRandom,
    );
    assert_eq!(result, Err(SignalError::BadSignature));

    // A group message with a broken signature is refused.
    let name = SenderKeyName::new("1203@g.us", alice_addr());
    let skdm = sender_key_distribution(&mut alice, &name, &mut OsRandom).unwrap();
    process_sender_key_distribution(&mut bob, &name, skdm.serialized()).unwrap();
    let mut sk = group_encrypt(&mut alice, &name, b"group", &mut OsRandom).unwrap();
    sk[3] ^= 1;
    assert!(group_decrypt(&mut bob, &name, &sk).is_err());
    let last = sk.len() - 1;
    sk[3] ^= 1;
    sk[last] ^= 1;
    assert_eq!(
        group_decrypt(&mut bob, &name, &sk),
        Err(SignalError::BadSignature)
    );
    sk[last] ^= 1;
    assert_eq!(group_decrypt(&mut bob, &name, &sk).unwrap(), b"group");
}

/// A msg from Alice to Bob in an established session, with its counter rewritten (MAC is garbage).
fn forged(alice: &mut MemoryStore, counter: u32) -> Vec<u8> {
    let real = SignalMessage::parse(&encrypt(alice, &bob_addr(), b"x").unwrap().bytes).unwrap();
    let forged = SignalMessage::new(
        &[7; 32],
        &real.ratchet_key,
        counter,
        0,
        real.ciphertext,
        &[1; 32],
        &[2; 32],
    );
    forged.serialized().to_vec()
}

fn established() -> (MemoryStore, MemoryStore) {
    let (mut alice, mut bob) = pair();
    let m = encrypt(&mut alice, &bob_addr(), b"a").unwrap();
    decrypt(&mut bob, &alice_addr(), m.kind, &m.bytes, &mut OsRandom).unwrap();
    let r = encrypt(&mut bob, &alice_addr(), b"b").unwrap();
    decrypt(&mut alice, &bob_addr(), r.kind, &r.bytes, &mut OsRandom).unwrap();
    (alice, bob)
}

#[test]
fn hostile_counters_are_refused_within_the_bounds() {
    let (mut alice, mut bob) = established();
    let before = bob.load_session(&alice_addr()).unwrap();
    let far = forged(&mut alice, 30_000);
    assert_eq!(
        decrypt(
            &mut bob,
            &alice_addr(),
            MessageKind::Whisper,
            &far,
            &mut OsRandom
        ),
        Err(SignalError::TooFarInFuture)
    );
    let near = forged(&mut alice, 20_000);
    assert_eq!(
        decrypt(
            &mut bob,
            &alice_addr(),
            MessageKind::Whisper,
            &near,
            &mut OsRandom
        ),
        Err(SignalError::BadMac)
    );
    assert_eq!(
        bob.load_session(&alice_addr()).unwrap(),
        before,
        "failed decrypts change nothing"
    );

    // 2,500 real messages, only the last delivered: at most 2,000 skipped keys are kept.
    let sent: Vec<_> = (0..2_500)
        .map(|i| encrypt(&mut alice, &bob_addr(), format!("{i}").as_bytes()).unwrap())
        .collect();
    let last = sent.last().unwrap();
    assert_eq!(
        decrypt(
            &mut bob,
            &alice_addr(),
            last.kind,
            &last.bytes,
            &mut OsRandom
        )
        .unwrap(),
        b"2499"
    );
    let record = bob.load_session(&alice_addr()).unwrap().unwrap();
    assert_eq!(record.current.as_ref().unwrap().skipped_key_count(), 2_000);
    assert!(decrypt(
        &mut bob,
        &alice_addr(),
        MessageKind::Whisper,
        &sent[100].bytes,
        &mut OsRandom
    )
    .is_err());
    assert_eq!(
        decrypt(
            &mut bob,
            &alice_addr(),
            MessageKind::Whisper,
            &sent[2_000].bytes,
            &mut OsRandom
        )
        .unwrap(),
        b"2000"
    );

    // A new session on top: the whole record (current + archived) stays within 2,000 skipped keys.
    let bundle = bundle_of(&bob, None);
    process_bundle(&mut alice, &bob_addr(), &bundle, &mut OsRandom).unwrap();
    let fresh: Vec<_> = (0..1_000)
        .map(|i| encrypt(&mut alice, &bob_addr(), format!("new {i}").as_bytes()).unwrap())
        .collect();
    let last = fresh.last().unwrap();
    assert_eq!(last.kind, MessageKind::PreKey);
    decrypt(
        &mut bob,
        &alice_addr(),
        last.kind,
        &last.bytes,
        &mut OsRandom,
    )
    .unwrap();
    let record = bob.load_session(&alice_addr()).unwrap().unwrap();
    assert_eq!(record.current.as_ref().unwrap().skipped_key_count(), 999);
    assert_eq!(record.skipped_key_count(), 2_000);
    assert_eq!(record.previous[0].skipped_key_count(), 1_001);
}

#[test]
fn receiving_chains_and_archived_states_are_bounded() {
    let (mut alice, mut bob) = established();
    for turn in 0..8 {
        let m = encrypt(&mut alice, &bob_addr(), b"ping").unwrap();
        decrypt(&mut bob, &alice_addr(), m.kind, &m.bytes, &mut OsRandom).unwrap();
        let r = encrypt(&mut bob, &alice_addr(), b"pong").unwrap();
        decrypt(&mut alice, &bob_addr(), r.kind, &r.bytes, &mut OsRandom).unwrap();
        let chains = bob
            .load_session(&alice_addr())
            .unwrap()
            .unwrap()
            .current
            .unwrap()
            .receiver_chains
            .len();
        assert!(chains <= 5, "turn {turn}: {chains} receiving chains");
    }

    // A message held back on session A still decrypts after session B replaced it (archived state).
    let held = encrypt(&mut alice, &bob_addr(), b"from the old session").unwrap();
    for round in 0..45 {
        let bundle = bundle_of(&bob, None);
        process_bundle(&mut alice, &bob_addr(), &bundle, &mut OsRandom).unwrap();
        let m = encrypt(&mut alice, &bob_addr(), b"new session").unwrap();
        assert_eq!(m.kind, MessageKind::PreKey);
        decrypt(&mut bob, &alice_addr(), m.kind, &m.bytes, &mut OsRandom).unwrap();
        if round == 0 {
            let plain = decrypt(
                &mut bob,
                &alice_addr(),
                held.kind,
                &held.bytes,
                &mut OsRandom,
            )
            .unwrap();
            assert_eq!(plain, b"from the old session");
        }
    }
    let record = bob.load_session(&alice_addr()).unwrap().unwrap();
    assert_eq!(record.previous.len(), 40);
    let record = alice.load_session(&bob_addr()).unwrap().unwrap();
    assert_eq!(record.previous.len(), 40);
}

#[test]
fn a_changed_identity_is_detected_and_can_be_accepted() {
    let (mut alice, mut bob) = established();
    // Alice reinstalls: same address, new identity.
    let mut new_alice = MemoryStore::default();
    init_party(&mut new_alice, 0);
    process_bundle(
        &mut new_alice,
        &bob_addr(),
        &bundle_of(&bob, Some(2)),
        &mut OsRandom,
    )
    .unwrap();
    let m = encrypt(&mut new_alice, &bob_addr(), b"it's me, new phone").unwrap();
    let new_key = new_alice.local_identity().unwrap().unwrap().key_pair.public;
    let result = decrypt(&mut bob, &alice_addr(), m.kind, &m.bytes, &mut OsRandom);
    assert!(
        matches!(result, Err(SignalError::UntrustedIdentity { identity, .. }) if identity == new_key)
    );
    accept_identity_change(&mut bob, &alice_addr(), &new_key).unwrap();
    assert_eq!(
        decrypt(&mut bob, &alice_addr(), m.kind, &m.bytes, &mut OsRandom).unwrap(),
        b"it's me, new phone"
    );
    // The old Alice is now the untrusted one.
    let old = encrypt(&mut alice, &bob_addr(), b"old").unwrap();
    assert!(
        decrypt(&mut bob, &alice_addr(), old.kind, &old.bytes, &mut OsRandom).is_ok(),
        "in-flight message on the archived session"
    );
    let bundle = bundle_of(&bob, Some(3));
    let result = process_bundle(&mut alice, &bob_addr(), &bundle, &mut OsRandom);
    assert!(result.is_ok(), "Bob's identity did not change");
}

#[test]
fn group_messages_survive_reordering_loss_and_duplication() {
    let mut chaos = Chaos(99);
    let mut sender = MemoryStore::default();
    let name = SenderKeyName::new("120363000@g.us", alice_addr());
    let skdm = sender_key_distribution(&mut sender, &name, &mut OsRandom).unwrap();
    let again = sender_key_distribution(&mut sender, &name, &mut OsRandom).unwrap();
    assert_eq!(again.key_id, skdm.key_id, "the key is created once");
    let mut receivers: Vec<MemoryStore> = (0..3).map(|_| MemoryStore::default()).collect();
    for r in &mut receivers {
        process_sender_key_distribution(r, &name, skdm.serialized()).unwrap();
    }
    let sent: Vec<(Vec<u8>, Vec<u8>)> = (0..200)
        .map(|i| {
            let text = format!("group {i}").into_bytes();
            (
                group_encrypt(&mut sender, &name, &text, &mut OsRandom).unwrap(),
                text,
            )
        })
        .collect();
    for r in &mut receivers {
        let mut order: Vec<usize> = (0..sent.len()).filter(|_| !chaos.chance(10)).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, chaos.below(i + 1));
        }
        for &i in &order {
            let result = group_decrypt(r, &name, &sent[i].0);
            assert_eq!(result.as_ref(), Ok(&sent[i].1));
            if chaos.chance(20) {
                assert_eq!(
                    group_decrypt(r, &name, &sent[i].0),
                    Err(SignalError::DuplicateMessage)
                );
            }
        }
    }
    // A far-future iteration is refused before any chain step; a near one is accepted.
    let signing = KeyPair::generate();
    let mut far_sender = MemoryStore::default();
    let far_name = SenderKeyName::new("120363000@g.us", bob_addr());
    let far_skdm =
        signal::create_sender_key(&mut far_sender, &far_name, 77, [9; 32], signing.clone())
            .unwrap();
    let mut r = MemoryStore::default();
    process_sender_key_distribution(&mut r, &far_name, far_skdm.serialized()).unwrap();
    let far = signal::SenderKeyMessage::new(77, 30_000, vec![0; 16], &signing.private, &[5; 64]);
    assert_eq!(
        group_decrypt(&mut r, &far_name, far.serialized()),
        Err(SignalError::TooFarInFuture)
    );
    let text = group_encrypt(&mut far_sender, &far_name, b"first", &mut OsRandom).unwrap();
    assert_eq!(group_decrypt(&mut r, &far_name, &text).unwrap(), b"first");
}
