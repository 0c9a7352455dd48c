//! The engine's device credentials (Noise and Signal identity keys, pairing result), one record per
//! WhatsApp client, behind the engine's [`CredentialStore`] trait.
//!
//! They are private keys: the data directory is created 0700 and chattu.redb 0600 (see
//! [`Store::open`]). Deleting a client deletes its credentials in the same transaction.

use super::{encode, get_json, tables, Store, StoreResult};
use crate::engine::{CredentialStore, CredentialStoreError, DeviceCreds};
use std::sync::Arc;

impl Store {
    pub fn device_creds(&self, client_id: &str) -> StoreResult<Option<DeviceCreds>> {
        let txn = self.db.begin_read()?;
        let creds = txn.open_table(tables::DEVICE_CREDS)?;
        get_json(&creds, client_id)
    }

    pub fn put_device_creds(&self, client_id: &str, creds: &DeviceCreds) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(tables::DEVICE_CREDS)?;
            table.insert(client_id, encode(creds)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Returns whether credentials were removed.
    pub fn clear_device_creds(&self, client_id: &str) -> StoreResult<bool> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(tables::DEVICE_CREDS)?;
            let removed = table.remove(client_id)?.is_some();
            removed
        };
        txn.commit()?;
        Ok(removed)
    }
}

/// One client's credentials in chattu.redb, for `engine::start`.
pub struct ClientCredentialStore {
    store: Arc<Store>,
    client_id: String,
}

impl ClientCredentialStore {
    pub fn new(store: Arc<Store>, client_id: impl Into<String>) -> ClientCredentialStore {
        ClientCredentialStore {
            store,
            client_id: client_id.into(),
        }
    }
}

fn describe(e: super::StoreError) -> CredentialStoreError {
    CredentialStoreError(e.to_string())
}

impl CredentialStore for ClientCredentialStore {
    fn load(&self) -> Result<Option<DeviceCreds>, CredentialStoreError> {
        self.store.device_creds(&self.client_id).map_err(describe)
    }

    fn save(&self, creds: &DeviceCreds) -> Result<(), CredentialStoreError> {
        self.store
            .put_device_creds(&self.client_id, creds)
            .map_err(describe)
    }

    fn clear(&self) -> Result<(), CredentialStoreError> {
        self.store
            .clear_device_creds(&self.client_id)
            .map(|_| ())
            .map_err(describe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    #[test]
    fn credentials_persist_per_client_and_go_with_the_client() {
        let dir = TempDir::new();
        let creds = DeviceCreds::generate();
        {
            let store = Arc::new(Store::open(dir.path()).unwrap());
            let a = ClientCredentialStore::new(store.clone(), "a");
            let b = ClientCredentialStore::new(store.clone(), "b");
            assert_eq!(a.load().unwrap(), None);
            a.save(&creds).unwrap();
            assert_eq!(b.load().unwrap(), None, "per client");
        }
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let a = ClientCredentialStore::new(store.clone(), "a");
        assert_eq!(a.load().unwrap(), Some(creds.clone()), "survives a restart");
        a.clear().unwrap();
        assert_eq!(a.load().unwrap(), None);

        a.save(&creds).unwrap();
        let owner = crate::store::UserRecord {
            username: "bob".into(),
            password_hash: String::new(),
            api_key: "k".into(),
            role: crate::store::Role::User,
            disabled: false,
            max_clients: 1,
            created_ms: 0,
        };
        store.insert_user(&owner).unwrap();
        let client = crate::store::ClientRecord {
            client_id: "a".into(),
            owner: "bob".into(),
            phone_number: "1234567".into(),
            api_key: "ck".into(),
            webhook_url: None,
            status: crate::store::ClientStatus::PendingAuthentication,
            connected_number: None,
            created_ms: 0,
        };
        store.insert_client(&client).unwrap();
        store.delete_client("a").unwrap();
        assert_eq!(
            a.load().unwrap(),
            None,
            "deleting the client deletes its keys"
        );
    }

    #[cfg(unix)]
    #[test]
    fn data_directory_and_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let parent = TempDir::new();
        let dir = parent.path().join("fresh");
        let _store = Store::open(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(crate::store::DATABASE_FILE)), 0o600);
    }
}
