//! Cryptographic primitives used across the WhatsApp protocol.
//!
//! One crate family does the work (see `docs/crypto.md`): `ring` for AES-GCM, HKDF's HMAC, SHA-2,
//! PBKDF2 and the system RNG; RustCrypto's `aes` + `cbc` + `ctr` for the two block modes ring lacks
//! (and `md-5` for the ClientPayload build hash); `curve25519-dalek` for static X25519 and XEdDSA,
//! neither of which ring offers.
//!
//! Every function here is total on its inputs: failures come back as [`CryptoError`], never a panic.

mod curve;
mod digest;
pub mod pairing_code;
mod random;
mod registration_id;
mod symmetric;

pub use curve::{
    x25519, x25519_checked, xeddsa_sign, xeddsa_sign_deterministic, xeddsa_sign_random,
    xeddsa_verify, KeyPair,
};
pub use digest::{
    hkdf_sha256, hkdf_sha256_chunks, hmac_sha256, hmac_sha256_parts, hmac_sha512, md5,
    pbkdf2_sha256, sha256, sha256_parts, sha512,
};
pub use random::{constant_time_eq, fill_random, random_bytes};
pub use registration_id::{
    generate_registration_id, registration_id_is_valid, MAX_REGISTRATION_ID,
};
pub use symmetric::{
    aes_cbc_decrypt, aes_cbc_encrypt, aes_ctr_apply, aes_gcm_decrypt, aes_gcm_encrypt,
};

use std::fmt;

/// Why a cryptographic operation refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// An AEAD tag did not verify (wrong key, nonce, associated data, or tampered ciphertext).
    AuthenticationFailed,
    /// A CBC ciphertext was empty, not a whole number of blocks, or its PKCS#7 padding was invalid.
    BadPadding,
    /// An input had the wrong length for the operation.
    BadLength { expected: usize, actual: usize },
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order point.
    WeakPublicKey,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::AuthenticationFailed => f.write_str("authentication tag did not verify"),
            CryptoError::BadPadding => {
                f.write_str("ciphertext length or PKCS#7 padding is invalid")
            }
            CryptoError::BadLength { expected, actual } => {
                write!(f, "expected {expected} bytes, got {actual}")
            }
            CryptoError::WeakPublicKey => f.write_str("public key is a low-order point"),
        }
    }
}

impl std::error::Error for CryptoError {}
