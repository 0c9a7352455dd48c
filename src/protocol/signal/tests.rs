//! Unit tests: WhatsApp key nodes, rotation, id wrapping, and parsers fed hostile bytes.

use super::prekeys::*;
use super::*;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use ring::digest;

fn device() -> MemoryStore {
    let mut store = MemoryStore::with_identity(LocalIdentity::generate(&mut OsRandom));
    rotate_signed_pre_key(&mut store, 1_000, &mut OsRandom).unwrap();
    store
}

/// The `<user>` node a server would hand out for keys we uploaded.
fn served_user(upload: &Node, jid: &Jid, key_index: Option<usize>) -> Node {
    let mut user = Node::new("user").with_attr("jid", jid.clone());
    for tag in ["registration", "type", "identity"] {
        user.push_child(upload.child(tag).unwrap().clone());
    }
    if let Some(i) = key_index {
        user.push_child(upload.child("list").unwrap().children()[i].clone());
    }
    user.push_child(upload.child("skey").unwrap().clone());
    user
}

#[test]
fn uploaded_keys_come_back_as_a_usable_bundle() {
    let mut bob = device();
    let identity = bob.local_identity().unwrap().unwrap();
    let signed = current_signed_pre_key(&bob).unwrap().unwrap();
    let keys = generate_pre_keys(&mut bob, 30, &mut OsRandom).unwrap();
    assert_eq!(bob.pre_key_count(), 30);
    let upload = upload_pre_keys_node(&identity, &signed, &keys);
    assert_eq!(upload.attr("xmlns"), Some("encrypt"));
    assert_eq!(upload.attr("type"), Some("set"));
    assert_eq!(upload.child("list").unwrap().children().len(), 30);
    assert_eq!(
        upload.child_path(&["skey", "id"]).unwrap().content_bytes(),
        Some(&[0, 0, 1][..])
    );

    let jid = Jid::phone("15550002222");
    let response = Node::new("iq").with_child(
        Node::new("list").with_children([
            served_user(&upload, &jid, Some(7)),
            Node::new("user")
                .with_attr("jid", Jid::phone("15550009999"))
                .with_child(Node::new("error").with_attr("code", "404")),
        ]),
    );
    let bundles = parse_key_bundles(&response);
    assert_eq!(bundles.len(), 2);
    assert!(bundles[1].1.is_err(), "per-user error");
    let bundle = bundles[0].1.clone().unwrap();
    assert_eq!(bundle.registration_id, identity.registration_id);
    assert_eq!(bundle.pre_key, Some((keys[7].id, keys[7].key_pair.public)));

    let mut alice = device();
    let bob_addr = ProtocolAddress::from_jid(&jid);
    let alice_addr = ProtocolAddress::new("15550001111", 1);
    process_bundle(&mut alice, &bob_addr, &bundle, &mut OsRandom).unwrap();
    let m = encrypt(&mut alice, &bob_addr, b"hi").unwrap();
    assert_eq!(
        decrypt(&mut bob, &alice_addr, m.kind, &m.bytes, &mut OsRandom).unwrap(),
        b"hi"
    );
    assert_eq!(bob.pre_key_count(), 29, "the used one-time prekey is gone");
}

#[test]
fn small_registration_ids_and_missing_one_time_keys_are_accepted() {
    let mut bob = device();
    let mut identity = bob.local_identity().unwrap().unwrap();
    identity.registration_id = 7;
    bob.set_local_identity(&identity).unwrap();
    let signed = current_signed_pre_key(&bob).unwrap().unwrap();
    let upload = upload_pre_keys_node(&identity, &signed, &[]);
    let user = served_user(&upload, &Jid::phone("1"), None);
    let bundle = parse_user_bundle(&user).unwrap();
    assert_eq!(bundle.registration_id, 7);
    assert_eq!(bundle.pre_key, None);
    let bad_type = Node::new("user").with_child(Node::new("type").with_bytes(vec![6]));
    assert!(parse_user_bundle(&bad_type).is_err());
}

#[test]
fn prekey_ids_wrap_within_24_bits_and_rotation_keeps_three() {
    let mut store = device();
    store.set_next_pre_key_id(0x00ff_fffe).unwrap();
    let ids: Vec<u32> = generate_pre_keys(&mut store, 3, &mut OsRandom)
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, [0x00ff_fffe, 0x00ff_ffff, 1]);
    assert_eq!(store.next_pre_key_id().unwrap(), 2);
    for t in 2..=6 {
        let r = rotate_signed_pre_key(&mut store, t * 1_000, &mut OsRandom).unwrap();
        assert_eq!(r.id, t as u32);
        let identity = store.local_identity().unwrap().unwrap().key_pair.public;
        assert!(SignedPreKeyRecord::verify(
            &identity,
            &r.key_pair.public,
            &r.signature
        ));
    }
    assert_eq!(store.signed_pre_key_ids().unwrap(), [4, 5, 6]);
    assert_eq!(current_signed_pre_key(&store).unwrap().unwrap().id, 6);
    let node = rotate_signed_pre_key_node(&current_signed_pre_key(&store).unwrap().unwrap());
    assert!(node.child_path(&["rotate", "skey", "signature"]).is_some());
}

#[test]
fn the_key_digest_matches_our_keys_and_catches_differences() {
    let mut store = device();
    let identity = store.local_identity().unwrap().unwrap();
    let signed = current_signed_pre_key(&store).unwrap().unwrap();
    let keys = generate_pre_keys(&mut store, 3, &mut OsRandom).unwrap();
    let digest_node = |hash: Vec<u8>, ids: &[u32]| {
        let list = Node::new("list").with_children(
            ids.iter()
                .map(|id| Node::new("id").with_bytes(id.to_be_bytes()[1..].to_vec())),
        );
        let upload = upload_pre_keys_node(&identity, &signed, &[]);
        Node::new("iq").with_child(Node::new("digest").with_children([
            upload.child("registration").unwrap().clone(),
            upload.child("type").unwrap().clone(),
            upload.child("identity").unwrap().clone(),
            upload.child("skey").unwrap().clone(),
            list,
            Node::new("hash").with_bytes(hash),
        ]))
    };
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&identity.key_pair.public);
    ctx.update(&signed.key_pair.public);
    ctx.update(&signed.signature);
    for k in &keys {
        ctx.update(&k.key_pair.public);
    }
    let hash = ctx.finish().as_ref().to_vec();
    let ids: Vec<u32> = keys.iter().map(|k| k.id).collect();
    assert!(verify_key_digest(&store, &digest_node(hash.clone(), &ids)).unwrap());
    let mut wrong = hash.clone();
    wrong[0] ^= 1;
    assert!(!verify_key_digest(&store, &digest_node(wrong, &ids)).unwrap());
    assert!(!verify_key_digest(&store, &digest_node(hash, &[ids[0], 999])).unwrap());
    assert!(!verify_key_digest(&store, &Node::new("iq")).unwrap());
    assert_eq!(
        parse_pre_key_count(
            &Node::new("iq").with_child(Node::new("count").with_attr("value", "17"))
        ),
        Some(17)
    );
}

#[test]
fn parsers_and_decrypt_survive_hostile_bytes() {
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bob = device();
    let alice = ProtocolAddress::new("1", 0);
    let name = SenderKeyName::new("g@g.us", alice.clone());
    let real = {
        let mut a = device();
        let signed = current_signed_pre_key(&bob).unwrap().unwrap();
        let identity = bob.local_identity().unwrap().unwrap();
        let bundle = PreKeyBundle {
            registration_id: identity.registration_id,
            identity_key: identity.key_pair.public,
            signed_pre_key_id: signed.id,
            signed_pre_key: signed.key_pair.public,
            signed_pre_key_signature: signed.signature,
            pre_key: None,
        };
        process_bundle(
            &mut a,
            &ProtocolAddress::new("2", 0),
            &bundle,
            &mut OsRandom,
        )
        .unwrap();
        encrypt(&mut a, &ProtocolAddress::new("2", 0), b"real")
            .unwrap()
            .bytes
    };
    for round in 0..3_000 {
        let mut bytes = if round % 2 == 0 {
            real.clone()
        } else {
            (0..(next() % 200) as usize).map(|_| next() as u8).collect()
        };
        if !bytes.is_empty() {
            let cuts = (next() % 4) as usize;
            for _ in 0..cuts {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            if next() % 3 == 0 {
                bytes.truncate((next() as usize) % bytes.len());
            }
        }
        let _ = SignalMessage::parse(&bytes);
        let _ = PreKeySignalMessage::parse(&bytes);
        let _ = SenderKeyMessage::parse(&bytes);
        let _ = SenderKeyDistributionMessage::parse(&bytes);
        let _ = decrypt(&mut bob, &alice, MessageKind::PreKey, &bytes, &mut OsRandom);
        let _ = decrypt(
            &mut bob,
            &alice,
            MessageKind::Whisper,
            &bytes,
            &mut OsRandom,
        );
        let _ = process_sender_key_distribution(&mut bob, &name, &bytes);
        let _ = group_decrypt(&mut bob, &name, &bytes);
    }
}
