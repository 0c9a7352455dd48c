//! The simulated phones' messaging: each phone (device 0) keeps real Signal sessions with the devices
//! it talks to (in memory: the simulator is not durable), encrypts texts as a phone does (device list
//! of the recipient and of its own companions, bundles from the key directory, pkmsg/msg per device,
//! padding, `deviceSentMessage` for its own companions), decrypts what reaches it, answers with
//! delivery receipts, and keeps an inbox and the status of what it sent for the control API.

use super::registry::unix_now;
use super::routing::{account_devices, account_key, deliver, device_jid, forward_receipt};
use super::Shared;
use crate::engine::message_id::{new_message_id, participant_hash};
use crate::engine::receive::{
    decrypt_incoming, delivery_receipt, message_text, parse_incoming, read_receipt, receipt_ids,
    retry_receipt, AckLevel,
};
use crate::engine::send::{
    apply_bundles, device_sent, devices_without_session, enc_node, encrypt_for_devices,
    text_message,
};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::Message;
use crate::protocol::proto::ContentKind;
use crate::protocol::signal::{
    key_fetch_node, LocalIdentity, MemoryStore, ProtocolAddress, SessionStore, SignedPreKeyRecord,
    SignedPreKeyStore,
};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most inbox entries kept per phone.
const MAX_INBOX: usize = 1000;

/// A message a phone received, decrypted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxMessage {
    pub id: String,
    /// The sending device (`15550001111:2@s.whatsapp.net`).
    pub from: String,
    /// The chat (the sender's account).
    pub chat: String,
    pub text: Option<String>,
    /// Server timestamp, Unix seconds.
    pub timestamp: u64,
    pub received_at: u64,
    /// True when read receipts were sent for it.
    pub read: bool,
    /// The downloaded media of a media message (`phone_media`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media: Option<super::phone_media::MediaSummary>,
}

/// A message a phone sent, with the best status its receipts reached.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub id: String,
    pub to: String,
    pub text: String,
    pub status: AckLevel,
    pub sent_at: u64,
}

struct PhoneState {
    store: MemoryStore,
    inbox: Vec<InboxMessage>,
    outbox: Vec<OutboxMessage>,
    decrypt_failures: u64,
}

/// Every phone's messaging state.
#[derive(Default)]
pub(crate) struct PhoneMessaging {
    phones: Mutex<HashMap<String, PhoneState>>,
}

/// Why a phone could not send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneSendError {
    PhoneNotFound,
    RecipientNotFound,
    Crypto(String),
}

impl PhoneMessaging {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PhoneState>> {
        self.phones.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `f` on `phone`'s state, creating it (Signal identity = the phone's account key) on first use.
fn with_state<T>(shared: &Shared, phone: &str, f: impl FnOnce(&mut PhoneState) -> T) -> Option<T> {
    let keys = {
        let inner = shared.registry.lock();
        let account = inner.accounts.get(phone)?;
        (account.phone.identity.clone(), account.phone.signal.clone())
    };
    let mut phones = shared.phones.lock();
    let state = phones.entry(phone.to_string()).or_insert_with(|| {
        let (identity, signal) = keys;
        let mut store = MemoryStore::with_identity(LocalIdentity {
            key_pair: identity,
            registration_id: signal.registration_id,
        });
        let signed = SignedPreKeyRecord {
            id: signal.signed_pre_key_id,
            key_pair: signal.signed_pre_key.clone(),
            signature: signal.signature,
            created_at: unix_now(),
        };
        if let Err(e) = store.store_signed_pre_key(&signed) {
            log::warn!("simulator: phone signed prekey: {e}");
        }
        PhoneState {
            store,
            inbox: Vec::new(),
            outbox: Vec::new(),
            decrypt_failures: 0,
        }
    });
    Some(f(state))
}

/// The `message` stanza carrying `message` from `phone` to its own companion `device` (a peer
/// message: app state key shares, history sync notifications), sealed for that device. A session
/// is made first from the device's signed prekey when there is none.
pub(super) fn peer_message_node(
    shared: &Shared,
    phone: &str,
    device: u16,
    id: &str,
    message: &Message,
) -> Result<Node, String> {
    let target = vec![device_jid(phone, device)];
    let bundle = {
        let inner = shared.registry.lock();
        let mut keys = inner
            .accounts
            .get(phone)
            .and_then(|a| a.devices.get(&device))
            .map(|d| d.keys.clone())
            .ok_or("no such device")?;
        // Signed prekey only: the device's one-time prekeys stay for its contacts.
        keys.one_time.clear();
        Node::new("iq")
            .with_child(Node::new("list").with_child(keys.take_bundle(target[0].clone())))
    };
    let sealed = with_phone_store(shared, phone, |store| {
        if !devices_without_session(store, &target)
            .map_err(|e| e.to_string())?
            .is_empty()
        {
            apply_bundles(store, &bundle).map_err(|e| e.to_string())?;
        }
        encrypt_for_devices(store, message, message, &target, phone).map_err(|e| e.to_string())
    })
    .ok_or("no such phone")??;
    let sealed = sealed
        .into_iter()
        .next()
        .ok_or("no session with the device")?;
    Ok(Node::new("message")
        .with_attr("from", device_jid(phone, 0))
        .with_attr("id", id)
        .with_attr("t", unix_now())
        .with_attr("type", "text")
        .with_attr("category", "peer")
        .with_child(enc_node(&sealed.message)))
}

/// Runs `f` on `phone`'s Signal store (group messaging shares the phone's sessions and keys).
pub(super) fn with_phone_store<T>(
    shared: &Shared,
    phone: &str,
    f: impl FnOnce(&mut MemoryStore) -> T,
) -> Option<T> {
    with_state(shared, phone, |s| f(&mut s.store))
}

/// `phone` sends `text` to `to` (a phone number or JID): returns the message id.
pub(crate) fn send_text(
    shared: &Shared,
    phone: &str,
    to: &str,
    text: &str,
) -> Result<String, PhoneSendError> {
    send_content(shared, phone, to, text_message(text), text)
}

/// `phone` sends `message` (any content; `text` is what its outbox shows) to `to`: returns the id.
/// The stanza `type` and the `<enc mediatype>` follow the content, as a phone's do.
pub(crate) fn send_content(
    shared: &Shared,
    phone: &str,
    to: &str,
    message: Message,
    text: &str,
) -> Result<String, PhoneSendError> {
    let to_jid = Jid::parse(to).unwrap_or_else(|_| Jid::phone(to.trim_start_matches('+')));
    let (recipient, recipient_devices, own_devices) = {
        let inner = shared.registry.lock();
        let own = inner
            .accounts
            .get(phone)
            .ok_or(PhoneSendError::PhoneNotFound)?;
        let own_devices: Vec<Jid> = account_devices(own)
            .into_iter()
            .filter(|j| j.device != 0)
            .collect();
        let recipient = account_key(&inner.accounts, &to_jid)
            .filter(|r| r != phone)
            .ok_or(PhoneSendError::RecipientNotFound)?;
        let devices = inner
            .accounts
            .get(&recipient)
            .map(account_devices)
            .unwrap_or_default();
        (recipient, devices, own_devices)
    };
    let all: Vec<Jid> = recipient_devices
        .iter()
        .chain(own_devices.iter())
        .cloned()
        .collect();
    let crypto = |e: String| PhoneSendError::Crypto(e);
    let missing = with_state(shared, phone, |s| devices_without_session(&s.store, &all))
        .ok_or(PhoneSendError::PhoneNotFound)?
        .map_err(|e| crypto(e.to_string()))?;
    if !missing.is_empty() {
        let fetch = key_fetch_node(&missing, None);
        let answer = fetch
            .child("key")
            .map(|key| Node::new("iq").with_child(shared.registry.fetch_bundles(key)));
        if let Some(answer) = answer {
            with_state(shared, phone, |s| apply_bundles(&mut s.store, &answer))
                .ok_or(PhoneSendError::PhoneNotFound)?
                .map_err(|e| crypto(e.to_string()))?;
        }
    }
    let id = new_message_id(phone, unix_now());
    let chat = Jid::phone(recipient.clone());
    let kind = message.kind();
    if kind != ContentKind::Text {
        // Kept for a resend after a retry receipt (the outbox only holds text).
        super::phone_media::remember_sent(shared, phone, &id, &message);
    }
    let own_copy = device_sent(&chat, &message, Some(&participant_hash(&all)));
    let ciphertexts = with_state(shared, phone, |s| {
        let out = encrypt_for_devices(&mut s.store, &message, &own_copy, &all, phone);
        if out.is_ok() {
            s.outbox.push(OutboxMessage {
                id: id.clone(),
                to: chat.to_string(),
                text: text.to_string(),
                status: AckLevel::Server,
                sent_at: unix_now(),
            });
            if s.outbox.len() > MAX_INBOX {
                s.outbox.remove(0);
            }
        }
        out
    })
    .ok_or(PhoneSendError::PhoneNotFound)?
    .map_err(|e| crypto(e.to_string()))?;
    let view = shared.registry.phone(phone);
    let name = view.as_ref().map(|v| v.name.clone()).unwrap_or_default();
    // The server names the sender's LID too (§8.5), as it does for LID-migrated accounts.
    let sender_lid = view.map(|v| Jid::lid(v.lid));
    for c in ciphertexts {
        let mut node = Node::new("message")
            .with_attr("from", device_jid(phone, 0))
            .with_attr("id", id.as_str())
            .with_attr("t", unix_now())
            .with_attr("type", kind.stanza_type())
            .with_attr("notify", name.as_str())
            .with_opt_attr("sender_lid", sender_lid.clone());
        if c.device.user == phone {
            node.set_attr("recipient", chat.clone());
        }
        node.push_child(enc_node(&c.message).with_opt_attr("mediatype", kind.enc_mediatype()));
        deliver(shared, &c.device.user, c.device.device, node);
    }
    Ok(id)
}

/// A stanza routed to `phone` itself (device 0): a message to decrypt or a receipt for one it sent.
pub(super) fn receive(shared: &Shared, phone: &str, node: Node) {
    if super::history::on_phone_receipt(shared, phone, &node) {
        return;
    }
    match node.tag.as_str() {
        "message" => receive_message(shared, phone, &node),
        "receipt" if node.attr("type") == Some("retry") => resend(shared, phone, &node),
        "receipt" => {
            let level = AckLevel::from_receipt_type(node.attr_text("type").as_deref());
            let ids = receipt_ids(&node);
            if let Some(level) = level {
                with_state(shared, phone, |s| {
                    for m in s.outbox.iter_mut().filter(|m| ids.contains(&m.id)) {
                        m.status = m.status.max(level);
                    }
                });
            }
        }
        _ => {}
    }
}

fn receive_message(shared: &Shared, phone: &str, node: &Node) {
    let Some(incoming) = parse_incoming(node, phone) else {
        return;
    };
    let decrypted = with_state(shared, phone, |s| {
        let duplicate = s
            .inbox
            .iter()
            .any(|m| m.id == incoming.id && m.from == incoming.from.to_string());
        if duplicate {
            return Ok(false);
        }
        match decrypt_incoming(&mut s.store, &incoming) {
            Ok(message) => {
                // Copies of what our own companions sent are not inbox messages.
                if !incoming.from_me {
                    let media =
                        super::phone_media::on_received(shared, phone, &incoming.id, &message);
                    s.inbox.push(InboxMessage {
                        id: incoming.id.clone(),
                        from: incoming.from.to_string(),
                        chat: incoming.chat.to_string(),
                        text: message_text(&message),
                        timestamp: incoming.timestamp,
                        received_at: unix_now(),
                        read: false,
                        media,
                    });
                    if s.inbox.len() > MAX_INBOX {
                        s.inbox.remove(0);
                    }
                }
                Ok(true)
            }
            Err(e) => {
                s.decrypt_failures += 1;
                Err(e)
            }
        }
    });
    match decrypted {
        Some(Ok(true)) | Some(Ok(false)) => {
            let receipt = delivery_receipt(&incoming);
            send_receipt(shared, phone, receipt);
        }
        Some(Err(e)) => {
            log::info!(
                "simulator: phone {phone} cannot decrypt {}: {e}",
                incoming.id
            );
            // Ask the sender to encrypt again (once per message; a resend carries `count`).
            let retried = node.child("enc").is_some_and(|enc| enc.has_attr("count"));
            if !retried {
                let registration = shared
                    .registry
                    .lock()
                    .accounts
                    .get(phone)
                    .map(|a| a.phone.signal.registration_id)
                    .unwrap_or_default();
                let receipt = retry_receipt(&incoming, registration, 1, unix_now());
                send_receipt(shared, phone, receipt);
            }
        }
        None => {}
    }
}

/// Answers a retry receipt for a message the phone sent: a new session with the asking device (fresh
/// bundle) and the message again, to that device alone, with `<enc count>`.
fn resend(shared: &Shared, phone: &str, receipt: &Node) {
    let (Some(id), Some(device)) = (receipt.attr_text("id"), receipt.attr_jid("from")) else {
        return;
    };
    let count: u32 = receipt
        .child("retry")
        .and_then(|r| r.attr_parse("count"))
        .unwrap_or(1);
    let sent = with_state(shared, phone, |s| {
        s.outbox
            .iter()
            .find(|m| m.id == id)
            .map(|m| (m.to.clone(), m.text.clone()))
    })
    .flatten();
    let Some((to, text)) = sent else { return };
    let address = ProtocolAddress::from_jid(&device);
    with_state(shared, phone, |s| s.store.delete_session(&address));
    let fetch = key_fetch_node(std::slice::from_ref(&device), None);
    let Some(answer) = fetch
        .child("key")
        .map(|key| Node::new("iq").with_child(shared.registry.fetch_bundles(key)))
    else {
        return;
    };
    let chat = Jid::parse(&to).unwrap_or_else(|_| Jid::phone(to.clone()));
    let message =
        super::phone_media::sent_content(shared, phone, &id).unwrap_or_else(|| text_message(&text));
    let kind = message.kind();
    let own_copy = device_sent(&chat, &message, None);
    let target = std::slice::from_ref(&device);
    let sealed = with_state(shared, phone, |s| {
        apply_bundles(&mut s.store, &answer)?;
        encrypt_for_devices(&mut s.store, &message, &own_copy, target, phone)
    });
    let Some(Ok(mut sealed)) = sealed else { return };
    let Some(sealed) = sealed.pop() else { return };
    let node = Node::new("message")
        .with_attr("from", device_jid(phone, 0))
        .with_attr("id", id.as_ref())
        .with_attr("t", unix_now())
        .with_attr("type", kind.stanza_type())
        .with_child(
            enc_node(&sealed.message)
                .with_attr("count", count)
                .with_opt_attr("mediatype", kind.enc_mediatype()),
        );
    deliver(shared, &device.user, device.device, node);
}

/// Forgets every Signal session of the phone (as after a reinstall of its app, keeping its keys);
/// inbox and outbox stay. False when there is no such phone.
pub(crate) fn reset_sessions(shared: &Shared, phone: &str) -> bool {
    if with_state(shared, phone, |_| ()).is_none() {
        return false;
    }
    let old = shared.phones.lock().remove(phone);
    with_state(shared, phone, |s| {
        if let Some(old) = old {
            s.inbox = old.inbox;
            s.outbox = old.outbox;
            s.decrypt_failures = old.decrypt_failures;
        }
    });
    true
}

/// Routes a receipt the phone sends, as the server would route one from a device.
fn send_receipt(shared: &Shared, phone: &str, receipt: Node) {
    let Some(to) = receipt.attr_jid("to") else {
        return;
    };
    let kind = receipt.attr_text("type").map(|t| t.into_owned());
    let mut forwarded = Node::new("receipt")
        .with_attr("from", device_jid(phone, 0))
        .with_attr(
            "id",
            receipt.attr_text("id").unwrap_or_default().into_owned(),
        )
        .with_attr("t", unix_now())
        .with_opt_attr("type", kind.clone())
        .with_opt_attr("recipient", receipt.attr_jid("recipient"));
    for child in receipt.children() {
        forwarded.push_child(child.clone());
    }
    forward_receipt(shared, phone, 0, &to, kind.as_deref(), forwarded);
}

/// The phone reads message `id`: a read receipt goes to the sender. False when no such message.
pub(crate) fn mark_read(shared: &Shared, phone: &str, id: &str) -> bool {
    let found = with_state(shared, phone, |s| {
        s.inbox.iter_mut().find(|m| m.id == id).map(|m| {
            m.read = true;
            m.chat.clone()
        })
    })
    .flatten();
    let Some(chat) = found.and_then(|c| Jid::parse(&c).ok()) else {
        return false;
    };
    send_receipt(shared, phone, read_receipt(id, &chat, "read", unix_now()));
    true
}

/// What the phone received and sent (for `GET /sim/phones/{phone}/messages`).
pub(crate) fn messages(
    shared: &Shared,
    phone: &str,
) -> Option<(Vec<InboxMessage>, Vec<OutboxMessage>, u64)> {
    with_state(shared, phone, |s| {
        (s.inbox.clone(), s.outbox.clone(), s.decrypt_failures)
    })
}

#[derive(serde::Deserialize)]
struct SendBody {
    to: String,
    text: String,
}

#[derive(serde::Deserialize)]
struct ReadBody {
    id: String,
}

#[derive(serde::Deserialize)]
struct RefuseBody {
    code: u16,
}

/// The messaging control routes (`docs/simulator.md`), or `None` when `segments` is none of them.
pub(super) fn control_route(
    shared: &Shared,
    method: &hyper::Method,
    segments: &[&str],
    body: &[u8],
) -> Option<hyper::Response<http_body_util::Full<bytes::Bytes>>> {
    use super::control::{error_response, json_response};
    use hyper::{Method, StatusCode};
    use serde_json::json;
    let not_found = || error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone");
    let bad_json = |e: serde_json::Error| {
        error_response(StatusCode::BAD_REQUEST, "INVALID_JSON", &e.to_string())
    };
    Some(match (method, segments) {
        (&Method::POST, ["phones", phone, "messages"]) => {
            let body: SendBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => return Some(bad_json(e)),
            };
            match send_text(shared, phone, &body.to, &body.text) {
                Ok(id) => json_response(StatusCode::CREATED, &json!({ "id": id })),
                Err(PhoneSendError::PhoneNotFound) => not_found(),
                Err(PhoneSendError::RecipientNotFound) => error_response(
                    StatusCode::NOT_FOUND,
                    "RECIPIENT_NOT_FOUND",
                    "the recipient is not a simulated account",
                ),
                Err(PhoneSendError::Crypto(e)) => {
                    error_response(StatusCode::INTERNAL_SERVER_ERROR, "CRYPTO_ERROR", &e)
                }
            }
        }
        (&Method::GET, ["phones", phone, "messages"]) => match messages(shared, phone) {
            Some((received, sent, failures)) => json_response(
                StatusCode::OK,
                &json!({ "received": received, "sent": sent, "decryptFailures": failures }),
            ),
            None => not_found(),
        },
        (&Method::POST, ["phones", phone, "read"]) => {
            let body: ReadBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => return Some(bad_json(e)),
            };
            if mark_read(shared, phone, &body.id) {
                json_response(StatusCode::OK, &json!({ "read": body.id }))
            } else {
                error_response(
                    StatusCode::NOT_FOUND,
                    "MESSAGE_NOT_FOUND",
                    "the phone received no message with this id",
                )
            }
        }
        (&Method::POST, ["phones", phone, "devices", device, "refuse-send"]) => {
            let body: RefuseBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => return Some(bad_json(e)),
            };
            let Ok(device) = device.parse::<u16>() else {
                return Some(not_found());
            };
            if shared.registry.phone(phone).is_none() {
                return Some(not_found());
            }
            shared.mailboxes.refuse_next_send(phone, device, body.code);
            json_response(StatusCode::OK, &json!({ "refuseNextSend": body.code }))
        }
        (&Method::POST, ["phones", phone, "reset-sessions"]) => {
            if reset_sessions(shared, phone) {
                json_response(StatusCode::OK, &json!({ "reset": true }))
            } else {
                not_found()
            }
        }
        (&Method::GET, ["phones", phone, "devices", device, "queue"]) => {
            let Ok(device) = device.parse::<u16>() else {
                return Some(not_found());
            };
            json_response(
                StatusCode::OK,
                &json!({ "queued": shared.mailboxes.queued(phone, device) }),
            )
        }
        _ => return None,
    })
}
