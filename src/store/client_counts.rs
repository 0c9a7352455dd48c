//! How many WhatsApp clients each account owns, kept in memory so that `GET /api/profile` (and
//! anything else that only wants the count) does not scan and decode the clients table.
//!
//! The counts are rebuilt from the table on first use and thrown away after every committed
//! change that adds or removes a client (the store's own write methods call
//! [`ClientCounts::invalidate`] right after `commit`). A rebuild carries the generation it saw
//! before its read transaction began, and is only kept when no change happened meanwhile, so a
//! count read from an older snapshot is never remembered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{decode, tables, ClientRecord, Store, StoreResult};
use redb::{ReadableTable, ReadableTableMetadata};

#[derive(Default)]
struct Inner {
    generation: u64,
    counts: Option<Arc<HashMap<String, u64>>>,
}

#[derive(Default)]
pub(super) struct ClientCounts {
    inner: Mutex<Inner>,
}

impl ClientCounts {
    /// Forgets the counts; the next reader rebuilds them. Call after a commit that added or
    /// removed clients.
    pub(super) fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.counts = None;
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each operation replaces whole values, so a poisoned lock still holds a consistent map.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// The number of clients `owner` has, from memory when nothing changed since the last count.
    pub fn client_count(&self, owner: &str) -> StoreResult<u64> {
        let seen = {
            let inner = self.client_counts.lock();
            if let Some(counts) = &inner.counts {
                return Ok(counts.get(owner).copied().unwrap_or(0));
            }
            inner.generation
        };
        let counts = self.count_clients_by_owner()?;
        let count = counts.get(owner).copied().unwrap_or(0);
        let mut inner = self.client_counts.lock();
        if inner.generation == seen {
            inner.counts = Some(Arc::new(counts));
        }
        Ok(count)
    }

    fn count_clients_by_owner(&self) -> StoreResult<HashMap<String, u64>> {
        let txn = self.db.begin_read()?;
        let clients = txn.open_table(tables::CLIENTS)?;
        let mut counts = HashMap::with_capacity(usize::try_from(clients.len()?).unwrap_or(0));
        for entry in clients.iter()? {
            let (_, value) = entry?;
            let client: ClientRecord = decode(value.value())?;
            *counts.entry(client.owner).or_insert(0) += 1;
        }
        Ok(counts)
    }
}
