//! The Noise transport phase (§2.5): AES-256-GCM per frame, empty associated data, one key and one
//! counter per direction. A counter advances even when its frame fails to decrypt, as WhatsApp's
//! peers do, so one corrupt frame does not desynchronise the rest.

use super::symmetric::nonce;
use super::NoiseError;
use crate::protocol::crypto;

/// One direction of a transport: a key and its frame counter.
pub struct CipherState {
    key: [u8; 32],
    counter: u32,
}

impl CipherState {
    /// A direction starting at counter 0.
    pub fn new(key: [u8; 32]) -> CipherState {
        CipherState { key, counter: 0 }
    }

    /// The counter the next frame will use.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    fn next_nonce(&mut self) -> Result<[u8; 12], NoiseError> {
        let iv = nonce(self.counter);
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(NoiseError::CounterExhausted)?;
        Ok(iv)
    }

    /// Encrypts one frame payload.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let iv = self.next_nonce()?;
        Ok(crypto::aes_gcm_encrypt(&self.key, &iv, &[], plaintext))
    }

    /// Decrypts one frame payload; the counter moves on whether or not it verifies.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        let iv = self.next_nonce()?;
        crypto::aes_gcm_decrypt(&self.key, &iv, &[], ciphertext)
            .map_err(|_| NoiseError::FrameDecrypt)
    }
}

impl std::fmt::Debug for CipherState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CipherState")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// Both directions of an established Noise session, from one side's point of view.
#[derive(Debug)]
pub struct NoiseTransport {
    /// Encrypts what this side sends.
    pub send: CipherState,
    /// Decrypts what this side receives.
    pub recv: CipherState,
}

impl NoiseTransport {
    /// A transport that sends with `send_key` and receives with `recv_key`, both counters at 0.
    pub fn new(send_key: [u8; 32], recv_key: [u8; 32]) -> NoiseTransport {
        NoiseTransport {
            send: CipherState::new(send_key),
            recv: CipherState::new(recv_key),
        }
    }

    /// Encrypts one outgoing frame payload.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.send.encrypt(plaintext)
    }

    /// Decrypts one incoming frame payload.
    pub fn decrypt(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.recv.decrypt(ciphertext)
    }

    /// Separates the directions so a reader task and a writer task can own one each.
    pub fn split(self) -> (CipherState, CipherState) {
        (self.send, self.recv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_are_independent_and_counters_advance_on_failure() {
        let mut a = NoiseTransport::new([1; 32], [2; 32]);
        let mut b = NoiseTransport::new([2; 32], [1; 32]);
        let f0 = a.encrypt(b"zero").unwrap();
        let f1 = a.encrypt(b"one").unwrap();
        assert_eq!(b.decrypt(&f0).unwrap(), b"zero");
        assert_eq!(b.decrypt(&f1).unwrap(), b"one");
        let reply = b.encrypt(b"reply").unwrap();
        assert_eq!(a.decrypt(&reply).unwrap(), b"reply");
        // A corrupt frame fails but still uses up its counter.
        let f2 = a.encrypt(b"two").unwrap();
        let f3 = a.encrypt(b"three").unwrap();
        let mut bad = f2.clone();
        bad[0] ^= 1;
        assert!(matches!(b.decrypt(&bad), Err(NoiseError::FrameDecrypt)));
        assert_eq!(b.decrypt(&f3).unwrap(), b"three");
        assert!(b.decrypt(&[]).is_err());
    }
}
