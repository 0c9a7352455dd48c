//! Building a 1:1 send (§8.3): the `Message` for the recipient and the `deviceSentMessage` for our own
//! other devices (§7.8), padding (§7.7), per-device Signal encryption and the `<message>` stanza with
//! its `<participants>` fan-out. Pure functions over any Signal store, shared by the engine and the
//! simulator's phones; the engine's sending task is in `messaging`.

use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::message::DeviceSentMessage;
use crate::protocol::proto::{pad_random, Message, ProtoMessage};
use crate::protocol::signal::{
    encrypt, has_session, parse_key_bundles, process_bundle, CiphertextMessage, IdentityStore,
    MessageKind, OsRandom, ProtocolAddress, SessionStore, SignalError,
};
use std::fmt;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The engine is not connected (or stopped); nothing was sent.
    NotConnected,
    /// The recipient is not a user JID this slice can send to.
    BadRecipient(String),
    /// The recipient has no devices (not on WhatsApp).
    NoDevices,
    /// The server refused the message: the `error` code of its ack (e.g. 463). Not delivered.
    Refused(u16),
    /// The server did not answer in time; the message may or may not have been delivered.
    Timeout,
    /// Signal or store failure (message for logs).
    Crypto(String),
    /// The file could not be uploaded (size, media host, transfer); nothing was sent.
    Media(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected => f.write_str("the WhatsApp session is not connected"),
            SendError::BadRecipient(to) => write!(f, "cannot send to {to}"),
            SendError::NoDevices => f.write_str("the recipient has no WhatsApp devices"),
            SendError::Refused(code) => write!(f, "WhatsApp refused the message (error {code})"),
            SendError::Timeout => f.write_str("WhatsApp did not acknowledge the message in time"),
            SendError::Crypto(e) => write!(f, "encryption failed: {e}"),
            SendError::Media(e) => write!(f, "media upload failed: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

impl SendError {
    /// The WhatsApp error code, when the server gave one.
    pub fn code(&self) -> Option<u16> {
        match self {
            SendError::Refused(code) => Some(*code),
            _ => None,
        }
    }
}

impl From<SignalError> for SendError {
    fn from(e: SignalError) -> Self {
        SendError::Crypto(e.to_string())
    }
}

/// A plain text message (`conversation`).
pub fn text_message(text: &str) -> Message {
    Message {
        conversation: Some(text.to_string()),
        ..Default::default()
    }
}

/// What our own other devices get instead of `message`: `deviceSentMessage{destinationJid, message,
/// phash}` with the context info copied up (§7.8).
pub fn device_sent(destination: &Jid, message: &Message, phash: Option<&str>) -> Message {
    Message {
        device_sent_message: Some(Box::new(DeviceSentMessage {
            destination_jid: Some(destination.to_non_ad().to_string()),
            message: Some(Box::new(message.clone())),
            phash: phash.map(str::to_string),
        })),
        message_context_info: message.message_context_info.clone(),
        ..Default::default()
    }
}

/// Devices in `devices` that have no Signal session yet (their bundles must be fetched).
pub fn devices_without_session<S: SessionStore + ?Sized>(
    store: &S,
    devices: &[Jid],
) -> Result<Vec<Jid>, SignalError> {
    let mut out = Vec::new();
    for jid in devices {
        if !has_session(store, &ProtocolAddress::from_jid(jid))? {
            out.push(jid.clone());
        }
    }
    Ok(out)
}

/// Builds sessions from a key-fetch answer; returns the devices whose bundle was unusable.
pub fn apply_bundles<S: IdentityStore + SessionStore + ?Sized>(
    store: &mut S,
    answer: &Node,
) -> Result<Vec<Jid>, SignalError> {
    let mut failed = Vec::new();
    for (jid, bundle) in parse_key_bundles(answer) {
        let usable = match bundle {
            Ok(bundle) => {
                match process_bundle(
                    store,
                    &ProtocolAddress::from_jid(&jid),
                    &bundle,
                    &mut OsRandom,
                ) {
                    Ok(()) => true,
                    Err(SignalError::Store(e)) => return Err(SignalError::Store(e)),
                    Err(e) => {
                        log::warn!("bundle of {jid} refused: {e}");
                        false
                    }
                }
            }
            Err(e) => {
                log::warn!("no usable bundle for {jid}: {e}");
                false
            }
        };
        if !usable {
            failed.push(jid);
        }
    }
    Ok(failed)
}

/// One device's ciphertext.
pub struct DeviceCiphertext {
    pub device: Jid,
    pub message: CiphertextMessage,
}

/// Encrypts for every device that has a session: `own_user`'s devices get `own_copy`, all others
/// `message`. Devices without a session are skipped (the caller fetched what it could).
pub fn encrypt_for_devices<S: IdentityStore + SessionStore + ?Sized>(
    store: &mut S,
    message: &Message,
    own_copy: &Message,
    devices: &[Jid],
    own_user: &str,
) -> Result<Vec<DeviceCiphertext>, SignalError> {
    let pad = |m: &Message| {
        pad_random(&m.encode_to_vec()).map_err(|_| SignalError::Exhausted("system randomness"))
    };
    let plain = pad(message)?;
    let own_plain = pad(own_copy)?;
    let mut out = Vec::with_capacity(devices.len());
    for jid in devices {
        let address = ProtocolAddress::from_jid(jid);
        if !has_session(store, &address)? {
            continue;
        }
        let bytes = if jid.user == own_user {
            &own_plain
        } else {
            &plain
        };
        out.push(DeviceCiphertext {
            device: jid.clone(),
            message: encrypt(store, &address, bytes)?,
        });
    }
    Ok(out)
}

/// `<enc v="2" type="pkmsg|msg">`.
pub fn enc_node(message: &CiphertextMessage) -> Node {
    Node::new("enc")
        .with_attr("v", "2")
        .with_attr("type", message.kind.enc_type())
        .with_bytes(message.bytes.clone())
}

/// The `<message>` stanza: `<participants><to jid><enc/></to>…</participants>`, plus our signed
/// device identity when any device gets a pkmsg.
pub fn message_stanza(
    id: &str,
    to: &Jid,
    ciphertexts: &[DeviceCiphertext],
    device_identity: Option<&[u8]>,
    phash: Option<&str>,
) -> Node {
    let participants = Node::new("participants").with_children(ciphertexts.iter().map(|c| {
        Node::new("to")
            .with_attr("jid", c.device.clone())
            .with_child(enc_node(&c.message))
    }));
    let mut node = Node::new("message")
        .with_attr("id", id)
        .with_attr("to", to.to_non_ad())
        .with_attr("type", "text")
        .with_opt_attr("phash", phash.map(str::to_string))
        .with_child(participants);
    let any_prekey = ciphertexts
        .iter()
        .any(|c| c.message.kind == MessageKind::PreKey);
    if let (true, Some(identity)) = (any_prekey, device_identity) {
        node.push_child(Node::new("device-identity").with_bytes(identity.to_vec()));
    }
    node
}
