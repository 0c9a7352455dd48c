//! Media in the engine (§8.4, §9): sending images, videos, audio, documents and stickers (encrypted
//! upload to the host the `media_conn` iq names, then the message carrying the keys and hashes), and
//! downloading + verifying what peers send, before the message is recorded.
//!
//! - [`conn`]: the `media_conn` iq and its cache (hosts and upload auth, kept for the server's ttl).
//! - [`transfer`]: the HTTP side (upload, newsletter upload, capped download), blocking I/O run on
//!   tokio's blocking pool.
//! - [`content`]: the `Message` protos for each kind and reading attachments and reactions out of
//!   received ones.
//! - [`outgoing`]: `send_media`, `send_group_media`, `send_channel_media`.
//! - [`incoming`]: fetching a received attachment; [`reaction`]: sending a reaction.
//!
//! A received message's media is downloaded before the message is recorded; a failed download still
//! records the message with the media described (kind, mimetype, filename, caption) but without bytes.

pub mod conn;
pub mod content;
mod incoming;
mod outgoing;
pub mod reaction;
pub mod transfer;

use crate::protocol::media::MediaType;
use std::fmt;
use std::sync::Arc;

/// The media kinds a user can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    pub const ALL: [MediaKind; 5] = [
        MediaKind::Image,
        MediaKind::Video,
        MediaKind::Audio,
        MediaKind::Document,
        MediaKind::Sticker,
    ];

    /// `image`, `video`, `audio`, `document`, `sticker` (also the API's message `type`).
    pub fn name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// Parses [`MediaKind::name`].
    pub fn parse(name: &str) -> Option<MediaKind> {
        MediaKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The key-derivation and upload type of this kind.
    pub fn media_type(self) -> MediaType {
        match self {
            MediaKind::Image => MediaType::Image,
            MediaKind::Video => MediaType::Video,
            MediaKind::Audio => MediaType::Audio,
            MediaKind::Document => MediaType::Document,
            MediaKind::Sticker => MediaType::Sticker,
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A file to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMedia {
    pub kind: MediaKind,
    pub bytes: Vec<u8>,
    pub mimetype: String,
    /// Shown for documents (`fileName`); ignored by the other kinds.
    pub filename: Option<String>,
    /// Shown under images, videos and documents; stickers and audio have none.
    pub caption: Option<String>,
}

impl fmt::Debug for OutgoingMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMedia")
            .field("kind", &self.kind)
            .field("bytes", &self.bytes.len())
            .field("mimetype", &self.mimetype)
            .field("filename", &self.filename)
            .field("caption", &self.caption)
            .finish()
    }
}

/// Media carried by a received message. `bytes` is the verified plaintext, or `None` when the
/// download or its verification failed (`error` says why).
#[derive(Clone, PartialEq, Eq)]
pub struct ReceivedMedia {
    pub kind: MediaKind,
    pub mimetype: String,
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// `fileLength` as the sender declared it.
    pub size: u64,
    /// True for a voice note (`audioMessage.ptt`).
    pub voice: bool,
    /// Shared so that handing the message to several listeners copies no bytes.
    pub bytes: Option<Arc<[u8]>>,
    pub error: Option<String>,
}

impl fmt::Debug for ReceivedMedia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedMedia")
            .field("kind", &self.kind)
            .field("mimetype", &self.mimetype)
            .field("filename", &self.filename)
            .field("caption", &self.caption)
            .field("size", &self.size)
            .field("bytes", &self.bytes.as_ref().map(|b| b.len()))
            .field("error", &self.error)
            .finish()
    }
}

/// A reaction to a message. An empty `emoji` removes the sender's reaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedReaction {
    /// The id of the message reacted to.
    pub target_id: String,
    /// True when the message reacted to was sent by the reacting side (`key.fromMe`).
    pub target_from_me: bool,
    pub emoji: String,
}

/// How the engine reaches media hosts. `https` for WhatsApp; a simulator names its own scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaScheme {
    Http,
    Https,
}

impl MediaScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaScheme::Http => "http",
            MediaScheme::Https => "https",
        }
    }

    /// The scheme that goes with a chat socket URL: `ws://` → http, anything else https.
    pub fn for_socket_url(url: &str) -> MediaScheme {
        if url.starts_with("ws://") {
            MediaScheme::Http
        } else {
            MediaScheme::Https
        }
    }
}

/// Largest media file downloaded (or sent) by default: 64 MiB.
pub const DEFAULT_MAX_MEDIA_BYTES: u64 = 64 * 1024 * 1024;

/// What the connection tells the media side (from [`EngineConfig`](super::EngineConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSettings {
    pub scheme: MediaScheme,
    pub max_bytes: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            scheme: MediaScheme::Https,
            max_bytes: DEFAULT_MAX_MEDIA_BYTES,
        }
    }
}

/// Why media could not be sent or fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The file is empty or larger than the configured cap.
    Size(u64),
    /// The `media_conn` iq failed or named no host.
    NoHost(String),
    /// The HTTP transfer failed (status or I/O).
    Transfer(String),
    /// The host's answer was not what the protocol says.
    BadAnswer(String),
    /// The message's media fields are incomplete or unsafe (no key, bad path).
    BadMessage(String),
    /// Hash or MAC checks failed.
    Verify(String),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::Size(n) => write!(f, "media size {n} bytes is empty or over the limit"),
            MediaError::NoHost(e) => write!(f, "no media host: {e}"),
            MediaError::Transfer(e) => write!(f, "media transfer failed: {e}"),
            MediaError::BadAnswer(e) => write!(f, "unexpected media host answer: {e}"),
            MediaError::BadMessage(e) => write!(f, "unusable media message: {e}"),
            MediaError::Verify(e) => write!(f, "media verification failed: {e}"),
        }
    }
}

impl std::error::Error for MediaError {}
