//! Why a Signal operation refused its input.

use std::fmt;

/// A failure inside a store implementation (I/O, corrupt record). The text is for logs only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signal store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// Everything that can go wrong when building sessions, encrypting or decrypting.
///
/// Every input from a peer that is malformed or hostile ends here; nothing in this module panics on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// The bytes are not a well-formed message of the expected kind.
    InvalidMessage(&'static str),
    /// The version byte's high nibble is not 3.
    UnsupportedVersion(u8),
    /// The 8-byte MAC of a SignalMessage did not verify.
    BadMac,
    /// An XEdDSA signature (sender-key message or signed prekey) did not verify.
    BadSignature,
    /// The message was already decrypted (or its key was dropped by the bounds).
    DuplicateMessage,
    /// The message claims a counter further ahead than the forward-step bound allows.
    TooFarInFuture,
    /// AES-CBC decryption failed (bad padding after a valid MAC: a broken sender).
    DecryptFailed,
    /// No session exists for this address.
    NoSession,
    /// No sender key exists for this group sender (or none with the message's key id).
    NoSenderKey,
    /// A PreKeySignalMessage names a one-time prekey we do not have (already used, or never ours).
    UnknownPreKey(u32),
    /// A PreKeySignalMessage names a signed prekey we do not have.
    UnknownSignedPreKey(u32),
    /// The peer's identity key differs from the one we trust for this address.
    UntrustedIdentity {
        /// The address whose identity changed.
        address: String,
        /// The new identity public key.
        identity: [u8; 32],
    },
    /// No local identity key pair has been stored yet.
    NoLocalIdentity,
    /// A prekey bundle or WA key node is malformed.
    InvalidBundle(&'static str),
    /// A counter or id ran out of room.
    Exhausted(&'static str),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalError::InvalidMessage(why) => write!(f, "invalid signal message: {why}"),
            SignalError::UnsupportedVersion(v) => {
                write!(f, "unsupported signal message version {v:#04x}")
            }
            SignalError::BadMac => f.write_str("message authentication code did not verify"),
            SignalError::BadSignature => f.write_str("signature did not verify"),
            SignalError::DuplicateMessage => f.write_str("message was already received"),
            SignalError::TooFarInFuture => f.write_str("message counter is too far ahead"),
            SignalError::DecryptFailed => f.write_str("ciphertext did not decrypt"),
            SignalError::NoSession => f.write_str("no session for this address"),
            SignalError::NoSenderKey => f.write_str("no sender key for this group sender"),
            SignalError::UnknownPreKey(id) => write!(f, "unknown one-time prekey {id}"),
            SignalError::UnknownSignedPreKey(id) => write!(f, "unknown signed prekey {id}"),
            SignalError::UntrustedIdentity { address, .. } => {
                write!(f, "identity key of {address} changed")
            }
            SignalError::NoLocalIdentity => f.write_str("no local identity key stored"),
            SignalError::InvalidBundle(why) => write!(f, "invalid prekey bundle: {why}"),
            SignalError::Exhausted(what) => write!(f, "{what} exhausted"),
            SignalError::Store(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SignalError {}

impl From<StoreError> for SignalError {
    fn from(e: StoreError) -> SignalError {
        SignalError::Store(e)
    }
}
