//! The Signal store over redb: the `chattu::protocol::signal` store traits, implemented on a view of
//! ONE write transaction.
//!
//! Crash safety comes from the transaction: the engine begins a [`SignalTxn`], decrypts through it,
//! writes the decrypted message into its own tables on [`SignalTxn::txn`], and commits once. A crash
//! before the commit leaves both the session and the message as they were, so the peer's retry (or
//! the server's offline replay) decrypts the same ciphertext again; after the commit both exist.
//!
//! All tables are named `signal_*` and keyed by a namespace (one per WhatsApp account) first, so several
//! accounts share the database file without sharing keys.

use crate::protocol::signal::{
    IdentityStore, LocalIdentity, PreKeyRecord, PreKeyStore, ProtocolAddress, SenderKeyName,
    SenderKeyRecord, SenderKeyStore, SessionRecord, SessionStore, SignedPreKeyRecord,
    SignedPreKeyStore, StoreError,
};
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

const LOCAL_IDENTITY: TableDefinition<&str, &[u8]> = TableDefinition::new("signal_local_identity");
const TRUSTED_IDENTITIES: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("signal_trusted_identities");
const SESSIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("signal_sessions");
const PRE_KEYS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("signal_pre_keys");
const SIGNED_PRE_KEYS: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("signal_signed_pre_keys");
const SENDER_KEYS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("signal_sender_keys");
const COUNTERS: TableDefinition<(&str, &str), u64> = TableDefinition::new("signal_counters");

const NEXT_PRE_KEY_ID: &str = "next_pre_key_id";

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The Signal store of one account inside one redb write transaction.
pub struct SignalTxn {
    txn: WriteTransaction,
    namespace: String,
}

impl SignalTxn {
    /// Begins a write transaction on `db` for account `namespace`.
    pub fn begin(db: &Database, namespace: &str) -> Result<SignalTxn, StoreError> {
        Ok(SignalTxn::from_txn(
            db.begin_write().map_err(db_err)?,
            namespace,
        ))
    }

    /// Wraps a transaction the caller already began.
    pub fn from_txn(txn: WriteTransaction, namespace: &str) -> SignalTxn {
        SignalTxn {
            txn,
            namespace: namespace.to_string(),
        }
    }

    /// The transaction, for the caller's own tables (e.g. to insert the decrypted message).
    pub fn txn(&self) -> &WriteTransaction {
        &self.txn
    }

    /// Gives the transaction back without committing.
    pub fn into_txn(self) -> WriteTransaction {
        self.txn
    }

    /// Commits everything done through this view and on [`SignalTxn::txn`].
    pub fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().map_err(db_err)
    }

    /// Number of one-time prekeys stored for this account.
    pub fn pre_key_count(&self) -> Result<u64, StoreError> {
        let table = self.txn.open_table(PRE_KEYS).map_err(db_err)?;
        let ns = self.namespace.as_str();
        let range = table.range((ns, 0u32)..=(ns, u32::MAX)).map_err(db_err)?;
        Ok(range.count() as u64)
    }

    /// Deletes every Signal record of this account (after logout).
    pub fn clear_account(&mut self) -> Result<(), StoreError> {
        let ns = self.namespace.as_str();
        self.txn
            .open_table(LOCAL_IDENTITY)
            .map_err(db_err)?
            .remove(ns)
            .map_err(db_err)?;
        for def in [TRUSTED_IDENTITIES, SESSIONS, SENDER_KEYS] {
            let mut table = self.txn.open_table(def).map_err(db_err)?;
            table.retain(|k, _| k.0 != ns).map_err(db_err)?;
        }
        for def in [PRE_KEYS, SIGNED_PRE_KEYS] {
            let mut table = self.txn.open_table(def).map_err(db_err)?;
            table
                .retain_in((ns, 0u32)..=(ns, u32::MAX), |_, _| false)
                .map_err(db_err)?;
        }
        let mut counters = self.txn.open_table(COUNTERS).map_err(db_err)?;
        counters.retain(|k, _| k.0 != ns).map_err(db_err)?;
        Ok(())
    }

    fn get_str_keyed(
        &self,
        def: TableDefinition<(&str, &str), &[u8]>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(def).map_err(db_err)?;
        let value = table.get((self.namespace.as_str(), key)).map_err(db_err)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn put_str_keyed(
        &self,
        def: TableDefinition<(&str, &str), &[u8]>,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(def).map_err(db_err)?;
        table
            .insert((self.namespace.as_str(), key), value)
            .map_err(db_err)?;
        Ok(())
    }

    fn remove_str_keyed(
        &self,
        def: TableDefinition<(&str, &str), &[u8]>,
        key: &str,
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(def).map_err(db_err)?;
        table
            .remove((self.namespace.as_str(), key))
            .map_err(db_err)?;
        Ok(())
    }

    fn get_id_keyed(
        &self,
        def: TableDefinition<(&str, u32), &[u8]>,
        id: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self.txn.open_table(def).map_err(db_err)?;
        let value = table.get((self.namespace.as_str(), id)).map_err(db_err)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn put_id_keyed(
        &self,
        def: TableDefinition<(&str, u32), &[u8]>,
        id: u32,
        value: &[u8],
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(def).map_err(db_err)?;
        table
            .insert((self.namespace.as_str(), id), value)
            .map_err(db_err)?;
        Ok(())
    }

    fn remove_id_keyed(
        &self,
        def: TableDefinition<(&str, u32), &[u8]>,
        id: u32,
    ) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(def).map_err(db_err)?;
        table
            .remove((self.namespace.as_str(), id))
            .map_err(db_err)?;
        Ok(())
    }
}

/// Runs `f` against a fresh [`SignalTxn`] and commits when it returns `Ok` (on `Err` the
/// transaction is dropped, which rolls everything back).
pub fn with_signal_txn<T, E: From<StoreError>>(
    db: &Database,
    namespace: &str,
    f: impl FnOnce(&mut SignalTxn) -> Result<T, E>,
) -> Result<T, E> {
    let mut view = SignalTxn::begin(db, namespace)?;
    let out = f(&mut view)?;
    view.commit()?;
    Ok(out)
}

impl IdentityStore for SignalTxn {
    fn local_identity(&self) -> Result<Option<LocalIdentity>, StoreError> {
        let table = self.txn.open_table(LOCAL_IDENTITY).map_err(db_err)?;
        let value = table.get(self.namespace.as_str()).map_err(db_err)?;
        value
            .map(|v| LocalIdentity::from_bytes(v.value()))
            .transpose()
    }

    fn set_local_identity(&mut self, identity: &LocalIdentity) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(LOCAL_IDENTITY).map_err(db_err)?;
        table
            .insert(self.namespace.as_str(), identity.to_bytes().as_slice())
            .map_err(db_err)?;
        Ok(())
    }

    fn trusted_identity(&self, address: &ProtocolAddress) -> Result<Option<[u8; 32]>, StoreError> {
        match self.get_str_keyed(TRUSTED_IDENTITIES, &address.to_string())? {
            Some(bytes) => bytes
                .as_slice()
                .try_into()
                .map(Some)
                .map_err(|_| StoreError("trusted identity is not 32 bytes".into())),
            None => Ok(None),
        }
    }

    fn save_trusted_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &[u8; 32],
    ) -> Result<(), StoreError> {
        self.put_str_keyed(TRUSTED_IDENTITIES, &address.to_string(), identity)
    }

    fn remove_trusted_identity(&mut self, address: &ProtocolAddress) -> Result<(), StoreError> {
        self.remove_str_keyed(TRUSTED_IDENTITIES, &address.to_string())
    }
}

impl SessionStore for SignalTxn {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.get_str_keyed(SESSIONS, &address.to_string())?
            .map(|b| SessionRecord::from_bytes(&b))
            .transpose()
    }

    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.put_str_keyed(SESSIONS, &address.to_string(), &record.to_bytes())
    }

    fn delete_session(&mut self, address: &ProtocolAddress) -> Result<(), StoreError> {
        self.remove_str_keyed(SESSIONS, &address.to_string())
    }

    fn delete_user_sessions(&mut self, name: &str) -> Result<(), StoreError> {
        // Addresses print as `name.device`; every device of `name` sorts between `name.` and `name/`.
        let (from, to) = (format!("{name}."), format!("{name}/"));
        let ns = self.namespace.as_str();
        let mut table = self.txn.open_table(SESSIONS).map_err(db_err)?;
        table
            .retain_in((ns, from.as_str())..(ns, to.as_str()), |k, _| {
                k.1.rsplit_once('.').map(|(user, _)| user) != Some(name)
            })
            .map_err(db_err)?;
        Ok(())
    }
}

impl PreKeyStore for SignalTxn {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError> {
        self.get_id_keyed(PRE_KEYS, id)?
            .map(|b| PreKeyRecord::from_bytes(id, &b))
            .transpose()
    }

    fn store_pre_key(&mut self, record: &PreKeyRecord) -> Result<(), StoreError> {
        self.put_id_keyed(PRE_KEYS, record.id, &record.to_bytes())
    }

    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.remove_id_keyed(PRE_KEYS, id)
    }

    fn next_pre_key_id(&self) -> Result<u32, StoreError> {
        let table = self.txn.open_table(COUNTERS).map_err(db_err)?;
        let value = table
            .get((self.namespace.as_str(), NEXT_PRE_KEY_ID))
            .map_err(db_err)?;
        Ok(value
            .and_then(|v| u32::try_from(v.value()).ok())
            .unwrap_or(1))
    }

    fn set_next_pre_key_id(&mut self, id: u32) -> Result<(), StoreError> {
        let mut table = self.txn.open_table(COUNTERS).map_err(db_err)?;
        table
            .insert((self.namespace.as_str(), NEXT_PRE_KEY_ID), u64::from(id))
            .map_err(db_err)?;
        Ok(())
    }
}

impl SignedPreKeyStore for SignalTxn {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>, StoreError> {
        self.get_id_keyed(SIGNED_PRE_KEYS, id)?
            .map(|b| SignedPreKeyRecord::from_bytes(id, &b))
            .transpose()
    }

    fn store_signed_pre_key(&mut self, record: &SignedPreKeyRecord) -> Result<(), StoreError> {
        self.put_id_keyed(SIGNED_PRE_KEYS, record.id, &record.to_bytes())
    }

    fn remove_signed_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.remove_id_keyed(SIGNED_PRE_KEYS, id)
    }

    fn signed_pre_key_ids(&self) -> Result<Vec<u32>, StoreError> {
        let table = self.txn.open_table(SIGNED_PRE_KEYS).map_err(db_err)?;
        let ns = self.namespace.as_str();
        let mut ids = Vec::new();
        for entry in table.range((ns, 0u32)..=(ns, u32::MAX)).map_err(db_err)? {
            let (key, _) = entry.map_err(db_err)?;
            ids.push(key.value().1);
        }
        Ok(ids)
    }
}

impl SenderKeyStore for SignalTxn {
    fn load_sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.get_str_keyed(SENDER_KEYS, &name.to_string())?
            .map(|b| SenderKeyRecord::from_bytes(&b))
            .transpose()
    }

    fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        self.put_str_keyed(SENDER_KEYS, &name.to_string(), &record.to_bytes())
    }

    fn delete_sender_key(&mut self, name: &SenderKeyName) -> Result<(), StoreError> {
        self.remove_str_keyed(SENDER_KEYS, &name.to_string())
    }
}
