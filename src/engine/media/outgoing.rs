//! Sending media: encrypt (on the blocking pool), upload to a `media_conn` host (refreshing the auth
//! once when a host refuses it), then send the media `Message` through the same paths as texts
//! (1:1, group sender keys). Channel files go up unencrypted and the message names the upload's
//! handle as `media_id`.

use super::content::{media_message, UploadedFile};
use super::transfer::{token, upload, UploadFailure, Uploaded};
use super::{MediaError, OutgoingMedia};
use crate::engine::channels::ChannelError;
use crate::engine::groups::GroupError;
use crate::engine::messaging::{unix_now, Messenger, SentMessage};
use crate::engine::send::SendError;
use crate::protocol::crypto::{random_bytes, sha256};
use crate::protocol::jid::Jid;
use crate::protocol::media::{encrypt, MediaKeys};
use std::sync::Arc;

impl From<MediaError> for SendError {
    fn from(e: MediaError) -> Self {
        SendError::Media(e.to_string())
    }
}

/// A file ready to upload: the body and the message fields it will carry.
struct Sealed {
    body: Arc<Vec<u8>>,
    token: String,
    media_key: Option<[u8; 32]>,
    file_sha256: [u8; 32],
    file_enc_sha256: Option<[u8; 32]>,
    file_length: u64,
}

/// Encrypts `bytes` with a new media key (§9), or for a channel only hashes them.
fn seal(bytes: Vec<u8>, media: &OutgoingMedia, channel: bool) -> Sealed {
    let file_length = bytes.len() as u64;
    if channel {
        let file_sha256 = sha256(&bytes);
        return Sealed {
            token: token(&file_sha256),
            body: Arc::new(bytes),
            media_key: None,
            file_sha256,
            file_enc_sha256: None,
            file_length,
        };
    }
    let media_key: [u8; 32] = random_bytes();
    let keys = MediaKeys::derive(&media_key, media.kind.media_type());
    let encrypted = encrypt(&keys, &bytes);
    Sealed {
        token: token(&encrypted.file_enc_sha256),
        body: Arc::new(encrypted.data),
        media_key: Some(media_key),
        file_sha256: encrypted.file_sha256,
        file_enc_sha256: Some(encrypted.file_enc_sha256),
        file_length,
    }
}

impl Messenger {
    /// Seals and uploads `media`'s bytes; returns the message fields and the channel handle.
    async fn upload_media(
        &self,
        mut media: OutgoingMedia,
        channel: bool,
    ) -> Result<(OutgoingMedia, UploadedFile, Option<String>), MediaError> {
        let settings = self.media.settings();
        let length = media.bytes.len() as u64;
        if length == 0 || length > settings.max_bytes {
            return Err(MediaError::Size(length));
        }
        let bytes = std::mem::take(&mut media.bytes);
        let described = media.clone();
        let sealed = tokio::task::spawn_blocking(move || seal(bytes, &described, channel))
            .await
            .map_err(|e| MediaError::Transfer(e.to_string()))?;
        let kind_path = media.kind.media_type().upload_path();
        let mut refreshed = false;
        let uploaded: Uploaded = loop {
            let conn = self.media_conn(refreshed).await?;
            let (agent, body, token) = (
                self.media.agent(),
                Arc::clone(&sealed.body),
                sealed.token.clone(),
            );
            let attempt = tokio::task::spawn_blocking(move || {
                upload(
                    &agent,
                    settings.scheme,
                    &conn,
                    kind_path,
                    &token,
                    &body,
                    channel,
                )
            })
            .await
            .map_err(|e| MediaError::Transfer(e.to_string()))?;
            match attempt {
                Ok(uploaded) => break uploaded,
                Err(UploadFailure::AuthRefused) if !refreshed => {
                    self.media.invalidate();
                    refreshed = true;
                }
                Err(UploadFailure::AuthRefused) => {
                    return Err(MediaError::Transfer(
                        "the media host refused our auth".into(),
                    ))
                }
                Err(UploadFailure::Failed(e)) => return Err(e),
            }
        };
        let file = UploadedFile {
            url: uploaded.url,
            direct_path: uploaded.direct_path,
            media_key: sealed.media_key,
            file_sha256: sealed.file_sha256,
            file_enc_sha256: sealed.file_enc_sha256,
            file_length: sealed.file_length,
            key_timestamp: i64::try_from(unix_now()).unwrap_or_default(),
        };
        Ok((media, file, uploaded.handle))
    }

    /// Uploads `media` and sends it to `to` (a user), like [`Messenger::send_text`].
    pub async fn send_media(
        &self,
        to: &Jid,
        media: OutgoingMedia,
    ) -> Result<SentMessage, SendError> {
        let (media, file, _) = self.upload_media(media, false).await?;
        self.send_message_as(to, media_message(&media, &file), None)
            .await
    }

    /// Uploads `media` and sends it to `group` with our sender key.
    pub async fn send_group_media(
        &self,
        group: &Jid,
        media: OutgoingMedia,
    ) -> Result<SentMessage, GroupError> {
        let (media, file, _) = self
            .upload_media(media, false)
            .await
            .map_err(|e| GroupError::Send(e.into()))?;
        self.send_group_message(group, media_message(&media, &file))
            .await
    }

    /// Uploads `media` unencrypted and posts it to `channel` (owner or admin only).
    pub async fn send_channel_media(
        &self,
        channel: &Jid,
        media: OutgoingMedia,
    ) -> Result<SentMessage, ChannelError> {
        let (media, file, handle) = self
            .upload_media(media, true)
            .await
            .map_err(|e| ChannelError::Send(e.into()))?;
        self.send_channel_message(channel, media_message(&media, &file), handle)
            .await
    }
}

impl crate::engine::EngineHandle {
    /// Uploads a file and sends it to `to` (`PHONE@s.whatsapp.net`); upload failures are
    /// [`SendError::Media`].
    pub async fn send_media(
        &self,
        to: &Jid,
        media: OutgoingMedia,
    ) -> Result<SentMessage, SendError> {
        match &self.messenger {
            Some(m) => m.send_media(to, media).await,
            None => Err(SendError::NotConnected),
        }
    }

    /// Uploads a file and sends it to a group (`ID@g.us`), as `send_group_text` does texts.
    pub async fn send_group_media(
        &self,
        group: &Jid,
        media: OutgoingMedia,
    ) -> Result<SentMessage, GroupError> {
        match &self.messenger {
            Some(m) => m.send_group_media(group, media).await,
            None => Err(GroupError::Send(SendError::NotConnected)),
        }
    }

    /// Uploads a file (unencrypted, as channels are) and posts it to a channel we own or administer.
    pub async fn send_channel_media(
        &self,
        channel: &Jid,
        media: OutgoingMedia,
    ) -> Result<SentMessage, ChannelError> {
        match &self.messenger {
            Some(m) => m.send_channel_media(channel, media).await,
            None => Err(ChannelError::Send(SendError::NotConnected)),
        }
    }
}
