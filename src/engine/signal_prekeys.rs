//! One-time prekeys kept in the redb Signal store (the durable [`PreKeySource`]): the private halves
//! are written in the same transaction that advances the id counter, before the upload leaves.

use super::creds::DeviceCreds;
use super::messaging::SignalDb;
use super::prekeys::{local_identity, signed_pre_key, PreKeySource};
use crate::protocol::binary::Node;
use crate::protocol::signal::{
    generate_pre_keys, upload_pre_keys_node, IdentityStore, OsRandom, SignalError,
    SignedPreKeyStore,
};
use crate::store::signal::with_signal_txn;
use std::sync::Arc;

/// Prekeys of the account `namespace` in `db`'s Signal tables.
pub struct RedbPreKeys {
    db: Arc<dyn SignalDb>,
    namespace: String,
}

impl RedbPreKeys {
    pub fn new(db: Arc<dyn SignalDb>, namespace: impl Into<String>) -> RedbPreKeys {
        RedbPreKeys {
            db,
            namespace: namespace.into(),
        }
    }
}

impl PreKeySource for RedbPreKeys {
    fn prekey_upload(&self, creds: &DeviceCreds, count: u32) -> Result<Node, String> {
        let identity = local_identity(creds);
        let signed = signed_pre_key(creds);
        with_signal_txn(self.db.database(), &self.namespace, |txn| {
            if txn.local_identity()?.as_ref() != Some(&identity) {
                txn.set_local_identity(&identity)?;
            }
            txn.store_signed_pre_key(&signed)?;
            let keys = generate_pre_keys(txn, count, &mut OsRandom)?;
            Ok::<_, SignalError>(upload_pre_keys_node(&identity, &signed, &keys))
        })
        .map_err(|e| e.to_string())
    }
}
