//! Incoming messages a client already recorded, so a redelivery is only acknowledged. Written in
//! the same transaction that decrypts and records the message; one table for 1:1 and group
//! messages, pruned by age per client.

use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use super::StoreError;

/// (namespace = client id, chat (the group for group messages, empty for 1:1), sending device,
/// message id) → unix seconds when first recorded.
const SEEN: TableDefinition<(&str, &str, &str, &str), u64> = TableDefinition::new("seen_messages");

/// Which message: WhatsApp ids are unique per sending device (and group).
#[derive(Debug, Clone, Copy)]
pub struct SeenKey<'a> {
    pub namespace: &'a str,
    pub chat: &'a str,
    pub sender: &'a str,
    pub id: &'a str,
}

impl SeenKey<'_> {
    fn tuple(&self) -> (&str, &str, &str, &str) {
        (self.namespace, self.chat, self.sender, self.id)
    }
}

/// Whether the message was recorded before (inside the caller's transaction).
pub fn was_seen(txn: &WriteTransaction, key: SeenKey<'_>) -> Result<bool, StoreError> {
    let table = txn.open_table(SEEN)?;
    let hit = table.get(key.tuple())?.is_some();
    Ok(hit)
}

/// Marks the message recorded at `now_secs` (inside the caller's transaction).
pub fn mark_seen(
    txn: &WriteTransaction,
    key: SeenKey<'_>,
    now_secs: u64,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(SEEN)?;
    table.insert(key.tuple(), now_secs)?;
    Ok(())
}

/// Forgets `namespace`'s entries recorded before `cutoff_secs`, 1:1 and group alike.
pub fn prune_seen(db: &Database, namespace: &str, cutoff_secs: u64) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(SEEN)?;
        table.retain(|(ns, _, _, _), at| ns != namespace || at >= cutoff_secs)?;
    }
    txn.commit()?;
    Ok(())
}
