//! Vector cases from `signal.json`: pairwise sessions (libsignal-node via Baileys) replayed in both
//! roles byte for byte, and group sender keys. Generic over the file: every step, schedule entry and
//! sender-key message present is checked; nothing is keyed to these particular values.

use crate::common::{hex, load};
use chattu::protocol::binary::{decode, AttrValue, Content, Node};
use chattu::protocol::crypto::KeyPair;
use chattu::protocol::signal::{
    self, group_decrypt, group_encrypt, parse_key_bundles, process_bundle,
    process_sender_key_distribution, IdentityStore, KeySource, LocalIdentity, MemoryStore,
    MessageKind, PreKeyRecord, PreKeyStore, ProtocolAddress, SenderKeyMessage, SenderKeyName,
    SignalError, SignalMessage, SignedPreKeyRecord, SignedPreKeyStore,
};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Key pairs handed out in a fixed order (the recorded `keygen_log` entries); random bytes from the OS.
struct ReplayKeys {
    queue: VecDeque<KeyPair>,
}

impl ReplayKeys {
    fn new() -> ReplayKeys {
        ReplayKeys {
            queue: VecDeque::new(),
        }
    }
}

impl KeySource for ReplayKeys {
    fn key_pair(&mut self) -> KeyPair {
        self.queue
            .pop_front()
            .expect("the library generated a key the vectors did not record")
    }
    fn fill_bytes(&mut self, buf: &mut [u8]) {
        chattu::protocol::crypto::fill_random(buf)
    }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn n(v: &Value, key: &str) -> u32 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a number")) as u32
}

fn k32(text: &str) -> [u8; 32] {
    hex(text).try_into().expect("32-byte key")
}

fn key_pair(v: &Value) -> KeyPair {
    let pair = KeyPair::from_private(k32(s(v, "private")));
    assert_eq!(
        pair.public,
        k32(s(v, "public")),
        "public key of a recorded pair"
    );
    pair
}

fn address(text: &str) -> ProtocolAddress {
    let (name, device) = text.rsplit_once('.').expect("user.device");
    ProtocolAddress::new(name, device.parse().expect("device number"))
}

fn kind(step: &Value) -> MessageKind {
    MessageKind::from_enc_type(s(step, "type")).expect("pkmsg or msg")
}

/// A party's store from its `identity`, `registration_id`, `signed_pre_key` and optional
/// `one_time_pre_key`.
fn party_store(party: &Value) -> MemoryStore {
    let mut store = MemoryStore::with_identity(LocalIdentity {
        key_pair: key_pair(&party["identity"]),
        registration_id: n(party, "registration_id"),
    });
    let spk = &party["signed_pre_key"];
    let record = SignedPreKeyRecord {
        id: n(spk, "id"),
        key_pair: key_pair(spk),
        signature: hex(s(spk, "signature"))
            .try_into()
            .expect("64-byte signature"),
        created_at: 0,
    };
    assert!(
        SignedPreKeyRecord::verify(
            &store_identity(&store),
            &record.key_pair.public,
            &record.signature
        ),
        "signed prekey signature over 0x05||pub"
    );
    store.store_signed_pre_key(&record).expect("store");
    if let Some(otk) = party.get("one_time_pre_key") {
        store
            .store_pre_key(&PreKeyRecord {
                id: n(otk, "id"),
                key_pair: key_pair(otk),
            })
            .expect("store");
    }
    store
}

fn store_identity(store: &MemoryStore) -> [u8; 32] {
    store
        .local_identity()
        .expect("store")
        .expect("identity")
        .key_pair
        .public
}

/// A node from the vectors' JSON form.
fn node_from_json(v: &Value) -> Node {
    let mut node = Node::new(s(v, "tag"));
    if let Some(attrs) = v["attrs"].as_object() {
        for (k, val) in attrs {
            let text = val
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| val.to_string());
            node.attrs.push((k.clone(), AttrValue::Str(text)));
        }
    }
    node.content = match &v["content"] {
        Value::Array(children) => Content::Nodes(children.iter().map(node_from_json).collect()),
        Value::Object(o) if o.contains_key("bytes") => {
            Content::Bytes(hex(s(&v["content"], "bytes")))
        }
        Value::Object(o) if o.contains_key("string") => {
            Content::Str(s(&v["content"], "string").into())
        }
        _ => Content::None,
    };
    node
}

pub struct Counter(usize);

#[test]
fn signal() {
    let v = load("signal.json");
    let mut cases = Counter(0);
    minimal_bob(&v, &mut cases);
    full_replay(&v, &mut cases);
    bob_in_index_order(&v, &mut cases);
    sender_keys_receive(&v, &mut cases);
    sender_keys_send(&v, &mut cases);
    println!("signal.json: {} cases checked", cases.0);
}

/// Bob with only his static keys decrypts every pkmsg addressed to him.
fn minimal_bob(v: &Value, cases: &mut Counter) {
    let mut bob = party_store(&v["bob"]);
    let alice = address(s(&v["alice"], "signal_address"));
    let otk_id = v["bob"].get("one_time_pre_key").map(|k| n(k, "id"));
    let mut rng = signal::OsRandom;
    let steps = v["steps"].as_array().expect("steps");
    let pkmsgs: Vec<&Value> = steps
        .iter()
        .filter(|st| s(st, "to") == "bob" && s(st, "type") == "pkmsg")
        .collect();
    assert!(
        !pkmsgs.is_empty(),
        "the file has no pkmsg for the minimal test"
    );
    for step in pkmsgs {
        let plain = signal::decrypt(
            &mut bob,
            &alice,
            MessageKind::PreKey,
            &hex(s(step, "ciphertext")),
            &mut rng,
        )
        .unwrap_or_else(|e| panic!("minimal decrypt of step {}: {e}", step["index"]));
        assert_eq!(
            plain,
            hex(s(step, "plaintext_padded")),
            "step {}",
            step["index"]
        );
        cases.0 += 1;
        if let (Some(id), Some(true)) = (
            otk_id,
            v["bob"]["one_time_pre_key_removed_after_first_pkmsg"].as_bool(),
        ) {
            assert!(
                bob.load_pre_key(id).expect("store").is_none(),
                "one-time prekey consumed"
            );
        }
    }
}

/// Label → key pair from `keygen_log`.
fn keygen(v: &Value) -> HashMap<String, KeyPair> {
    v["keygen_log"]
        .as_array()
        .expect("keygen_log")
        .iter()
        .map(|e| (s(e, "label").to_string(), key_pair(e)))
        .collect()
}

fn generated_labels(op: &Value) -> Vec<String> {
    op["generates_keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The whole `replay_schedule` with Rust in both roles: every encryption byte for byte, every
/// decryption to the recorded padded plaintext.
fn full_replay(v: &Value, cases: &mut Counter) {
    let keys = keygen(v);
    let steps = v["steps"].as_array().expect("steps");
    let mut stores = HashMap::from([
        ("alice", party_store(&v["alice"])),
        ("bob", party_store(&v["bob"])),
    ]);
    let addresses = HashMap::from([
        ("alice", address(s(&v["alice"], "signal_address"))),
        ("bob", address(s(&v["bob"], "signal_address"))),
    ]);
    let mut rng = ReplayKeys::new();

    // Alice builds her session from the bundle node as the server sent it (decoded from the wire bytes).
    let bundle_json = &v["bob_bundle_node"];
    let wire = decode(&hex(s(bundle_json, "encoded_hex"))).expect("bundle node decodes");
    let bundles = parse_key_bundles(&wire);
    assert_eq!(
        bundles,
        parse_key_bundles(&node_from_json(&bundle_json["node"])),
        "bundle from the wire bytes vs from the JSON node"
    );
    assert_eq!(bundles.len(), 1, "one user in the bundle list");
    let (jid, bundle) = &bundles[0];
    assert_eq!(jid.to_string(), s(&v["bob"], "jid"));
    let bundle = bundle.as_ref().expect("bundle parses");
    rng.queue.push_back(keys["alice-base-key"].clone());
    rng.queue.push_back(keys["alice-ratchet-0"].clone());
    let alice_store = stores.get_mut("alice").expect("alice");
    process_bundle(alice_store, &addresses["bob"], bundle, &mut rng).expect("process bundle");
    assert!(
        rng.queue.is_empty(),
        "bundle processing takes base key and first ratchet key"
    );
    cases.0 += 1;

    for op in v["replay_schedule"].as_array().expect("replay_schedule") {
        let by = s(op, "by");
        let other = if by == "alice" { "bob" } else { "alice" };
        let step = &steps[op["step"].as_u64().expect("step") as usize];
        let store = stores.get_mut(by).expect("party");
        match s(op, "op") {
            "encrypt" => {
                let out =
                    signal::encrypt(store, &addresses[other], &hex(s(step, "plaintext_padded")))
                        .unwrap_or_else(|e| panic!("{by} encrypting step {}: {e}", step["index"]));
                assert_eq!(out.kind, kind(step), "kind of step {}", step["index"]);
                assert_eq!(
                    crate::common::to_hex(&out.bytes),
                    s(step, "ciphertext"),
                    "{by}'s ciphertext of step {}",
                    step["index"]
                );
            }
            "decrypt" => {
                for label in generated_labels(op) {
                    rng.queue.push_back(keys[&label].clone());
                }
                let plain = signal::decrypt(
                    store,
                    &addresses[other],
                    kind(step),
                    &hex(s(step, "ciphertext")),
                    &mut rng,
                )
                .unwrap_or_else(|e| panic!("{by} decrypting step {}: {e}", step["index"]));
                assert_eq!(
                    plain,
                    hex(s(step, "plaintext_padded")),
                    "step {}",
                    step["index"]
                );
                assert!(
                    rng.queue.is_empty(),
                    "step {}: recorded ratchet key used",
                    step["index"]
                );
                // Decrypting the same message again must be refused as a duplicate.
                let again = signal::decrypt(
                    store,
                    &addresses[other],
                    kind(step),
                    &hex(s(step, "ciphertext")),
                    &mut rng,
                );
                assert_eq!(
                    again,
                    Err(SignalError::DuplicateMessage),
                    "replayed step {}",
                    step["index"]
                );
            }
            other => panic!("unknown op {other}"),
        }
        cases.0 += 1;
    }
}

/// The ratchet key inside a pairwise message.
fn ratchet_key_of(kind: MessageKind, bytes: &[u8]) -> [u8; 32] {
    match kind {
        MessageKind::PreKey => {
            signal::PreKeySignalMessage::parse(bytes)
                .expect("pkmsg")
                .message
                .ratchet_key
        }
        MessageKind::Whisper => SignalMessage::parse(bytes).expect("msg").ratchet_key,
    }
}

/// A second Bob decrypts every message to him in index order (so messages that libsignal took out of
/// order arrive in order here); his recorded ratchet keys go to the first message of each new chain.
fn bob_in_index_order(v: &Value, cases: &mut Counter) {
    let keys = keygen(v);
    let mut bob_keys: VecDeque<KeyPair> = v["replay_schedule"]
        .as_array()
        .expect("replay_schedule")
        .iter()
        .filter(|op| s(op, "by") == "bob" && s(op, "op") == "decrypt")
        .flat_map(generated_labels)
        .map(|l| keys[&l].clone())
        .collect();
    let mut bob = party_store(&v["bob"]);
    let alice = address(s(&v["alice"], "signal_address"));
    let mut rng = ReplayKeys::new();
    let mut seen = Vec::new();
    for step in v["steps"].as_array().expect("steps") {
        if s(step, "to") != "bob" {
            continue;
        }
        let bytes = hex(s(step, "ciphertext"));
        let ratchet = ratchet_key_of(kind(step), &bytes);
        if !seen.contains(&ratchet) {
            seen.push(ratchet);
            rng.queue.extend(bob_keys.pop_front());
        }
        let plain = signal::decrypt(&mut bob, &alice, kind(step), &bytes, &mut rng)
            .unwrap_or_else(|e| panic!("in-order decrypt of step {}: {e}", step["index"]));
        assert_eq!(
            plain,
            hex(s(step, "plaintext_padded")),
            "step {}",
            step["index"]
        );
        cases.0 += 1;
    }
}

fn sender_key_name(sk: &Value) -> SenderKeyName {
    let sender = chattu::protocol::jid::Jid::parse(s(sk, "sender_jid")).expect("sender jid");
    let name = SenderKeyName::new(s(sk, "group_jid"), ProtocolAddress::from_jid(&sender));
    assert_eq!(name.to_string(), s(sk, "sender_key_name"));
    name
}

/// Bob accepts the SKDM (which also travelled inside step 6's plaintext) and decrypts every group
/// message, including skipped iterations; a tampered signature and a replay are refused.
fn sender_keys_receive(v: &Value, cases: &mut Counter) {
    let sk = &v["sender_keys"];
    let name = sender_key_name(sk);
    let skdm = hex(s(sk, "skdm"));
    let carried = v["steps"].as_array().expect("steps").iter().any(|st| {
        hex(s(st, "plaintext_padded"))
            .windows(skdm.len())
            .any(|w| w == skdm)
    });
    assert!(carried, "the SKDM travels inside a pairwise step");
    let parsed = signal::SenderKeyDistributionMessage::parse(&skdm).expect("skdm parses");
    assert_eq!(parsed.key_id, n(&sk["skdm_parsed"], "id"));
    assert_eq!(parsed.iteration, n(&sk["skdm_parsed"], "iteration"));
    let mut bob = party_store(&v["bob"]);
    process_sender_key_distribution(&mut bob, &name, &skdm).expect("process skdm");
    cases.0 += 1;
    for m in sk["messages"].as_array().expect("messages") {
        let bytes = hex(s(m, "ciphertext"));
        let msg = SenderKeyMessage::parse(&bytes).expect("skmsg parses");
        assert_eq!(msg.iteration, n(&m["parsed"], "iteration"));
        let mut tampered = bytes.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 0x01;
        }
        assert!(
            group_decrypt(&mut bob, &name, &tampered).is_err(),
            "tampered signature"
        );
        let plain = group_decrypt(&mut bob, &name, &bytes).expect("group decrypt");
        assert_eq!(plain, hex(s(m, "plaintext_padded")));
        assert_eq!(
            group_decrypt(&mut bob, &name, &bytes),
            Err(SignalError::DuplicateMessage),
            "replayed group message"
        );
        cases.0 += 1;
    }
}

/// Rust as the group sender with the recorded key id, chain key and signing key: the SKDM is
/// identical, the first message matches up to its (randomised) signature, and every signature
/// verifies; a Rust receiver decrypts everything sent.
fn sender_keys_send(v: &Value, cases: &mut Counter) {
    let sk = &v["sender_keys"];
    let name = sender_key_name(sk);
    let signing = key_pair(&sk["signing_key"]);
    let mut alice = party_store(&v["alice"]);
    let skdm = signal::create_sender_key(
        &mut alice,
        &name,
        n(sk, "sender_key_id"),
        k32(s(sk, "initial_chain_key")),
        signing.clone(),
    )
    .expect("create sender key");
    assert_eq!(
        crate::common::to_hex(skdm.serialized()),
        s(sk, "skdm"),
        "our SKDM"
    );
    cases.0 += 1;
    let mut receiver = MemoryStore::default();
    process_sender_key_distribution(&mut receiver, &name, skdm.serialized()).expect("skdm");
    let mut rng = signal::OsRandom;
    for (i, m) in sk["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .enumerate()
    {
        let plain = hex(s(m, "plaintext_padded"));
        let ours = group_encrypt(&mut alice, &name, &plain, &mut rng).expect("group encrypt");
        let parsed = SenderKeyMessage::parse(&ours).expect("parse ours");
        assert!(
            parsed.verify_signature(&signing.public),
            "our signature verifies"
        );
        let theirs = SenderKeyMessage::parse(&hex(s(m, "ciphertext"))).expect("parse theirs");
        assert!(
            theirs.verify_signature(&signing.public),
            "Baileys' signature verifies"
        );
        if i == 0 {
            let recorded = hex(s(m, "ciphertext"));
            assert_eq!(ours.len(), recorded.len());
            assert_eq!(
                ours[..ours.len() - 64],
                recorded[..recorded.len() - 64],
                "first skmsg"
            );
        }
        assert_eq!(
            group_decrypt(&mut receiver, &name, &ours).expect("decrypt ours"),
            plain
        );
        cases.0 += 1;
    }
}
