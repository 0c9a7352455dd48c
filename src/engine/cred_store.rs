//! Where one engine keeps its credentials. The store layer implements this over redb (one record per
//! WhatsApp client); [`MemoryCredentialStore`] serves tests and throwaway sessions.

use super::creds::DeviceCreds;
use std::fmt;
use std::sync::Mutex;

/// A store failure, described for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialStoreError(pub String);

impl fmt::Display for CredentialStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "credential store: {}", self.0)
    }
}

impl std::error::Error for CredentialStoreError {}

/// Persistence for one companion's credentials. Calls are short and synchronous (redb is), made from
/// the engine task at pairing, login and logout only.
pub trait CredentialStore: Send + Sync {
    /// The stored credentials, or `None` when this client has never been set up (or was logged out).
    fn load(&self) -> Result<Option<DeviceCreds>, CredentialStoreError>;
    /// Replaces the stored credentials.
    fn save(&self, creds: &DeviceCreds) -> Result<(), CredentialStoreError>;
    /// Forgets the credentials (logout, device removed).
    fn clear(&self) -> Result<(), CredentialStoreError>;
}

/// Credentials kept in memory only.
#[derive(Default)]
pub struct MemoryCredentialStore {
    creds: Mutex<Option<DeviceCreds>>,
}

impl MemoryCredentialStore {
    pub fn new() -> MemoryCredentialStore {
        MemoryCredentialStore::default()
    }

    /// A store that already holds `creds`.
    pub fn with(creds: DeviceCreds) -> MemoryCredentialStore {
        MemoryCredentialStore {
            creds: Mutex::new(Some(creds)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<DeviceCreds>> {
        // A poisoned lock only means another thread panicked mid-write of a plain value; keep going.
        self.creds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CredentialStore for MemoryCredentialStore {
    fn load(&self) -> Result<Option<DeviceCreds>, CredentialStoreError> {
        Ok(self.lock().clone())
    }

    fn save(&self, creds: &DeviceCreds) -> Result<(), CredentialStoreError> {
        *self.lock() = Some(creds.clone());
        Ok(())
    }

    fn clear(&self) -> Result<(), CredentialStoreError> {
        *self.lock() = None;
        Ok(())
    }
}
