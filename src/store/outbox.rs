//! The webhook outbox: events waiting for delivery, per client in order, the dead letters, and a
//! bounded log of delivery attempts.
//!
//! An event is written in the same write transaction as the data it describes (a history row, a
//! sent message's status, a client's connection status), so a crash keeps both or neither. Rows
//! are keyed `(client id, sequence)`: the sequence comes from a per-client counter, so a client's
//! events form one ordered key range and its head is the first row of that range. Only the head
//! of a client is ever delivered; later events wait behind it (see the delivery worker in
//! `services::webhooks`). A row leaves the outbox only in the transaction that records its
//! successful delivery or moves it to the dead letters, which makes delivery at-least-once.
//!
//! Every commit that adds outbox rows wakes the delivery workers through [`outbox_signal`].

use super::{
    decode, encode, next_id, tables, ClientRecord, ClientStatus, HistoryRow, SentRecord, Store,
    StoreResult,
};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::ops::Bound;

type Json = &'static [u8];
type ByClient = TableDefinition<'static, (&'static str, u64), Json>;

/// (client id, sequence) → OutboxRecord: events waiting for delivery.
const OUTBOX: ByClient = TableDefinition::new("webhook_outbox");
/// (client id, sequence) → OutboxRecord: events given up after the retry window.
const DEAD_LETTERS: ByClient = TableDefinition::new("webhook_dead_letters");
/// (client id, attempt id) → DeliveryAttemptRecord: the most recent attempts per client.
const ATTEMPTS: ByClient = TableDefinition::new("webhook_attempts");

/// Dead letters kept per client; the oldest go first beyond this.
pub const DEAD_LETTERS_PER_CLIENT: usize = 1_000;
/// Delivery attempts kept per client (a log for the dashboard and the deliveries route).
pub const ATTEMPTS_PER_CLIENT: usize = 200;

/// The attempt log is trimmed on every Nth attempt (counting a range on each would cost more).
const ATTEMPT_PRUNE_EVERY: u64 = 32;

static OUTBOX_SIGNAL: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Notified after every commit that added or re-queued outbox rows. Delivery workers wait on it
/// (spurious wake-ups from other stores in the same process are harmless: they rescan).
pub fn outbox_signal() -> &'static tokio::sync::Notify {
    &OUTBOX_SIGNAL
}

/// Opens one of the outbox tables for reading. The tables are created by the first write that
/// needs them, so before that a reader sees no table, which means no rows.
fn open_read(
    txn: &redb::ReadTransaction,
    table: ByClient,
) -> StoreResult<Option<redb::ReadOnlyTable<(&'static str, u64), Json>>> {
    match txn.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An event to put in the outbox (built by `services::webhooks::events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEvent {
    /// Stable unique id, sent as `X-Chattu-Event-Id` on every attempt.
    pub event_id: String,
    /// `message_received`, `message_sent`, `call_rejected`, `message_ack`, `client_status`, ...
    pub event: String,
    /// The exact JSON body to POST.
    pub body: String,
    /// Where a reply from the webhook's answer goes (the sender or caller JID).
    pub reply_to: Option<String>,
}

/// An event in the outbox or among the dead letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub event_id: String,
    pub client_id: String,
    /// Per-client order: strictly increasing in the order events were committed.
    pub seq: u64,
    pub event: String,
    pub body: String,
    pub reply_to: Option<String>,
    /// When the event was queued (or re-queued by a replay); the retry window runs from here.
    pub created_ms: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    /// Set when the event was moved to the dead letters.
    #[serde(default)]
    pub dead_ms: Option<i64>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; the event stays at the head of its client's queue for another attempt.
    Retrying,
    /// Failed and the retry window is over: moved to the dead letters.
    DeadLettered,
}

/// One delivery attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttemptRecord {
    pub id: u64,
    pub client_id: String,
    pub event_id: String,
    pub seq: u64,
    pub event: String,
    /// 1 for the first attempt of this event.
    pub attempt: u32,
    pub at_ms: i64,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub outcome: AttemptOutcome,
}

/// What the delivery worker decided after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    RetryAt(i64),
    DeadLetter,
}

fn client_range(client_id: &str) -> std::ops::RangeInclusive<(&str, u64)> {
    (client_id, 0u64)..=(client_id, u64::MAX)
}

fn seq_counter(client_id: &str) -> String {
    format!("webhook_seq:{client_id}")
}

impl Store {
    /// Queues an event for the client inside the caller's transaction, if the client exists and
    /// has a webhook URL (without one there is nobody to deliver to, so nothing is kept).
    /// The caller commits, then should call `outbox_signal().notify_waiters()`.
    pub fn enqueue_webhook_in(
        txn: &WriteTransaction,
        client_id: &str,
        event: NewOutboxEvent,
        now_ms: i64,
    ) -> StoreResult<Option<OutboxRecord>> {
        let client = {
            let clients = txn.open_table(tables::CLIENTS)?;
            super::get_json::<&str, ClientRecord, _>(&clients, client_id)?
        };
        if client.and_then(|c| c.webhook_url).is_none() {
            return Ok(None);
        }
        let seq = next_id(txn, &seq_counter(client_id))?;
        let record = OutboxRecord {
            event_id: event.event_id,
            client_id: client_id.to_string(),
            seq,
            event: event.event,
            body: event.body,
            reply_to: event.reply_to,
            created_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
            last_error: None,
            dead_ms: None,
        };
        let mut outbox = txn.open_table(OUTBOX)?;
        outbox.insert((client_id, seq), encode(&record)?.as_slice())?;
        Ok(Some(record))
    }

    /// Queues an event on its own (test events, events with no data row).
    pub fn enqueue_webhook(
        &self,
        client_id: &str,
        event: NewOutboxEvent,
        now_ms: i64,
    ) -> StoreResult<Option<OutboxRecord>> {
        let txn = self.db.begin_write()?;
        let queued = Store::enqueue_webhook_in(&txn, client_id, event, now_ms)?;
        txn.commit()?;
        outbox_signal().notify_waiters();
        Ok(queued)
    }

    /// Appends a history row and queues the event describing it, in one transaction.
    pub fn append_history_with_event<T: HistoryRow>(
        &self,
        row: T,
        max_rows: u64,
        event: NewOutboxEvent,
        now_ms: i64,
    ) -> StoreResult<T> {
        let txn = self.db.begin_write()?;
        let client_id = row.client_id().to_string();
        let row = Store::append_history_in(&txn, row, max_rows)?;
        let queued = Store::enqueue_webhook_in(&txn, &client_id, event, now_ms)?;
        txn.commit()?;
        if queued.is_some() {
            outbox_signal().notify_waiters();
        }
        Ok(row)
    }

    /// Changes a sent message's row and queues the event built from the changed row, in one
    /// transaction. None when the row does not exist.
    pub fn update_sent_with_event(
        &self,
        id: u64,
        change: impl FnOnce(&mut SentRecord),
        event: impl FnOnce(&SentRecord) -> Option<NewOutboxEvent>,
        now_ms: i64,
    ) -> StoreResult<Option<SentRecord>> {
        let txn = self.db.begin_write()?;
        let updated = {
            let mut rows = txn.open_table(tables::SENT)?;
            let Some(mut row) = super::get_json::<u64, SentRecord, _>(&rows, id)? else {
                return Ok(None);
            };
            let (client_id, own_id) = (row.client_id.clone(), row.id);
            change(&mut row);
            row.client_id = client_id;
            row.id = own_id;
            rows.insert(id, encode(&row)?.as_slice())?;
            row
        };
        let queued = match event(&updated) {
            Some(e) => Store::enqueue_webhook_in(&txn, &updated.client_id, e, now_ms)?,
            None => None,
        };
        txn.commit()?;
        if queued.is_some() {
            outbox_signal().notify_waiters();
        }
        Ok(Some(updated))
    }

    /// Records a client's connection status and, when it changed, queues the event built from
    /// the updated client, in one transaction. `connected_number` None keeps the current number,
    /// except that logging out clears it. None when the client does not exist.
    pub fn set_client_status_with_event(
        &self,
        client_id: &str,
        status: ClientStatus,
        connected_number: Option<&str>,
        event: impl FnOnce(&ClientRecord) -> NewOutboxEvent,
        now_ms: i64,
    ) -> StoreResult<Option<ClientRecord>> {
        let txn = self.db.begin_write()?;
        let (before, after) = {
            let mut clients = txn.open_table(tables::CLIENTS)?;
            let Some(mut client) = super::get_json::<&str, ClientRecord, _>(&clients, client_id)?
            else {
                return Ok(None);
            };
            let before = (client.status, client.connected_number.clone());
            client.status = status;
            if let Some(number) = connected_number {
                client.connected_number = Some(number.to_string());
            } else if status == ClientStatus::LoggedOut {
                client.connected_number = None;
            }
            clients.insert(client_id, encode(&client)?.as_slice())?;
            (before, client)
        };
        let mut queued = None;
        if before != (after.status, after.connected_number.clone()) {
            queued = Store::enqueue_webhook_in(&txn, client_id, event(&after), now_ms)?;
        }
        txn.commit()?;
        if queued.is_some() {
            outbox_signal().notify_waiters();
        }
        Ok(Some(after))
    }

    /// The head (oldest waiting event) of every client that has one, ordered by client id.
    pub fn webhook_heads(&self) -> StoreResult<Vec<OutboxRecord>> {
        let txn = self.db.begin_read()?;
        let Some(outbox) = open_read(&txn, OUTBOX)? else {
            return Ok(Vec::new());
        };
        let mut heads: Vec<OutboxRecord> = Vec::new();
        loop {
            let next = match heads.last() {
                None => outbox.first()?,
                Some(last) => {
                    let after = (last.client_id.as_str(), u64::MAX);
                    let mut range = outbox.range((Bound::Excluded(after), Bound::Unbounded))?;
                    range.next().transpose()?
                }
            };
            let Some((_, value)) = next else {
                break;
            };
            heads.push(decode(value.value())?);
        }
        Ok(heads)
    }

    /// The head of one client's queue.
    pub fn webhook_head(&self, client_id: &str) -> StoreResult<Option<OutboxRecord>> {
        let txn = self.db.begin_read()?;
        let Some(outbox) = open_read(&txn, OUTBOX)? else {
            return Ok(None);
        };
        let mut range = outbox.range(client_range(client_id))?;
        match range.next().transpose()? {
            Some((_, value)) => Ok(Some(decode(value.value())?)),
            None => Ok(None),
        }
    }

    /// Removes a delivered event and logs the attempt. False when the event was no longer
    /// queued (its client was deleted meanwhile).
    pub fn webhook_delivered(
        &self,
        record: &OutboxRecord,
        attempt: DeliveryAttemptRecord,
    ) -> StoreResult<bool> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut outbox = txn.open_table(OUTBOX)?;
            let removed = outbox
                .remove((record.client_id.as_str(), record.seq))?
                .is_some();
            removed
        };
        if removed {
            log_attempt_in(&txn, attempt)?;
        }
        txn.commit()?;
        Ok(removed)
    }

    /// Records a failed attempt: the event either waits for `RetryAt` or moves to the dead
    /// letters. Returns the record as stored, None when it was no longer queued.
    pub fn webhook_failed(
        &self,
        record: &OutboxRecord,
        attempt: DeliveryAttemptRecord,
        decision: RetryDecision,
        now_ms: i64,
    ) -> StoreResult<Option<OutboxRecord>> {
        let txn = self.db.begin_write()?;
        let key = (record.client_id.as_str(), record.seq);
        let stored = {
            let mut outbox = txn.open_table(OUTBOX)?;
            let Some(current) = super::get_json::<(&str, u64), OutboxRecord, _>(&outbox, key)?
            else {
                return Ok(None);
            };
            let mut updated = current;
            updated.attempts = updated.attempts.saturating_add(1);
            updated.last_error = attempt.error.clone();
            match decision {
                RetryDecision::RetryAt(at) => {
                    updated.next_attempt_ms = at;
                    outbox.insert(key, encode(&updated)?.as_slice())?;
                }
                RetryDecision::DeadLetter => {
                    updated.dead_ms = Some(now_ms);
                    outbox.remove(key)?;
                    let mut dead = txn.open_table(DEAD_LETTERS)?;
                    dead.insert(key, encode(&updated)?.as_slice())?;
                    trim_client_range(&mut dead, &record.client_id, DEAD_LETTERS_PER_CLIENT)?;
                }
            }
            updated
        };
        log_attempt_in(&txn, attempt)?;
        txn.commit()?;
        Ok(Some(stored))
    }

    /// The client's waiting events, oldest first (at most `limit`).
    pub fn webhook_pending(&self, client_id: &str, limit: usize) -> StoreResult<Vec<OutboxRecord>> {
        self.webhook_range(OUTBOX, client_id, limit, false)
    }

    /// The client's dead letters, newest first (at most `limit`).
    pub fn webhook_dead_letters(
        &self,
        client_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRecord>> {
        self.webhook_range(DEAD_LETTERS, client_id, limit, true)
    }

    /// The client's recent delivery attempts, newest first (at most `limit`).
    pub fn webhook_attempts(
        &self,
        client_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryAttemptRecord>> {
        self.webhook_range(ATTEMPTS, client_id, limit, true)
    }

    fn webhook_range<T: serde::de::DeserializeOwned>(
        &self,
        table: ByClient,
        client_id: &str,
        limit: usize,
        newest_first: bool,
    ) -> StoreResult<Vec<T>> {
        let txn = self.db.begin_read()?;
        let Some(rows) = open_read(&txn, table)? else {
            return Ok(Vec::new());
        };
        let range = rows.range(client_range(client_id))?;
        let mut out = Vec::new();
        let mut push = |entry: Result<_, redb::StorageError>| -> StoreResult<()> {
            let (_, value): (_, redb::AccessGuard<'_, Json>) = entry?;
            out.push(decode(value.value())?);
            Ok(())
        };
        if newest_first {
            for entry in range.rev().take(limit) {
                push(entry)?;
            }
        } else {
            for entry in range.take(limit) {
                push(entry)?;
            }
        }
        Ok(out)
    }

    /// Moves a dead letter back to the end of its client's queue (same event id, new sequence,
    /// a fresh retry window). None when no such dead letter exists.
    pub fn webhook_replay(
        &self,
        client_id: &str,
        event_id: &str,
        now_ms: i64,
    ) -> StoreResult<Option<OutboxRecord>> {
        let txn = self.db.begin_write()?;
        let found = {
            let mut dead = txn.open_table(DEAD_LETTERS)?;
            let mut found = None;
            for entry in dead.range(client_range(client_id))? {
                let (key, value) = entry?;
                let record: OutboxRecord = decode(value.value())?;
                if record.event_id == event_id {
                    found = Some((key.value().1, record));
                    break;
                }
            }
            if let Some((seq, _)) = &found {
                dead.remove((client_id, *seq))?;
            }
            found.map(|(_, r)| r)
        };
        let Some(mut record) = found else {
            return Ok(None);
        };
        record.seq = next_id(&txn, &seq_counter(client_id))?;
        record.created_ms = now_ms;
        record.attempts = 0;
        record.next_attempt_ms = now_ms;
        record.dead_ms = None;
        {
            let mut outbox = txn.open_table(OUTBOX)?;
            outbox.insert((client_id, record.seq), encode(&record)?.as_slice())?;
        }
        txn.commit()?;
        outbox_signal().notify_waiters();
        Ok(Some(record))
    }

    /// Forgets everything webhook-related of a client (it was deleted). Returns how many waiting
    /// events were dropped.
    pub fn webhook_purge_client(&self, client_id: &str) -> StoreResult<u64> {
        let txn = self.db.begin_write()?;
        let mut dropped = 0;
        for (index, table) in [OUTBOX, DEAD_LETTERS, ATTEMPTS].into_iter().enumerate() {
            let mut rows = txn.open_table(table)?;
            let mut count = 0;
            for entry in rows.extract_from_if(client_range(client_id), |_, _| true)? {
                entry?;
                count += 1;
            }
            if index == 0 {
                dropped = count;
            }
        }
        {
            let mut meta = txn.open_table(tables::META)?;
            meta.remove(seq_counter(client_id).as_str())?;
        }
        txn.commit()?;
        Ok(dropped)
    }
}

fn log_attempt_in(txn: &WriteTransaction, mut attempt: DeliveryAttemptRecord) -> StoreResult<()> {
    attempt.id = next_id(txn, "seq:webhook_attempt")?;
    let mut attempts = txn.open_table(ATTEMPTS)?;
    attempts.insert(
        (attempt.client_id.as_str(), attempt.id),
        encode(&attempt)?.as_slice(),
    )?;
    if attempt.id.is_multiple_of(ATTEMPT_PRUNE_EVERY) {
        trim_client_range(&mut attempts, &attempt.client_id, ATTEMPTS_PER_CLIENT)?;
    }
    Ok(())
}

/// Drops the oldest rows of one client beyond `keep`.
fn trim_client_range(
    table: &mut redb::Table<'_, (&'static str, u64), Json>,
    client_id: &str,
    keep: usize,
) -> StoreResult<()> {
    let mut keys = Vec::new();
    for entry in table.range(client_range(client_id))? {
        let (key, _) = entry?;
        keys.push(key.value().1);
    }
    let excess = keys.len().saturating_sub(keep);
    for seq in keys.into_iter().take(excess) {
        table.remove((client_id, seq))?;
    }
    Ok(())
}
