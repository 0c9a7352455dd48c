//! Reading a 1:1 `<message>` (§8.5): who sent it and in which chat, decrypting its `<enc>` (pkmsg or
//! msg, including our own devices' `deviceSentMessage` copies), and the receipts that answer it
//! (§8.6). Pure functions over any Signal store, shared by the engine and the simulator's phones.

use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::{decode_padded_message, Message};
use crate::protocol::signal::{
    decrypt, MessageKind, OsRandom, ProtocolAddress, SignalError, SignalStore,
};
use std::fmt;

/// The parts of an incoming `<message>` a receiver needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub id: String,
    /// The sending device (`from`).
    pub from: Jid,
    /// The chat: the sender, or for our own devices' copies the `recipient`.
    pub chat: Jid,
    /// True when one of our own devices sent it.
    pub from_me: bool,
    /// Server time, Unix seconds.
    pub timestamp: u64,
    pub push_name: Option<String>,
    pub kind: Option<MessageKind>,
    pub ciphertext: Vec<u8>,
    /// True when the server replays it from the offline queue.
    pub offline: bool,
    /// The sender's other identity from `sender_lid`/`sender_pn` (see `engine::lid`).
    pub alternate: Option<Jid>,
}

/// Why an incoming message could not be read.
#[derive(Debug)]
pub enum ReceiveError {
    /// Not a 1:1 message this slice reads (group, newsletter, no `<enc>`, unknown enc type).
    Unsupported(&'static str),
    /// Signal refused it (bad MAC, unknown prekey, duplicate, …): answer with a retry receipt.
    Decrypt(SignalError),
    /// The plaintext is not a padded `Message`.
    Malformed(String),
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReceiveError::Unsupported(what) => write!(f, "unsupported message: {what}"),
            ReceiveError::Decrypt(e) => write!(f, "cannot decrypt: {e}"),
            ReceiveError::Malformed(e) => write!(f, "malformed plaintext: {e}"),
        }
    }
}

impl std::error::Error for ReceiveError {}

/// Reads the envelope of a `<message>` addressed to us (`own_user` is our phone number).
pub fn parse_incoming(node: &Node, own_user: &str) -> Option<Incoming> {
    if node.tag != "message" {
        return None;
    }
    let from = node.attr_jid("from")?;
    let id = node.attr_text("id")?.into_owned();
    let from_me = from.user == own_user;
    let chat = match (from_me, node.attr_jid("recipient")) {
        (true, Some(recipient)) => recipient.to_non_ad(),
        _ => from.to_non_ad(),
    };
    let enc = node.child("enc");
    Some(Incoming {
        id,
        chat,
        from_me,
        timestamp: node.attr_parse("t").unwrap_or_default(),
        push_name: node.attr_text("notify").map(|n| n.into_owned()),
        kind: enc
            .and_then(|e| e.attr_text("type"))
            .and_then(|t| MessageKind::from_enc_type(&t)),
        ciphertext: enc
            .and_then(Node::content_bytes)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        offline: node.has_attr("offline"),
        alternate: super::lid::alternate_sender(node),
        from,
    })
}

/// Decrypts the message's pairwise `<enc>` with `store` and returns the `Message` (device-sent
/// copies unwrapped: the inner message). Session changes happen in `store`; the caller commits them
/// together with whatever it records.
pub fn decrypt_incoming<S: SignalStore + ?Sized>(
    store: &mut S,
    incoming: &Incoming,
) -> Result<Message, ReceiveError> {
    if incoming.from.is_group() || !incoming.from.is_user() {
        return Err(ReceiveError::Unsupported("not a 1:1 chat"));
    }
    let kind = incoming
        .kind
        .ok_or(ReceiveError::Unsupported("no pkmsg/msg enc"))?;
    let address = ProtocolAddress::from_jid(&incoming.from);
    let plain = decrypt(store, &address, kind, &incoming.ciphertext, &mut OsRandom)
        .map_err(ReceiveError::Decrypt)?;
    let message =
        decode_padded_message(&plain).map_err(|e| ReceiveError::Malformed(e.to_string()))?;
    Ok(match message.device_sent_message {
        Some(dsm) => dsm.message.map(|m| *m).unwrap_or_default(),
        None => message,
    })
}

/// The text of a message, if it has one.
pub fn message_text(message: &Message) -> Option<String> {
    message.text().map(str::to_string)
}

/// The delivery receipt that also acknowledges the stanza: `<receipt id to=FROM>` (`type="sender"`
/// for our own devices' copies, with the chat as `recipient`).
pub fn delivery_receipt(incoming: &Incoming) -> Node {
    let mut receipt = Node::new("receipt")
        .with_attr("id", incoming.id.as_str())
        .with_attr("to", incoming.from.clone());
    if incoming.from_me {
        receipt.set_attr("type", "sender");
        receipt.set_attr("recipient", incoming.chat.clone());
    }
    receipt
}

/// `<receipt type="read|played" id to=CHAT t>` for messages we have seen.
pub fn read_receipt(id: &str, chat: &Jid, kind: &str, now: u64) -> Node {
    Node::new("receipt")
        .with_attr("id", id)
        .with_attr("to", chat.to_non_ad())
        .with_attr("type", kind)
        .with_attr("t", now)
}

/// `<receipt type="retry">` asking the sender to encrypt again (our registration id lets it notice
/// a reinstall).
pub fn retry_receipt(incoming: &Incoming, registration_id: u32, count: u32, now: u64) -> Node {
    Node::new("receipt")
        .with_attr("id", incoming.id.as_str())
        .with_attr("to", incoming.from.clone())
        .with_attr("type", "retry")
        .with_children([
            Node::new("retry")
                .with_attr("count", count)
                .with_attr("id", incoming.id.as_str())
                .with_attr("t", now)
                .with_attr("v", "1"),
            Node::new("registration").with_bytes(registration_id.to_be_bytes().to_vec()),
        ])
}

/// Status levels of a sent message, from the server ack and the receipts (WebMessageInfo.Status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckLevel {
    Error,
    Pending,
    Server,
    Delivered,
    Read,
    Played,
}

impl AckLevel {
    /// The level a receipt `type` raises a sent message to.
    pub fn from_receipt_type(kind: Option<&str>) -> Option<AckLevel> {
        match kind {
            None | Some("inactive") | Some("peer_msg") => Some(AckLevel::Delivered),
            Some("read") | Some("read-self") => Some(AckLevel::Read),
            Some("played") | Some("played-self") => Some(AckLevel::Played),
            _ => None,
        }
    }

    /// The name used in the API and webhooks (`server`, `delivered`, `read`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AckLevel::Error => "error",
            AckLevel::Pending => "pending",
            AckLevel::Server => "server",
            AckLevel::Delivered => "delivered",
            AckLevel::Read => "read",
            AckLevel::Played => "played",
        }
    }
}

/// Message ids a receipt is about: its `id` plus any `<list><item id>`.
pub fn receipt_ids(receipt: &Node) -> Vec<String> {
    let mut ids: Vec<String> = receipt
        .attr_text("id")
        .map(|i| vec![i.into_owned()])
        .unwrap_or_default();
    if let Some(list) = receipt.child("list") {
        ids.extend(
            list.children_by_tag("item")
                .filter_map(|i| i.attr_text("id").map(|s| s.into_owned())),
        );
    }
    ids
}
