//! History sync from a simulated phone (§12 part 1). Right after a companion has paired and put its
//! keys on the server (its first prekey upload), the phone sends it the account's recent chats as a
//! real phone does: a peer message from device 0 (`category="peer"`) whose `protocolMessage` is a
//! `HISTORY_SYNC_NOTIFICATION` carrying the zlib-compressed `HistorySync` inline
//! (`initialHistBootstrapInlinePayload`). The chats are the phone's conversations with other
//! simulated phones: messages both ways, names, unread counts, pin and mute (set through the control
//! API), PN and LID of each peer, plus the PN → LID mappings. The companion answers with a
//! `hist_sync` receipt, which the phone remembers (control API).

use super::control::{error_response, json_response};
use super::phone_messages::{self, InboxMessage, OutboxMessage};
use super::registry::{unix_now, ConnId};
use super::routing::deliver;
use super::Shared;
use crate::engine::message_id::new_message_id;
use crate::engine::receive::AckLevel;
use crate::protocol::binary::Node;
use crate::protocol::crypto::random_bytes;
use crate::protocol::jid::Jid;
use crate::protocol::media::{self, MediaKeys, MediaType};
use crate::protocol::proto::generated::history_sync::HistorySyncType as SyncType;
use crate::protocol::proto::generated::message::protocol_message::Type as ProtocolType;
use crate::protocol::proto::generated::message::HistorySyncType as NotificationSyncType;
use crate::protocol::proto::generated::message::{HistorySyncNotification, ProtocolMessage};
use crate::protocol::proto::generated::web_message_info::Status;
use crate::protocol::proto::generated::{
    Conversation, HistorySync, HistorySyncMsg, MessageKey, PhoneNumberToLidMapping, Pushname,
    WebMessageInfo,
};
use crate::protocol::proto::{Message, ProtoMessage};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::sync::Mutex;

/// Messages per chat a phone puts in its history sync (the newest).
const MESSAGES_PER_CHAT: usize = 50;

/// Pin and mute of one chat on a phone (the simulator keeps no other per-chat state).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatSettings {
    #[serde(default)]
    pinned: bool,
    /// Unix seconds until which the chat is muted (0: not muted).
    #[serde(default)]
    mute_end_time: u64,
}

/// One history sync a phone sent.
#[derive(Debug, Clone)]
struct SentSync {
    id: String,
    device: u16,
    chats: usize,
    acknowledged: bool,
}

#[derive(Default)]
struct HistoryState {
    /// (phone, device, device identity): companions that got their history after pairing.
    synced: HashSet<(String, u16, [u8; 32])>,
    /// (phone, peer phone) → pin and mute.
    settings: HashMap<(String, String), ChatSettings>,
    /// phone → what it sent, oldest first.
    sent: HashMap<String, Vec<SentSync>>,
}

/// The phones' history-sync state.
#[derive(Default)]
pub(crate) struct HistoryBook {
    inner: Mutex<HistoryState>,
}

impl HistoryBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, HistoryState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Called after a device uploaded prekeys: the first time for a newly linked companion, its phone
/// sends the history sync.
pub(super) fn after_key_upload(shared: &Shared, conn: ConnId) {
    let Some((phone, device, identity)) = shared.registry.logged_in_identity(conn) else {
        return;
    };
    let first = shared
        .history
        .lock()
        .synced
        .insert((phone.clone(), device, identity));
    if first {
        if let Err(e) = send_history(shared, &phone, device, false) {
            log::info!("simulator: phone {phone} cannot send history to device {device}: {e}");
        }
    }
}

/// The phone remembers the `hist_sync` receipts for what it sent; true when `node` was one.
pub(super) fn on_phone_receipt(shared: &Shared, phone: &str, node: &Node) -> bool {
    if node.tag != "receipt" || node.attr("type") != Some("hist_sync") {
        return false;
    }
    let id = node.attr_text("id").unwrap_or_default();
    let mut state = shared.history.lock();
    if let Some(sent) = state.sent.get_mut(phone) {
        for s in sent.iter_mut().filter(|s| s.id == id) {
            s.acknowledged = true;
        }
    }
    true
}

fn status_of(level: AckLevel) -> Status {
    match level {
        AckLevel::Error => Status::Error,
        AckLevel::Pending => Status::Pending,
        AckLevel::Server => Status::ServerAck,
        AckLevel::Delivered => Status::DeliveryAck,
        AckLevel::Read => Status::Read,
        AckLevel::Played => Status::Played,
    }
}

fn web_message(chat: &Jid, id: &str, from_me: bool, text: Option<&str>, ts: u64) -> WebMessageInfo {
    WebMessageInfo {
        key: Some(MessageKey {
            remote_jid: Some(chat.to_string()),
            from_me: Some(from_me),
            id: Some(id.to_string()),
            participant: None,
        }),
        message: text.map(|t| Message {
            conversation: Some(t.to_string()),
            ..Default::default()
        }),
        message_timestamp: Some(ts),
        ..Default::default()
    }
}

/// A chat being assembled: (timestamp, message) pairs and the unread count.
#[derive(Default)]
struct ChatDraft {
    messages: Vec<(u64, WebMessageInfo)>,
    unread: u32,
}

/// The phone's `HistorySync`: its 1:1 chats with other simulated phones, newest messages first
/// trimmed to [`MESSAGES_PER_CHAT`] per chat, and the PN → LID mappings of the peers.
fn build_history(shared: &Shared, phone: &str) -> Option<HistorySync> {
    let (inbox, outbox, _) = phone_messages::messages(shared, phone)?;
    let mut drafts: BTreeMap<String, ChatDraft> = BTreeMap::new();
    for InboxMessage {
        id,
        chat,
        text,
        timestamp,
        read,
        ..
    } in &inbox
    {
        let Ok(jid) = Jid::parse(chat) else { continue };
        if !jid.is_phone_user() || jid.user == phone {
            continue;
        }
        let draft = drafts.entry(jid.user.clone()).or_default();
        let mut info = web_message(&jid.to_non_ad(), id, false, text.as_deref(), *timestamp);
        info.status = Some(Status::DeliveryAck as i32);
        draft.messages.push((*timestamp, info));
        if !read {
            draft.unread += 1;
        }
    }
    for OutboxMessage {
        id,
        to,
        text,
        status,
        sent_at,
        ..
    } in &outbox
    {
        let Ok(jid) = Jid::parse(to) else { continue };
        if !jid.is_phone_user() || jid.user == phone {
            continue;
        }
        let draft = drafts.entry(jid.user.clone()).or_default();
        let mut info = web_message(&jid.to_non_ad(), id, true, Some(text), *sent_at);
        info.status = Some(status_of(*status) as i32);
        draft.messages.push((*sent_at, info));
    }
    let (peers, own_name): (HashMap<String, (String, String)>, String) = {
        let inner = shared.registry.lock();
        let peers = drafts
            .keys()
            .filter_map(|p| {
                let account = inner.accounts.get(p)?;
                Some((
                    p.clone(),
                    (account.phone.name.clone(), account.phone.lid.clone()),
                ))
            })
            .collect();
        let own = inner
            .accounts
            .get(phone)
            .map(|a| a.phone.name.clone())
            .unwrap_or_default();
        (peers, own)
    };
    let settings = shared.history.lock().settings.clone();
    let mut sync = HistorySync {
        sync_type: Some(SyncType::InitialBootstrap as i32),
        chunk_order: Some(1),
        progress: Some(100),
        ..Default::default()
    };
    for (peer, mut draft) in drafts {
        draft.messages.sort_by_key(|(ts, _)| *ts);
        let skip = draft.messages.len().saturating_sub(MESSAGES_PER_CHAT);
        let last = draft.messages.last().map(|(ts, _)| *ts).unwrap_or_default();
        let pn = Jid::phone(peer.clone());
        let (name, lid) = peers.get(&peer).cloned().unwrap_or_default();
        let chat_settings = settings
            .get(&(phone.to_string(), peer.clone()))
            .copied()
            .unwrap_or_default();
        let lid_jid = (!lid.is_empty()).then(|| Jid::lid(lid.clone()).to_string());
        sync.conversations.push(Conversation {
            id: Some(pn.to_string()),
            messages: draft
                .messages
                .into_iter()
                .skip(skip)
                .enumerate()
                .map(|(n, (_, info))| HistorySyncMsg {
                    message: Some(info),
                    msg_order_id: Some(n as u64 + 1),
                })
                .collect(),
            last_msg_timestamp: Some(last),
            conversation_timestamp: Some(last),
            unread_count: Some(draft.unread),
            name: (!name.is_empty()).then(|| name.clone()),
            pinned: chat_settings
                .pinned
                .then(|| u32::try_from(unix_now()).unwrap_or(u32::MAX)),
            mute_end_time: (chat_settings.mute_end_time > 0).then_some(chat_settings.mute_end_time),
            pn_jid: Some(pn.to_string()),
            lid_jid: lid_jid.clone(),
            ..Default::default()
        });
        if !name.is_empty() {
            sync.pushnames.push(Pushname {
                id: Some(pn.to_string()),
                pushname: Some(name),
            });
        }
        if let Some(lid_jid) = lid_jid {
            sync.phone_number_to_lid_mappings
                .push(PhoneNumberToLidMapping {
                    pn_jid: Some(pn.to_string()),
                    lid_jid: Some(lid_jid),
                });
        }
    }
    if !own_name.is_empty() {
        sync.pushnames.push(Pushname {
            id: Some(Jid::phone(phone).to_string()),
            pushname: Some(own_name),
        });
    }
    Some(sync)
}

fn zlib(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).map_err(|e| e.to_string())?;
    encoder.finish().map_err(|e| e.to_string())
}

/// The phone sends its history to its companion `device`; returns the message id.
/// With `external`, the payload is not inlined but stored on the media host, encrypted with
/// `"WhatsApp History Keys"` (as real phones send every chunk after the first).
pub(crate) fn send_history(
    shared: &Shared,
    phone: &str,
    device: u16,
    external: bool,
) -> Result<String, String> {
    let sync = build_history(shared, phone).ok_or("no such phone")?;
    let chats = sync.conversations.len();
    let payload = zlib(&sync.encode_to_vec())?;
    let id = new_message_id(phone, unix_now());
    let mut notification = HistorySyncNotification {
        sync_type: Some(NotificationSyncType::InitialBootstrap as i32),
        chunk_order: Some(1),
        progress: Some(100),
        original_message_id: Some(id.clone()),
        ..Default::default()
    };
    if external {
        let media_key: [u8; 32] = random_bytes();
        let encrypted =
            media::encrypt(&MediaKeys::derive(&media_key, MediaType::History), &payload);
        let stored = shared
            .media
            .store(
                "md-msg-hist",
                Bytes::from(encrypted.data),
                "application/octet-stream",
            )
            .map_err(|e| format!("history blob not stored: {e:?}"))?;
        notification.media_key = Some(media_key.to_vec());
        notification.direct_path = Some(stored.direct_path);
        notification.file_length = Some(encrypted.file_length);
        notification.file_sha256 = Some(encrypted.file_sha256.to_vec());
        notification.file_enc_sha256 = Some(encrypted.file_enc_sha256.to_vec());
    } else {
        notification.initial_hist_bootstrap_inline_payload = Some(payload);
    }
    let message = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(ProtocolType::HistorySyncNotification as i32),
            history_sync_notification: Some(notification),
            ..Default::default()
        })),
        ..Default::default()
    };
    let node = phone_messages::peer_message_node(shared, phone, device, &id, &message)?;
    {
        let mut state = shared.history.lock();
        let sent = state.sent.entry(phone.to_string()).or_default();
        sent.push(SentSync {
            id: id.clone(),
            device,
            chats,
            acknowledged: false,
        });
        if sent.len() > 100 {
            sent.remove(0);
        }
    }
    deliver(shared, phone, device, node);
    Ok(id)
}

/// `/sim/phones/{phone}/chats/{peer}` (pin, mute) and `/sim/phones/{phone}/history-sync` (list
/// what was sent; POST sends again to every companion). `None` when the path is not ours.
pub(super) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let not_found = || error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone");
    Some(match (method, segments) {
        (&Method::POST, ["phones", phone, "chats", peer]) => {
            if shared.registry.phone(phone).is_none() {
                return Some(not_found());
            }
            let settings: ChatSettings = match serde_json::from_slice(body) {
                Ok(s) => s,
                Err(e) => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "INVALID_JSON",
                        &e.to_string(),
                    ))
                }
            };
            let peer = peer.trim_start_matches('+').to_string();
            shared
                .history
                .lock()
                .settings
                .insert((phone.to_string(), peer.clone()), settings);
            json_response(
                StatusCode::OK,
                &json!({ "chat": peer, "pinned": settings.pinned, "muteEndTime": settings.mute_end_time }),
            )
        }
        (&Method::GET, ["phones", phone, "history-sync"]) => {
            if shared.registry.phone(phone).is_none() {
                return Some(not_found());
            }
            let sent = shared
                .history
                .lock()
                .sent
                .get(*phone)
                .cloned()
                .unwrap_or_default();
            let sent: Vec<_> = sent
                .iter()
                .map(|s| json!({ "id": s.id, "device": s.device, "chats": s.chats, "acknowledged": s.acknowledged }))
                .collect();
            json_response(StatusCode::OK, &json!({ "sent": sent }))
        }
        (&Method::POST, ["phones", phone, "history-sync"]) => {
            let Some(view) = shared.registry.phone(phone) else {
                return Some(not_found());
            };
            // `{"external": true}` sends the payload through the media host instead of inline.
            let external = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("external").and_then(serde_json::Value::as_bool))
                .unwrap_or(false);
            let mut ids = Vec::new();
            for d in &view.devices {
                match send_history(shared, phone, d.device, external) {
                    Ok(id) => ids.push(json!({ "id": id, "device": d.device })),
                    Err(e) => log::info!("simulator: history to {phone}:{}: {e}", d.device),
                }
            }
            json_response(StatusCode::OK, &json!({ "sent": ids }))
        }
        _ => return None,
    })
}
