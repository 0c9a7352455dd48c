//! Keeping enough one-time prekeys on the server (§6.4): after login the engine asks for the count and,
//! when it is low, uploads fresh keys. The private halves must outlive the process (peers encrypt to
//! them), so the keys come from a [`PreKeySource`] backed by the Signal store.

use super::creds::DeviceCreds;
use crate::protocol::binary::Node;
use crate::protocol::signal::prekeys::{generate_pre_keys, upload_pre_keys_node};
use crate::protocol::signal::{
    IdentityStore, LocalIdentity, MemoryStore, OsRandom, SignedPreKeyRecord, SignedPreKeyStore,
};
use std::sync::Mutex;

/// Upload when the server holds fewer than this many one-time prekeys.
pub const MIN_PREKEYS: u32 = 5;
/// How many to upload when the server holds none (a fresh device).
pub const INITIAL_UPLOAD: u32 = 812;
/// How many to upload when topping up.
pub const REFILL_UPLOAD: u32 = 50;

/// How many prekeys to upload when the server reports `server_count`; 0 when enough are left.
pub fn upload_size(server_count: u32) -> u32 {
    match server_count {
        0 => INITIAL_UPLOAD,
        n if n < MIN_PREKEYS => REFILL_UPLOAD,
        _ => 0,
    }
}

/// The device's Signal identity as the Signal store records it.
pub fn local_identity(creds: &DeviceCreds) -> LocalIdentity {
    LocalIdentity {
        key_pair: creds.identity_key.clone(),
        registration_id: creds.registration_id,
    }
}

/// The signed prekey registered at pairing, as a Signal store record.
pub fn signed_pre_key(creds: &DeviceCreds) -> SignedPreKeyRecord {
    SignedPreKeyRecord {
        id: creds.signed_prekey.id,
        key_pair: creds.signed_prekey.key_pair.clone(),
        signature: creds.signed_prekey.signature,
        created_at: 0,
    }
}

/// Makes and persists one-time prekeys and returns the upload iq (without an `id`; the engine adds one).
/// The store layer implements this over its redb Signal store, in one transaction.
pub trait PreKeySource: Send + Sync {
    fn prekey_upload(&self, creds: &DeviceCreds, count: u32) -> Result<Node, String>;
}

/// Prekeys kept in a [`MemoryStore`]: for tests and throwaway sessions only (the keys die with the
/// process, so messages encrypted to them later cannot be read).
#[derive(Default)]
pub struct MemoryPreKeys {
    store: Mutex<Option<MemoryStore>>,
}

impl MemoryPreKeys {
    pub fn new() -> MemoryPreKeys {
        MemoryPreKeys::default()
    }

    /// How many one-time prekeys were generated and kept.
    pub fn stored(&self) -> usize {
        self.lock().as_ref().map_or(0, MemoryStore::pre_key_count)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MemoryStore>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PreKeySource for MemoryPreKeys {
    fn prekey_upload(&self, creds: &DeviceCreds, count: u32) -> Result<Node, String> {
        let identity = local_identity(creds);
        let signed = signed_pre_key(creds);
        let mut guard = self.lock();
        let store = guard.get_or_insert_with(|| MemoryStore::with_identity(identity.clone()));
        if store.local_identity().map_err(|e| e.to_string())?.as_ref() != Some(&identity) {
            store
                .set_local_identity(&identity)
                .map_err(|e| e.to_string())?;
        }
        store
            .store_signed_pre_key(&signed)
            .map_err(|e| e.to_string())?;
        let keys = generate_pre_keys(store, count, &mut OsRandom).map_err(|e| e.to_string())?;
        Ok(upload_pre_keys_node(&identity, &signed, &keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_size_follows_the_thresholds() {
        assert_eq!(upload_size(0), INITIAL_UPLOAD);
        assert_eq!(upload_size(4), REFILL_UPLOAD);
        assert_eq!(upload_size(5), 0);
    }

    #[test]
    fn memory_source_keeps_what_it_uploads() {
        let creds = DeviceCreds::generate();
        let source = MemoryPreKeys::new();
        let node = source.prekey_upload(&creds, 3).unwrap();
        assert_eq!(node.child("list").unwrap().children().len(), 3);
        let node = source.prekey_upload(&creds, 2).unwrap();
        assert_eq!(source.stored(), 5);
        let ids: Vec<_> = node
            .child("list")
            .unwrap()
            .children()
            .iter()
            .map(|k| k.child("id").unwrap().content_bytes().unwrap().to_vec())
            .collect();
        assert_eq!(ids, [vec![0, 0, 4], vec![0, 0, 5]]);
    }
}
