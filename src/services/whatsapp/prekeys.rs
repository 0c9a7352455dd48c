//! One-time prekeys for a client's engine, kept in the redb Signal store under the client's
//! namespace (its client id), so peers can still open sessions to keys uploaded before a restart.

use crate::engine::prekeys::{local_identity, signed_pre_key};
use crate::engine::{DeviceCreds, PreKeySource};
use crate::protocol::binary::Node;
use crate::protocol::signal::prekeys::{generate_pre_keys, upload_pre_keys_node};
use crate::protocol::signal::{IdentityStore, OsRandom, SignalError, SignedPreKeyStore};
use crate::store::signal::with_signal_txn;
use crate::store::Store;
use std::sync::Arc;

/// The [`PreKeySource`] of one client: generates, stores and uploads in one transaction.
pub struct ClientPreKeys {
    store: Arc<Store>,
    client_id: String,
}

impl ClientPreKeys {
    pub fn new(store: Arc<Store>, client_id: impl Into<String>) -> ClientPreKeys {
        ClientPreKeys {
            store,
            client_id: client_id.into(),
        }
    }
}

impl PreKeySource for ClientPreKeys {
    fn prekey_upload(&self, creds: &DeviceCreds, count: u32) -> Result<Node, String> {
        let identity = local_identity(creds);
        let signed = signed_pre_key(creds);
        with_signal_txn(
            self.store.database(),
            &self.client_id,
            |txn| -> Result<Node, SignalError> {
                if txn.local_identity()?.as_ref() != Some(&identity) {
                    txn.set_local_identity(&identity)?;
                }
                txn.store_signed_pre_key(&signed)?;
                let keys = generate_pre_keys(txn, count, &mut OsRandom)?;
                Ok(upload_pre_keys_node(&identity, &signed, &keys))
            },
        )
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::signal::PreKeyStore;

    #[test]
    fn keys_are_kept_per_client_and_numbered_on() {
        let dir = std::env::temp_dir().join(format!("chattu-prekeys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(Store::open(&dir).unwrap());
        let creds = DeviceCreds::generate();
        let a = ClientPreKeys::new(store.clone(), "a");
        let node = a.prekey_upload(&creds, 3).unwrap();
        assert_eq!(node.child("list").unwrap().children().len(), 3);
        a.prekey_upload(&creds, 2).unwrap();
        let b = ClientPreKeys::new(store.clone(), "b");
        b.prekey_upload(&creds, 1).unwrap();
        let count = |ns: &str| {
            with_signal_txn(store.database(), ns, |t| -> Result<u64, SignalError> {
                Ok(t.pre_key_count()?)
            })
            .unwrap()
        };
        assert_eq!(count("a"), 5);
        assert_eq!(count("b"), 1);
        let next = with_signal_txn(store.database(), "a", |t| -> Result<u32, SignalError> {
            Ok(t.next_pre_key_id()?)
        })
        .unwrap();
        assert_eq!(next, 6, "ids continue after the stored keys");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
