//! Media in `Message` protos (§8.3 field numbers): building the message for an uploaded file, reading
//! the attachment (keys, hashes, path) and a reaction out of a received message, and the stanza
//! attributes a media message carries (`type="media"`, `<enc mediatype>`).

use super::{MediaKind, OutgoingMedia, ReceivedMedia, ReceivedReaction};
use crate::protocol::binary::{Content, Node};
use crate::protocol::media::MediaType;
use crate::protocol::proto::generated::message::{
    AudioMessage, DocumentMessage, ImageMessage, StickerMessage, VideoMessage,
};
use crate::protocol::proto::{ContentKind, Message};

/// What an upload produced, as the message carries it. Channel files have no key and no encrypted
/// hash (they are not encrypted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    pub url: String,
    pub direct_path: String,
    pub media_key: Option<[u8; 32]>,
    pub file_sha256: [u8; 32],
    pub file_enc_sha256: Option<[u8; 32]>,
    pub file_length: u64,
    /// `mediaKeyTimestamp`, Unix seconds.
    pub key_timestamp: i64,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|s| !s.is_empty()).cloned()
}

/// The `Message` announcing `file` as `media` describes it (the bytes themselves are not used).
pub fn media_message(media: &OutgoingMedia, file: &UploadedFile) -> Message {
    let url = Some(file.url.clone()).filter(|u| !u.is_empty());
    let direct_path = Some(file.direct_path.clone());
    let mimetype = Some(media.mimetype.clone());
    let key = file.media_key.map(|k| k.to_vec());
    let sha = Some(file.file_sha256.to_vec());
    let enc_sha = file.file_enc_sha256.map(|h| h.to_vec());
    let length = Some(file.file_length);
    let stamp = file.media_key.map(|_| file.key_timestamp);
    let caption = nonempty(&media.caption);
    match media.kind {
        MediaKind::Image => Message {
            image_message: Some(Box::new(ImageMessage {
                url,
                mimetype,
                caption,
                file_sha256: sha,
                file_length: length,
                media_key: key,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: stamp,
                ..Default::default()
            })),
            ..Default::default()
        },
        MediaKind::Video => Message {
            video_message: Some(Box::new(VideoMessage {
                url,
                mimetype,
                caption,
                file_sha256: sha,
                file_length: length,
                media_key: key,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: stamp,
                ..Default::default()
            })),
            ..Default::default()
        },
        MediaKind::Audio => Message {
            audio_message: Some(Box::new(AudioMessage {
                url,
                mimetype,
                file_sha256: sha,
                file_length: length,
                media_key: key,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: stamp,
                ..Default::default()
            })),
            ..Default::default()
        },
        MediaKind::Document => {
            let name = nonempty(&media.filename);
            Message {
                document_message: Some(Box::new(DocumentMessage {
                    url,
                    mimetype,
                    title: name.clone(),
                    file_sha256: sha,
                    file_length: length,
                    media_key: key,
                    file_name: name,
                    file_enc_sha256: enc_sha,
                    direct_path,
                    media_key_timestamp: stamp,
                    caption,
                    ..Default::default()
                })),
                ..Default::default()
            }
        }
        MediaKind::Sticker => Message {
            sticker_message: Some(Box::new(StickerMessage {
                url,
                mimetype,
                file_sha256: sha,
                file_length: length,
                media_key: key,
                file_enc_sha256: enc_sha,
                direct_path,
                media_key_timestamp: stamp,
                ..Default::default()
            })),
            ..Default::default()
        },
    }
}

/// A received message's file: what to download and how to check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub kind: MediaKind,
    /// The key-derivation type (a gif or round video is still "Video Keys", a sticker "Image Keys").
    pub media_type: MediaType,
    pub voice: bool,
    pub mimetype: String,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub file_length: u64,
    pub media_key: Vec<u8>,
    pub direct_path: Option<String>,
    pub url: Option<String>,
    pub file_sha256: Vec<u8>,
    pub file_enc_sha256: Vec<u8>,
}

impl Attachment {
    /// The message's media with the download's outcome.
    pub fn received(&self, outcome: Result<Vec<u8>, String>) -> ReceivedMedia {
        let (bytes, error) = match outcome {
            Ok(bytes) => (Some(bytes.into()), None),
            Err(e) => (None, Some(e)),
        };
        ReceivedMedia {
            kind: self.kind,
            mimetype: self.mimetype.clone(),
            filename: self.filename.clone(),
            caption: self.caption.clone(),
            size: self.file_length,
            voice: self.voice,
            bytes,
            error,
        }
    }
}

/// Fields every media message has, in the order of this tuple.
type Common<'a> = (
    &'a Option<String>,  // url
    &'a Option<String>,  // mimetype
    &'a Option<Vec<u8>>, // fileSha256
    Option<u64>,         // fileLength
    &'a Option<Vec<u8>>, // mediaKey
    &'a Option<Vec<u8>>, // fileEncSha256
    &'a Option<String>,  // directPath
);

fn attachment(
    kind: MediaKind,
    media_type: MediaType,
    common: Common<'_>,
    default_mime: &str,
) -> Attachment {
    let (url, mimetype, sha, length, key, enc_sha, path) = common;
    Attachment {
        kind,
        media_type,
        voice: false,
        mimetype: mimetype
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| default_mime.to_string()),
        filename: None,
        caption: None,
        file_length: length.unwrap_or_default(),
        media_key: key.clone().unwrap_or_default(),
        direct_path: path.clone().filter(|p| !p.is_empty()),
        url: url.clone().filter(|u| !u.is_empty()),
        file_sha256: sha.clone().unwrap_or_default(),
        file_enc_sha256: enc_sha.clone().unwrap_or_default(),
    }
}

/// The file a received message carries (after unwrapping device-sent, ephemeral, view-once and
/// document-with-caption wrappers), if any.
pub fn attachment_of(message: &Message) -> Option<Attachment> {
    let m = message.unwrapped();
    if let Some(i) = &m.image_message {
        let common = (
            &i.url,
            &i.mimetype,
            &i.file_sha256,
            i.file_length,
            &i.media_key,
            &i.file_enc_sha256,
            &i.direct_path,
        );
        let mut a = attachment(MediaKind::Image, MediaType::Image, common, "image/jpeg");
        a.caption = nonempty(&i.caption);
        return Some(a);
    }
    if let Some(v) = m.video_message.as_ref().or(m.ptv_message.as_ref()) {
        let common = (
            &v.url,
            &v.mimetype,
            &v.file_sha256,
            v.file_length,
            &v.media_key,
            &v.file_enc_sha256,
            &v.direct_path,
        );
        let mut a = attachment(MediaKind::Video, MediaType::Video, common, "video/mp4");
        a.caption = nonempty(&v.caption);
        return Some(a);
    }
    if let Some(au) = &m.audio_message {
        let common = (
            &au.url,
            &au.mimetype,
            &au.file_sha256,
            au.file_length,
            &au.media_key,
            &au.file_enc_sha256,
            &au.direct_path,
        );
        let mut a = attachment(MediaKind::Audio, MediaType::Audio, common, "audio/ogg");
        a.voice = au.ptt();
        return Some(a);
    }
    if let Some(d) = &m.document_message {
        let common = (
            &d.url,
            &d.mimetype,
            &d.file_sha256,
            d.file_length,
            &d.media_key,
            &d.file_enc_sha256,
            &d.direct_path,
        );
        let mut a = attachment(
            MediaKind::Document,
            MediaType::Document,
            common,
            "application/octet-stream",
        );
        a.filename = nonempty(&d.file_name).or_else(|| nonempty(&d.title));
        a.caption = nonempty(&d.caption);
        return Some(a);
    }
    if let Some(s) = &m.sticker_message {
        let common = (
            &s.url,
            &s.mimetype,
            &s.file_sha256,
            s.file_length,
            &s.media_key,
            &s.file_enc_sha256,
            &s.direct_path,
        );
        return Some(attachment(
            MediaKind::Sticker,
            MediaType::Sticker,
            common,
            "image/webp",
        ));
    }
    None
}

/// The reaction a received message carries, if it is one.
pub fn reaction_of(message: &Message) -> Option<ReceivedReaction> {
    let r = message.unwrapped().reaction_message.as_ref()?;
    let key = r.key.as_ref()?;
    let target_id = key.id.clone().filter(|id| !id.is_empty())?;
    Some(ReceivedReaction {
        target_id,
        target_from_me: key.from_me.unwrap_or(false),
        emoji: r.text.clone().unwrap_or_default(),
    })
}

fn mark_encs(node: &mut Node, mediatype: &str) {
    if matches!(node.tag.as_str(), "enc" | "plaintext") {
        node.set_attr("mediatype", mediatype);
    }
    if let Content::Nodes(children) = &mut node.content {
        for child in children {
            mark_encs(child, mediatype);
        }
    }
}

/// Sets the stanza attributes of non-text content on a built `<message>`: `type` (`media`,
/// `reaction`) and `mediatype` on every `<enc>`/`<plaintext>` for media. Texts are left as they are.
pub fn mark_stanza(stanza: &mut Node, message: &Message) {
    let kind = message.kind();
    if matches!(kind, ContentKind::Text | ContentKind::Unknown) {
        return;
    }
    stanza.set_attr("type", kind.stanza_type());
    if let Some(mediatype) = kind.enc_mediatype() {
        mark_encs(stanza, mediatype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::proto::generated::message::ReactionMessage;
    use crate::protocol::proto::generated::MessageKey;
    use crate::protocol::proto::ProtoMessage;

    fn file(key: bool) -> UploadedFile {
        UploadedFile {
            url: "https://h/v/1.enc".into(),
            direct_path: "/v/1.enc?ccb=1".into(),
            media_key: key.then_some([7u8; 32]),
            file_sha256: [1u8; 32],
            file_enc_sha256: key.then_some([2u8; 32]),
            file_length: 1234,
            key_timestamp: 1_700_000_000,
        }
    }

    fn outgoing(kind: MediaKind) -> OutgoingMedia {
        OutgoingMedia {
            kind,
            bytes: Vec::new(),
            mimetype: "x/y".into(),
            filename: Some("report.pdf".into()),
            caption: Some("look".into()),
        }
    }

    #[test]
    fn every_kind_round_trips_through_the_wire_encoding() {
        for kind in MediaKind::ALL {
            let built = media_message(&outgoing(kind), &file(true));
            let decoded = Message::decode(built.encode_to_vec().as_slice()).unwrap();
            let a = attachment_of(&decoded).unwrap_or_else(|| panic!("{kind}: no attachment"));
            assert_eq!(a.kind, kind);
            assert_eq!(a.media_type, kind.media_type());
            assert_eq!(a.mimetype, "x/y");
            assert_eq!(a.file_length, 1234);
            assert_eq!(a.media_key, [7u8; 32]);
            assert_eq!(a.file_sha256, [1u8; 32]);
            assert_eq!(a.file_enc_sha256, [2u8; 32]);
            assert_eq!(a.direct_path.as_deref(), Some("/v/1.enc?ccb=1"));
            assert_eq!(a.url.as_deref(), Some("https://h/v/1.enc"));
            let captioned = matches!(
                kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Document
            );
            assert_eq!(a.caption.is_some(), captioned, "{kind}");
            assert_eq!(
                a.filename.as_deref(),
                (kind == MediaKind::Document).then_some("report.pdf")
            );
            assert_eq!(decoded.kind().stanza_type(), "media");
        }
    }

    #[test]
    fn channel_files_carry_no_key() {
        let built = media_message(&outgoing(MediaKind::Image), &file(false));
        let image = built.image_message.unwrap();
        assert_eq!(image.media_key, None);
        assert_eq!(image.file_enc_sha256, None);
        assert_eq!(image.media_key_timestamp, None);
        assert_eq!(image.file_sha256, Some(vec![1u8; 32]));
    }

    #[test]
    fn reactions_are_read_and_texts_have_no_attachment() {
        let reaction = Message {
            reaction_message: Some(ReactionMessage {
                key: Some(MessageKey {
                    remote_jid: Some("1@s.whatsapp.net".into()),
                    from_me: Some(true),
                    id: Some("3EB0AA".into()),
                    participant: None,
                }),
                text: Some("👍".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = reaction_of(&reaction).unwrap();
        assert_eq!((r.target_id.as_str(), r.emoji.as_str()), ("3EB0AA", "👍"));
        assert!(r.target_from_me);
        assert!(attachment_of(&reaction).is_none());
        let text = crate::engine::send::text_message("hi");
        assert!(attachment_of(&text).is_none() && reaction_of(&text).is_none());
    }

    #[test]
    fn stanzas_of_media_are_marked_and_texts_left_alone() {
        let stanza = || {
            Node::new("message")
                .with_attr("type", "text")
                .with_child(Node::new("participants").with_child(
                    Node::new("to").with_child(Node::new("enc").with_attr("type", "msg")),
                ))
                .with_child(Node::new("enc").with_attr("type", "skmsg"))
        };
        let mut media = stanza();
        mark_stanza(
            &mut media,
            &media_message(&outgoing(MediaKind::Sticker), &file(true)),
        );
        assert_eq!(media.attr("type"), Some("media"));
        let to_enc = media.child_path(&["participants", "to", "enc"]).unwrap();
        assert_eq!(to_enc.attr("mediatype"), Some("sticker"));
        assert_eq!(
            media.child("enc").unwrap().attr("mediatype"),
            Some("sticker")
        );
        let mut text = stanza();
        mark_stanza(&mut text, &crate::engine::send::text_message("hi"));
        assert_eq!(text, stanza());
    }
}
