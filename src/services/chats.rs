//! The chat interface: private chats of a client with their last message and unread count, and
//! each chat's messages (docs: "Chat Interface API").
//!
//! Chat state is written in the same transaction as the history row of each message: received
//! messages through [`ChatSink`] (the engine's [`InboundSink`], inside the transaction that
//! advances the Signal session), sent ones by [`Chats::record_sent`]. Ack levels and live events
//! follow the engine's events ([`follow_engine`]).
//!
//! Ack numbers (whatsapp-web.js' scale, which the API doc's 1/2/3 is part of): `failed` -1,
//! `pending` 0, `server` 1 (sent), `delivered` 2, `read` 3, `played` 4. Incoming messages show 2
//! until a read receipt was sent for them, then 3.

use super::live::LiveEvent;
use super::webhooks::events as webhook_events;
use super::{App, Caller, Error, Shared};
use crate::engine::messaging::{EngineEvent, InboundSink, ReceivedMessage};
use crate::engine::receive::AckLevel as EngineAck;
use crate::engine::EngineHandle;
use crate::protocol::jid::Jid;
use crate::store::chats::{ChatMessageRecord, ChatRecord, MediaInfo};
use crate::store::{outbox::outbox_signal, SentRecord, Store};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::{Arc, Weak};

/// Messages listed when the request names no limit.
pub const DEFAULT_MESSAGE_LIMIT: usize = 50;
/// The most messages one listing returns.
pub const MAX_MESSAGE_LIMIT: usize = 500;

/// `{"_serialized": "..."}`, the id shape of whatsapp-web.js.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SerializedId {
    #[serde(rename = "_serialized")]
    pub serialized: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastMessageView {
    pub body: String,
    pub timestamp: u64,
    pub from_me: bool,
}

/// One entry of `GET /api/chats/:clientId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    pub id: SerializedId,
    pub name: String,
    pub profile_pic: Option<String>,
    pub last_message: Option<LastMessageView>,
    pub timestamp: u64,
    pub unread_count: u32,
    pub is_muted: bool,
    pub pinned: bool,
}

impl From<&ChatRecord> for ChatView {
    fn from(r: &ChatRecord) -> Self {
        ChatView {
            id: SerializedId {
                serialized: format!("{}@c.us", r.chat),
            },
            name: r.name.clone().unwrap_or_else(|| r.chat.clone()),
            profile_pic: None,
            last_message: r.last_message.as_ref().map(|m| LastMessageView {
                body: m.body.clone(),
                timestamp: m.timestamp,
                from_me: m.from_me,
            }),
            timestamp: r.timestamp,
            unread_count: r.unread_count,
            is_muted: r.muted,
            pinned: r.pinned,
        }
    }
}

/// One entry of `GET /api/chats/:clientId/:chatId/messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessageView {
    pub id: SerializedId,
    pub body: String,
    pub from_me: bool,
    pub timestamp: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub has_media: bool,
    pub has_reaction: bool,
    pub reactions: Option<Vec<Value>>,
    pub ack: i8,
    pub filename: Option<String>,
}

/// The API's ack number for a stored level (see the module docs).
pub fn ack_number(record: &ChatMessageRecord) -> i8 {
    if !record.from_me {
        return if record.read { 3 } else { 2 };
    }
    match record.ack.as_str() {
        "failed" | "error" => -1,
        "pending" => 0,
        "delivered" => 2,
        "read" => 3,
        "played" => 4,
        _ => 1,
    }
}

impl From<&ChatMessageRecord> for ChatMessageView {
    fn from(r: &ChatMessageRecord) -> Self {
        let reactions: Vec<Value> = r
            .reactions
            .iter()
            .map(|x| json!({"reaction": x.reaction, "senderId": format!("{}@c.us", x.sender)}))
            .collect();
        ChatMessageView {
            id: SerializedId {
                serialized: r.id.clone(),
            },
            body: r.body.clone(),
            from_me: r.from_me,
            timestamp: r.timestamp,
            kind: r.kind.clone(),
            has_media: r.media.is_some(),
            has_reaction: !reactions.is_empty(),
            reactions: (!reactions.is_empty()).then_some(reactions),
            ack: ack_number(r),
            filename: r.media.as_ref().and_then(|m| m.filename.clone()),
        }
    }
}

/// The phone number of a private chat id: `<digits>@c.us`, `<digits>@s.whatsapp.net` or bare
/// digits (a leading `+` allowed). Groups, channels, broadcasts and anything else are refused.
pub fn chat_number(chat_id: &str) -> Result<String, Error> {
    let refuse = || {
        Error::Validation {
        field: "chatId",
        msg: "chatId must be a private chat: <number>@c.us, <number>@s.whatsapp.net or a phone number."
            .into(),
    }
    };
    super::whatsapp::senders::recipient_digits(chat_id).ok_or_else(refuse)
}

/// A message id as the media route may receive it: bare, or whatsapp-web.js'
/// `true_<chat>_<id>` / `false_<chat>_<id>`.
pub fn bare_message_id(id: &str) -> &str {
    if id.starts_with("true_") || id.starts_with("false_") {
        id.rsplit('_').next().unwrap_or(id)
    } else {
        id
    }
}

pub struct Chats {
    shared: Shared,
}

/// A file the API sent, as the chat store keeps it.
#[derive(Debug, Clone, Copy)]
pub struct SentMedia<'a> {
    /// `image`, `video`, `audio` or `document`.
    pub kind: &'a str,
    pub mimetype: &'a str,
    pub filename: Option<&'a str>,
    pub bytes: &'a [u8],
}

impl Chats {
    pub(super) fn new(shared: Shared) -> Chats {
        Chats { shared }
    }

    /// Fails with ClientNotFound / AccessDenied unless the caller may use the client.
    pub fn check_client(&self, caller: &Caller, client_id: &str) -> Result<(), Error> {
        self.shared.owned_client(caller, client_id).map(|_| ())
    }

    /// GET /api/chats/:clientId: private chats, most recent activity first.
    pub fn list(&self, caller: &Caller, client_id: &str) -> Result<Vec<ChatView>, Error> {
        self.check_client(caller, client_id)?;
        let rows = self.shared.store.chats_of(client_id)?;
        Ok(rows.iter().map(ChatView::from).collect())
    }

    /// GET /api/chats/:clientId/:chatId/messages: the newest `limit`, oldest first.
    pub fn messages(
        &self,
        caller: &Caller,
        client_id: &str,
        chat_id: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessageView>, Error> {
        self.check_client(caller, client_id)?;
        let chat = chat_number(chat_id)?;
        let limit = limit.clamp(1, MAX_MESSAGE_LIMIT);
        let rows = self.shared.store.chat_messages(client_id, &chat, limit)?;
        Ok(rows.iter().map(ChatMessageView::from).collect())
    }

    /// The incoming messages of a chat not yet marked read (for the read receipt).
    pub fn unread_ids(
        &self,
        caller: &Caller,
        client_id: &str,
        chat_id: &str,
    ) -> Result<Vec<String>, Error> {
        self.check_client(caller, client_id)?;
        let chat = chat_number(chat_id)?;
        Ok(self
            .shared
            .store
            .unread_chat_message_ids(client_id, &chat)?)
    }

    /// Marks `ids` read (their read receipt went out); returns the chat's unread count now.
    pub fn mark_read(
        &self,
        caller: &Caller,
        client_id: &str,
        chat_id: &str,
        ids: &[String],
    ) -> Result<u32, Error> {
        self.check_client(caller, client_id)?;
        let chat = chat_number(chat_id)?;
        Ok(self.shared.store.mark_chat_read(client_id, &chat, ids)?)
    }

    /// A message's media, if the store holds it.
    pub fn media(
        &self,
        caller: &Caller,
        client_id: &str,
        message_id: &str,
    ) -> Result<Option<(MediaInfo, Vec<u8>)>, Error> {
        self.check_client(caller, client_id)?;
        let id = bare_message_id(message_id);
        Ok(self.shared.store.chat_media(client_id, id)?)
    }

    // ---- For the engine and the send route (trusted, no caller) ----

    /// Records a message this client sent to `chat` (digits) with WhatsApp id `message_id`: the
    /// sent-history row, its `message_sent` webhook and the chat message in ONE transaction, then
    /// publishes the live `message` event. A `pending` message (recorded before the send, as the
    /// scheduler does) or a `failed` one queues no `message_sent`: whoever learns that it went
    /// out queues it then (the scheduler, with the schedule's `sent`).
    pub fn record_sent(
        &self,
        client_id: &str,
        chat: &str,
        message_id: &str,
        body: &str,
        status: &str,
        timestamp: u64,
    ) -> Result<SentRecord, Error> {
        self.record_sent_with(client_id, chat, message_id, body, status, timestamp, None)
    }

    /// [`Chats::record_sent`] for a file sent by the API (`body` is its caption): the chat
    /// message keeps the kind and description, and the bytes are stored for the media route.
    #[allow(clippy::too_many_arguments)]
    pub fn record_sent_media(
        &self,
        client_id: &str,
        chat: &str,
        message_id: &str,
        body: &str,
        status: &str,
        timestamp: u64,
        media: SentMedia<'_>,
    ) -> Result<SentRecord, Error> {
        let media = Some(media);
        self.record_sent_with(client_id, chat, message_id, body, status, timestamp, media)
    }

    #[allow(clippy::too_many_arguments)]
    fn record_sent_with(
        &self,
        client_id: &str,
        chat: &str,
        message_id: &str,
        body: &str,
        status: &str,
        timestamp: u64,
        media: Option<SentMedia<'_>>,
    ) -> Result<SentRecord, Error> {
        let client = (self.shared.store)
            .client(client_id)?
            .ok_or(Error::ClientNotFound)?;
        let sender_number = client
            .connected_number
            .as_deref()
            .map(webhook_events::display_number)
            .unwrap_or(client.phone_number);
        let recipient = format!("{chat}@c.us");
        let now = self.shared.now_ms();
        let row = SentRecord {
            id: 0,
            client_id: client_id.to_string(),
            sender_number,
            recipient: recipient.clone(),
            message: body.to_string(),
            status: status.to_string(),
            sent_ms: now,
        };
        let event = match &media {
            None => webhook_events::message_sent(client_id, &recipient, body, now),
            Some(m) => {
                let note = webhook_events::MediaNote {
                    kind: m.kind,
                    mimetype: m.mimetype,
                    filename: m.filename,
                    downloaded: true,
                };
                webhook_events::media_sent(client_id, &recipient, body, now, &note)
            }
        };
        let max_rows = self.shared.config.storage.max_history_rows;
        let txn = (self.shared.store.database())
            .begin_write()
            .map_err(store_err)?;
        let row = Store::append_history_in(&txn, row, max_rows)?;
        if !matches!(status, "pending" | "failed") {
            Store::enqueue_webhook_in(&txn, client_id, event, now)?;
        }
        let message = ChatMessageRecord {
            id: message_id.to_string(),
            from_me: true,
            body: body.to_string(),
            timestamp,
            kind: media.as_ref().map_or("chat", |m| m.kind).into(),
            ack: status.to_string(),
            media: media.as_ref().map(|m| MediaInfo {
                mimetype: m.mimetype.to_string(),
                filename: m.filename.map(str::to_string),
            }),
            reactions: Vec::new(),
            read: false,
            sent_row: Some(row.id),
        };
        let added = Store::record_chat_message_in(&txn, client_id, chat, None, &message)?;
        if let (true, Some(m)) = (added, &media) {
            Store::put_chat_media_in(&txn, client_id, message_id, m.bytes)?;
        }
        txn.commit().map_err(store_err)?;
        outbox_signal().notify_waiters();
        let ts_ms = i64::try_from(timestamp.saturating_mul(1000)).unwrap_or(now);
        self.shared.live.publish(LiveEvent::message(
            &client.owner,
            client_id,
            &recipient,
            true,
            Some(message_id),
            body,
            ts_ms,
        ));
        Ok(row)
    }

    /// Records a decrypted message inside the engine's transaction: a received-history row (and
    /// its webhook) for messages from the peer, and the chat message either way (copies sent by
    /// our own phone count as sent, without unread). Private chats with phone numbers only.
    /// Media messages keep their kind and description, and their bytes when the download
    /// succeeded; a reaction only changes the message it reacts to.
    pub fn record_received_in(
        &self,
        app: &App,
        txn: &redb::WriteTransaction,
        client_id: &str,
        message: &ReceivedMessage,
    ) -> Result<(), Error> {
        if let Some(reaction) = &message.reaction {
            let (target, sender) = (&reaction.target_id, &message.from.user);
            Store::set_chat_reaction_in(txn, client_id, target, sender, &reaction.emoji)?;
            return Ok(());
        }
        let media = message.media.as_deref();
        let Some(text) = message.text.as_deref().or(media.map(|_| "")) else {
            return Ok(());
        };
        let note = media.map(|m| webhook_events::MediaNote {
            kind: m.kind.name(),
            mimetype: &m.mimetype,
            filename: m.filename.as_deref(),
            downloaded: m.bytes.is_some(),
        });
        let record_history = |sender: &str| match &note {
            Some(note) => {
                (app.history).record_received_media_in(txn, client_id, sender, text, note)
            }
            None => app.history.record_received_in(txn, client_id, sender, text),
        };
        if !message.chat.is_phone_user() || message.chat.user.is_empty() {
            // Groups, broadcasts, channels and LID chats are not private phone chats.
            if !message.from_me {
                record_history(&format!("{}@c.us", message.from.user))?;
            }
            if message.chat.is_group() || message.chat.is_newsletter() {
                let (group, at) = (message.chat.to_string(), message.timestamp);
                Store::note_group_message_in(txn, client_id, &group, text, at, message.from_me)?;
            }
            return Ok(());
        }
        let chat = message.chat.user.as_str();
        if !message.from_me {
            record_history(&format!("{chat}@c.us"))?;
        }
        let record = ChatMessageRecord {
            id: message.id.clone(),
            from_me: message.from_me,
            body: text.to_string(),
            timestamp: message.timestamp,
            kind: media.map_or("chat", |m| m.kind.name()).into(),
            ack: if message.from_me {
                "server"
            } else {
                "delivered"
            }
            .into(),
            media: media.map(|m| MediaInfo {
                mimetype: m.mimetype.clone(),
                filename: m.filename.clone(),
            }),
            reactions: Vec::new(),
            read: false,
            sent_row: None,
        };
        let name = (!message.from_me)
            .then_some(message.push_name.as_deref())
            .flatten();
        let added = Store::record_chat_message_in(txn, client_id, chat, name, &record)?;
        if let (true, Some(bytes)) = (added, media.and_then(|m| m.bytes.as_deref())) {
            Store::put_chat_media_in(txn, client_id, &message.id, bytes)?;
        }
        Ok(())
    }

    /// A sent message reached `level`: the chat message's ack rises, and for messages sent
    /// through the chat API their history row too (which queues `message_ack` and the live
    /// `ack`); otherwise the live `ack` is published here.
    pub fn apply_ack(&self, app: &App, client_id: &str, message_id: &str, level: &str) {
        let update = match self.shared.store.set_chat_ack(client_id, message_id, level) {
            Ok(Some(update)) => update,
            Ok(None) => return,
            Err(e) => return log::warn!("chats: cannot record the ack of {message_id}: {e}"),
        };
        if let Some(row) = update.sent_row {
            if let Err(e) = app.history.update_sent_status(row, level) {
                log::warn!("chats: cannot update sent row {row}: {e}");
            }
            return;
        }
        let Some(ack) = webhook_events::AckLevel::parse(level) else {
            return;
        };
        let now = self.shared.now_ms();
        let peer = format!("{}@c.us", update.chat);
        (self.shared.live).publish_for_client(&self.shared.store, client_id, |owner| {
            LiveEvent::ack(owner, client_id, &peer, message_id, ack, now)
        });
    }
}

fn store_err(e: impl Into<redb::Error>) -> Error {
    Error::from(crate::store::StoreError::Database(Box::new(e.into())))
}

/// The stored name of an engine ack level (`error` is stored as `failed`).
pub fn ack_name(level: EngineAck) -> &'static str {
    match level {
        EngineAck::Error => "failed",
        other => other.as_str(),
    }
}

/// The [`InboundSink`] of one client's engine: history and chat state in the decrypting
/// transaction.
pub struct ChatSink {
    app: Weak<App>,
    client_id: String,
}

impl ChatSink {
    pub fn new(app: &Arc<App>, client_id: &str) -> ChatSink {
        ChatSink {
            app: Arc::downgrade(app),
            client_id: client_id.to_string(),
        }
    }
}

impl InboundSink for ChatSink {
    fn record(
        &self,
        txn: &redb::WriteTransaction,
        message: &ReceivedMessage,
    ) -> Result<(), String> {
        let app = self.app.upgrade().ok_or("the server is shutting down")?;
        app.chats
            .record_received_in(&app, txn, &self.client_id, message)
            .map_err(|e| e.to_string())
    }
}

/// Follows one engine's events for the chat state: live `message` events for recorded messages
/// (after their commit) and ack levels of sent messages. Ends with the engine.
pub fn follow_engine(app: &Arc<App>, client_id: &str, handle: &EngineHandle) {
    let Some(mut events) = handle.events() else {
        return;
    };
    let app = Arc::downgrade(app);
    let client_id = client_id.to_string();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(RecvError::Lagged(n)) => {
                    log::warn!("chats: client {client_id} missed {n} engine events");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let Some(app) = app.upgrade() else {
                return;
            };
            let id = client_id.clone();
            let work = move || on_event(&app, &id, event);
            if let Err(e) = tokio::task::spawn_blocking(work).await {
                log::warn!("chats: event handling failed: {e}");
            }
        }
    });
}

fn on_event(app: &App, client_id: &str, event: EngineEvent) {
    match event {
        EngineEvent::MessageReceived(m) => {
            // Its `message_received` webhook was queued in the committed transaction.
            outbox_signal().notify_waiters();
            let peer = if m.chat.is_phone_user() {
                format!("{}@c.us", m.chat.user)
            } else {
                Jid::to_string(&m.chat)
            };
            let ts_ms = i64::try_from(m.timestamp.saturating_mul(1000)).unwrap_or_default();
            if let Some(r) = &m.reaction {
                let sender = format!("{}@c.us", m.from.user);
                app.live.publish_for_client(&app.store, client_id, |owner| {
                    LiveEvent::reaction(
                        owner,
                        client_id,
                        &peer,
                        &r.target_id,
                        &r.emoji,
                        &sender,
                        ts_ms,
                    )
                });
                return;
            }
            let Some(text) = m.text.as_deref().or(m.media.as_ref().map(|_| "")) else {
                return;
            };
            app.live.publish_for_client(&app.store, client_id, |owner| {
                LiveEvent::message(owner, client_id, &peer, m.from_me, Some(&m.id), text, ts_ms)
            });
        }
        EngineEvent::AckChanged { id, level, .. } => {
            app.chats.apply_ack(app, client_id, &id, ack_name(level));
        }
        EngineEvent::SendFailed { id, .. } => {
            app.chats.apply_ack(app, client_id, &id, "failed");
        }
        EngineEvent::UndecryptableMessage { .. } => {}
        EngineEvent::HistorySynced(_) => {}
        EngineEvent::GroupChanged(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_chat_ids_in_every_form() {
        assert_eq!(chat_number("9721234567@c.us").unwrap(), "9721234567");
        assert_eq!(
            chat_number("9721234567@s.whatsapp.net").unwrap(),
            "9721234567"
        );
        assert_eq!(chat_number("+9721234567").unwrap(), "9721234567");
        assert!(chat_number("120363@g.us").is_err());
        assert!(chat_number("status@broadcast").is_err());
        assert!(chat_number("12ab345@c.us").is_err());
    }

    #[test]
    fn media_ids_in_both_forms() {
        assert_eq!(bare_message_id("3EB0C767F2"), "3EB0C767F2");
        assert_eq!(bare_message_id("true_972@c.us_3EB0C767F2"), "3EB0C767F2");
    }

    #[test]
    fn ack_numbers_follow_the_documented_scale() {
        let mut m = ChatMessageRecord {
            id: "A".into(),
            from_me: true,
            body: "hi".into(),
            timestamp: 1,
            kind: "chat".into(),
            ack: "server".into(),
            media: None,
            reactions: Vec::new(),
            read: false,
            sent_row: None,
        };
        let levels = [
            ("failed", -1),
            ("pending", 0),
            ("server", 1),
            ("delivered", 2),
            ("read", 3),
            ("played", 4),
        ];
        for (level, number) in levels {
            m.ack = level.into();
            assert_eq!(ack_number(&m), number, "{level}");
        }
        m.from_me = false;
        assert_eq!(ack_number(&m), 2);
        m.read = true;
        assert_eq!(ack_number(&m), 3);
    }
}
