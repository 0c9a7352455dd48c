//! The Noise symmetric state (h, ck, k, n) as WhatsApp's XX handshake uses it (§2.2).

use super::NoiseError;
use crate::protocol::crypto;

/// `Noise_XX_25519_AESGCM_SHA256` padded with four zero bytes to exactly 32 bytes, so it is used as
/// the initial hash directly instead of being hashed.
pub const PROTOCOL_NAME: &[u8; 32] = b"Noise_XX_25519_AESGCM_SHA256\0\0\0\0";

/// AES-GCM nonce for counter `n`: eight zero bytes then `n` as big-endian u32.
pub fn nonce(counter: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&counter.to_be_bytes());
    iv
}

/// Handshake hash, chaining key and the current cipher key with its counter.
#[derive(Clone)]
pub struct SymmetricState {
    h: [u8; 32],
    ck: [u8; 32],
    k: [u8; 32],
    n: u32,
}

impl SymmetricState {
    /// Starts from the protocol name and mixes in the prologue (the `WA 06 03` header).
    pub fn new(prologue: &[u8]) -> SymmetricState {
        let mut state = SymmetricState {
            h: *PROTOCOL_NAME,
            ck: *PROTOCOL_NAME,
            k: *PROTOCOL_NAME,
            n: 0,
        };
        state.mix_hash(prologue);
        state
    }

    /// The handshake hash so far.
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.h
    }

    /// `h = SHA256(h || data)`.
    pub fn mix_hash(&mut self, data: &[u8]) {
        self.h = crypto::sha256_parts(&[&self.h, data]);
    }

    /// `ck, k = HKDF(ikm, salt = ck, 64)`; resets the counter.
    pub fn mix_key(&mut self, ikm: &[u8]) {
        let out = crypto::hkdf_sha256(ikm, &self.ck, &[], 64);
        self.ck.copy_from_slice(&out[..32]);
        self.k.copy_from_slice(&out[32..64]);
        self.n = 0;
    }

    /// X25519 then [`SymmetricState::mix_key`]; refuses low-order peer keys.
    pub fn mix_dh(&mut self, private: &[u8; 32], public: &[u8; 32]) -> Result<(), NoiseError> {
        let shared = crypto::x25519_checked(private, public)?;
        self.mix_key(&shared);
        Ok(())
    }

    fn next_nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let iv = nonce(self.n);
        self.n = self.n.checked_add(1).ok_or(NoiseError::CounterExhausted)?;
        Ok(iv)
    }

    /// Encrypts with `h` as associated data, then mixes the ciphertext into `h`.
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let iv = self.next_nonce()?;
        let ciphertext = crypto::aes_gcm_encrypt(&self.k, &iv, &self.h, plaintext);
        self.mix_hash(&ciphertext);
        Ok(ciphertext)
    }

    /// Decrypts with `h` as associated data, then mixes the ciphertext into `h`.
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let iv = self.next_nonce()?;
        let plaintext = crypto::aes_gcm_decrypt(&self.k, &iv, &self.h, ciphertext)
            .map_err(|_| NoiseError::HandshakeDecrypt)?;
        self.mix_hash(ciphertext);
        Ok(plaintext)
    }

    /// `(k1, k2) = HKDF("", salt = ck, 64)`: k1 carries client→server, k2 server→client.
    pub fn split(&self) -> ([u8; 32], [u8; 32]) {
        let out = crypto::hkdf_sha256(&[], &self.ck, &[], 64);
        let mut k1 = [0u8; 32];
        let mut k2 = [0u8; 32];
        k1.copy_from_slice(&out[..32]);
        k2.copy_from_slice(&out[32..64]);
        (k1, k2)
    }
}
