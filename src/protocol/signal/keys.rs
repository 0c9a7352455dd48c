//! Key material: injectable randomness, the local identity, signed and one-time prekeys.

use super::error::{SignalError, StoreError};
use crate::protocol::crypto::{fill_random, xeddsa_sign, xeddsa_verify, KeyPair};

/// Signal's type byte for Curve25519 public keys (`0x05 || pub`).
pub const DJB_TYPE: u8 = 0x05;
/// Prekey ids are 24-bit on the WhatsApp wire; 0 is never used.
pub const MAX_PRE_KEY_ID: u32 = 0x00ff_ffff;

/// Where new key pairs and random bytes come from. [`OsRandom`] in production; tests inject recorded
/// keys (the vectors' `keygen_log`) through their own implementation.
pub trait KeySource {
    /// A fresh key pair (ratchet keys, base keys, prekeys, signing keys).
    fn key_pair(&mut self) -> KeyPair;
    /// Random bytes (registration ids, sender chain keys, XEdDSA nonces).
    fn fill_bytes(&mut self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl KeySource for OsRandom {
    fn key_pair(&mut self) -> KeyPair {
        KeyPair::generate()
    }

    fn fill_bytes(&mut self, buf: &mut [u8]) {
        fill_random(buf)
    }
}

/// `0x05 || pub`: the form public keys take inside Signal protobufs and signed data.
pub fn serialize_public(public: &[u8; 32]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = DJB_TYPE;
    out[1..].copy_from_slice(public);
    out
}

/// Reads a 33-byte `0x05 || pub` key (as carried in Signal messages).
pub fn parse_public(bytes: &[u8]) -> Result<[u8; 32], SignalError> {
    match bytes.split_first() {
        Some((&DJB_TYPE, rest)) => {
            array32(rest).ok_or(SignalError::InvalidMessage("public key is not 32 bytes"))
        }
        Some(_) => Err(SignalError::InvalidMessage("public key type is not 0x05")),
        None => Err(SignalError::InvalidMessage("empty public key")),
    }
}

/// `bytes` as a 32-byte array, when it has exactly that length.
pub(crate) fn array32(bytes: &[u8]) -> Option<[u8; 32]> {
    bytes.try_into().ok()
}

/// 64 random bytes for an XEdDSA signature.
pub(crate) fn signature_nonce(rng: &mut dyn KeySource) -> [u8; 64] {
    let mut z = [0u8; 64];
    rng.fill_bytes(&mut z);
    z
}

/// This device's long-term Signal identity and registration id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalIdentity {
    /// The identity key pair.
    pub key_pair: KeyPair,
    /// The registration id (any u32 is accepted; Baileys' are below 256, ours are 14-bit).
    pub registration_id: u32,
}

impl LocalIdentity {
    /// A new identity with a random 14-bit, non-zero registration id (as libsignal's key helper).
    pub fn generate(rng: &mut dyn KeySource) -> LocalIdentity {
        let mut b = [0u8; 2];
        rng.fill_bytes(&mut b);
        let registration_id = u32::from(u16::from_be_bytes(b) & 0x3fff).max(1);
        LocalIdentity {
            key_pair: rng.key_pair(),
            registration_id,
        }
    }

    /// Persisted form: registration id (4, BE) || private (32) || public (32).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(68);
        out.extend_from_slice(&self.registration_id.to_be_bytes());
        out.extend_from_slice(&self.key_pair.private);
        out.extend_from_slice(&self.key_pair.public);
        out
    }

    /// Reads [`LocalIdentity::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<LocalIdentity, StoreError> {
        if bytes.len() != 68 {
            return Err(StoreError(
                "local identity record has the wrong length".into(),
            ));
        }
        let (reg, rest) = bytes.split_at(4);
        let (private, public) = rest.split_at(32);
        Ok(LocalIdentity {
            registration_id: u32::from_be_bytes([reg[0], reg[1], reg[2], reg[3]]),
            key_pair: key_pair_from_parts(private, public)?,
        })
    }
}

fn key_pair_from_parts(private: &[u8], public: &[u8]) -> Result<KeyPair, StoreError> {
    match (array32(private), array32(public)) {
        (Some(private), Some(public)) => Ok(KeyPair { private, public }),
        _ => Err(StoreError("key pair has the wrong length".into())),
    }
}

/// A one-time prekey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreKeyRecord {
    /// 24-bit id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
}

impl PreKeyRecord {
    /// Persisted form: private (32) || public (32).
    pub fn to_bytes(&self) -> Vec<u8> {
        [self.key_pair.private, self.key_pair.public].concat()
    }

    /// Reads [`PreKeyRecord::to_bytes`] for prekey `id`.
    pub fn from_bytes(id: u32, bytes: &[u8]) -> Result<PreKeyRecord, StoreError> {
        if bytes.len() != 64 {
            return Err(StoreError("prekey record has the wrong length".into()));
        }
        let (private, public) = bytes.split_at(32);
        Ok(PreKeyRecord {
            id,
            key_pair: key_pair_from_parts(private, public)?,
        })
    }
}

/// The next prekey id after `id`, wrapping within 1..=0xFFFFFF.
pub fn next_pre_key_id(id: u32) -> u32 {
    if id >= MAX_PRE_KEY_ID {
        1
    } else {
        id + 1
    }
}

/// A signed prekey: the medium-term key every new session starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPreKeyRecord {
    /// 24-bit id.
    pub id: u32,
    /// The key pair.
    pub key_pair: KeyPair,
    /// XEdDSA signature by the identity key over `0x05 || pub`.
    pub signature: [u8; 64],
    /// Creation time, Unix seconds (drives rotation).
    pub created_at: u64,
}

impl SignedPreKeyRecord {
    /// A new signed prekey, signed by `identity`.
    pub fn generate(
        id: u32,
        identity: &KeyPair,
        created_at: u64,
        rng: &mut dyn KeySource,
    ) -> SignedPreKeyRecord {
        let key_pair = rng.key_pair();
        let nonce = signature_nonce(rng);
        let signature = xeddsa_sign(
            &identity.private,
            &serialize_public(&key_pair.public),
            &nonce,
        );
        SignedPreKeyRecord {
            id,
            key_pair,
            signature,
            created_at,
        }
    }

    /// Whether `signature` is `identity`'s signature over `0x05 || public`.
    pub fn verify(identity: &[u8; 32], public: &[u8; 32], signature: &[u8; 64]) -> bool {
        xeddsa_verify(identity, &serialize_public(public), signature)
    }

    /// Persisted form: private (32) || public (32) || signature (64) || created_at (8, BE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(136);
        out.extend_from_slice(&self.key_pair.private);
        out.extend_from_slice(&self.key_pair.public);
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        out
    }

    /// Reads [`SignedPreKeyRecord::to_bytes`] for signed prekey `id`.
    pub fn from_bytes(id: u32, bytes: &[u8]) -> Result<SignedPreKeyRecord, StoreError> {
        if bytes.len() != 136 {
            return Err(StoreError(
                "signed prekey record has the wrong length".into(),
            ));
        }
        let (private, rest) = bytes.split_at(32);
        let (public, rest) = rest.split_at(32);
        let (signature, time) = rest.split_at(64);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(signature);
        let mut t = [0u8; 8];
        t.copy_from_slice(time);
        Ok(SignedPreKeyRecord {
            id,
            key_pair: key_pair_from_parts(private, public)?,
            signature: sig,
            created_at: u64::from_be_bytes(t),
        })
    }
}
