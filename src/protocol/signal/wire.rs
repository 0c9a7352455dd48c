//! The four Signal wire messages WhatsApp carries in `<enc>` nodes and SKDMs.
//!
//! Every message starts with the version byte `0x33` (current version 3 in the high nibble, 3 in the low).
//! A SignalMessage ends in an 8-byte truncated HMAC; a SenderKeyMessage ends in a 64-byte XEdDSA
//! signature; the other two carry no trailer. Counters are written even when zero (proto2 optional
//! fields), as libsignal does, so our bytes match theirs exactly. The protobuf structs are the shared
//! ones in [`crate::protocol::proto`].

use super::error::SignalError;
use super::keys::{array32, parse_public, serialize_public};
use crate::protocol::crypto::{constant_time_eq, hmac_sha256_parts, xeddsa_sign, xeddsa_verify};
use crate::protocol::proto::{
    PreKeySignalMessage as PreKeySignalMessageProto,
    SenderKeyDistributionMessage as SenderKeyDistributionMessageProto,
    SenderKeyMessage as SenderKeyMessageProto, SignalMessage as SignalMessageProto,
};
use prost::Message;

/// The version byte of every message we write.
pub const CIPHERTEXT_VERSION: u8 = 0x33;
/// Length of the truncated MAC after a SignalMessage.
pub const MAC_LEN: usize = 8;
/// Length of the signature after a SenderKeyMessage.
pub const SIGNATURE_LEN: usize = 64;

/// Splits off and checks the version byte; returns the rest.
fn strip_version(bytes: &[u8]) -> Result<&[u8], SignalError> {
    match bytes.split_first() {
        Some((&v, rest)) if v >> 4 == 3 => Ok(rest),
        Some((&v, _)) => Err(SignalError::UnsupportedVersion(v)),
        None => Err(SignalError::InvalidMessage("empty message")),
    }
}

fn with_version(proto: &impl Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + proto.encoded_len() + SIGNATURE_LEN);
    out.push(CIPHERTEXT_VERSION);
    proto.encode_raw(&mut out);
    out
}

fn required<T>(field: Option<T>, what: &'static str) -> Result<T, SignalError> {
    field.ok_or(SignalError::InvalidMessage(what))
}

/// A pairwise message in an established session (`<enc type="msg">`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalMessage {
    /// The sender's current ratchet public key.
    pub ratchet_key: [u8; 32],
    /// Index of this message in the sender's chain.
    pub counter: u32,
    /// Length of the sender's previous chain, minus one.
    pub previous_counter: u32,
    /// AES-256-CBC ciphertext.
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SignalMessage {
    /// Builds and MACs a message. The MAC covers both identities (sender first) and the versioned proto.
    pub fn new(
        mac_key: &[u8; 32],
        ratchet_key: &[u8; 32],
        counter: u32,
        previous_counter: u32,
        ciphertext: Vec<u8>,
        sender_identity: &[u8; 32],
        receiver_identity: &[u8; 32],
    ) -> SignalMessage {
        let proto = SignalMessageProto {
            ratchet_key: Some(serialize_public(ratchet_key).to_vec()),
            counter: Some(counter),
            previous_counter: Some(previous_counter),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = with_version(&proto);
        let mac = compute_mac(mac_key, sender_identity, receiver_identity, &serialized);
        serialized.extend_from_slice(&mac);
        SignalMessage {
            ratchet_key: *ratchet_key,
            counter,
            previous_counter,
            ciphertext,
            serialized,
        }
    }

    /// Parses `0x33 || proto || mac8`. The MAC is checked later, once the message key is known.
    pub fn parse(bytes: &[u8]) -> Result<SignalMessage, SignalError> {
        if bytes.len() < 1 + MAC_LEN {
            return Err(SignalError::InvalidMessage("message too short"));
        }
        let body = strip_version(&bytes[..bytes.len() - MAC_LEN])?;
        let proto = SignalMessageProto::decode(body)
            .map_err(|_| SignalError::InvalidMessage("bad SignalMessage protobuf"))?;
        Ok(SignalMessage {
            ratchet_key: parse_public(&required(proto.ratchet_key, "no ratchet key")?)?,
            counter: required(proto.counter, "no counter")?,
            previous_counter: proto.previous_counter.unwrap_or(0),
            ciphertext: required(proto.ciphertext, "no ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// Whether the trailing MAC is right for these identities and key.
    pub fn verify_mac(
        &self,
        mac_key: &[u8; 32],
        sender_identity: &[u8; 32],
        receiver_identity: &[u8; 32],
    ) -> bool {
        let split = self.serialized.len().saturating_sub(MAC_LEN);
        let (body, mac) = self.serialized.split_at(split);
        let expected = compute_mac(mac_key, sender_identity, receiver_identity, body);
        constant_time_eq(&expected, mac)
    }

    /// The bytes on the wire.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

fn compute_mac(
    mac_key: &[u8; 32],
    sender_identity: &[u8; 32],
    receiver_identity: &[u8; 32],
    versioned_proto: &[u8],
) -> [u8; MAC_LEN] {
    let full = hmac_sha256_parts(
        mac_key,
        &[
            &serialize_public(sender_identity),
            &serialize_public(receiver_identity),
            versioned_proto,
        ],
    );
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// The first messages of a session, carrying what the receiver needs to run X3DH (`<enc type="pkmsg">`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeySignalMessage {
    /// The sender's registration id.
    pub registration_id: u32,
    /// The receiver's one-time prekey that was used, if any.
    pub pre_key_id: Option<u32>,
    /// The receiver's signed prekey that was used.
    pub signed_pre_key_id: u32,
    /// The sender's X3DH base key.
    pub base_key: [u8; 32],
    /// The sender's identity key.
    pub identity_key: [u8; 32],
    /// The enclosed message.
    pub message: SignalMessage,
    serialized: Vec<u8>,
}

impl PreKeySignalMessage {
    /// Wraps `message`.
    pub fn new(
        registration_id: u32,
        pre_key_id: Option<u32>,
        signed_pre_key_id: u32,
        base_key: &[u8; 32],
        identity_key: &[u8; 32],
        message: SignalMessage,
    ) -> PreKeySignalMessage {
        let proto = PreKeySignalMessageProto {
            pre_key_id,
            base_key: Some(serialize_public(base_key).to_vec()),
            identity_key: Some(serialize_public(identity_key).to_vec()),
            message: Some(message.serialized.clone()),
            registration_id: Some(registration_id),
            signed_pre_key_id: Some(signed_pre_key_id),
        };
        PreKeySignalMessage {
            registration_id,
            pre_key_id,
            signed_pre_key_id,
            base_key: *base_key,
            identity_key: *identity_key,
            message,
            serialized: with_version(&proto),
        }
    }

    /// Parses `0x33 || proto`.
    pub fn parse(bytes: &[u8]) -> Result<PreKeySignalMessage, SignalError> {
        let proto = PreKeySignalMessageProto::decode(strip_version(bytes)?)
            .map_err(|_| SignalError::InvalidMessage("bad PreKeySignalMessage protobuf"))?;
        let inner = required(proto.message, "no inner message")?;
        Ok(PreKeySignalMessage {
            registration_id: proto.registration_id.unwrap_or(0),
            pre_key_id: proto.pre_key_id,
            signed_pre_key_id: required(proto.signed_pre_key_id, "no signed prekey id")?,
            base_key: parse_public(&required(proto.base_key, "no base key")?)?,
            identity_key: parse_public(&required(proto.identity_key, "no identity key")?)?,
            message: SignalMessage::parse(&inner)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The bytes on the wire.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// A group message encrypted with a sender key (`<enc type="skmsg">`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderKeyMessage {
    /// The sender key id.
    pub key_id: u32,
    /// The chain iteration of this message.
    pub iteration: u32,
    /// AES-256-CBC ciphertext.
    pub ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    /// Builds and signs a message with the sender's signing key.
    pub fn new(
        key_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        signing_private: &[u8; 32],
        nonce: &[u8; 64],
    ) -> SenderKeyMessage {
        let proto = SenderKeyMessageProto {
            id: Some(key_id),
            iteration: Some(iteration),
            ciphertext: Some(ciphertext.clone()),
        };
        let mut serialized = with_version(&proto);
        let signature = xeddsa_sign(signing_private, &serialized, nonce);
        serialized.extend_from_slice(&signature);
        SenderKeyMessage {
            key_id,
            iteration,
            ciphertext,
            serialized,
        }
    }

    /// Parses `0x33 || proto || signature64`. The signature is checked by [`Self::verify_signature`].
    pub fn parse(bytes: &[u8]) -> Result<SenderKeyMessage, SignalError> {
        if bytes.len() < 1 + SIGNATURE_LEN {
            return Err(SignalError::InvalidMessage("sender key message too short"));
        }
        let body = strip_version(&bytes[..bytes.len() - SIGNATURE_LEN])?;
        let proto = SenderKeyMessageProto::decode(body)
            .map_err(|_| SignalError::InvalidMessage("bad SenderKeyMessage protobuf"))?;
        Ok(SenderKeyMessage {
            key_id: required(proto.id, "no sender key id")?,
            iteration: required(proto.iteration, "no iteration")?,
            ciphertext: required(proto.ciphertext, "no ciphertext")?,
            serialized: bytes.to_vec(),
        })
    }

    /// Whether the trailing signature is the sender's over the rest of the message.
    pub fn verify_signature(&self, signing_public: &[u8; 32]) -> bool {
        let split = self.serialized.len().saturating_sub(SIGNATURE_LEN);
        let (body, sig) = self.serialized.split_at(split);
        match <&[u8; 64]>::try_from(sig) {
            Ok(sig) => xeddsa_verify(signing_public, body, sig),
            Err(_) => false,
        }
    }

    /// The bytes on the wire.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

/// Hands a sender key to one recipient (inside an encrypted `Message.senderKeyDistributionMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderKeyDistributionMessage {
    /// The sender key id.
    pub key_id: u32,
    /// The chain iteration `chain_key` belongs to.
    pub iteration: u32,
    /// The chain key at that iteration.
    pub chain_key: [u8; 32],
    /// The sender's signing public key.
    pub signing_key: [u8; 32],
    serialized: Vec<u8>,
}

impl SenderKeyDistributionMessage {
    /// Builds the message.
    pub fn new(
        key_id: u32,
        iteration: u32,
        chain_key: &[u8; 32],
        signing_key: &[u8; 32],
    ) -> SenderKeyDistributionMessage {
        let proto = SenderKeyDistributionMessageProto {
            id: Some(key_id),
            iteration: Some(iteration),
            chain_key: Some(chain_key.to_vec()),
            signing_key: Some(serialize_public(signing_key).to_vec()),
        };
        SenderKeyDistributionMessage {
            key_id,
            iteration,
            chain_key: *chain_key,
            signing_key: *signing_key,
            serialized: with_version(&proto),
        }
    }

    /// Parses `0x33 || proto`.
    pub fn parse(bytes: &[u8]) -> Result<SenderKeyDistributionMessage, SignalError> {
        let proto =
            SenderKeyDistributionMessageProto::decode(strip_version(bytes)?).map_err(|_| {
                SignalError::InvalidMessage("bad SenderKeyDistributionMessage protobuf")
            })?;
        let chain_key = required(proto.chain_key, "no chain key")?;
        Ok(SenderKeyDistributionMessage {
            key_id: required(proto.id, "no sender key id")?,
            iteration: required(proto.iteration, "no iteration")?,
            chain_key: array32(&chain_key)
                .ok_or(SignalError::InvalidMessage("chain key is not 32 bytes"))?,
            signing_key: parse_public(&required(proto.signing_key, "no signing key")?)?,
            serialized: bytes.to_vec(),
        })
    }

    /// The bytes on the wire.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}
