//! AES-256 in GCM (ring), CBC with PKCS#7 and CTR (RustCrypto).

use super::CryptoError;
use aes::cipher::{
    block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit, StreamCipher,
};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

type CbcEncryptor = cbc::Encryptor<aes::Aes256>;
type CbcDecryptor = cbc::Decryptor<aes::Aes256>;
type Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Length of the GCM authentication tag appended to every ciphertext.
pub const GCM_TAG_LEN: usize = 16;

fn gcm_key(key: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key is always the right length for AES-256-GCM, so `new` cannot fail here;
    // the match keeps the function total anyway.
    match UnboundKey::new(&AES_256_GCM, key) {
        Ok(k) => LessSafeKey::new(k),
        Err(_) => unreachable_key(),
    }
}

#[cold]
fn unreachable_key() -> ! {
    // ring only rejects keys of the wrong length, which the type [u8; 32] rules out.
    panic!("ring rejected a 32-byte AES-256-GCM key")
}

/// AES-256-GCM encryption; the 16-byte tag is appended to the ciphertext.
pub fn aes_gcm_encrypt(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(plaintext.len() + GCM_TAG_LEN);
    buf.extend_from_slice(plaintext);
    let sealed = gcm_key(key).seal_in_place_append_tag(
        Nonce::assume_unique_for_key(*iv),
        Aad::from(aad),
        &mut buf,
    );
    // Sealing fails only for inputs beyond GCM's 64 GiB limit, which no frame or file here reaches.
    if sealed.is_err() {
        buf.clear();
    }
    buf
}

/// AES-256-GCM decryption of `ciphertext || tag`.
pub fn aes_gcm_decrypt(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.len() < GCM_TAG_LEN {
        return Err(CryptoError::AuthenticationFailed);
    }
    let mut buf = ciphertext.to_vec();
    let len = gcm_key(key)
        .open_in_place(Nonce::assume_unique_for_key(*iv), Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::AuthenticationFailed)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// AES-256-CBC encryption with PKCS#7 padding (always adds 1..=16 bytes).
pub fn aes_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    let padded_len = (plaintext.len() / 16 + 1) * 16;
    let mut buf = vec![0u8; padded_len];
    buf[..plaintext.len()].copy_from_slice(plaintext);
    let encryptor = CbcEncryptor::new(key.into(), iv.into());
    match encryptor.encrypt_padded_mut::<Pkcs7>(&mut buf, plaintext.len()) {
        Ok(ct) => ct.to_vec(),
        // The buffer always has room for the padding block.
        Err(_) => Vec::new(),
    }
}

/// AES-256-CBC decryption, checking and removing PKCS#7 padding.
pub fn aes_cbc_decrypt(
    key: &[u8; 32],
    iv: &[u8; 16],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(CryptoError::BadPadding);
    }
    let mut buf = ciphertext.to_vec();
    let decryptor = CbcDecryptor::new(key.into(), iv.into());
    let len = decryptor
        .decrypt_padded_mut::<Pkcs7>(&mut buf)
        .map_err(|_| CryptoError::BadPadding)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

/// AES-256-CTR keystream applied in place; `iv` is the initial 128-bit big-endian counter block.
pub fn aes_ctr_apply(key: &[u8; 32], iv: &[u8; 16], data: &mut [u8]) {
    let mut cipher = Ctr::new(key.into(), iv.into());
    cipher.apply_keystream(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_round_trip_and_tamper_detection() {
        let key = [7u8; 32];
        let iv = [1u8; 12];
        let ct = aes_gcm_encrypt(&key, &iv, b"aad", b"hello");
        assert_eq!(ct.len(), 5 + GCM_TAG_LEN);
        assert_eq!(aes_gcm_decrypt(&key, &iv, b"aad", &ct).unwrap(), b"hello");
        assert_eq!(
            aes_gcm_decrypt(&key, &iv, b"other", &ct),
            Err(CryptoError::AuthenticationFailed)
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(aes_gcm_decrypt(&key, &iv, b"aad", &bad).is_err());
        assert!(aes_gcm_decrypt(&key, &iv, b"aad", &ct[..10]).is_err());
    }

    #[test]
    fn cbc_pads_every_length_and_round_trips() {
        let key = [3u8; 32];
        let iv = [9u8; 16];
        for len in [0usize, 1, 15, 16, 17, 31, 32, 100] {
            let pt: Vec<u8> = (0..len as u8).collect();
            let ct = aes_cbc_encrypt(&key, &iv, &pt);
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            assert_eq!(aes_cbc_decrypt(&key, &iv, &ct).unwrap(), pt);
        }
    }

    #[test]
    fn cbc_rejects_bad_lengths_and_padding() {
        let key = [3u8; 32];
        let iv = [9u8; 16];
        assert_eq!(
            aes_cbc_decrypt(&key, &iv, &[]),
            Err(CryptoError::BadPadding)
        );
        assert_eq!(
            aes_cbc_decrypt(&key, &iv, &[0u8; 15]),
            Err(CryptoError::BadPadding)
        );
        // Random-looking blocks almost never end in valid padding; this one does not.
        let mut ct = aes_cbc_encrypt(&key, &iv, b"0123456789abcdef");
        let last = ct.len() - 1;
        ct[last] ^= 0x55;
        assert!(aes_cbc_decrypt(&key, &iv, &ct).is_err());
    }

    #[test]
    fn ctr_is_its_own_inverse() {
        let key = [5u8; 32];
        let iv = [0xffu8; 16]; // counter wraps across the 128-bit boundary
        let mut data = b"counter mode keystream".to_vec();
        aes_ctr_apply(&key, &iv, &mut data);
        assert_ne!(data, b"counter mode keystream");
        aes_ctr_apply(&key, &iv, &mut data);
        assert_eq!(data, b"counter mode keystream");
    }
}
