//! History sync (§12 part 1): after pairing the phone sends its companion a peer message whose
//! `protocolMessage` is a `HISTORY_SYNC_NOTIFICATION`. When the phone inlines the payload
//! (`initialHistBootstrapInlinePayload`) we inflate it (zlib, capped: a small payload must not
//! inflate into gigabytes) and seed the chat list in the transaction that decrypted the message:
//! the PN ↔ LID mappings, each 1:1 chat's recent messages (stored without events: history is not
//! new mail), unread count, mute, pin and name. Then the phone gets a `hist_sync` receipt.
//!
//! Payloads that are only announced as encrypted media (`directPath`, "WhatsApp History Keys") are
//! acknowledged and skipped; the inline first chunk is what carries the recent chats.

use super::media::content::Attachment;
use super::media::MediaKind;
use crate::protocol::binary::Node;
use crate::protocol::jid::{Jid, Server};
use crate::protocol::media::MediaType;
use crate::protocol::proto::generated::message::protocol_message::Type as ProtocolType;
use crate::protocol::proto::generated::message::HistorySyncNotification;
use crate::protocol::proto::generated::web_message_info::Status;
use crate::protocol::proto::generated::{Conversation, HistorySync, WebMessageInfo};
use crate::protocol::proto::{Message, ProtoMessage};
use crate::store::chat_seed::SeededChat;
use crate::store::chats::ChatMessageRecord;
use crate::store::{lid_map, Store};
use redb::WriteTransaction;
use std::collections::HashMap;
use std::fmt;
use std::io::Read;

/// Largest inflated history payload we accept (the inline first chunk is a few hundred KiB).
pub const MAX_INFLATED_BYTES: u64 = 16 << 20;
/// Messages kept per chat from one history sync (the newest).
const MESSAGES_PER_CHAT: usize = 200;

/// Why a history payload was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// Only announced as media to download (not inline).
    NotInline,
    /// Inflates beyond [`MAX_INFLATED_BYTES`].
    TooLarge,
    /// Not zlib, or not a `HistorySync`.
    Corrupt(String),
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::NotInline => f.write_str("history payload is not inline"),
            HistoryError::TooLarge => {
                write!(
                    f,
                    "history payload inflates beyond {MAX_INFLATED_BYTES} bytes"
                )
            }
            HistoryError::Corrupt(e) => write!(f, "history payload is unreadable: {e}"),
        }
    }
}

impl std::error::Error for HistoryError {}

/// What one history sync brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistorySummary {
    /// 1:1 chats seeded.
    pub chats: usize,
    /// Messages newly stored.
    pub messages: usize,
    /// PN ↔ LID mappings learnt.
    pub mappings: usize,
    /// Set when the payload could not be used (the message is still acknowledged).
    pub skipped: Option<HistoryError>,
}

/// The history-sync notification `message` carries, if it is one.
pub fn notification(message: &Message) -> Option<&HistorySyncNotification> {
    let protocol = message.protocol_message.as_ref()?;
    if protocol.r#type != Some(ProtocolType::HistorySyncNotification as i32) {
        return None;
    }
    protocol.history_sync_notification.as_ref()
}

/// Inflates zlib `compressed`, refusing output beyond `cap` bytes.
pub fn inflate_capped(compressed: &[u8], cap: u64) -> Result<Vec<u8>, HistoryError> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| HistoryError::Corrupt(e.to_string()))?;
    if out.len() as u64 > cap {
        return Err(HistoryError::TooLarge);
    }
    Ok(out)
}

/// The `HistorySync` inlined in `notification`.
pub fn decode_inline(notification: &HistorySyncNotification) -> Result<HistorySync, HistoryError> {
    let payload = notification
        .initial_hist_bootstrap_inline_payload
        .as_deref()
        .ok_or(HistoryError::NotInline)?;
    decode_payload(payload)
}

/// A zlib-compressed `HistorySync`, inline or downloaded.
fn decode_payload(compressed: &[u8]) -> Result<HistorySync, HistoryError> {
    let plain = inflate_capped(compressed, MAX_INFLATED_BYTES)?;
    HistorySync::decode(plain.as_slice()).map_err(|e| HistoryError::Corrupt(e.to_string()))
}

/// What to download when `message` is a history sync announced as media (`"WhatsApp History
/// Keys"`, most chunks after the first are): `None` when it is inline or not a history sync.
pub fn download_of(message: &Message) -> Option<Attachment> {
    let n = notification(message)?;
    if n.initial_hist_bootstrap_inline_payload.is_some() {
        return None;
    }
    let direct_path = n.direct_path.clone()?;
    Some(Attachment {
        kind: MediaKind::Document,
        media_type: MediaType::History,
        voice: false,
        mimetype: "application/octet-stream".into(),
        filename: None,
        caption: None,
        file_length: n.file_length.unwrap_or_default(),
        media_key: n.media_key.clone().unwrap_or_default(),
        direct_path: Some(direct_path),
        url: None,
        file_sha256: n.file_sha256.clone().unwrap_or_default(),
        file_enc_sha256: n.file_enc_sha256.clone().unwrap_or_default(),
    })
}

/// The user part of a JID text on `server`, if it is one.
fn user_on(jid: Option<&str>, server: Server) -> Option<String> {
    let jid = Jid::parse(jid?).ok()?;
    (jid.server == server && !jid.user.is_empty()).then_some(jid.user)
}

fn phone_user(jid: Option<&str>) -> Option<String> {
    let jid = Jid::parse(jid?).ok()?;
    jid.is_phone_user().then_some(jid.user)
}

/// The stored ack name of a history message we sent.
fn ack_of(status: Option<i32>) -> &'static str {
    match status.and_then(|s| Status::try_from(s).ok()) {
        Some(Status::Error) => "failed",
        Some(Status::Pending) => "pending",
        Some(Status::DeliveryAck) => "delivered",
        Some(Status::Read) => "read",
        Some(Status::Played) => "played",
        _ => "server",
    }
}

/// A chat's messages as chat records, oldest first (the newest [`MESSAGES_PER_CHAT`]); the newest
/// `unread` incoming ones stay unread.
fn chat_messages(infos: &[&WebMessageInfo], unread: u32) -> Vec<ChatMessageRecord> {
    let mut records: Vec<ChatMessageRecord> = infos
        .iter()
        .filter_map(|info| {
            let key = info.key.as_ref()?;
            let id = key.id.clone().filter(|i| !i.is_empty())?;
            let body = info.message.as_ref()?.text()?.to_string();
            let from_me = key.from_me.unwrap_or(false);
            Some(ChatMessageRecord {
                id,
                from_me,
                body,
                timestamp: info.message_timestamp.unwrap_or_default(),
                kind: "chat".into(),
                ack: if from_me {
                    ack_of(info.status)
                } else {
                    "delivered"
                }
                .into(),
                media: None,
                reactions: Vec::new(),
                read: true,
                sent_row: None,
            })
        })
        .collect();
    records.sort_by_key(|r| r.timestamp);
    let skip = records.len().saturating_sub(MESSAGES_PER_CHAT);
    records.drain(..skip);
    let mut left = unread;
    for record in records.iter_mut().rev() {
        if left == 0 {
            break;
        }
        if !record.from_me {
            record.read = false;
            left -= 1;
        }
    }
    records
}

/// The phone number a conversation is with: its id, its `pnJid`, or the PN of its LID.
fn conversation_phone(
    txn: &WriteTransaction,
    namespace: &str,
    conversation: &Conversation,
) -> Result<Option<String>, String> {
    if let Some(pn) = phone_user(conversation.id.as_deref())
        .or_else(|| phone_user(conversation.pn_jid.as_deref()))
    {
        return Ok(Some(pn));
    }
    match user_on(conversation.id.as_deref(), Server::Lid) {
        Some(lid) => lid_map::pn_of_in(txn, namespace, &lid).map_err(|e| e.to_string()),
        None => Ok(None),
    }
}

/// Seeds `namespace`'s chats from `sync` inside `txn` (no events, no webhooks). Store failures
/// are errors (the message is then not acknowledged and comes again).
pub fn seed_in(
    txn: &WriteTransaction,
    namespace: &str,
    sync: &HistorySync,
    now: u64,
) -> Result<HistorySummary, String> {
    let mut summary = HistorySummary::default();
    let mut learn = |pn: Option<String>, lid: Option<String>| -> Result<(), String> {
        if let (Some(pn), Some(lid)) = (pn, lid) {
            if lid_map::put_mapping_in(txn, namespace, &pn, &lid).map_err(|e| e.to_string())? {
                summary.mappings += 1;
            }
        }
        Ok(())
    };
    for mapping in &sync.phone_number_to_lid_mappings {
        learn(
            phone_user(mapping.pn_jid.as_deref()),
            user_on(mapping.lid_jid.as_deref(), Server::Lid),
        )?;
    }
    for c in &sync.conversations {
        learn(
            phone_user(c.pn_jid.as_deref()).or_else(|| phone_user(c.id.as_deref())),
            user_on(c.lid_jid.as_deref(), Server::Lid)
                .or_else(|| user_on(c.id.as_deref(), Server::Lid)),
        )?;
    }
    let push_names: HashMap<String, &str> = sync
        .pushnames
        .iter()
        .filter_map(|p| Some((phone_user(p.id.as_deref())?, p.pushname.as_deref()?)))
        .collect();
    for conversation in &sync.conversations {
        // Groups, broadcasts and chats with an unknown number are not private phone chats.
        let Some(chat) = conversation_phone(txn, namespace, conversation)? else {
            continue;
        };
        let infos: Vec<&WebMessageInfo> = conversation
            .messages
            .iter()
            .filter_map(|m| m.message.as_ref())
            .collect();
        let name = conversation
            .name
            .clone()
            .or_else(|| conversation.display_name.clone())
            .or_else(|| push_names.get(&chat).map(|n| n.to_string()))
            .or_else(|| {
                infos
                    .iter()
                    .filter(|i| !i.key.as_ref().and_then(|k| k.from_me).unwrap_or(false))
                    .find_map(|i| i.push_name.clone())
            });
        let seed = SeededChat {
            messages: chat_messages(&infos, conversation.unread_count.unwrap_or_default()),
            chat,
            name,
            unread_count: conversation.unread_count.unwrap_or_default(),
            muted: conversation.mute_end_time.is_some_and(|end| end > now),
            pinned: conversation.pinned.is_some_and(|p| p > 0),
        };
        summary.messages +=
            Store::seed_chat_in(txn, namespace, &seed).map_err(|e| e.to_string())?;
        summary.chats += 1;
    }
    Ok(summary)
}

/// Handles a decrypted message from one of our own devices when it is a history sync: seeds the
/// chats in `txn` and returns what it brought; `None` for any other message. An unusable payload
/// is logged and reported in [`HistorySummary::skipped`] (acknowledged, not retried).
/// `downloaded` is the payload fetched for a notification that announced it as media
/// ([`download_of`]); `None` for an inline one, or when the download failed.
pub fn apply_in(
    txn: &WriteTransaction,
    namespace: &str,
    message: &Message,
    now: u64,
    downloaded: Option<&[u8]>,
) -> Option<Result<HistorySummary, String>> {
    let notification = notification(message)?;
    let decoded = match downloaded {
        Some(payload) => decode_payload(payload),
        None => decode_inline(notification),
    };
    Some(match decoded {
        Ok(sync) => seed_in(txn, namespace, &sync, now),
        Err(e) => {
            log::info!("engine: history sync not used: {e}");
            Ok(HistorySummary {
                skipped: Some(e),
                ..Default::default()
            })
        }
    })
}

/// The receipt for the history message itself: a peer message (`type="peer_msg"`).
pub fn peer_receipt(id: &str, from: &Jid) -> Node {
    Node::new("receipt")
        .with_attr("id", id)
        .with_attr("to", from.clone())
        .with_attr("type", "peer_msg")
}

/// `<receipt type="hist_sync" id to=OWN_USER>`: tells the phone the history was processed.
pub fn hist_sync_receipt(id: &str, own_phone: &str) -> Node {
    Node::new("receipt")
        .with_attr("id", id)
        .with_attr("to", Jid::phone(own_phone))
        .with_attr("type", "hist_sync")
}

#[cfg(test)]
#[path = "history_sync_tests.rs"]
mod tests;
