//! Accounts and the API key index.

use super::{
    decode, encode, get_json, tables, ClientRecord, KeyOwner, Store, StoreResult, UserRecord,
};
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

/// SHA-256 of an API key or session token: the index key, so stored keys are never scanned.
pub fn digest(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Outcome of [`Store::insert_user`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserInsert {
    Inserted,
    UsernameTaken,
}

impl Store {
    pub fn user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let txn = self.db.begin_read()?;
        let users = txn.open_table(tables::USERS)?;
        get_json(&users, username)
    }

    /// Every account, ordered by username.
    pub fn users(&self) -> StoreResult<Vec<UserRecord>> {
        let txn = self.db.begin_read()?;
        let users = txn.open_table(tables::USERS)?;
        super::all_json(&users)
    }

    pub fn user_count(&self) -> StoreResult<u64> {
        let txn = self.db.begin_read()?;
        let users = txn.open_table(tables::USERS)?;
        Ok(users.len()?)
    }

    /// Adds an account and indexes its API key.
    pub fn insert_user(&self, user: &UserRecord) -> StoreResult<UserInsert> {
        let txn = self.db.begin_write()?;
        {
            let mut users = txn.open_table(tables::USERS)?;
            if users.get(user.username.as_str())?.is_some() {
                return Ok(UserInsert::UsernameTaken);
            }
            users.insert(user.username.as_str(), encode(user)?.as_slice())?;
            let owner = KeyOwner::Account {
                username: user.username.clone(),
            };
            index_key(&txn, &user.api_key, &owner)?;
        }
        txn.commit()?;
        Ok(UserInsert::Inserted)
    }

    /// Changes an account in one transaction; `change` sees the current record. If the API key
    /// changes, the index follows. Returns None when the account does not exist.
    pub fn update_user<R>(
        &self,
        username: &str,
        change: impl FnOnce(&mut UserRecord) -> R,
    ) -> StoreResult<Option<R>> {
        let txn = self.db.begin_write()?;
        let result;
        {
            let mut users = txn.open_table(tables::USERS)?;
            let Some(mut user) = get_json::<&str, UserRecord, _>(&users, username)? else {
                return Ok(None);
            };
            let old_key = user.api_key.clone();
            result = change(&mut user);
            user.username = username.to_string();
            users.insert(username, encode(&user)?.as_slice())?;
            if user.api_key != old_key {
                unindex_key(&txn, &old_key)?;
                let owner = KeyOwner::Account {
                    username: username.to_string(),
                };
                index_key(&txn, &user.api_key, &owner)?;
            }
        }
        txn.commit()?;
        Ok(Some(result))
    }

    /// Removes an account with everything it owns: its key, its clients (with their keys,
    /// history and schedules) and its login sessions. Returns the removed record.
    pub fn delete_user(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let txn = self.db.begin_write()?;
        let removed;
        {
            let mut users = txn.open_table(tables::USERS)?;
            let Some(user) = get_json::<&str, UserRecord, _>(&users, username)? else {
                return Ok(None);
            };
            users.remove(username)?;
            unindex_key(&txn, &user.api_key)?;
            let client_ids: Vec<String> = {
                let clients = txn.open_table(tables::CLIENTS)?;
                let mut ids = Vec::new();
                for entry in clients.iter()? {
                    let (id, value) = entry?;
                    let client: super::ClientRecord = decode(value.value())?;
                    if client.owner == username {
                        ids.push(id.value().to_string());
                    }
                }
                ids
            };
            for id in &client_ids {
                super::clients::delete_client_in(&txn, id)?;
            }
            let mut sessions = txn.open_table(tables::SESSIONS)?;
            sessions.retain(|_, value| {
                serde_json::from_slice::<super::SessionRecord>(value)
                    .map(|s| s.username != username)
                    .unwrap_or(false)
            })?;
            removed = (user, client_ids);
        }
        let (user, client_ids) = removed;
        let txn = super::clients::clear_signal_accounts(txn, &client_ids)?;
        txn.commit()?;
        self.client_counts.invalidate();
        Ok(Some(user))
    }

    /// Everything API key authentication needs, read in one transaction: the account the key with
    /// this SHA-256 digest belongs to and, for a client key, the client. None when the digest, or
    /// the account or client it points to, is unknown.
    pub fn key_holder(
        &self,
        key_digest: &[u8; 32],
    ) -> StoreResult<Option<(UserRecord, Option<ClientRecord>)>> {
        let txn = self.db.begin_read()?;
        let keys = txn.open_table(tables::API_KEYS)?;
        let Some(owner) = get_json::<&[u8], KeyOwner, _>(&keys, key_digest.as_slice())? else {
            return Ok(None);
        };
        let users = txn.open_table(tables::USERS)?;
        let (username, client) = match owner {
            KeyOwner::Account { username } => (username, None),
            KeyOwner::Client { client_id } => {
                let clients = txn.open_table(tables::CLIENTS)?;
                let Some(client) = get_json::<&str, ClientRecord, _>(&clients, client_id.as_str())?
                else {
                    return Ok(None);
                };
                (client.owner.clone(), Some(client))
            }
        };
        let user = get_json::<&str, UserRecord, _>(&users, username.as_str())?;
        Ok(user.map(|user| (user, client)))
    }

    /// An account with the number of clients it owns (the count from memory, see client_counts.rs).
    pub fn user_with_client_count(&self, username: &str) -> StoreResult<Option<(UserRecord, u64)>> {
        let Some(user) = self.user(username)? else {
            return Ok(None);
        };
        let count = self.client_count(username)?;
        Ok(Some((user, count)))
    }

    /// Who owns the API key with this SHA-256 digest.
    pub fn key_owner(&self, key_digest: &[u8; 32]) -> StoreResult<Option<KeyOwner>> {
        let txn = self.db.begin_read()?;
        let keys = txn.open_table(tables::API_KEYS)?;
        get_json(&keys, key_digest.as_slice())
    }
}

pub(super) fn index_key(txn: &WriteTransaction, key: &str, owner: &KeyOwner) -> StoreResult<()> {
    let mut keys = txn.open_table(tables::API_KEYS)?;
    let d = digest(key);
    keys.insert(d.as_slice(), encode(owner)?.as_slice())?;
    Ok(())
}

pub(super) fn unindex_key(txn: &WriteTransaction, key: &str) -> StoreResult<()> {
    let mut keys = txn.open_table(tables::API_KEYS)?;
    let d = digest(key);
    keys.remove(d.as_slice())?;
    Ok(())
}
