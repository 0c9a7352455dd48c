//! The storage seam: small traits (as whatsmeow has them) and an in-memory implementation.
//!
//! The cipher functions are generic over these traits, so they run unchanged against
//! [`MemoryStore`] (tests, simulated phones) and against the redb store, where one view lives inside a
//! single write transaction (`chattu::store::signal::SignalTxn`): the decrypt's state change and the
//! caller's own writes then commit together or not at all.

use super::address::{ProtocolAddress, SenderKeyName};
use super::error::StoreError;
use super::keys::{LocalIdentity, PreKeyRecord, SignedPreKeyRecord};
use super::sender_key::SenderKeyRecord;
use super::session::SessionRecord;
use std::collections::{BTreeMap, HashMap};

/// Our identity, and the identities we trust for peers (trust on first use).
pub trait IdentityStore {
    /// This device's identity and registration id.
    fn local_identity(&self) -> Result<Option<LocalIdentity>, StoreError>;
    /// Stores this device's identity (once, when the device is created).
    fn set_local_identity(&mut self, identity: &LocalIdentity) -> Result<(), StoreError>;
    /// The identity key we trust for `address`, if we have seen one.
    fn trusted_identity(&self, address: &ProtocolAddress) -> Result<Option<[u8; 32]>, StoreError>;
    /// Trusts `identity` for `address` (replacing what was there).
    fn save_trusted_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &[u8; 32],
    ) -> Result<(), StoreError>;
    /// Forgets the identity of `address`.
    fn remove_trusted_identity(&mut self, address: &ProtocolAddress) -> Result<(), StoreError>;
}

/// Pairwise sessions, one record per peer device.
pub trait SessionStore {
    /// The record for `address`.
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError>;
    /// Replaces the record for `address`.
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError>;
    /// Deletes the record for `address`.
    fn delete_session(&mut self, address: &ProtocolAddress) -> Result<(), StoreError>;
    /// Deletes the records of every device of user `name`.
    fn delete_user_sessions(&mut self, name: &str) -> Result<(), StoreError>;
}

/// One-time prekeys.
pub trait PreKeyStore {
    /// The prekey `id`.
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError>;
    /// Stores a prekey.
    fn store_pre_key(&mut self, record: &PreKeyRecord) -> Result<(), StoreError>;
    /// Removes prekey `id` (after a pkmsg used it).
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError>;
    /// The id the next generated prekey gets (1 when none was generated yet).
    fn next_pre_key_id(&self) -> Result<u32, StoreError>;
    /// Records the id the next generated prekey gets.
    fn set_next_pre_key_id(&mut self, id: u32) -> Result<(), StoreError>;
}

/// Signed prekeys (the current one plus a few older ones for pkmsgs still in flight).
pub trait SignedPreKeyStore {
    /// Signed prekey `id`.
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>, StoreError>;
    /// Stores a signed prekey.
    fn store_signed_pre_key(&mut self, record: &SignedPreKeyRecord) -> Result<(), StoreError>;
    /// Removes signed prekey `id`.
    fn remove_signed_pre_key(&mut self, id: u32) -> Result<(), StoreError>;
    /// Ids of all stored signed prekeys, ascending.
    fn signed_pre_key_ids(&self) -> Result<Vec<u32>, StoreError>;
}

/// Group sender keys, by (group, sender device).
pub trait SenderKeyStore {
    /// The record for `name`.
    fn load_sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>, StoreError>;
    /// Replaces the record for `name`.
    fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError>;
    /// Deletes the record for `name`.
    fn delete_sender_key(&mut self, name: &SenderKeyName) -> Result<(), StoreError>;
}

/// Everything the Signal layer stores.
pub trait SignalStore:
    IdentityStore + SessionStore + PreKeyStore + SignedPreKeyStore + SenderKeyStore
{
}

impl<T> SignalStore for T where
    T: IdentityStore + SessionStore + PreKeyStore + SignedPreKeyStore + SenderKeyStore
{
}

/// All Signal state in memory. Records are kept in their persisted byte form, so the codecs are
/// exercised exactly as with the redb store.
#[derive(Clone, Default)]
pub struct MemoryStore {
    identity: Option<LocalIdentity>,
    trusted: HashMap<ProtocolAddress, [u8; 32]>,
    sessions: HashMap<ProtocolAddress, Vec<u8>>,
    pre_keys: BTreeMap<u32, Vec<u8>>,
    next_pre_key_id: Option<u32>,
    signed_pre_keys: BTreeMap<u32, Vec<u8>>,
    sender_keys: HashMap<SenderKeyName, Vec<u8>>,
}

// Records hold secrets; logs get counts only.
impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("identity", &self.identity)
            .field("sessions", &self.sessions.len())
            .field("pre_keys", &self.pre_keys.len())
            .field("signed_pre_keys", &self.signed_pre_keys.len())
            .field("sender_keys", &self.sender_keys.len())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store with `identity` as the local identity.
    pub fn with_identity(identity: LocalIdentity) -> MemoryStore {
        MemoryStore {
            identity: Some(identity),
            ..MemoryStore::default()
        }
    }

    /// Number of one-time prekeys stored.
    pub fn pre_key_count(&self) -> usize {
        self.pre_keys.len()
    }
}

impl IdentityStore for MemoryStore {
    fn local_identity(&self) -> Result<Option<LocalIdentity>, StoreError> {
        Ok(self.identity.clone())
    }
    fn set_local_identity(&mut self, identity: &LocalIdentity) -> Result<(), StoreError> {
        self.identity = Some(identity.clone());
        Ok(())
    }
    fn trusted_identity(&self, address: &ProtocolAddress) -> Result<Option<[u8; 32]>, StoreError> {
        Ok(self.trusted.get(address).copied())
    }
    fn save_trusted_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &[u8; 32],
    ) -> Result<(), StoreError> {
        self.trusted.insert(address.clone(), *identity);
        Ok(())
    }
    fn remove_trusted_identity(&mut self, address: &ProtocolAddress) -> Result<(), StoreError> {
        self.trusted.remove(address);
        Ok(())
    }
}

impl SessionStore for MemoryStore {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        self.sessions
            .get(address)
            .map(|b| SessionRecord::from_bytes(b))
            .transpose()
    }
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.sessions.insert(address.clone(), record.to_bytes());
        Ok(())
    }
    fn delete_session(&mut self, address: &ProtocolAddress) -> Result<(), StoreError> {
        self.sessions.remove(address);
        Ok(())
    }
    fn delete_user_sessions(&mut self, name: &str) -> Result<(), StoreError> {
        self.sessions.retain(|a, _| a.name != name);
        Ok(())
    }
}

impl PreKeyStore for MemoryStore {
    fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>, StoreError> {
        self.pre_keys
            .get(&id)
            .map(|b| PreKeyRecord::from_bytes(id, b))
            .transpose()
    }
    fn store_pre_key(&mut self, record: &PreKeyRecord) -> Result<(), StoreError> {
        self.pre_keys.insert(record.id, record.to_bytes());
        Ok(())
    }
    fn remove_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.pre_keys.remove(&id);
        Ok(())
    }
    fn next_pre_key_id(&self) -> Result<u32, StoreError> {
        Ok(self.next_pre_key_id.unwrap_or(1))
    }
    fn set_next_pre_key_id(&mut self, id: u32) -> Result<(), StoreError> {
        self.next_pre_key_id = Some(id);
        Ok(())
    }
}

impl SignedPreKeyStore for MemoryStore {
    fn load_signed_pre_key(&self, id: u32) -> Result<Option<SignedPreKeyRecord>, StoreError> {
        self.signed_pre_keys
            .get(&id)
            .map(|b| SignedPreKeyRecord::from_bytes(id, b))
            .transpose()
    }
    fn store_signed_pre_key(&mut self, record: &SignedPreKeyRecord) -> Result<(), StoreError> {
        self.signed_pre_keys.insert(record.id, record.to_bytes());
        Ok(())
    }
    fn remove_signed_pre_key(&mut self, id: u32) -> Result<(), StoreError> {
        self.signed_pre_keys.remove(&id);
        Ok(())
    }
    fn signed_pre_key_ids(&self) -> Result<Vec<u32>, StoreError> {
        Ok(self.signed_pre_keys.keys().copied().collect())
    }
}

impl SenderKeyStore for MemoryStore {
    fn load_sender_key(&self, name: &SenderKeyName) -> Result<Option<SenderKeyRecord>, StoreError> {
        self.sender_keys
            .get(name)
            .map(|b| SenderKeyRecord::from_bytes(b))
            .transpose()
    }
    fn store_sender_key(
        &mut self,
        name: &SenderKeyName,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        self.sender_keys.insert(name.clone(), record.to_bytes());
        Ok(())
    }
    fn delete_sender_key(&mut self, name: &SenderKeyName) -> Result<(), StoreError> {
        self.sender_keys.remove(name);
        Ok(())
    }
}
