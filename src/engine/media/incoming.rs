//! Fetching the file of a received message: the `media_conn` hosts (cached), the download of its
//! direct path with a size cap, and the checks of §9 (SHA-256 of the download, MAC, decryption,
//! SHA-256 of the plaintext). The receive path records the message after this, with the bytes or,
//! when any step failed, with the media described and the reason logged.

use super::conn::{media_conn_query, parse_media_conn, MediaConn};
use super::content::Attachment;
use super::transfer::{download, path_of_url};
use super::{MediaError, ReceivedMedia};
use crate::engine::messaging::Messenger;
use crate::protocol::crypto::constant_time_eq;
use crate::protocol::media::stream::decrypt_stream;
use crate::protocol::media::{MediaError as CryptoError, MediaKeys};
use std::io::Read;

/// Bytes encryption adds to a file: up to one block of padding and the MAC.
const ENCRYPTION_OVERHEAD: u64 = 16 + crate::protocol::media::MAC_LEN as u64;

impl Messenger {
    /// The media hosts and upload auth: the cached answer while its ttl lasts, else a new iq.
    pub(in crate::engine) async fn media_conn(
        &self,
        refresh: bool,
    ) -> Result<MediaConn, MediaError> {
        if !refresh {
            if let Some(conn) = self.media.cached() {
                return Ok(conn);
            }
        }
        let answer = self
            .iq(media_conn_query())
            .await
            .map_err(|e| MediaError::NoHost(e.to_string()))?;
        let conn = parse_media_conn(&answer)?;
        self.media.remember(conn.clone());
        Ok(conn)
    }

    /// Downloads and verifies `attachment`; never fails: a failure is logged and leaves the media
    /// described without bytes.
    pub(in crate::engine) async fn fetch_attachment(
        &self,
        message_id: &str,
        attachment: &Attachment,
    ) -> Box<ReceivedMedia> {
        let outcome = self.download_verified(attachment).await;
        if let Err(e) = &outcome {
            log::warn!(
                "engine: {} of message {message_id} not downloaded: {e}",
                attachment.kind
            );
        }
        Box::new(attachment.received(outcome.map_err(|e| e.to_string())))
    }

    async fn download_verified(&self, a: &Attachment) -> Result<Vec<u8>, MediaError> {
        let settings = self.media.settings();
        if a.file_length > settings.max_bytes {
            return Err(MediaError::Size(a.file_length));
        }
        let key: [u8; 32] = a
            .media_key
            .as_slice()
            .try_into()
            .map_err(|_| MediaError::BadMessage("no 32-byte media key".into()))?;
        if a.file_sha256.len() != 32 || a.file_enc_sha256.len() != 32 {
            return Err(MediaError::BadMessage("missing file hashes".into()));
        }
        let path = a
            .direct_path
            .clone()
            .or_else(|| a.url.as_deref().and_then(path_of_url).map(str::to_string))
            .ok_or_else(|| MediaError::BadMessage("no direct path".into()))?;
        let conn = self.media_conn(false).await?;
        let agent = self.media.agent();
        let (media_type, enc_sha, sha) = (
            a.media_type,
            a.file_enc_sha256.clone(),
            a.file_sha256.clone(),
        );
        let cap = settings.max_bytes.saturating_add(ENCRYPTION_OVERHEAD);
        let expected_len = a.file_length.min(settings.max_bytes) as usize;
        tokio::task::spawn_blocking(move || {
            let keys = MediaKeys::derive(&key, media_type);
            // Decrypted as it arrives: only the plaintext is held, and none of it is used before
            // the MAC and both hashes have been checked.
            let decrypt = |body: &mut dyn Read| {
                let mut plain = Vec::with_capacity(expected_len);
                let digest = decrypt_stream(&keys, body, &mut plain).map_err(|e| match e {
                    CryptoError::Io(e) => MediaError::Transfer(e.to_string()),
                    e => MediaError::Verify(e.to_string()),
                })?;
                if !constant_time_eq(&digest.file_enc_sha256, &enc_sha) {
                    return Err(MediaError::Verify(
                        "encrypted media hash does not match".into(),
                    ));
                }
                if !constant_time_eq(&digest.file_sha256, &sha) {
                    return Err(MediaError::Verify(
                        "decrypted media hash does not match".into(),
                    ));
                }
                Ok(plain)
            };
            let mms_type = media_type.upload_path();
            let hosts = &conn.hosts;
            download(
                &agent,
                settings.scheme,
                hosts,
                &path,
                &enc_sha,
                mms_type,
                cap,
                decrypt,
            )
        })
        .await
        .map_err(|e| MediaError::Transfer(e.to_string()))?
    }
}
