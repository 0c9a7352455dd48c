//! `Noise_XX_25519_AESGCM_SHA256` as WhatsApp uses it (§2): the symmetric state, both handshake
//! roles (client = initiator, server = responder, for the simulator), the server certificate chain,
//! and the transport with one counter per direction. Everything here is sans-io: it turns bytes into
//! bytes, and the socket layer moves them.

pub mod cert;
pub mod handshake;
pub mod symmetric;
pub mod transport;

pub use cert::{CertError, CertSigningKey, SignatureScheme, TrustedRoot, VerifiedChain};
pub use handshake::{ClientFinishMessage, ClientHandshake, ClientIdentity, ServerHandshake};
pub use transport::{CipherState, NoiseTransport};

use crate::protocol::crypto::CryptoError;
use crate::protocol::socket::FrameError;
use std::fmt;

/// Why a handshake or a transport frame failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoiseError {
    /// A peer's public key is a low-order point.
    WeakKey,
    /// A handshake ciphertext did not authenticate (wrong keys or a tampered message).
    HandshakeDecrypt,
    /// A transport frame did not authenticate.
    FrameDecrypt,
    /// 2^32 frames in one direction: the session must be re-established.
    CounterExhausted,
    /// A handshake message is not valid protobuf or lacks a part.
    Malformed(&'static str),
    /// A handshake method was called out of order.
    OutOfOrder(&'static str),
    /// The server's certificate chain was refused.
    Certificate(CertError),
    /// Framing failed (payload too large).
    Frame(FrameError),
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoiseError::WeakKey => f.write_str("peer sent a low-order public key"),
            NoiseError::HandshakeDecrypt => f.write_str("handshake message did not authenticate"),
            NoiseError::FrameDecrypt => f.write_str("frame did not authenticate"),
            NoiseError::CounterExhausted => f.write_str("noise counter exhausted"),
            NoiseError::Malformed(what) => write!(f, "malformed handshake message: {what}"),
            NoiseError::OutOfOrder(what) => write!(f, "handshake step out of order: {what}"),
            NoiseError::Certificate(e) => write!(f, "server certificate refused: {e}"),
            NoiseError::Frame(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for NoiseError {}

impl From<CryptoError> for NoiseError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::AuthenticationFailed => NoiseError::HandshakeDecrypt,
            _ => NoiseError::WeakKey,
        }
    }
}

impl From<CertError> for NoiseError {
    fn from(e: CertError) -> Self {
        NoiseError::Certificate(e)
    }
}

impl From<FrameError> for NoiseError {
    fn from(e: FrameError) -> Self {
        NoiseError::Frame(e)
    }
}
