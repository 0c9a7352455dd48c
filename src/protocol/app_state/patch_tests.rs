use super::*;
use crate::protocol::app_state::{chat_setting, ChatSetting};

const CHAT: &str = "15550002222@s.whatsapp.net";
const KEY_ID: &[u8] = &[0, 0, 0, 0, 0x51, 0x7e];

fn keys() -> MutationKeys {
    MutationKeys::expand(&[0x42; 32])
}

fn keys_for(id: &[u8]) -> Option<MutationKeys> {
    (id == KEY_ID).then(keys)
}

fn counter_ivs() -> impl FnMut() -> [u8; 16] {
    let mut n = 0u8;
    move || {
        n += 1;
        [n; 16]
    }
}

/// Writes `specs` as the next patch of `state` and advances `state` as the writer.
fn write(state: &mut CollectionState, name: &str, specs: &[MutationSpec]) -> SyncdPatch {
    let (patch, outcome) = encode_patch(name, state, &keys(), KEY_ID, specs, counter_ivs());
    outcome.apply_to(state);
    patch
}

#[test]
fn a_reader_follows_the_writer_patch_by_patch() {
    let mut writer = CollectionState::default();
    let mut reader = CollectionState::default();
    let p1 = write(
        &mut writer,
        "regular_low",
        &[MutationSpec::pin(CHAT, true, 1)],
    );
    let p2 = write(
        &mut writer,
        "regular_low",
        &[
            MutationSpec::pin(CHAT, false, 2),
            MutationSpec::archive(CHAT, true, 100, 2),
        ],
    );
    for patch in [&p1, &p2] {
        let decoded = decode_patch("regular_low", patch, &reader, &keys_for).unwrap();
        decoded.apply_to(&mut reader);
    }
    assert_eq!(reader, writer);
    assert_eq!(reader.version, 2);
    // The pin was overwritten: one value per index, and the hash holds exactly the live values.
    assert_eq!(reader.values.len(), 2);
    let mut expected = LtHash::default();
    for value in reader.values.values() {
        expected.add(value);
    }
    assert_eq!(reader.hash, expected);
    let settings: Vec<_> = decode_patch(
        "regular_low",
        &p2,
        &{
            let mut s = CollectionState::default();
            decode_patch("regular_low", &p1, &s, &keys_for)
                .unwrap()
                .apply_to(&mut s);
            s
        },
        &keys_for,
    )
    .unwrap()
    .mutations
    .iter()
    .filter_map(|m| chat_setting(&m.index, &m.value))
    .collect();
    assert_eq!(
        settings,
        vec![
            ChatSetting::Pin {
                chat: CHAT.into(),
                pinned: false
            },
            ChatSetting::Archive {
                chat: CHAT.into(),
                archived: true
            }
        ]
    );
}

#[test]
fn tampering_anywhere_is_refused() {
    let reader = CollectionState::default();
    let patch = write(
        &mut CollectionState::default(),
        "regular_high",
        &[MutationSpec::mute(CHAT, Some(-1), 1)],
    );
    assert!(decode_patch("regular_high", &patch, &reader, &keys_for).is_ok());

    let mut bad = patch.clone();
    if let Some(mac) = bad.patch_mac.as_mut() {
        mac[0] ^= 1;
    }
    assert_eq!(
        decode_patch("regular_high", &bad, &reader, &keys_for),
        Err(AppStateError::PatchMac { version: 1 })
    );

    let mut bad = patch.clone();
    if let Some(mac) = bad.snapshot_mac.as_mut() {
        mac[5] ^= 1;
    }
    assert_eq!(
        decode_patch("regular_high", &bad, &reader, &keys_for),
        Err(AppStateError::SnapshotMac { version: 1 })
    );

    let mut bad = patch.clone();
    let value = bad.mutations[0]
        .record
        .as_mut()
        .and_then(|r| r.value.as_mut())
        .and_then(|v| v.blob.as_mut())
        .unwrap();
    value[20] ^= 1;
    assert_eq!(
        decode_patch("regular_high", &bad, &reader, &keys_for),
        Err(AppStateError::ValueMac)
    );

    let mut bad = patch.clone();
    bad.mutations[0]
        .record
        .as_mut()
        .and_then(|r| r.index.as_mut())
        .and_then(|i| i.blob.as_mut())
        .unwrap()[0] ^= 1;
    assert_eq!(
        decode_patch("regular_high", &bad, &reader, &keys_for),
        Err(AppStateError::IndexMac)
    );

    // The same patch under another collection name, or out of order, does not verify either.
    assert_eq!(
        decode_patch("regular_low", &patch, &reader, &keys_for),
        Err(AppStateError::SnapshotMac { version: 1 })
    );
    let ahead = CollectionState {
        version: 3,
        ..Default::default()
    };
    assert_eq!(
        decode_patch("regular_high", &patch, &ahead, &keys_for),
        Err(AppStateError::Version { have: 3, got: 1 })
    );
    assert_eq!(
        decode_patch("regular_high", &patch, &reader, &|_| None),
        Err(AppStateError::MissingKey(KEY_ID.to_vec()))
    );
}

#[test]
fn a_snapshot_rebuilds_the_same_state() {
    let mut writer = CollectionState::default();
    let p1 = write(
        &mut writer,
        "regular_low",
        &[MutationSpec::pin(CHAT, true, 1)],
    );
    let p2 = write(
        &mut writer,
        "regular_low",
        &[MutationSpec::pin(CHAT, false, 2)],
    );
    // The snapshot holds the live record only: the last SET of the pin index.
    let live = p2.mutations[0].record.clone().unwrap();
    let snapshot = snapshot_of("regular_low", &writer, &keys(), KEY_ID, vec![live]);
    let decoded = decode_snapshot("regular_low", &snapshot, &keys_for).unwrap();
    let mut reader = CollectionState::default();
    decoded.apply_to(&mut reader);
    assert_eq!(reader, writer);
    // A stale record in the snapshot breaks its MAC.
    let stale = snapshot_of(
        "regular_low",
        &writer,
        &keys(),
        KEY_ID,
        vec![p1.mutations[0].record.clone().unwrap()],
    );
    assert_eq!(
        decode_snapshot("regular_low", &stale, &keys_for),
        Err(AppStateError::SnapshotMac { version: 2 })
    );
}

#[test]
fn remove_subtracts_the_previous_value() {
    let keys = keys();
    let mut state = CollectionState::default();
    let p1 = write(
        &mut state,
        "regular_high",
        &[MutationSpec::mute(CHAT, Some(-1), 1)],
    );
    let removal = encode_record(
        &keys,
        KEY_ID,
        Operation::Remove,
        &MutationSpec::mute(CHAT, Some(-1), 1),
        [3; 16],
    );
    let removal_mac = removal
        .record
        .as_ref()
        .unwrap()
        .value
        .as_ref()
        .unwrap()
        .blob
        .clone()
        .unwrap();
    let removal_mac = &removal_mac[removal_mac.len() - 32..];
    let hash = LtHash::default();
    let snapshot_mac = keys.snapshot_mac(&hash, 2, "regular_high");
    let patch = SyncdPatch {
        version: Some(SyncdVersion { version: Some(2) }),
        mutations: vec![removal],
        snapshot_mac: Some(snapshot_mac.to_vec()),
        patch_mac: Some(
            keys.patch_mac(&snapshot_mac, &[removal_mac], 2, "regular_high")
                .to_vec(),
        ),
        key_id: Some(KeyId {
            id: Some(KEY_ID.to_vec()),
        }),
        ..Default::default()
    };
    let mut reader = CollectionState::default();
    decode_patch("regular_high", &p1, &reader, &keys_for)
        .unwrap()
        .apply_to(&mut reader);
    let decoded = decode_patch("regular_high", &patch, &reader, &keys_for).unwrap();
    decoded.apply_to(&mut reader);
    assert!(reader.values.is_empty());
    assert_eq!(reader.hash, LtHash::default());
    assert_eq!(reader.version, 2);
}

/// A patch written by Baileys 6.7.24's own `encodeSyncdPatch` (node, key data 32 × 0x42, key id
/// 00000000517e, mute of {CHAT} until 1700003600000) and the LT-hash Baileys computed for it.
const BAILEYS_PATCH: [&str; 6] = [
    "0a02080112a701080012a2010a220a206f11579e5af994d76a557a9b57283aa02f7ce78eb10b649e846730fa6b98d188",
    "12720a70572938c5f7e59156c4f180474b8cffc035d269eedd9e055d06f4986f7262f87b8c177d4c8c66d9d2bcdea5ff",
    "c3f10edf05fbacbd357dd6a3f6e4a8cc588cf02081a9738c0fbeb28c63d0ed5a830f097a85530b59ce0b44ba3d4cca4f",
    "7a14913d5107402175ab9a82d590d45e9b7f40561a080a0600000000517e2220659100e8f8007e1aa9dd0004a7b3d0b7",
    "f5e0e73467ca77012111a8920e2425d02a204390808adfd8ae27eeeb541773c889d08a82698bc792d274f90b939fa3de",
    "1cce32080a0600000000517e",
];
const BAILEYS_HASH: [&str; 3] = [
    "0820a9757f52b2e84da10f7a1edd333b9f80106d846f8037278aae20bf715fd5dbc66bea1361690e76807ba544a5bb91",
    "d3cbff132ced1222f3c8e88e40b735e3be3fc7ebee0f4e10a6c3f498f183347317a47a7579431a9997b941a3ed3ef7ac",
    "95aaf6f8992daeaaa2bd7c84e8fce5f60c0c31b93ffdcc50cf0a4bd41cc2300d",
];

fn unhex(parts: &[&str]) -> Vec<u8> {
    let text: String = parts.concat();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_patch_written_by_baileys_verifies_and_decodes() {
    use crate::protocol::proto::ProtoMessage;
    let patch = SyncdPatch::decode(unhex(&BAILEYS_PATCH).as_slice()).unwrap();
    let decoded = decode_patch(
        "regular_high",
        &patch,
        &CollectionState::default(),
        &keys_for,
    )
    .unwrap();
    assert_eq!(decoded.version, 1);
    assert_eq!(decoded.hash.as_bytes().to_vec(), unhex(&BAILEYS_HASH));
    assert_eq!(
        chat_setting(&decoded.mutations[0].index, &decoded.mutations[0].value),
        Some(ChatSetting::Mute {
            chat: CHAT.into(),
            until_ms: Some(1_700_003_600_000)
        })
    );
    assert_eq!(decoded.mutations[0].action_version, 2);
}
