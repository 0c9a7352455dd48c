//! Chat state for the chat interface: per client and chat (the peer's phone number), the chat row
//! (name, last message, unread count, mute, pin) and the chat's messages in arrival order, with
//! their ack level, media description and reactions.
//!
//! Messages are written by [`Store::record_chat_message_in`] inside the caller's transaction: the
//! engine's decrypting transaction for received messages, the sent-history transaction for sent
//! ones, so the chat list never disagrees with the history. Each chat keeps at most
//! [`MAX_MESSAGES_PER_CHAT`] messages (the oldest go in the same transaction).
//!
//! The tables are created by the first write; before that a reader sees no table, i.e. no chats.

use super::{decode, encode, get_json, next_id, Store, StoreResult};
use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction};
use serde::{Deserialize, Serialize};

type Json = &'static [u8];

/// (client id, chat phone number) → [`ChatRecord`].
const CHATS: TableDefinition<(&str, &str), Json> = TableDefinition::new("chats");
/// (client id, chat phone number, seq) → [`ChatMessageRecord`]; seq grows with arrival.
const MESSAGES: TableDefinition<(&str, &str, u64), Json> = TableDefinition::new("chat_messages");
/// (client id, WhatsApp message id) → [`MessageLocation`].
const MESSAGE_IDS: TableDefinition<(&str, &str), Json> = TableDefinition::new("chat_message_ids");
/// (client id, WhatsApp message id) → the media bytes of that message.
const MEDIA: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("chat_media");

/// How many messages one chat keeps.
pub const MAX_MESSAGES_PER_CHAT: usize = 1000;

/// The newest message of a chat, as the chat list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    pub body: String,
    /// Unix seconds.
    pub timestamp: u64,
    pub from_me: bool,
}

/// One private chat of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRecord {
    /// The peer's phone number (digits).
    pub chat: String,
    /// The peer's push name, when WhatsApp told us one.
    pub name: Option<String>,
    pub last_message: Option<LastMessage>,
    /// Unix seconds of the last activity.
    pub timestamp: u64,
    pub unread_count: u32,
    pub muted: bool,
    pub pinned: bool,
    /// How many messages the chat holds now (so the cap needs no count of the range).
    #[serde(default)]
    pub stored: u32,
}

impl ChatRecord {
    /// The row of a chat nothing is known of yet.
    pub fn empty(chat: &str) -> ChatRecord {
        ChatRecord {
            chat: chat.to_string(),
            name: None,
            last_message: None,
            timestamp: 0,
            unread_count: 0,
            muted: false,
            pinned: false,
            stored: 0,
        }
    }
}

/// Media carried by a message (the bytes are in their own table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub mimetype: String,
    pub filename: Option<String>,
}

/// A reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRecord {
    pub reaction: String,
    /// The reacting user's phone number (digits).
    pub sender: String,
}

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessageRecord {
    /// The WhatsApp message id.
    pub id: String,
    pub from_me: bool,
    pub body: String,
    /// Unix seconds.
    pub timestamp: u64,
    /// `chat`, `image`, `video`, `audio`, `document`, …
    pub kind: String,
    /// Ack level name: `pending`, `server`, `delivered`, `read`, `played`, `failed`.
    pub ack: String,
    pub media: Option<MediaInfo>,
    pub reactions: Vec<ReactionRecord>,
    /// For incoming messages: a read receipt was sent for it.
    pub read: bool,
    /// For messages sent through the chat API: their sent-history row (receipts update it).
    pub sent_row: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MessageLocation {
    chat: String,
    seq: u64,
}

/// What an ack change touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckUpdate {
    pub chat: String,
    pub sent_row: Option<u64>,
}

/// Ack levels only rise (a late delivery receipt does not undo a read one); `failed` is final.
fn ack_rank(level: &str) -> u8 {
    match level {
        "pending" => 1,
        "server" => 2,
        "delivered" => 3,
        "read" => 4,
        "played" => 5,
        "failed" => 6,
        _ => 0,
    }
}

fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> StoreResult<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// Adds a message to its chat inside the caller's transaction and updates the chat row: last
    /// message (when not older than the current one), activity time, unread count (incoming
    /// messages), and the push name when given. A message id already recorded is ignored
    /// (returns false).
    pub fn record_chat_message_in(
        txn: &WriteTransaction,
        client_id: &str,
        chat: &str,
        name: Option<&str>,
        message: &ChatMessageRecord,
    ) -> StoreResult<bool> {
        let mut ids = txn.open_table(MESSAGE_IDS)?;
        if ids.get((client_id, message.id.as_str()))?.is_some() {
            return Ok(false);
        }
        let seq = next_id(txn, "seq:chat_messages")?;
        let mut messages = txn.open_table(MESSAGES)?;
        messages.insert((client_id, chat, seq), encode(message)?.as_slice())?;
        let location = MessageLocation {
            chat: chat.to_string(),
            seq,
        };
        ids.insert(
            (client_id, message.id.as_str()),
            encode(&location)?.as_slice(),
        )?;

        let mut chats = txn.open_table(CHATS)?;
        let mut row = get_json::<(&str, &str), ChatRecord, _>(&chats, (client_id, chat))?
            .unwrap_or_else(|| ChatRecord::empty(chat));
        if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
            row.name = Some(name.to_string());
        }
        if message.timestamp >= row.timestamp || row.last_message.is_none() {
            row.timestamp = row.timestamp.max(message.timestamp);
            row.last_message = Some(LastMessage {
                body: message.body.clone(),
                timestamp: message.timestamp,
                from_me: message.from_me,
            });
        }
        if !message.from_me && !message.read {
            row.unread_count = row.unread_count.saturating_add(1);
        }

        // Keep the chat bounded: drop its oldest messages beyond the cap.
        row.stored = row.stored.saturating_add(1);
        let mut doomed = Vec::new();
        let excess = (row.stored as usize).saturating_sub(MAX_MESSAGES_PER_CHAT);
        if excess > 0 {
            let range = messages.range((client_id, chat, 0u64)..=(client_id, chat, u64::MAX))?;
            for entry in range.take(excess) {
                let (key, value) = entry?;
                let old: ChatMessageRecord = decode(value.value())?;
                doomed.push((key.value().2, old.id));
            }
        }
        row.stored = row.stored.saturating_sub(doomed.len() as u32);
        chats.insert((client_id, chat), encode(&row)?.as_slice())?;
        let mut media = txn.open_table(MEDIA)?;
        for (seq, id) in doomed {
            messages.remove((client_id, chat, seq))?;
            ids.remove((client_id, id.as_str()))?;
            media.remove((client_id, id.as_str()))?;
        }
        Ok(true)
    }

    /// Changes a chat's row inside the caller's transaction (creating an empty row first when the
    /// chat is new); history sync uses it for unread count, mute and pin (see `chat_seed`).
    pub fn edit_chat_row_in(
        txn: &WriteTransaction,
        client_id: &str,
        chat: &str,
        edit: impl FnOnce(&mut ChatRecord),
    ) -> StoreResult<()> {
        let mut chats = txn.open_table(CHATS)?;
        let mut row = get_json::<(&str, &str), ChatRecord, _>(&chats, (client_id, chat))?
            .unwrap_or_else(|| ChatRecord::empty(chat));
        edit(&mut row);
        chats.insert((client_id, chat), encode(&row)?.as_slice())?;
        Ok(())
    }

    /// Stores the bytes of a message's media inside the caller's transaction.
    pub fn put_chat_media_in(
        txn: &WriteTransaction,
        client_id: &str,
        message_id: &str,
        bytes: &[u8],
    ) -> StoreResult<()> {
        txn.open_table(MEDIA)?
            .insert((client_id, message_id), bytes)?;
        Ok(())
    }

    /// Sets `sender`'s reaction on a message inside the caller's transaction: replaces the sender's
    /// earlier reaction, an empty `reaction` removes it. Returns the message's chat, or None when
    /// the message is not stored (reactions to unknown messages are dropped).
    pub fn set_chat_reaction_in(
        txn: &WriteTransaction,
        client_id: &str,
        message_id: &str,
        sender: &str,
        reaction: &str,
    ) -> StoreResult<Option<String>> {
        let ids = txn.open_table(MESSAGE_IDS)?;
        let Some(at) = get_json::<(&str, &str), MessageLocation, _>(&ids, (client_id, message_id))?
        else {
            return Ok(None);
        };
        let mut messages = txn.open_table(MESSAGES)?;
        let key = (client_id, at.chat.as_str(), at.seq);
        let Some(mut message) = get_json::<_, ChatMessageRecord, _>(&messages, key)? else {
            return Ok(None);
        };
        message.reactions.retain(|r| r.sender != sender);
        if !reaction.is_empty() {
            message.reactions.push(ReactionRecord {
                reaction: reaction.to_string(),
                sender: sender.to_string(),
            });
        }
        messages.insert(key, encode(&message)?.as_slice())?;
        Ok(Some(at.chat))
    }

    /// The client's chats, most recent activity first.
    pub fn chats_of(&self, client_id: &str) -> StoreResult<Vec<ChatRecord>> {
        let txn = self.db.begin_read()?;
        let Some(chats) = read_table(&txn, CHATS)? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<ChatRecord> = Vec::new();
        for entry in chats.range((client_id, "")..)? {
            let (key, value) = entry?;
            if key.value().0 != client_id {
                break;
            }
            out.push(decode(value.value())?);
        }
        out.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then(a.chat.cmp(&b.chat)));
        Ok(out)
    }

    /// The newest `limit` messages of a chat, oldest first.
    pub fn chat_messages(
        &self,
        client_id: &str,
        chat: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChatMessageRecord>> {
        let txn = self.db.begin_read()?;
        let Some(messages) = read_table(&txn, MESSAGES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let range = messages.range((client_id, chat, 0u64)..=(client_id, chat, u64::MAX))?;
        for entry in range.rev().take(limit) {
            let (_, value) = entry?;
            out.push(decode(value.value())?);
        }
        out.reverse();
        Ok(out)
    }

    /// Raises a message's ack level (never lowers it). None when the message is unknown.
    pub fn set_chat_ack(
        &self,
        client_id: &str,
        message_id: &str,
        level: &str,
    ) -> StoreResult<Option<AckUpdate>> {
        let txn = self.db.begin_write()?;
        let update = {
            let ids = txn.open_table(MESSAGE_IDS)?;
            let Some(at) =
                get_json::<(&str, &str), MessageLocation, _>(&ids, (client_id, message_id))?
            else {
                return Ok(None);
            };
            let mut messages = txn.open_table(MESSAGES)?;
            let key = (client_id, at.chat.as_str(), at.seq);
            let Some(mut message) = get_json::<_, ChatMessageRecord, _>(&messages, key)? else {
                return Ok(None);
            };
            if ack_rank(level) > ack_rank(&message.ack) {
                message.ack = level.to_string();
                messages.insert(key, encode(&message)?.as_slice())?;
            }
            AckUpdate {
                chat: at.chat.clone(),
                sent_row: message.sent_row,
            }
        };
        txn.commit()?;
        Ok(Some(update))
    }

    /// Ids of the chat's incoming messages not yet marked read, oldest first.
    pub fn unread_chat_message_ids(&self, client_id: &str, chat: &str) -> StoreResult<Vec<String>> {
        let txn = self.db.begin_read()?;
        let Some(messages) = read_table(&txn, MESSAGES)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in messages.range((client_id, chat, 0u64)..=(client_id, chat, u64::MAX))? {
            let (_, value) = entry?;
            let message: ChatMessageRecord = decode(value.value())?;
            if !message.from_me && !message.read {
                out.push(message.id);
            }
        }
        Ok(out)
    }

    /// Marks the given incoming messages read and recounts the chat's unread messages; returns
    /// the new unread count (0 unless a message arrived since the ids were taken).
    pub fn mark_chat_read(&self, client_id: &str, chat: &str, ids: &[String]) -> StoreResult<u32> {
        let txn = self.db.begin_write()?;
        let unread = {
            let mut messages = txn.open_table(MESSAGES)?;
            let mut changed = Vec::new();
            let mut unread = 0u32;
            for entry in messages.range((client_id, chat, 0u64)..=(client_id, chat, u64::MAX))? {
                let (key, value) = entry?;
                let mut message: ChatMessageRecord = decode(value.value())?;
                if message.from_me || message.read {
                    continue;
                }
                if ids.contains(&message.id) {
                    message.read = true;
                    if ack_rank("read") > ack_rank(&message.ack) {
                        message.ack = "read".into();
                    }
                    changed.push((key.value().2, message));
                } else {
                    unread = unread.saturating_add(1);
                }
            }
            for (seq, message) in changed {
                messages.insert((client_id, chat, seq), encode(&message)?.as_slice())?;
            }
            let mut chats = txn.open_table(CHATS)?;
            let row = get_json::<(&str, &str), ChatRecord, _>(&chats, (client_id, chat))?;
            if let Some(mut row) = row {
                row.unread_count = unread;
                chats.insert((client_id, chat), encode(&row)?.as_slice())?;
            }
            unread
        };
        txn.commit()?;
        Ok(unread)
    }

    /// A message's media description and bytes, if the store holds both.
    pub fn chat_media(
        &self,
        client_id: &str,
        message_id: &str,
    ) -> StoreResult<Option<(MediaInfo, Vec<u8>)>> {
        let txn = self.db.begin_read()?;
        let (Some(ids), Some(messages), Some(media)) = (
            read_table(&txn, MESSAGE_IDS)?,
            read_table(&txn, MESSAGES)?,
            read_table(&txn, MEDIA)?,
        ) else {
            return Ok(None);
        };
        let Some(at) = get_json::<(&str, &str), MessageLocation, _>(&ids, (client_id, message_id))?
        else {
            return Ok(None);
        };
        let key = (client_id, at.chat.as_str(), at.seq);
        let Some(message) = get_json::<_, ChatMessageRecord, _>(&messages, key)? else {
            return Ok(None);
        };
        let (Some(info), Some(bytes)) = (message.media, media.get((client_id, message_id))?) else {
            return Ok(None);
        };
        Ok(Some((info, bytes.value().to_vec())))
    }
}

/// Chat settings synced from the phone (app state, `engine::app_state`), inside the caller's
/// transaction. `muted` and `pinned` are set when given; `read: Some(true)` marks every incoming
/// message read and clears the unread count (the phone read them), `Some(false)` marks the chat
/// unread (an unread count of at least one, as WhatsApp shows a chat marked unread). A chat without
/// a row gets one: a pinned chat shows even before its first message.
pub fn apply_synced_settings_in(
    txn: &WriteTransaction,
    client_id: &str,
    chat: &str,
    muted: Option<bool>,
    pinned: Option<bool>,
    read: Option<bool>,
) -> StoreResult<()> {
    if read == Some(true) {
        let mut messages = txn.open_table(MESSAGES)?;
        let mut changed = Vec::new();
        for entry in messages.range((client_id, chat, 0u64)..=(client_id, chat, u64::MAX))? {
            let (key, value) = entry?;
            let mut message: ChatMessageRecord = decode(value.value())?;
            if !message.from_me && !message.read {
                message.read = true;
                changed.push((key.value().2, message));
            }
        }
        for (seq, message) in changed {
            messages.insert((client_id, chat, seq), encode(&message)?.as_slice())?;
        }
    }
    Store::edit_chat_row_in(txn, client_id, chat, |row| {
        if let Some(muted) = muted {
            row.muted = muted;
        }
        if let Some(pinned) = pinned {
            row.pinned = pinned;
        }
        match read {
            Some(true) => row.unread_count = 0,
            Some(false) => row.unread_count = row.unread_count.max(1),
            None => {}
        }
    })
}

/// Removes every chat, message and media of one client (the client was deleted).
pub(super) fn delete_client_chats(txn: &WriteTransaction, client_id: &str) -> StoreResult<()> {
    let mut chats = txn.open_table(CHATS)?;
    let mut messages = txn.open_table(MESSAGES)?;
    let mut ids = txn.open_table(MESSAGE_IDS)?;
    let mut media = txn.open_table(MEDIA)?;
    let mut chat_keys = Vec::new();
    for entry in chats.range((client_id, "")..)? {
        let (key, _) = entry?;
        let (owner, chat) = key.value();
        if owner != client_id {
            break;
        }
        chat_keys.push(chat.to_string());
    }
    for chat in &chat_keys {
        chats.remove((client_id, chat.as_str()))?;
        let mut seqs = Vec::new();
        let range = messages
            .range((client_id, chat.as_str(), 0u64)..=(client_id, chat.as_str(), u64::MAX))?;
        for entry in range {
            let (key, value) = entry?;
            let message: ChatMessageRecord = decode(value.value())?;
            seqs.push((key.value().2, message.id));
        }
        for (seq, id) in seqs {
            messages.remove((client_id, chat.as_str(), seq))?;
            ids.remove((client_id, id.as_str()))?;
            media.remove((client_id, id.as_str()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    fn message(id: &str, from_me: bool, timestamp: u64) -> ChatMessageRecord {
        ChatMessageRecord {
            id: id.into(),
            from_me,
            body: format!("body {id}"),
            timestamp,
            kind: "chat".into(),
            ack: if from_me { "server" } else { "delivered" }.into(),
            media: None,
            reactions: Vec::new(),
            read: false,
            sent_row: from_me.then_some(7),
        }
    }

    fn record(store: &Store, client: &str, chat: &str, m: &ChatMessageRecord) -> bool {
        let txn = store.database().begin_write().unwrap();
        let added = Store::record_chat_message_in(&txn, client, chat, Some("Ruth"), m).unwrap();
        txn.commit().unwrap();
        added
    }

    #[test]
    fn chats_count_unread_keep_the_newest_message_and_ignore_redeliveries() {
        let dir = TempDir::new();
        let store = Store::open(dir.path()).unwrap();
        assert!(store.chats_of("c1").unwrap().is_empty(), "no table yet");
        assert!(record(&store, "c1", "111", &message("A", false, 100)));
        assert!(record(&store, "c1", "111", &message("B", false, 101)));
        assert!(!record(&store, "c1", "111", &message("B", false, 101)));
        // An older message arriving late does not replace the last one.
        assert!(record(&store, "c1", "111", &message("OLD", false, 50)));
        assert!(record(&store, "c1", "222", &message("C", true, 200)));
        assert!(record(&store, "c2", "111", &message("D", false, 300)));

        let chats = store.chats_of("c1").unwrap();
        let order: Vec<&str> = chats.iter().map(|c| c.chat.as_str()).collect();
        assert_eq!(order, ["222", "111"]);
        assert_eq!(chats[1].unread_count, 3);
        assert_eq!(chats[1].name.as_deref(), Some("Ruth"));
        let last = chats[1].last_message.as_ref().unwrap();
        assert_eq!((last.body.as_str(), last.timestamp), ("body B", 101));
        assert_eq!(chats[0].unread_count, 0, "own messages are never unread");

        let ids: Vec<String> = (store.chat_messages("c1", "111", 2).unwrap())
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["B", "OLD"], "the newest two, in arrival order");
    }

    #[test]
    fn reactions_replace_the_senders_earlier_one_and_empty_removes_it() {
        let dir = TempDir::new();
        let store = Store::open(dir.path()).unwrap();
        record(&store, "c1", "111", &message("M", true, 1));
        let react = |sender: &str, emoji: &str, id: &str| {
            let txn = store.database().begin_write().unwrap();
            let chat = Store::set_chat_reaction_in(&txn, "c1", id, sender, emoji).unwrap();
            txn.commit().unwrap();
            chat
        };
        assert_eq!(react("111", "👍", "M").as_deref(), Some("111"));
        assert_eq!(react("222", "❤️", "M").as_deref(), Some("111"));
        react("111", "😂", "M");
        let reactions = |store: &Store| {
            store.chat_messages("c1", "111", 1).unwrap()[0]
                .reactions
                .clone()
        };
        let now: Vec<(String, String)> = reactions(&store)
            .into_iter()
            .map(|r| (r.sender, r.reaction))
            .collect();
        assert_eq!(
            now,
            [
                ("222".to_string(), "❤️".to_string()),
                ("111".into(), "😂".into())
            ]
        );
        react("222", "", "M");
        assert_eq!(reactions(&store).len(), 1);
        assert_eq!(react("111", "👍", "UNKNOWN"), None);
    }

    #[test]
    fn acks_only_rise_and_reading_resets_the_unread_count() {
        let dir = TempDir::new();
        let store = Store::open(dir.path()).unwrap();
        record(&store, "c1", "111", &message("OUT", true, 1));
        record(&store, "c1", "111", &message("IN1", false, 2));
        record(&store, "c1", "111", &message("IN2", false, 3));
        let update = store.set_chat_ack("c1", "OUT", "read").unwrap().unwrap();
        assert_eq!(update.chat, "111");
        assert_eq!(update.sent_row, Some(7));
        store.set_chat_ack("c1", "OUT", "delivered").unwrap();
        assert_eq!(store.chat_messages("c1", "111", 10).unwrap()[0].ack, "read");
        assert!(store.set_chat_ack("c1", "NOPE", "read").unwrap().is_none());

        let unread = store.unread_chat_message_ids("c1", "111").unwrap();
        assert_eq!(unread, ["IN1", "IN2"]);
        // A message that arrives after the ids were taken stays unread.
        record(&store, "c1", "111", &message("IN3", false, 4));
        assert_eq!(store.mark_chat_read("c1", "111", &unread).unwrap(), 1);
        assert_eq!(store.chats_of("c1").unwrap()[0].unread_count, 1);
        assert_eq!(store.unread_chat_message_ids("c1", "111").unwrap(), ["IN3"]);
    }

    #[test]
    fn a_chat_keeps_its_newest_messages_and_media_goes_with_the_client() {
        let dir = TempDir::new();
        let store = Store::open(dir.path()).unwrap();
        let txn = store.database().begin_write().unwrap();
        for i in 0..(MAX_MESSAGES_PER_CHAT as u64 + 3) {
            let m = message(&format!("M{i}"), true, i);
            Store::record_chat_message_in(&txn, "c1", "111", None, &m).unwrap();
        }
        let mut pic = message("PIC", false, 9999);
        pic.kind = "image".into();
        pic.media = Some(MediaInfo {
            mimetype: "image/jpeg".into(),
            filename: Some("photo.jpg".into()),
        });
        Store::record_chat_message_in(&txn, "c1", "111", None, &pic).unwrap();
        Store::put_chat_media_in(&txn, "c1", "PIC", b"jpeg bytes").unwrap();
        txn.commit().unwrap();

        let all = store.chat_messages("c1", "111", usize::MAX).unwrap();
        assert_eq!(all.len(), MAX_MESSAGES_PER_CHAT);
        assert_eq!(all[0].id, "M4", "the oldest went");
        let stored = store.chats_of("c1").unwrap()[0].stored as usize;
        assert_eq!(stored, MAX_MESSAGES_PER_CHAT);
        assert!(store.set_chat_ack("c1", "M0", "read").unwrap().is_none());
        let (info, bytes) = store.chat_media("c1", "PIC").unwrap().unwrap();
        assert_eq!(info.mimetype, "image/jpeg");
        assert_eq!(bytes, b"jpeg bytes");
        assert!(store.chat_media("c1", "M10").unwrap().is_none());
        assert!(store.chat_media("c2", "PIC").unwrap().is_none());

        let txn = store.database().begin_write().unwrap();
        delete_client_chats(&txn, "c1").unwrap();
        txn.commit().unwrap();
        assert!(store.chats_of("c1").unwrap().is_empty());
        assert!(store.chat_messages("c1", "111", 10).unwrap().is_empty());
        assert!(store.chat_media("c1", "PIC").unwrap().is_none());
    }
}
