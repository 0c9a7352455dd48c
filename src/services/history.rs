//! Message and call history: what the API lists, and the record functions the engine calls.

use super::live::LiveEvent;
use super::time::format_rfc3339;
use super::webhooks::events as webhook_events;
use super::{Caller, Error, Shared};
use crate::store::{CallRecord, ReceivedRecord, SentRecord, Store};
use serde::Serialize;

/// How many rows each listing returns (the API documents these).
pub const SENT_LIMIT: usize = 100;
pub const RECEIVED_LIMIT: usize = 100;
pub const CALLS_LIMIT: usize = 100;
pub const CALL_LOGS_LIMIT: usize = 50;

/// GET /api/sent-messages entry (camelCase, as documented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentMessageView {
    pub id: u64,
    pub client_id: String,
    pub sender_number: String,
    pub recipient: String,
    pub message: String,
    pub status: String,
    pub sent_at: String,
}

impl From<&SentRecord> for SentMessageView {
    fn from(r: &SentRecord) -> Self {
        SentMessageView {
            id: r.id,
            client_id: r.client_id.clone(),
            sender_number: r.sender_number.clone(),
            recipient: r.recipient.clone(),
            message: r.message.clone(),
            status: r.status.clone(),
            sent_at: format_rfc3339(r.sent_ms),
        }
    }
}

/// GET /api/received-messages/:clientId entry (snake_case, as documented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceivedMessageView {
    pub id: u64,
    pub client_id: String,
    pub sender: String,
    pub message: String,
    pub received_at: String,
}

impl From<&ReceivedRecord> for ReceivedMessageView {
    fn from(r: &ReceivedRecord) -> Self {
        ReceivedMessageView {
            id: r.id,
            client_id: r.client_id.clone(),
            sender: r.sender.clone(),
            message: r.message.clone(),
            received_at: format_rfc3339(r.received_ms),
        }
    }
}

/// GET /api/incoming-calls/:clientId and GET /api/call-logs entry (snake_case, as documented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallView {
    pub id: u64,
    pub client_id: String,
    pub call_from: String,
    pub is_video: bool,
    pub start_time: String,
    pub end_time: Option<String>,
    /// Seconds.
    pub duration: Option<u64>,
    pub created_at: String,
}

impl From<&CallRecord> for CallView {
    fn from(r: &CallRecord) -> Self {
        CallView {
            id: r.id,
            client_id: r.client_id.clone(),
            call_from: r.call_from.clone(),
            is_video: r.is_video,
            start_time: format_rfc3339(r.start_ms),
            end_time: r.end_ms.map(format_rfc3339),
            duration: r.duration_secs,
            created_at: format_rfc3339(r.created_ms),
        }
    }
}

/// An incoming call as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    pub client_id: String,
    /// Caller JID, e.g. "1234567890@c.us".
    pub call_from: String,
    pub is_video: bool,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    pub duration_secs: Option<u64>,
}

pub struct History {
    shared: Shared,
}

impl History {
    pub(super) fn new(shared: Shared) -> History {
        History { shared }
    }

    /// GET /api/sent-messages: newest first, across the caller's clients.
    pub fn sent(&self, caller: &Caller) -> Result<Vec<SentMessageView>, Error> {
        let clients = self.shared.visible_clients(caller)?;
        let ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
        let rows: Vec<SentRecord> = self.shared.store.history_of(&ids, SENT_LIMIT)?;
        Ok(rows.iter().map(SentMessageView::from).collect())
    }

    /// GET /api/received-messages/:clientId: newest first.
    pub fn received(
        &self,
        caller: &Caller,
        client_id: &str,
    ) -> Result<Vec<ReceivedMessageView>, Error> {
        self.shared.owned_client(caller, client_id)?;
        let rows: Vec<ReceivedRecord> =
            self.shared.store.history_of(&[client_id], RECEIVED_LIMIT)?;
        Ok(rows.iter().map(ReceivedMessageView::from).collect())
    }

    /// GET /api/incoming-calls/:clientId: newest first.
    pub fn calls(&self, caller: &Caller, client_id: &str) -> Result<Vec<CallView>, Error> {
        self.shared.owned_client(caller, client_id)?;
        let rows: Vec<CallRecord> = self.shared.store.history_of(&[client_id], CALLS_LIMIT)?;
        Ok(rows.iter().map(CallView::from).collect())
    }

    /// GET /api/call-logs: newest first, across the caller's clients.
    pub fn call_logs(&self, caller: &Caller) -> Result<Vec<CallView>, Error> {
        let clients = self.shared.visible_clients(caller)?;
        let ids: Vec<&str> = clients.iter().map(|c| c.client_id.as_str()).collect();
        let rows: Vec<CallRecord> = self.shared.store.history_of(&ids, CALL_LOGS_LIMIT)?;
        Ok(rows.iter().map(CallView::from).collect())
    }

    // ---- For the engine (trusted, no caller) ----

    /// Records a message this client sent (now). The sender number is the paired number if
    /// known, else the client's configured phone number.
    pub fn record_sent(
        &self,
        client_id: &str,
        recipient: &str,
        message: &str,
        status: &str,
    ) -> Result<SentRecord, Error> {
        let client = self
            .shared
            .store
            .client(client_id)?
            .ok_or(Error::ClientNotFound)?;
        let sender_number = client
            .connected_number
            .as_deref()
            .map(|jid| jid.split('@').next().unwrap_or(jid).to_string())
            .unwrap_or(client.phone_number);
        let row = SentRecord {
            id: 0,
            client_id: client_id.to_string(),
            sender_number,
            recipient: recipient.to_string(),
            message: message.to_string(),
            status: status.to_string(),
            sent_ms: self.shared.now_ms(),
        };
        // The webhook event is queued in the same transaction as the row; a send WhatsApp
        // refused (`failed`) is kept in the history but was not sent, so it has no event.
        let max_rows = self.shared.config.storage.max_history_rows;
        let at = self.shared.now_ms();
        let row = if status == "failed" {
            (self.shared.store).append_history(row, max_rows)?
        } else {
            let event = webhook_events::message_sent(client_id, recipient, message, row.sent_ms);
            (self.shared.store).append_history_with_event(row, max_rows, event, at)?
        };
        let id = row.id.to_string();
        let live = LiveEvent::message(
            &client.owner,
            client_id,
            recipient,
            true,
            Some(&id),
            message,
            row.sent_ms,
        );
        self.shared.live.publish(live);
        Ok(row)
    }

    /// Updates a sent message's status ("delivered", "read", "failed", ...); an ack level also
    /// queues `message_ack` (with the row id as message id) in the same transaction.
    pub fn update_sent_status(&self, id: u64, status: &str) -> Result<SentRecord, Error> {
        let now = self.shared.now_ms();
        let event = |r: &SentRecord| {
            let ack = webhook_events::AckLevel::parse(status)?;
            let id = r.id.to_string();
            Some(webhook_events::message_ack(
                &r.client_id,
                &id,
                &r.recipient,
                ack,
                None,
                now,
            ))
        };
        let row = (self.shared.store)
            .update_sent_with_event(id, |r| r.status = status.to_string(), event, now)?
            .ok_or_else(|| Error::NotFound("Sent message".into()))?;
        if let Some(ack) = webhook_events::AckLevel::parse(status) {
            let (client_id, id) = (&row.client_id, row.id.to_string());
            self.shared
                .live
                .publish_for_client(&self.shared.store, client_id, |owner| {
                    LiveEvent::ack(owner, client_id, &row.recipient, &id, ack, now)
                });
        }
        Ok(row)
    }

    /// Records a message this client received (now).
    pub fn record_received(
        &self,
        client_id: &str,
        sender: &str,
        message: &str,
    ) -> Result<ReceivedRecord, Error> {
        let row = self.received_row(client_id, sender, message)?;
        let event = webhook_events::message_received(client_id, sender, message, row.received_ms);
        let max_rows = self.shared.config.storage.max_history_rows;
        let at = self.shared.now_ms();
        let row = (self.shared.store).append_history_with_event(row, max_rows, event, at)?;
        self.shared
            .live
            .publish_for_client(&self.shared.store, client_id, |owner| {
                LiveEvent::message(
                    owner,
                    client_id,
                    sender,
                    false,
                    None,
                    message,
                    row.received_ms,
                )
            });
        Ok(row)
    }

    /// [`History::record_received`] inside the caller's write transaction (the one that also
    /// advanced the Signal session; the caller commits, then may call
    /// `store::outbox::outbox_signal().notify_waiters()` so the webhook goes out at once, and
    /// publish [`LiveEvent::message`] on `App::live` for `/ws`).
    pub fn record_received_in(
        &self,
        txn: &redb::WriteTransaction,
        client_id: &str,
        sender: &str,
        message: &str,
    ) -> Result<ReceivedRecord, Error> {
        let row = self.received_row(client_id, sender, message)?;
        let event = webhook_events::message_received(client_id, sender, message, row.received_ms);
        let at = row.received_ms;
        let row = Store::append_history_in(txn, row, self.shared.config.storage.max_history_rows)?;
        Store::enqueue_webhook_in(txn, client_id, event, at)?;
        Ok(row)
    }

    /// [`History::record_received_in`] for a media message: the row shows the caption (or
    /// `[kind]` without one) and the `message_received` event describes the media.
    pub fn record_received_media_in(
        &self,
        txn: &redb::WriteTransaction,
        client_id: &str,
        sender: &str,
        caption: &str,
        media: &webhook_events::MediaNote<'_>,
    ) -> Result<ReceivedRecord, Error> {
        let shown = match (caption.is_empty(), media.filename) {
            (false, _) => caption.to_string(),
            (true, Some(name)) => format!("[{}] {name}", media.kind),
            (true, None) => format!("[{}]", media.kind),
        };
        let row = self.received_row(client_id, sender, &shown)?;
        let at = row.received_ms;
        let event = webhook_events::media_received(client_id, sender, caption, at, media);
        let row = Store::append_history_in(txn, row, self.shared.config.storage.max_history_rows)?;
        Store::enqueue_webhook_in(txn, client_id, event, at)?;
        Ok(row)
    }

    fn received_row(
        &self,
        client_id: &str,
        sender: &str,
        message: &str,
    ) -> Result<ReceivedRecord, Error> {
        self.shared
            .store
            .client(client_id)?
            .ok_or(Error::ClientNotFound)?;
        Ok(ReceivedRecord {
            id: 0,
            client_id: client_id.to_string(),
            sender: sender.to_string(),
            message: message.to_string(),
            received_ms: self.shared.now_ms(),
        })
    }

    /// Records an incoming call.
    pub fn record_call(&self, call: NewCall) -> Result<CallRecord, Error> {
        self.shared
            .store
            .client(&call.client_id)?
            .ok_or(Error::ClientNotFound)?;
        let row = CallRecord {
            id: 0,
            client_id: call.client_id,
            call_from: call.call_from,
            is_video: call.is_video,
            start_ms: call.start_ms,
            end_ms: call.end_ms,
            duration_secs: call.duration_secs,
            created_ms: self.shared.now_ms(),
        };
        // Incoming calls are rejected; the webhook hears of it in the same transaction.
        let event = webhook_events::call_rejected(
            &row.client_id,
            &row.call_from,
            row.is_video,
            row.start_ms,
        );
        let max_rows = self.shared.config.storage.max_history_rows;
        let at = self.shared.now_ms();
        Ok(self
            .shared
            .store
            .append_history_with_event(row, max_rows, event, at)?)
    }

    /// Sets a call's end time and duration (whole seconds from its start).
    pub fn finish_call(&self, id: u64, end_ms: i64) -> Result<CallRecord, Error> {
        self.shared
            .store
            .update_history::<CallRecord>(id, |r| {
                r.end_ms = Some(end_ms);
                r.duration_secs =
                    Some(u64::try_from(end_ms.saturating_sub(r.start_ms) / 1000).unwrap_or(0));
            })?
            .ok_or_else(|| Error::NotFound("Call".into()))
    }
}
