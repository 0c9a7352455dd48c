//! Message and call history: append-only rows with an id, indexed by client, pruned by age and
//! by row count.

use super::{
    decode, encode, next_id, tables, CallRecord, ReceivedRecord, SentRecord, Store, StoreResult,
};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

type Rows = TableDefinition<'static, u64, &'static [u8]>;
type ByClient = TableDefinition<'static, (&'static str, u64), ()>;

/// The three history tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryKind {
    Sent,
    Received,
    Calls,
}

impl HistoryKind {
    pub const ALL: [HistoryKind; 3] =
        [HistoryKind::Sent, HistoryKind::Received, HistoryKind::Calls];

    fn tables(self) -> (Rows, ByClient, &'static str) {
        match self {
            HistoryKind::Sent => (tables::SENT, tables::SENT_BY_CLIENT, "seq:sent"),
            HistoryKind::Received => (tables::RECEIVED, tables::RECEIVED_BY_CLIENT, "seq:received"),
            HistoryKind::Calls => (tables::CALLS, tables::CALLS_BY_CLIENT, "seq:calls"),
        }
    }
}

/// What the generic history code needs from a row.
pub trait HistoryRow: Serialize + DeserializeOwned {
    const KIND: HistoryKind;
    fn client_id(&self) -> &str;
    /// The time retention is measured from.
    fn at_ms(&self) -> i64;
    fn set_id(&mut self, id: u64);
}

impl HistoryRow for SentRecord {
    const KIND: HistoryKind = HistoryKind::Sent;
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn at_ms(&self) -> i64 {
        self.sent_ms
    }
    fn set_id(&mut self, id: u64) {
        self.id = id;
    }
}

impl HistoryRow for ReceivedRecord {
    const KIND: HistoryKind = HistoryKind::Received;
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn at_ms(&self) -> i64 {
        self.received_ms
    }
    fn set_id(&mut self, id: u64) {
        self.id = id;
    }
}

impl HistoryRow for CallRecord {
    const KIND: HistoryKind = HistoryKind::Calls;
    fn client_id(&self) -> &str {
        &self.client_id
    }
    fn at_ms(&self) -> i64 {
        self.created_ms
    }
    fn set_id(&mut self, id: u64) {
        self.id = id;
    }
}

impl Store {
    /// Appends a row (its id is assigned here and returned in the record). If the table then
    /// holds more than `max_rows`, the oldest rows go in the same transaction.
    pub fn append_history<T: HistoryRow>(&self, row: T, max_rows: u64) -> StoreResult<T> {
        let txn = self.db.begin_write()?;
        let row = Store::append_history_in(&txn, row, max_rows)?;
        txn.commit()?;
        Ok(row)
    }

    /// [`Store::append_history`] inside a transaction the caller commits: the engine records a
    /// decrypted message in the same transaction that advances the Signal session
    /// (see signal.rs), so a crash keeps both or neither.
    pub fn append_history_in<T: HistoryRow>(
        txn: &WriteTransaction,
        mut row: T,
        max_rows: u64,
    ) -> StoreResult<T> {
        let (rows_def, by_client_def, counter) = T::KIND.tables();
        let id = next_id(txn, counter)?;
        row.set_id(id);
        {
            let mut rows = txn.open_table(rows_def)?;
            rows.insert(id, encode(&row)?.as_slice())?;
            let mut by_client = txn.open_table(by_client_def)?;
            by_client.insert((row.client_id(), id), ())?;
        }
        prune_in::<T>(txn, i64::MIN, max_rows)?;
        Ok(row)
    }

    /// Changes one row (e.g. a sent message's delivery status, a call's end time).
    pub fn update_history<T: HistoryRow>(
        &self,
        id: u64,
        change: impl FnOnce(&mut T),
    ) -> StoreResult<Option<T>> {
        let (rows_def, _, _) = T::KIND.tables();
        let txn = self.db.begin_write()?;
        let updated;
        {
            let mut rows = txn.open_table(rows_def)?;
            let Some(mut row) = super::get_json::<u64, T, _>(&rows, id)? else {
                return Ok(None);
            };
            let client_id = row.client_id().to_string();
            change(&mut row);
            row.set_id(id);
            if row.client_id() != client_id {
                return Err(super::StoreError::Corrupt(
                    "a history row cannot change client".into(),
                ));
            }
            rows.insert(id, encode(&row)?.as_slice())?;
            updated = row;
        }
        txn.commit()?;
        Ok(Some(updated))
    }

    /// The newest `limit` rows of the given clients, newest first.
    pub fn history_of<T: HistoryRow>(
        &self,
        client_ids: &[&str],
        limit: usize,
    ) -> StoreResult<Vec<T>> {
        let (rows_def, by_client_def, _) = T::KIND.tables();
        let txn = self.db.begin_read()?;
        let rows = txn.open_table(rows_def)?;
        let by_client = txn.open_table(by_client_def)?;
        let mut ids: Vec<u64> = Vec::new();
        for client_id in client_ids {
            let range = by_client.range((*client_id, 0u64)..=(*client_id, u64::MAX))?;
            for entry in range.rev().take(limit) {
                let (key, _) = entry?;
                ids.push(key.value().1);
            }
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.truncate(limit);
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(row) = super::get_json::<u64, T, _>(&rows, id)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// Number of rows in a history table.
    pub fn history_len(&self, kind: HistoryKind) -> StoreResult<u64> {
        let txn = self.db.begin_read()?;
        let rows = txn.open_table(kind.tables().0)?;
        Ok(rows.len()?)
    }

    /// Removes rows older than `cutoff_ms` and the oldest beyond `max_rows`; returns how many went.
    pub fn prune_history(
        &self,
        kind: HistoryKind,
        cutoff_ms: i64,
        max_rows: u64,
    ) -> StoreResult<u64> {
        let txn = self.db.begin_write()?;
        let removed = match kind {
            HistoryKind::Sent => prune_in::<SentRecord>(&txn, cutoff_ms, max_rows)?,
            HistoryKind::Received => prune_in::<ReceivedRecord>(&txn, cutoff_ms, max_rows)?,
            HistoryKind::Calls => prune_in::<CallRecord>(&txn, cutoff_ms, max_rows)?,
        };
        txn.commit()?;
        Ok(removed)
    }
}

/// Ids grow with time, so the oldest rows are at the front: pop until both rules hold.
fn prune_in<T: HistoryRow>(
    txn: &WriteTransaction,
    cutoff_ms: i64,
    max_rows: u64,
) -> StoreResult<u64> {
    let (rows_def, by_client_def, _) = T::KIND.tables();
    let mut rows = txn.open_table(rows_def)?;
    let mut by_client = txn.open_table(by_client_def)?;
    let mut removed = 0;
    loop {
        let len = rows.len()?;
        let Some((id, row)) = rows
            .first()?
            .map(|(k, v)| (k.value(), decode::<T>(v.value())))
        else {
            break;
        };
        let row = row?;
        if len <= max_rows && row.at_ms() >= cutoff_ms {
            break;
        }
        rows.remove(id)?;
        by_client.remove((row.client_id(), id))?;
        removed += 1;
    }
    Ok(removed)
}

/// Removes every row of one client (the client was deleted).
pub(super) fn delete_client_rows(
    txn: &WriteTransaction,
    kind: HistoryKind,
    client_id: &str,
) -> StoreResult<()> {
    let (rows_def, by_client_def, _) = kind.tables();
    let mut rows = txn.open_table(rows_def)?;
    let mut by_client = txn.open_table(by_client_def)?;
    let mut ids = Vec::new();
    for entry in by_client.range((client_id, 0u64)..=(client_id, u64::MAX))? {
        let (key, _) = entry?;
        ids.push(key.value().1);
    }
    for id in ids {
        rows.remove(id)?;
        by_client.remove((client_id, id))?;
    }
    Ok(())
}
