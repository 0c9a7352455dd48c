//! Records, patches and snapshots: encrypting a record (IV ‖ AES-256-CBC(SyncActionData) ‖ value MAC),
//! checking and decrypting one, and applying a patch or snapshot to a collection's state with every
//! check WhatsApp Web makes: value MAC, index MAC, the LT-hash after the patch against its snapshot
//! MAC, and the patch MAC.

use super::keys::{MutationKeys, Operation, VALUE_MAC_LEN};
use super::lthash::LtHash;
use super::MutationSpec;
use crate::protocol::crypto::{aes_cbc_decrypt, aes_cbc_encrypt, constant_time_eq};
use crate::protocol::proto::generated::{
    KeyId, SyncActionData, SyncActionValue, SyncdIndex, SyncdMutation, SyncdPatch, SyncdRecord,
    SyncdSnapshot, SyncdValue, SyncdVersion,
};
use crate::protocol::proto::ProtoMessage;
use std::collections::HashMap;
use std::fmt;

const IV_LEN: usize = 16;

/// Index MAC → value MAC pairs.
type SetMacs = Vec<([u8; 32], [u8; 32])>;

/// Why a patch, snapshot or record was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppStateError {
    /// No key with this id is known (the phone has not shared it yet).
    MissingKey(Vec<u8>),
    /// A record lacks a part or has a part of the wrong size (named).
    Malformed(&'static str),
    /// A record's value MAC does not match its ciphertext.
    ValueMac,
    /// A record's index MAC does not match its decrypted index.
    IndexMac,
    /// The value does not decrypt or decode.
    Undecryptable,
    /// The LT-hash after applying the patch does not match its snapshot MAC.
    SnapshotMac { version: u64 },
    /// The patch MAC does not match.
    PatchMac { version: u64 },
    /// The patch does not continue the collection (its version is not the next one).
    Version { have: u64, got: u64 },
}

impl fmt::Display for AppStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppStateError::MissingKey(id) => write!(f, "app state key {id:02x?} is unknown"),
            AppStateError::Malformed(what) => write!(f, "malformed app state record: {what}"),
            AppStateError::ValueMac => f.write_str("record value MAC mismatch"),
            AppStateError::IndexMac => f.write_str("record index MAC mismatch"),
            AppStateError::Undecryptable => f.write_str("record value does not decrypt"),
            AppStateError::SnapshotMac { version } => {
                write!(f, "LT-hash mismatch at version {version}")
            }
            AppStateError::PatchMac { version } => {
                write!(f, "patch MAC mismatch at version {version}")
            }
            AppStateError::Version { have, got } => {
                write!(f, "patch version {got} does not follow version {have}")
            }
        }
    }
}

impl std::error::Error for AppStateError {}

/// One collection as a device keeps it: version, LT-hash, and the value MAC of every SET record by
/// index MAC (needed to subtract a record's old value when it is overwritten or removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionState {
    pub version: u64,
    pub hash: LtHash,
    pub values: HashMap<[u8; 32], [u8; 32]>,
}

/// A record checked and decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMutation {
    pub operation: Operation,
    /// The index JSON array, e.g. `["mute", "15550001111@s.whatsapp.net"]`.
    pub index: Vec<String>,
    pub index_mac: [u8; 32],
    pub value_mac: [u8; 32],
    pub value: SyncActionValue,
    /// `SyncActionData.version` (the action's schema version).
    pub action_version: i32,
}

/// A patch or snapshot checked against the state it applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedPatch {
    pub version: u64,
    pub hash: LtHash,
    /// Index MAC → value MAC now set (overwrites included).
    pub set: SetMacs,
    /// Index MACs no longer set.
    pub removed: Vec<[u8; 32]>,
    pub mutations: Vec<DecodedMutation>,
}

impl DecodedPatch {
    /// Applies the outcome to an in-memory state.
    pub fn apply_to(&self, state: &mut CollectionState) {
        for index in &self.removed {
            state.values.remove(index);
        }
        for (index, value) in &self.set {
            state.values.insert(*index, *value);
        }
        state.version = self.version;
        state.hash = self.hash.clone();
    }
}

fn mac32(bytes: Option<&[u8]>, what: &'static str) -> Result<[u8; 32], AppStateError> {
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or(AppStateError::Malformed(what))
}

/// Encrypts one record: `spec` as a SET (or REMOVE) under `key_id`, with `iv`.
pub fn encode_record(
    keys: &MutationKeys,
    key_id: &[u8],
    operation: Operation,
    spec: &MutationSpec,
    iv: [u8; IV_LEN],
) -> SyncdMutation {
    let index_json = spec.index_json();
    let data = SyncActionData {
        index: Some(index_json.clone()),
        value: Some(spec.value.clone()),
        padding: Some(Vec::new()),
        version: Some(spec.action_version),
    };
    let mut blob = iv.to_vec();
    blob.extend(aes_cbc_encrypt(
        &keys.value_encryption,
        &iv,
        &data.encode_to_vec(),
    ));
    let value_mac = keys.value_mac(operation, &blob, key_id);
    blob.extend_from_slice(&value_mac);
    SyncdMutation {
        operation: Some(operation.wire()),
        record: Some(SyncdRecord {
            index: Some(SyncdIndex {
                blob: Some(keys.index_mac(&index_json).to_vec()),
            }),
            value: Some(SyncdValue { blob: Some(blob) }),
            key_id: Some(KeyId {
                id: Some(key_id.to_vec()),
            }),
        }),
    }
}

/// Checks and decrypts one record. `keys_for` finds the expanded key of a key id.
pub fn decode_record(
    record: &SyncdRecord,
    operation: Operation,
    keys_for: &dyn Fn(&[u8]) -> Option<MutationKeys>,
) -> Result<DecodedMutation, AppStateError> {
    let key_id = record
        .key_id
        .as_ref()
        .and_then(|k| k.id.as_deref())
        .ok_or(AppStateError::Malformed("key id"))?;
    let keys = keys_for(key_id).ok_or_else(|| AppStateError::MissingKey(key_id.to_vec()))?;
    let blob = record
        .value
        .as_ref()
        .and_then(|v| v.blob.as_deref())
        .ok_or(AppStateError::Malformed("value"))?;
    let split = blob
        .len()
        .checked_sub(VALUE_MAC_LEN)
        .filter(|&n| n > IV_LEN)
        .ok_or(AppStateError::Malformed("value length"))?;
    let (encrypted, value_mac) = blob.split_at(split);
    if !constant_time_eq(&keys.value_mac(operation, encrypted, key_id), value_mac) {
        return Err(AppStateError::ValueMac);
    }
    let (iv, ciphertext) = encrypted.split_at(IV_LEN);
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| AppStateError::Undecryptable)?;
    let plain = aes_cbc_decrypt(&keys.value_encryption, &iv, ciphertext)
        .map_err(|_| AppStateError::Undecryptable)?;
    let data =
        SyncActionData::decode(plain.as_slice()).map_err(|_| AppStateError::Undecryptable)?;
    let index_json = data.index.unwrap_or_default();
    let index_mac = mac32(
        record.index.as_ref().and_then(|i| i.blob.as_deref()),
        "index",
    )?;
    if !constant_time_eq(&keys.index_mac(&index_json), &index_mac) {
        return Err(AppStateError::IndexMac);
    }
    let index: Vec<String> =
        serde_json::from_slice(&index_json).map_err(|_| AppStateError::Malformed("index JSON"))?;
    Ok(DecodedMutation {
        operation,
        index,
        index_mac,
        value_mac: mac32(Some(value_mac), "value MAC")?,
        value: data.value.unwrap_or_default(),
        action_version: data.version.unwrap_or_default(),
    })
}

fn patch_key_id(patch_key: Option<&KeyId>) -> Result<&[u8], AppStateError> {
    patch_key
        .and_then(|k| k.id.as_deref())
        .ok_or(AppStateError::Malformed("patch key id"))
}

/// The LT-hash step of a list of records: subtracts the previous value of every index touched (as
/// found earlier in the same list, else in `state`), adds every SET value. Returns the new hash and
/// the set/removed lists.
fn fold_hash(
    state: &CollectionState,
    mutations: &[DecodedMutation],
) -> (LtHash, SetMacs, Vec<[u8; 32]>) {
    let mut hash = state.hash.clone();
    let mut overlay: HashMap<[u8; 32], Option<[u8; 32]>> = HashMap::new();
    for m in mutations {
        let previous = match overlay.get(&m.index_mac) {
            Some(v) => *v,
            None => state.values.get(&m.index_mac).copied(),
        };
        if let Some(previous) = previous {
            hash.subtract(&previous);
        }
        match m.operation {
            Operation::Set => {
                hash.add(&m.value_mac);
                overlay.insert(m.index_mac, Some(m.value_mac));
            }
            // A REMOVE of an index never set is tolerated (WhatsApp Web logs it and goes on).
            Operation::Remove => {
                overlay.insert(m.index_mac, None);
            }
        }
    }
    let mut set = Vec::new();
    let mut removed = Vec::new();
    for (index, value) in overlay {
        match value {
            Some(v) => set.push((index, v)),
            None => removed.push(index),
        }
    }
    (hash, set, removed)
}

/// Checks a patch from the server against `state` (its version must be `state.version + 1`, as the
/// server sends them in order) and decrypts it.
pub fn decode_patch(
    name: &str,
    patch: &SyncdPatch,
    state: &CollectionState,
    keys_for: &dyn Fn(&[u8]) -> Option<MutationKeys>,
) -> Result<DecodedPatch, AppStateError> {
    let version = patch
        .version
        .as_ref()
        .and_then(|v| v.version)
        .ok_or(AppStateError::Malformed("patch version"))?;
    if version != state.version + 1 {
        return Err(AppStateError::Version {
            have: state.version,
            got: version,
        });
    }
    let key_id = patch_key_id(patch.key_id.as_ref())?;
    let keys = keys_for(key_id).ok_or_else(|| AppStateError::MissingKey(key_id.to_vec()))?;
    let mut mutations = Vec::with_capacity(patch.mutations.len());
    for m in &patch.mutations {
        let operation =
            Operation::from_wire(m.operation).ok_or(AppStateError::Malformed("operation"))?;
        let record = m
            .record
            .as_ref()
            .ok_or(AppStateError::Malformed("record"))?;
        mutations.push(decode_record(record, operation, keys_for)?);
    }
    let (hash, set, removed) = fold_hash(state, &mutations);
    let snapshot_mac = keys.snapshot_mac(&hash, version, name);
    if !constant_time_eq(
        &snapshot_mac,
        patch.snapshot_mac.as_deref().unwrap_or_default(),
    ) {
        return Err(AppStateError::SnapshotMac { version });
    }
    let value_macs: Vec<&[u8]> = mutations.iter().map(|m| &m.value_mac[..]).collect();
    let patch_mac = keys.patch_mac(&snapshot_mac, &value_macs, version, name);
    if !constant_time_eq(&patch_mac, patch.patch_mac.as_deref().unwrap_or_default()) {
        return Err(AppStateError::PatchMac { version });
    }
    Ok(DecodedPatch {
        version,
        hash,
        set,
        removed,
        mutations,
    })
}

/// Checks and decrypts a snapshot: the whole collection at one version, replacing any state.
pub fn decode_snapshot(
    name: &str,
    snapshot: &SyncdSnapshot,
    keys_for: &dyn Fn(&[u8]) -> Option<MutationKeys>,
) -> Result<DecodedPatch, AppStateError> {
    let version = snapshot
        .version
        .as_ref()
        .and_then(|v| v.version)
        .ok_or(AppStateError::Malformed("snapshot version"))?;
    let key_id = patch_key_id(snapshot.key_id.as_ref())?;
    let keys = keys_for(key_id).ok_or_else(|| AppStateError::MissingKey(key_id.to_vec()))?;
    let mut mutations = Vec::with_capacity(snapshot.records.len());
    for record in &snapshot.records {
        mutations.push(decode_record(record, Operation::Set, keys_for)?);
    }
    let (hash, set, removed) = fold_hash(&CollectionState::default(), &mutations);
    let mac = keys.snapshot_mac(&hash, version, name);
    if !constant_time_eq(&mac, snapshot.mac.as_deref().unwrap_or_default()) {
        return Err(AppStateError::SnapshotMac { version });
    }
    Ok(DecodedPatch {
        version,
        hash,
        set,
        removed,
        mutations,
    })
}

/// Writes the next patch of collection `name` after `state`: every spec as a SET record under
/// `key_id`, the snapshot MAC of the resulting LT-hash and the patch MAC. `ivs` yields one IV per
/// record. The returned patch carries its version (`state.version + 1`), as the server serves it.
pub fn encode_patch(
    name: &str,
    state: &CollectionState,
    keys: &MutationKeys,
    key_id: &[u8],
    specs: &[MutationSpec],
    mut ivs: impl FnMut() -> [u8; IV_LEN],
) -> (SyncdPatch, DecodedPatch) {
    let version = state.version + 1;
    let mut records = Vec::with_capacity(specs.len());
    let mut decoded = Vec::with_capacity(specs.len());
    for spec in specs {
        let record = encode_record(keys, key_id, Operation::Set, spec, ivs());
        let blob = record
            .record
            .as_ref()
            .and_then(|r| r.value.as_ref())
            .and_then(|v| v.blob.as_deref())
            .unwrap_or_default();
        let mut value_mac = [0u8; 32];
        if let Some(tail) = blob.get(blob.len().saturating_sub(VALUE_MAC_LEN)..) {
            value_mac.copy_from_slice(tail);
        }
        decoded.push(DecodedMutation {
            operation: Operation::Set,
            index: spec.index.clone(),
            index_mac: keys.index_mac(&spec.index_json()),
            value_mac,
            value: spec.value.clone(),
            action_version: spec.action_version,
        });
        records.push(record);
    }
    let (hash, set, removed) = fold_hash(state, &decoded);
    let snapshot_mac = keys.snapshot_mac(&hash, version, name);
    let value_macs: Vec<&[u8]> = decoded.iter().map(|m| &m.value_mac[..]).collect();
    let patch_mac = keys.patch_mac(&snapshot_mac, &value_macs, version, name);
    let patch = SyncdPatch {
        version: Some(SyncdVersion {
            version: Some(version),
        }),
        mutations: records,
        snapshot_mac: Some(snapshot_mac.to_vec()),
        patch_mac: Some(patch_mac.to_vec()),
        key_id: Some(KeyId {
            id: Some(key_id.to_vec()),
        }),
        ..Default::default()
    };
    let outcome = DecodedPatch {
        version,
        hash,
        set,
        removed,
        mutations: decoded,
    };
    (patch, outcome)
}

/// A snapshot of `state` (its SET records as given in `records`, already encrypted).
pub fn snapshot_of(
    name: &str,
    state: &CollectionState,
    keys: &MutationKeys,
    key_id: &[u8],
    records: Vec<SyncdRecord>,
) -> SyncdSnapshot {
    SyncdSnapshot {
        version: Some(SyncdVersion {
            version: Some(state.version),
        }),
        records,
        mac: Some(keys.snapshot_mac(&state.hash, state.version, name).to_vec()),
        key_id: Some(KeyId {
            id: Some(key_id.to_vec()),
        }),
    }
}

#[cfg(test)]
#[path = "patch_tests.rs"]
mod tests;
