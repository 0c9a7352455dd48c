//! The media message protos a simulated phone sends and reads (§8.3 field numbers): one builder for
//! the five kinds it sends, and one reader of the download fields of whatever kind arrives.

use crate::engine::media::content::{self, UploadedFile};
use crate::engine::media::{MediaKind, OutgoingMedia};
use crate::protocol::media::MediaType;
use crate::protocol::proto::generated::message::FutureProofMessage;
use crate::protocol::proto::generated::Message;

/// The media kinds a phone sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl Kind {
    pub(super) fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "image" => Kind::Image,
            "video" => Kind::Video,
            "audio" => Kind::Audio,
            "document" => Kind::Document,
            "sticker" => Kind::Sticker,
            _ => return None,
        })
    }

    /// What a mimetype suggests when `mediaType` is not given.
    pub(super) fn from_mimetype(mimetype: &str) -> Kind {
        match mimetype.split('/').next().unwrap_or_default() {
            "image" => Kind::Image,
            "video" => Kind::Video,
            "audio" => Kind::Audio,
            _ => Kind::Document,
        }
    }

    /// The same kind in the engine's terms.
    pub(super) fn engine_kind(self) -> MediaKind {
        match self {
            Kind::Image => MediaKind::Image,
            Kind::Video => MediaKind::Video,
            Kind::Audio => MediaKind::Audio,
            Kind::Document => MediaKind::Document,
            Kind::Sticker => MediaKind::Sticker,
        }
    }

    pub(super) fn media_type(self) -> MediaType {
        match self {
            Kind::Image => MediaType::Image,
            Kind::Video => MediaType::Video,
            Kind::Audio => MediaType::Audio,
            Kind::Document => MediaType::Document,
            Kind::Sticker => MediaType::Sticker,
        }
    }

    pub(super) fn default_mimetype(self) -> &'static str {
        match self {
            Kind::Image => "image/jpeg",
            Kind::Video => "video/mp4",
            Kind::Audio => "audio/ogg; codecs=opus",
            Kind::Document => "application/octet-stream",
            Kind::Sticker => "image/webp",
        }
    }
}

/// A file a phone is about to send.
pub(super) struct Outgoing {
    pub(super) kind: Kind,
    pub(super) bytes: Vec<u8>,
    pub(super) mimetype: String,
    pub(super) filename: Option<String>,
    pub(super) caption: Option<String>,
}

/// The fields every media message carries, after encryption and upload.
pub(super) struct Uploaded {
    pub(super) url: String,
    pub(super) direct_path: String,
    pub(super) media_key: Vec<u8>,
    pub(super) file_sha256: Vec<u8>,
    pub(super) file_enc_sha256: Vec<u8>,
    pub(super) file_length: u64,
    pub(super) media_key_timestamp: i64,
}

/// The message proto for an uploaded file: the engine's builder (one definition of each kind's
/// fields), plus what phones do differently: a document always has a name, and one with a caption
/// goes inside `documentWithCaptionMessage`, as Baileys sends it.
pub(super) fn media_message(file: &Outgoing, up: Uploaded) -> Message {
    let media = OutgoingMedia {
        kind: file.kind.engine_kind(),
        bytes: Vec::new(),
        mimetype: file.mimetype.clone(),
        filename: (file.kind == Kind::Document)
            .then(|| file.filename.clone().unwrap_or_else(|| "file".to_string())),
        caption: file.caption.clone(),
    };
    let uploaded = UploadedFile {
        url: up.url,
        direct_path: up.direct_path,
        media_key: <[u8; 32]>::try_from(up.media_key.as_slice()).ok(),
        file_sha256: <[u8; 32]>::try_from(up.file_sha256.as_slice()).unwrap_or_default(),
        file_enc_sha256: <[u8; 32]>::try_from(up.file_enc_sha256.as_slice()).ok(),
        file_length: up.file_length,
        key_timestamp: up.media_key_timestamp,
    };
    let message = content::media_message(&media, &uploaded);
    let captioned = file.caption.as_deref().is_some_and(|c| !c.is_empty());
    if file.kind == Kind::Document && captioned {
        Message {
            document_with_caption_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(message)),
            })),
            ..Default::default()
        }
    } else {
        message
    }
}

/// The download fields of a media message, whichever kind it is.
pub(super) struct Download<'a> {
    pub(super) kind: &'static str,
    pub(super) media_type: MediaType,
    pub(super) direct_path: Option<&'a str>,
    pub(super) url: Option<&'a str>,
    pub(super) media_key: Option<&'a [u8]>,
    pub(super) file_sha256: Option<&'a [u8]>,
    pub(super) file_enc_sha256: Option<&'a [u8]>,
    pub(super) file_length: Option<u64>,
    pub(super) mimetype: Option<&'a str>,
    pub(super) filename: Option<&'a str>,
    pub(super) caption: Option<&'a str>,
}

pub(super) fn download_fields(message: &Message) -> Option<Download<'_>> {
    let m = message.unwrapped();
    if let Some(i) = &m.image_message {
        return Some(Download {
            kind: "image",
            media_type: MediaType::Image,
            direct_path: i.direct_path.as_deref(),
            url: i.url.as_deref(),
            media_key: i.media_key.as_deref(),
            file_sha256: i.file_sha256.as_deref(),
            file_enc_sha256: i.file_enc_sha256.as_deref(),
            file_length: i.file_length,
            mimetype: i.mimetype.as_deref(),
            filename: None,
            caption: i.caption.as_deref(),
        });
    }
    if let Some(v) = m.video_message.as_ref().or(m.ptv_message.as_ref()) {
        return Some(Download {
            kind: "video",
            media_type: MediaType::Video,
            direct_path: v.direct_path.as_deref(),
            url: v.url.as_deref(),
            media_key: v.media_key.as_deref(),
            file_sha256: v.file_sha256.as_deref(),
            file_enc_sha256: v.file_enc_sha256.as_deref(),
            file_length: v.file_length,
            mimetype: v.mimetype.as_deref(),
            filename: None,
            caption: v.caption.as_deref(),
        });
    }
    if let Some(a) = &m.audio_message {
        return Some(Download {
            kind: "audio",
            media_type: MediaType::Audio,
            direct_path: a.direct_path.as_deref(),
            url: a.url.as_deref(),
            media_key: a.media_key.as_deref(),
            file_sha256: a.file_sha256.as_deref(),
            file_enc_sha256: a.file_enc_sha256.as_deref(),
            file_length: a.file_length,
            mimetype: a.mimetype.as_deref(),
            filename: None,
            caption: None,
        });
    }
    if let Some(d) = &m.document_message {
        return Some(Download {
            kind: "document",
            media_type: MediaType::Document,
            direct_path: d.direct_path.as_deref(),
            url: d.url.as_deref(),
            media_key: d.media_key.as_deref(),
            file_sha256: d.file_sha256.as_deref(),
            file_enc_sha256: d.file_enc_sha256.as_deref(),
            file_length: d.file_length,
            mimetype: d.mimetype.as_deref(),
            filename: d.file_name.as_deref(),
            caption: d.caption.as_deref(),
        });
    }
    let s = m.sticker_message.as_ref()?;
    Some(Download {
        kind: "sticker",
        media_type: MediaType::Sticker,
        direct_path: s.direct_path.as_deref(),
        url: s.url.as_deref(),
        media_key: s.media_key.as_deref(),
        file_sha256: s.file_sha256.as_deref(),
        file_enc_sha256: s.file_enc_sha256.as_deref(),
        file_length: s.file_length,
        mimetype: s.mimetype.as_deref(),
        filename: None,
        caption: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_with_a_caption_is_wrapped_like_baileys_does() {
        let file = Outgoing {
            kind: Kind::Document,
            bytes: vec![1, 2, 3],
            mimetype: "application/pdf".into(),
            filename: Some("a.pdf".into()),
            caption: Some("see".into()),
        };
        let up = Uploaded {
            url: "u".into(),
            direct_path: "/v/x".into(),
            media_key: vec![0; 32],
            file_sha256: vec![1; 32],
            file_enc_sha256: vec![2; 32],
            file_length: 3,
            media_key_timestamp: 1,
        };
        let m = media_message(&file, up);
        assert!(m.document_message.is_none());
        let d = download_fields(&m).unwrap();
        assert_eq!(
            (d.kind, d.filename, d.caption),
            ("document", Some("a.pdf"), Some("see"))
        );
        assert_eq!(m.kind().enc_mediatype(), Some("document"));
        assert_eq!(m.kind().stanza_type(), "media");
    }
}
