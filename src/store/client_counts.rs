//! How many WhatsApp clients each account owns, kept in memory so that `GET /api/profile` (and
//! anything else that only wants the count) does not scan and decode the clients table.
//!
//! The counts are rebuilt from the table on first use and thrown away after every committed
//! change that adds or removes a client (the store's own write methods call
//! [`ClientCounts::invalidate`] right after `commit`). A rebuild carries the generation it saw
//! before its read transaction began, and is only kept when no change happened meanwhile, so a
//! count read from an older snapshot is never remembered.

use std::collections::HashMap;

use super::read_mostly::ReadMostly;
use super::{decode, tables, ClientRecord, Store, StoreResult};
use redb::{ReadableTable, ReadableTableMetadata};

#[derive(Default)]
struct Counts {
    generation: u64,
    by_owner: Option<HashMap<String, u64>>,
}

/// Read on every profile request, so readers take no lock (see [`ReadMostly`]).
pub(super) struct ClientCounts {
    counts: ReadMostly<Counts>,
}

impl Default for ClientCounts {
    fn default() -> ClientCounts {
        ClientCounts {
            counts: ReadMostly::new(Counts::default()),
        }
    }
}

impl ClientCounts {
    /// Forgets the counts; the next reader rebuilds them. Call after a commit that added or
    /// removed clients.
    pub(super) fn invalidate(&self) {
        self.counts.update(|now| {
            Some(Counts {
                generation: now.generation.wrapping_add(1),
                by_owner: None,
            })
        });
    }
}

impl Store {
    /// How many clients `owner` has: from memory, or one read of the clients table.
    pub fn client_count(&self, owner: &str) -> StoreResult<u64> {
        let known = self
            .client_counts
            .counts
            .read(|counts| match &counts.by_owner {
                Some(by_owner) => Ok(by_owner.get(owner).copied().unwrap_or(0)),
                None => Err(counts.generation),
            });
        let seen = match known {
            Ok(count) => return Ok(count),
            Err(generation) => generation,
        };
        let by_owner = self.count_clients_by_owner()?;
        let count = by_owner.get(owner).copied().unwrap_or(0);
        // Kept only when no change committed since the generation seen before the read.
        self.client_counts.counts.update(|now| {
            (now.generation == seen && now.by_owner.is_none()).then_some(Counts {
                generation: seen,
                by_owner: Some(by_owner),
            })
        });
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
