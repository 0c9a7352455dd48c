//! Media encryption (§9): per-type key expansion, AES-256-CBC with a 10-byte HMAC, and the two
//! SHA-256 hashes a media message carries.
//!
//! `mediaKey` (32 random bytes) is expanded with HKDF-SHA256 into 112 bytes: `iv`, `cipherKey`,
//! `macKey` and `refKey`. The upload body is `AES-CBC(plain) || HMAC-SHA256(macKey, iv || ct)[..10]`.
//! The whole-buffer functions here suit thumbnails and small files; [`stream`] does the same work
//! chunk by chunk with constant memory for large files.

pub mod stream;

use crate::protocol::crypto;
use std::fmt;

/// Bytes of HMAC-SHA256 kept at the end of an encrypted media file.
pub const MAC_LEN: usize = 10;
/// Length of the HKDF expansion of a media key.
pub const EXPANDED_LEN: usize = 112;

/// What kind of media a key protects; the kind picks the HKDF info string and the upload path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Image,
    Sticker,
    Product,
    Video,
    Gif,
    Ptv,
    Audio,
    Ptt,
    Document,
    History,
    AppState,
    ThumbnailLink,
    ThumbnailImage,
    ThumbnailVideo,
    ThumbnailDocument,
    StickerPack,
    PaymentBackground,
}

impl MediaType {
    /// Every media type, for tables and tests.
    pub const ALL: [MediaType; 17] = [
        MediaType::Image,
        MediaType::Sticker,
        MediaType::Product,
        MediaType::Video,
        MediaType::Gif,
        MediaType::Ptv,
        MediaType::Audio,
        MediaType::Ptt,
        MediaType::Document,
        MediaType::History,
        MediaType::AppState,
        MediaType::ThumbnailLink,
        MediaType::ThumbnailImage,
        MediaType::ThumbnailVideo,
        MediaType::ThumbnailDocument,
        MediaType::StickerPack,
        MediaType::PaymentBackground,
    ];

    /// The name WhatsApp clients use for the type (Baileys' `MediaType`, whatsmeow's `mms-type`).
    pub fn name(self) -> &'static str {
        match self {
            MediaType::Image => "image",
            MediaType::Sticker => "sticker",
            MediaType::Product => "product",
            MediaType::Video => "video",
            MediaType::Gif => "gif",
            MediaType::Ptv => "ptv",
            MediaType::Audio => "audio",
            MediaType::Ptt => "ptt",
            MediaType::Document => "document",
            MediaType::History => "md-msg-hist",
            MediaType::AppState => "md-app-state",
            MediaType::ThumbnailLink => "thumbnail-link",
            MediaType::ThumbnailImage => "thumbnail-image",
            MediaType::ThumbnailVideo => "thumbnail-video",
            MediaType::ThumbnailDocument => "thumbnail-document",
            MediaType::StickerPack => "sticker-pack",
            MediaType::PaymentBackground => "payment-bg-image",
        }
    }

    /// Parses [`MediaType::name`].
    pub fn from_name(name: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The HKDF info string: `"WhatsApp <T> Keys"`.
    pub fn hkdf_info(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker | MediaType::Product => "WhatsApp Image Keys",
            MediaType::Video | MediaType::Gif | MediaType::Ptv => "WhatsApp Video Keys",
            MediaType::Audio | MediaType::Ptt => "WhatsApp Audio Keys",
            MediaType::Document => "WhatsApp Document Keys",
            MediaType::History => "WhatsApp History Keys",
            MediaType::AppState => "WhatsApp App State Keys",
            MediaType::ThumbnailLink => "WhatsApp Link Thumbnail Keys",
            MediaType::ThumbnailImage => "WhatsApp Image Thumbnail Keys",
            MediaType::ThumbnailVideo => "WhatsApp Video Thumbnail Keys",
            MediaType::ThumbnailDocument => "WhatsApp Document Thumbnail Keys",
            MediaType::StickerPack => "WhatsApp Sticker Pack Keys",
            MediaType::PaymentBackground => "WhatsApp Payment Background Keys",
        }
    }

    /// The upload path segment under `https://{host}/mms/`.
    pub fn upload_path(self) -> &'static str {
        match self {
            MediaType::Image | MediaType::Sticker | MediaType::Product => "image",
            MediaType::ThumbnailLink | MediaType::ThumbnailImage => "image",
            MediaType::Video | MediaType::Gif | MediaType::Ptv | MediaType::ThumbnailVideo => {
                "video"
            }
            MediaType::Audio | MediaType::Ptt => "audio",
            MediaType::Document | MediaType::ThumbnailDocument => "document",
            MediaType::History => "md-msg-hist",
            MediaType::AppState => "md-app-state",
            MediaType::StickerPack => "sticker-pack",
            MediaType::PaymentBackground => "payment-bg-image",
        }
    }
}

/// The four keys expanded from a media key.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKeys {
    pub iv: [u8; 16],
    pub cipher_key: [u8; 32],
    pub mac_key: [u8; 32],
    pub ref_key: [u8; 32],
}

impl fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MediaKeys { .. }")
    }
}

impl MediaKeys {
    /// Expands `media_key` for `media_type`.
    pub fn derive(media_key: &[u8; 32], media_type: MediaType) -> MediaKeys {
        MediaKeys::derive_with_info(media_key, media_type.hkdf_info().as_bytes())
    }

    /// Expands `media_key` with an explicit HKDF info string (for types this enum does not name).
    pub fn derive_with_info(media_key: &[u8; 32], info: &[u8]) -> MediaKeys {
        let x = crypto::hkdf_sha256(media_key, &[], info, EXPANDED_LEN);
        let mut keys = MediaKeys {
            iv: [0; 16],
            cipher_key: [0; 32],
            mac_key: [0; 32],
            ref_key: [0; 32],
        };
        if x.len() == EXPANDED_LEN {
            keys.iv.copy_from_slice(&x[0..16]);
            keys.cipher_key.copy_from_slice(&x[16..48]);
            keys.mac_key.copy_from_slice(&x[48..80]);
            keys.ref_key.copy_from_slice(&x[80..112]);
        }
        keys
    }

    /// The 10-byte MAC of a ciphertext: `HMAC-SHA256(macKey, iv || ct)[..10]`.
    pub fn mac(&self, ciphertext: &[u8]) -> [u8; MAC_LEN] {
        let full = crypto::hmac_sha256_parts(&self.mac_key, &[&self.iv, ciphertext]);
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&full[..MAC_LEN]);
        mac
    }
}

/// An encrypted media file and the fields its message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedMedia {
    /// The upload body: `ciphertext || mac`.
    pub data: Vec<u8>,
    /// `fileSha256`: SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// `fileEncSha256`: SHA-256 of the upload body.
    pub file_enc_sha256: [u8; 32],
    /// `fileLength`: plaintext length.
    pub file_length: u64,
}

impl EncryptedMedia {
    /// The trailing MAC of [`EncryptedMedia::data`].
    pub fn mac(&self) -> &[u8] {
        &self.data[self.data.len().saturating_sub(MAC_LEN)..]
    }
}

/// Why media could not be decrypted.
#[derive(Debug)]
pub enum MediaError {
    /// Shorter than one cipher block plus the MAC, or the ciphertext is not whole blocks.
    BadLength(u64),
    /// The 10-byte MAC does not match: wrong key or corrupted/tampered file.
    MacMismatch,
    /// The padding was invalid even though the MAC matched (a broken sender).
    BadPadding,
    /// The SHA-256 of the download differs from the message's `fileEncSha256`.
    EncryptedHashMismatch,
    /// The SHA-256 of the plaintext differs from the message's `fileSha256`.
    PlaintextHashMismatch,
    /// Reading the source or writing the destination failed.
    Io(std::io::Error),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::BadLength(n) => {
                write!(f, "encrypted media has an impossible length ({n} bytes)")
            }
            MediaError::MacMismatch => f.write_str("media MAC does not match"),
            MediaError::BadPadding => f.write_str("media padding is invalid"),
            MediaError::EncryptedHashMismatch => f.write_str("encrypted media hash does not match"),
            MediaError::PlaintextHashMismatch => f.write_str("decrypted media hash does not match"),
            MediaError::Io(e) => write!(f, "media I/O failed: {e}"),
        }
    }
}

impl std::error::Error for MediaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MediaError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        MediaError::Io(e)
    }
}

/// Encrypts a whole file in memory.
pub fn encrypt(keys: &MediaKeys, plaintext: &[u8]) -> EncryptedMedia {
    let mut data = crypto::aes_cbc_encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let mac = keys.mac(&data);
    data.extend_from_slice(&mac);
    EncryptedMedia {
        file_sha256: crypto::sha256(plaintext),
        file_enc_sha256: crypto::sha256(&data),
        file_length: plaintext.len() as u64,
        data,
    }
}

/// Decrypts a whole downloaded file in memory, verifying the MAC before touching the ciphertext.
pub fn decrypt(keys: &MediaKeys, data: &[u8]) -> Result<Vec<u8>, MediaError> {
    let len = data.len();
    if len < 16 + MAC_LEN || !(len - MAC_LEN).is_multiple_of(16) {
        return Err(MediaError::BadLength(len as u64));
    }
    let (ciphertext, mac) = data.split_at(len - MAC_LEN);
    if !crypto::constant_time_eq(&keys.mac(ciphertext), mac) {
        return Err(MediaError::MacMismatch);
    }
    crypto::aes_cbc_decrypt(&keys.cipher_key, &keys.iv, ciphertext)
        .map_err(|_| MediaError::BadPadding)
}

/// Decrypts a download and checks it against the hashes its message carried.
pub fn decrypt_verified(
    keys: &MediaKeys,
    data: &[u8],
    file_enc_sha256: &[u8],
    file_sha256: &[u8],
) -> Result<Vec<u8>, MediaError> {
    if !crypto::constant_time_eq(&crypto::sha256(data), file_enc_sha256) {
        return Err(MediaError::EncryptedHashMismatch);
    }
    let plain = decrypt(keys, data)?;
    if !crypto::constant_time_eq(&crypto::sha256(&plain), file_sha256) {
        return Err(MediaError::PlaintextHashMismatch);
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_info_strings_follow_the_pattern() {
        for t in MediaType::ALL {
            assert_eq!(MediaType::from_name(t.name()), Some(t));
            let info = t.hkdf_info();
            assert!(
                info.starts_with("WhatsApp ") && info.ends_with(" Keys"),
                "{info}"
            );
        }
        assert_eq!(MediaType::from_name("ppic"), None);
    }

    #[test]
    fn keys_split_the_expansion_in_order() {
        let key = [4u8; 32];
        let x = crypto::hkdf_sha256(&key, &[], b"WhatsApp Audio Keys", 112);
        let k = MediaKeys::derive(&key, MediaType::Ptt);
        assert_eq!(
            [&k.iv[..], &k.cipher_key, &k.mac_key, &k.ref_key].concat(),
            x
        );
    }

    #[test]
    fn round_trip_and_tamper_detection() {
        let keys = MediaKeys::derive(&[9u8; 32], MediaType::Image);
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let enc = encrypt(&keys, &plain);
        assert_eq!(enc.data.len(), 1008 + MAC_LEN);
        assert_eq!(decrypt(&keys, &enc.data).unwrap(), plain);
        decrypt_verified(&keys, &enc.data, &enc.file_enc_sha256, &enc.file_sha256).unwrap();
        let mut bad = enc.data.clone();
        bad[3] ^= 1;
        assert!(matches!(decrypt(&keys, &bad), Err(MediaError::MacMismatch)));
        assert!(matches!(
            decrypt_verified(&keys, &bad, &enc.file_enc_sha256, &enc.file_sha256),
            Err(MediaError::EncryptedHashMismatch)
        ));
        assert!(matches!(
            decrypt(&keys, &enc.data[..20]),
            Err(MediaError::BadLength(20))
        ));
        let other = MediaKeys::derive(&[9u8; 32], MediaType::Video);
        assert!(matches!(
            decrypt(&other, &enc.data),
            Err(MediaError::MacMismatch)
        ));
    }
}
