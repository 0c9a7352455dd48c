//! The store layer: the only module that touches redb.
//!
//! One file, `<data dir>/chattu.redb`, holds everything. [`Store`] offers typed operations; each
//! change is exactly one redb write transaction (committed before returning, so a crash loses at
//! most the operation in flight). redb allows one writer at a time, so a read-modify-write inside
//! one of these methods can never lose a concurrent update.
//!
//! Values are serde_json bytes (see [`records`]); keys are strings, SHA-256 digests, or numeric
//! ids from monotonic counters kept in the `meta` table. History tables (sent, received, calls,
//! security events, finished schedules) are pruned by age and row count, never unbounded.
//! The Signal helper keeps its own tables in [`signal`] against the same [`redb::Database`].

pub mod signal;

pub mod app_state;
pub mod chat_seed;
pub mod chats;
mod client_counts;
mod clients;
pub mod device_creds;
pub mod group_activity;
mod history;
pub mod lid_map;
pub mod outbox;
mod read_mostly;
pub mod records;
pub mod schedule_wheel;
mod schedules;
pub mod seen_messages;
pub mod sender_key_holders;
mod sessions;
mod tables;
#[cfg(test)]
pub(crate) mod test_dir;
#[cfg(test)]
mod tests;
mod users;

pub use clients::ClientInsert;
pub use device_creds::ClientCredentialStore;
pub use history::{HistoryKind, HistoryRow};
pub use read_mostly::ReadMostly;
pub use records::*;
pub use users::{digest, UserInsert};

use redb::{Database, ReadableTable, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The file name inside the data directory.
pub const DATABASE_FILE: &str = "chattu.redb";

/// The schema version this build writes; see [`Store::migrate`].
pub const SCHEMA_VERSION: u64 = 1;

/// redb's page cache; it grows up to this, so keep it small for a Raspberry Pi.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Why a store operation failed. Callers above the store treat all of these as internal errors.
#[derive(Debug)]
pub enum StoreError {
    /// redb reported an error (I/O, corruption, a second process holding the file, ...).
    Database(Box<redb::Error>),
    /// A value could not be decoded or encoded.
    Corrupt(String),
    /// The data directory could not be created.
    Io(std::io::Error),
    /// The Signal tables refused an operation.
    Signal(String),
    /// The file was written by a newer Chattu with a schema this build does not know.
    NewerSchema { found: u64, supported: u64 },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Database(e) if matches!(**e, redb::Error::DatabaseAlreadyOpen) => f.write_str(
                "the database is already open in another process (is `chattu serve` running?)",
            ),
            StoreError::Database(e) => write!(f, "database error: {e}"),
            StoreError::Corrupt(what) => write!(f, "stored value cannot be read: {what}"),
            StoreError::Io(e) => write!(f, "data directory: {e}"),
            StoreError::Signal(e) => write!(f, "signal store: {e}"),
            StoreError::NewerSchema { found, supported } => write!(
                f,
                "database schema {found} is newer than this build supports ({supported}); upgrade chattu"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

pub type StoreResult<T> = Result<T, StoreError>;

/// The typed handle to `chattu.redb`.
pub struct Store {
    db: Database,
    path: PathBuf,
    client_counts: client_counts::ClientCounts,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/chattu.redb` and runs migrations. A new data
    /// directory is made 0700 and the file 0600: they hold password hashes, API keys and the
    /// WhatsApp device keys.
    pub fn open(data_dir: &Path) -> StoreResult<Store> {
        create_private_dir(data_dir).map_err(StoreError::Io)?;
        let path = data_dir.join(DATABASE_FILE);
        let db = open_database(&path)?;
        make_private(&path).map_err(StoreError::Io)?;
        let store = Store {
            db,
            path,
            client_counts: Default::default(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The underlying database, for the Signal key store's own tables (src/store/signal.rs).
    pub fn database(&self) -> &Database {
        &self.db
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates every table and brings the schema to [`SCHEMA_VERSION`], in one transaction.
    /// Version 1 is the first schema: creating the tables is the whole migration. A later version
    /// adds a `if version < N { ... }` step here that rewrites what changed.
    fn migrate(&self) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(tables::META)?;
            let version = meta.get(tables::SCHEMA_VERSION_KEY)?.map(|v| v.value());
            match version {
                Some(found) if found > SCHEMA_VERSION => {
                    return Err(StoreError::NewerSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(found) if found == SCHEMA_VERSION => {}
                _ => {
                    meta.insert(tables::SCHEMA_VERSION_KEY, SCHEMA_VERSION)?;
                }
            }
        }
        tables::create_all(&txn)?;
        txn.commit()?;
        Ok(())
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> StoreResult<Option<u64>> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(tables::META)?;
        let version = meta.get(tables::SCHEMA_VERSION_KEY)?.map(|v| v.value());
        Ok(version)
    }
}

/// Opens (creating if needed) the database file with our cache size.
///
/// Creating a file writes redb's region headers (the page allocator's state, about half a MiB for
/// redb's default region size) through its page cache, and they would stay cached for the life of
/// the process although nothing reads them again: an existing file's headers are read once at open
/// and not cached. So a file this call creates is closed and opened again, which keeps a first
/// start (`chattu serve` on a new data directory) as small as every later one.
fn open_database(path: &Path) -> StoreResult<Database> {
    // Missing or empty: redb lays the file out now.
    let creating = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let mut builder = Database::builder();
    builder.set_cache_size(CACHE_BYTES);
    let db = builder.create(path)?;
    if !creating {
        return Ok(db);
    }
    drop(db);
    Ok(builder.create(path)?)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn make_private(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Takes the next id of a counter inside the caller's write transaction (ids start at 1).
fn next_id(txn: &WriteTransaction, counter: &str) -> StoreResult<u64> {
    let mut meta = txn.open_table(tables::META)?;
    let next = meta.get(counter)?.map(|v| v.value()).unwrap_or(0) + 1;
    meta.insert(counter, next)?;
    Ok(next)
}

fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads and decodes one JSON value by key from any table whose values are JSON bytes.
fn get_json<'k, K, T, Tbl>(table: &Tbl, key: K::SelfType<'k>) -> StoreResult<Option<T>>
where
    K: redb::Key + 'static,
    T: DeserializeOwned,
    Tbl: ReadableTable<K, &'static [u8]>,
{
    match table.get(key)? {
        Some(guard) => Ok(Some(decode(guard.value())?)),
        None => Ok(None),
    }
}

/// Decodes every value of a table (used for small tables: users, clients, schedules).
fn all_json<K, T, Tbl>(table: &Tbl) -> StoreResult<Vec<T>>
where
    K: redb::Key + 'static,
    T: DeserializeOwned,
    Tbl: ReadableTable<K, &'static [u8]>,
{
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (_, value) = entry?;
        out.push(decode(value.value())?);
    }
    Ok(out)
}
