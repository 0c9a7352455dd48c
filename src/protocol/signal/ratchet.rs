//! Key derivation of the double ratchet: root steps, chain steps, message keys.

use super::error::SignalError;
use crate::protocol::crypto::{hkdf_sha256, hmac_sha256, x25519_checked};

/// At most this many chain steps for one message (a hostile counter cannot burn more CPU).
pub const MAX_FORWARD_STEPS: u32 = 25_000;
/// At most this many skipped message keys stored per session (and per sender key).
pub const MAX_SKIPPED_KEYS: usize = 2_000;
/// At most this many receiving chains kept per session state.
pub const MAX_RECEIVER_CHAINS: usize = 5;
/// At most this many archived session states kept per address.
pub const MAX_ARCHIVED_STATES: usize = 40;

/// A symmetric chain key and its position in the chain.
#[derive(Clone, PartialEq, Eq)]
pub struct ChainKey {
    /// The 32-byte key.
    pub key: [u8; 32],
    /// Index of the next message key this chain produces.
    pub index: u32,
}

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainKey")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl ChainKey {
    /// A chain at index 0.
    pub fn new(key: [u8; 32]) -> ChainKey {
        ChainKey { key, index: 0 }
    }

    /// The seed of the message key at `self.index`: `HMAC(CK, 0x01)`.
    pub fn message_seed(&self) -> [u8; 32] {
        hmac_sha256(&self.key, &[0x01])
    }

    /// The chain one step on: `HMAC(CK, 0x02)`. `None` when the index would overflow.
    pub fn next(&self) -> Option<ChainKey> {
        Some(ChainKey {
            key: hmac_sha256(&self.key, &[0x02]),
            index: self.index.checked_add(1)?,
        })
    }
}

/// The keys of one pairwise message.
pub struct MessageKeys {
    /// AES-256 key.
    pub cipher_key: [u8; 32],
    /// HMAC-SHA256 key for the 8-byte MAC.
    pub mac_key: [u8; 32],
    /// AES-CBC IV.
    pub iv: [u8; 16],
}

impl MessageKeys {
    /// `HKDF(seed, salt = 0, "WhisperMessageKeys", 80)` split 32/32/16.
    pub fn from_seed(seed: &[u8; 32]) -> MessageKeys {
        let okm = hkdf_sha256(seed, &[], b"WhisperMessageKeys", 80);
        let mut keys = MessageKeys {
            cipher_key: [0; 32],
            mac_key: [0; 32],
            iv: [0; 16],
        };
        keys.cipher_key.copy_from_slice(&okm[..32]);
        keys.mac_key.copy_from_slice(&okm[32..64]);
        keys.iv.copy_from_slice(&okm[64..80]);
        keys
    }
}

/// The keys of one sender-key (group) message.
pub struct SenderMessageKeys {
    /// AES-CBC IV.
    pub iv: [u8; 16],
    /// AES-256 key.
    pub cipher_key: [u8; 32],
}

impl SenderMessageKeys {
    /// `HKDF(seed, salt = 0, "WhisperGroup", 48)`: IV first, then the key.
    pub fn from_seed(seed: &[u8; 32]) -> SenderMessageKeys {
        let okm = hkdf_sha256(seed, &[], b"WhisperGroup", 48);
        let mut keys = SenderMessageKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
        };
        keys.iv.copy_from_slice(&okm[..16]);
        keys.cipher_key.copy_from_slice(&okm[16..48]);
        keys
    }
}

/// Splits a 64-byte HKDF output into (root key, chain key).
fn split64(okm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    b.copy_from_slice(&okm[32..64]);
    (a, b)
}

/// Diffie-Hellman that refuses low-order peer keys.
pub(crate) fn dh(private: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], SignalError> {
    x25519_checked(private, public).map_err(|_| SignalError::InvalidMessage("weak public key"))
}

/// One DH ratchet step: `HKDF(DH(ours, theirs), salt = RK, "WhisperRatchet", 64)` → (RK', CK).
pub(crate) fn root_step(
    root_key: &[u8; 32],
    their_ratchet: &[u8; 32],
    our_private: &[u8; 32],
) -> Result<([u8; 32], ChainKey), SignalError> {
    let shared = dh(our_private, their_ratchet)?;
    let okm = hkdf_sha256(&shared, root_key, b"WhisperRatchet", 64);
    let (root, chain) = split64(&okm);
    Ok((root, ChainKey::new(chain)))
}

/// The X3DH master secret to (RK, CK): `HKDF(FF×32 || DH…, salt = 0, "WhisperText", 64)`.
pub(crate) fn derive_initial(dhs: &[[u8; 32]]) -> ([u8; 32], ChainKey) {
    let mut master = Vec::with_capacity(32 * (dhs.len() + 1));
    master.extend_from_slice(&[0xff; 32]);
    for d in dhs {
        master.extend_from_slice(d);
    }
    let okm = hkdf_sha256(&master, &[], b"WhisperText", 64);
    let (root, chain) = split64(&okm);
    (root, ChainKey::new(chain))
}
