//! App state sync state of each client (`engine::app_state`): the keys the phone shared, and per
//! collection the version, LT-hash and the value MAC of every live record (needed to verify the next
//! patch). A patch and what it changes in the chat list are written in ONE transaction, so a crash
//! leaves either the old version with the old chat state or the new version with the new one. Also
//! the chat settings the chat row has no column for: mute end and archive.
//!
//! Free functions over the redb database, like the Signal tables: the engine has the database, not
//! a [`super::Store`]. Tables are created by the first write.

use super::StoreError;
use crate::protocol::app_state::{CollectionState, DecodedPatch, LtHash};
use redb::{
    Database, ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// (client id, key id) → key data.
const KEYS: TableDefinition<(&str, &[u8]), &[u8]> = TableDefinition::new("app_state_keys");
/// (client id, collection) → u64 big-endian version ‖ 128-byte LT-hash.
const VERSIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("app_state_versions");
/// (client id, collection, index MAC) → value MAC.
const VALUES: TableDefinition<(&str, &str, &[u8]), &[u8]> =
    TableDefinition::new("app_state_values");
/// (client id, chat JID) → [`ChatSync`] JSON.
const CHATS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("app_state_chats");

/// A shared key: (key id, key data).
pub type StoredKey = (Vec<u8>, Vec<u8>);

/// Chat settings synced from the phone, for every chat JID (private chats, groups, channels).
/// Private chats also copy mute and pin into their chat row; groups and channels have no row and
/// are answered from here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSync {
    /// Unix ms the mute ends; -1 for ever; `None` when not muted.
    pub mute_until_ms: Option<i64>,
    pub archived: bool,
    /// Records written before pins were kept here read as not pinned.
    #[serde(default)]
    pub pinned: bool,
}

impl ChatSync {
    /// Muted at `now_ms`: for ever, or until a time still ahead.
    pub fn muted_at(&self, now_ms: i64) -> bool {
        mute_holds(self.mute_until_ms, now_ms)
    }
}

/// Whether a mute ending at `mute_until_ms` (-1: never; `None`: not muted) holds at `now_ms`.
pub fn mute_holds(mute_until_ms: Option<i64>, now_ms: i64) -> bool {
    mute_until_ms.is_some_and(|end| end == -1 || end > now_ms)
}

fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("app state {what}"))
}

/// Stores shared keys inside the caller's transaction; returns how many were new.
pub fn put_keys_in(
    txn: &WriteTransaction,
    client_id: &str,
    keys: &[StoredKey],
) -> Result<usize, StoreError> {
    let mut table = txn.open_table(KEYS)?;
    let mut new = 0;
    for (id, data) in keys {
        if table
            .insert((client_id, id.as_slice()), data.as_slice())?
            .is_none()
        {
            new += 1;
        }
    }
    Ok(new)
}

/// Every key the client holds: (key id, key data).
pub fn keys(db: &Database, client_id: &str) -> Result<Vec<StoredKey>, StoreError> {
    let txn = db.begin_read()?;
    let Some(table) = read_table(&txn, KEYS)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in table.range((client_id, &[][..])..)? {
        let (key, value) = entry?;
        let (owner, id) = key.value();
        if owner != client_id {
            break;
        }
        out.push((id.to_vec(), value.value().to_vec()));
    }
    Ok(out)
}

/// The collection's version (0 before its first sync).
pub fn collection_version(db: &Database, client_id: &str, name: &str) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    let Some(table) = read_table(&txn, VERSIONS)? else {
        return Ok(0);
    };
    let version = match table.get((client_id, name))? {
        Some(v) => decode_version(v.value())?.0,
        None => 0,
    };
    Ok(version)
}

fn decode_version(bytes: &[u8]) -> Result<(u64, LtHash), StoreError> {
    let (version, hash) = bytes
        .split_at_checked(8)
        .ok_or_else(|| corrupt("version"))?;
    let version = u64::from_be_bytes(version.try_into().map_err(|_| corrupt("version"))?);
    Ok((
        version,
        LtHash::from_bytes(hash).ok_or_else(|| corrupt("hash"))?,
    ))
}

/// The collection as the last applied patch left it (empty before its first sync).
pub fn collection_state(
    db: &Database,
    client_id: &str,
    name: &str,
) -> Result<CollectionState, StoreError> {
    let txn = db.begin_read()?;
    let mut state = CollectionState::default();
    if let Some(table) = read_table(&txn, VERSIONS)? {
        if let Some(v) = table.get((client_id, name))? {
            (state.version, state.hash) = decode_version(v.value())?;
        }
    }
    if let Some(table) = read_table(&txn, VALUES)? {
        let mut values = HashMap::new();
        for entry in table.range((client_id, name, &[][..])..)? {
            let (key, value) = entry?;
            let (owner, collection, index) = key.value();
            if owner != client_id || collection != name {
                break;
            }
            let index: [u8; 32] = index.try_into().map_err(|_| corrupt("index MAC"))?;
            let value: [u8; 32] = value.value().try_into().map_err(|_| corrupt("value MAC"))?;
            values.insert(index, value);
        }
        state.values = values;
    }
    Ok(state)
}

/// Records an applied patch (or, with `replace`, a snapshot that replaces the collection) inside
/// the caller's transaction.
pub fn save_patch_in(
    txn: &WriteTransaction,
    client_id: &str,
    name: &str,
    patch: &DecodedPatch,
    replace: bool,
) -> Result<(), StoreError> {
    let mut values = txn.open_table(VALUES)?;
    if replace {
        values.retain_in((client_id, name, &[][..]).., |(owner, collection, _), _| {
            owner != client_id || collection != name
        })?;
    }
    for index in &patch.removed {
        values.remove((client_id, name, &index[..]))?;
    }
    for (index, value) in &patch.set {
        values.insert((client_id, name, &index[..]), &value[..])?;
    }
    let mut record = patch.version.to_be_bytes().to_vec();
    record.extend_from_slice(patch.hash.as_bytes());
    txn.open_table(VERSIONS)?
        .insert((client_id, name), record.as_slice())?;
    Ok(())
}

/// Changes the synced settings of `chat` inside the caller's transaction.
pub fn update_chat_sync_in(
    txn: &WriteTransaction,
    client_id: &str,
    chat: &str,
    change: impl FnOnce(&mut ChatSync),
) -> Result<(), StoreError> {
    let mut table = txn.open_table(CHATS)?;
    let mut current: ChatSync = match table.get((client_id, chat))? {
        Some(v) => serde_json::from_slice(v.value()).map_err(|e| corrupt(&e.to_string()))?,
        None => ChatSync::default(),
    };
    change(&mut current);
    let bytes = serde_json::to_vec(&current).map_err(|e| corrupt(&e.to_string()))?;
    table.insert((client_id, chat), bytes.as_slice())?;
    Ok(())
}

/// The synced settings of `chat` (all default when none arrived).
pub fn chat_sync(db: &Database, client_id: &str, chat: &str) -> Result<ChatSync, StoreError> {
    let txn = db.begin_read()?;
    let Some(table) = read_table(&txn, CHATS)? else {
        return Ok(ChatSync::default());
    };
    let value = match table.get((client_id, chat))? {
        Some(v) => serde_json::from_slice(v.value()).map_err(|e| corrupt(&e.to_string()))?,
        None => ChatSync::default(),
    };
    Ok(value)
}

/// Every chat with synced settings: (chat JID, settings).
pub fn chat_syncs(db: &Database, client_id: &str) -> Result<Vec<(String, ChatSync)>, StoreError> {
    let txn = db.begin_read()?;
    let Some(table) = read_table(&txn, CHATS)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in table.range((client_id, "")..)? {
        let (key, value) = entry?;
        let (owner, chat) = key.value();
        if owner != client_id {
            break;
        }
        let sync: ChatSync =
            serde_json::from_slice(value.value()).map_err(|e| corrupt(&e.to_string()))?;
        out.push((chat.to_string(), sync));
    }
    Ok(out)
}

impl super::Store {
    /// Every chat with synced settings, by chat JID (for the group and channel list).
    pub fn chat_syncs(&self, client_id: &str) -> Result<HashMap<String, ChatSync>, StoreError> {
        Ok(chat_syncs(self.database(), client_id)?
            .into_iter()
            .collect())
    }
}

/// Forgets everything of one client (the client was deleted).
pub(super) fn delete_client_app_state(
    txn: &WriteTransaction,
    client_id: &str,
) -> Result<(), StoreError> {
    txn.open_table(KEYS)?
        .retain_in((client_id, &[][..]).., |(owner, _), _| owner != client_id)?;
    txn.open_table(VERSIONS)?
        .retain_in((client_id, "").., |(owner, _), _| owner != client_id)?;
    txn.open_table(VALUES)?
        .retain_in((client_id, "", &[][..]).., |(owner, _, _), _| {
            owner != client_id
        })?;
    txn.open_table(CHATS)?
        .retain_in((client_id, "").., |(owner, _), _| owner != client_id)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::app_state::{encode_patch, MutationKeys, MutationSpec};
    use crate::store::test_dir::TempDir;

    #[test]
    fn a_mute_holds_until_its_end_and_old_records_read_unpinned() {
        let at = |mute_until_ms| ChatSync {
            mute_until_ms,
            ..ChatSync::default()
        };
        assert!(at(Some(-1)).muted_at(i64::MAX));
        assert!(at(Some(2_000)).muted_at(1_999));
        assert!(!at(Some(2_000)).muted_at(2_000));
        assert!(!at(None).muted_at(0));
        // A record stored before `pinned` existed.
        let old: ChatSync =
            serde_json::from_str(r#"{"mute_until_ms":-1,"archived":true}"#).expect("old record");
        assert_eq!(
            old,
            ChatSync {
                mute_until_ms: Some(-1),
                archived: true,
                pinned: false
            }
        );
    }

    fn patch(state: &CollectionState, specs: &[MutationSpec]) -> DecodedPatch {
        let keys = MutationKeys::expand(&[1; 32]);
        encode_patch("regular_low", state, &keys, &[0, 1], specs, || [7; 16]).1
    }

    #[test]
    fn patches_keys_and_chat_settings_survive_reopening() {
        let dir = TempDir::new();
        let path = dir.path().join("db.redb");
        let chat = "15550001111@s.whatsapp.net";
        let expected = {
            let db = Database::create(&path).unwrap();
            let first = patch(
                &CollectionState::default(),
                &[MutationSpec::pin(chat, true, 1)],
            );
            let mut state = CollectionState::default();
            first.apply_to(&mut state);
            let second = patch(&state, &[MutationSpec::pin(chat, false, 2)]);
            second.apply_to(&mut state);
            let txn = db.begin_write().unwrap();
            assert_eq!(
                put_keys_in(&txn, "c1", &[(vec![0, 1], vec![1; 32])]).unwrap(),
                1
            );
            save_patch_in(&txn, "c1", "regular_low", &first, false).unwrap();
            save_patch_in(&txn, "c1", "regular_low", &second, false).unwrap();
            save_patch_in(&txn, "c2", "regular_low", &first, false).unwrap();
            update_chat_sync_in(&txn, "c1", chat, |c| c.archived = true).unwrap();
            txn.commit().unwrap();
            state
        };
        let db = Database::create(&path).unwrap();
        assert_eq!(
            collection_state(&db, "c1", "regular_low").unwrap(),
            expected
        );
        assert_eq!(collection_version(&db, "c1", "regular_low").unwrap(), 2);
        assert_eq!(collection_version(&db, "c1", "regular_high").unwrap(), 0);
        assert_eq!(keys(&db, "c1").unwrap(), vec![(vec![0, 1], vec![1; 32])]);
        assert!(keys(&db, "c2").unwrap().is_empty());
        assert!(chat_sync(&db, "c1", chat).unwrap().archived);
        let all = chat_syncs(&db, "c1").unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, chat);
        assert!(chat_syncs(&db, "c2").unwrap().is_empty());

        // A snapshot replaces the values; deleting a client leaves the others alone.
        let txn = db.begin_write().unwrap();
        let fresh = patch(
            &CollectionState::default(),
            &[MutationSpec::mute(chat, None, 3)],
        );
        save_patch_in(&txn, "c1", "regular_low", &fresh, true).unwrap();
        txn.commit().unwrap();
        let mut replaced = CollectionState::default();
        fresh.apply_to(&mut replaced);
        assert_eq!(
            collection_state(&db, "c1", "regular_low").unwrap(),
            replaced
        );
        let txn = db.begin_write().unwrap();
        delete_client_app_state(&txn, "c1").unwrap();
        txn.commit().unwrap();
        assert_eq!(collection_version(&db, "c1", "regular_low").unwrap(), 0);
        assert!(keys(&db, "c1").unwrap().is_empty());
        assert_eq!(collection_version(&db, "c2", "regular_low").unwrap(), 1);
    }
}
