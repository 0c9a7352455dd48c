//! What a decoded `Message` contains: unwrapping of wrapper messages, its kind, its text, and the
//! `type`/`mediatype` attributes a sender puts on the `<message>` stanza and its `<enc>` nodes.

use super::generated::Message;

/// Wrappers are nested at most a few levels deep in practice; the limit only bounds the loop.
const MAX_WRAPPER_DEPTH: usize = 8;

/// The kind of content a message carries, after unwrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentKind {
    /// `conversation` or `extendedTextMessage`.
    Text,
    Image,
    Video,
    /// A video with `gifPlayback`.
    Gif,
    Audio,
    /// A voice note (`audioMessage.ptt`).
    Voice,
    Document,
    Sticker,
    Contact,
    Location,
    Reaction,
    /// `protocolMessage`: revoke, edit, history sync notification, app state key share, …
    Protocol,
    /// Only a sender key distribution and/or context info, no user-visible content.
    KeyDistribution,
    /// Something our schema does not model (polls, buttons, …) or nothing at all.
    Unknown,
}

impl ContentKind {
    /// The `type` attribute of an outgoing `<message>` stanza: `text`, `media` or `reaction`.
    pub fn stanza_type(self) -> &'static str {
        match self {
            ContentKind::Image
            | ContentKind::Video
            | ContentKind::Gif
            | ContentKind::Audio
            | ContentKind::Voice
            | ContentKind::Document
            | ContentKind::Sticker
            | ContentKind::Contact => "media",
            ContentKind::Reaction => "reaction",
            _ => "text",
        }
    }

    /// The `mediatype` attribute of `<enc>` nodes, for media content.
    pub fn enc_mediatype(self) -> Option<&'static str> {
        match self {
            ContentKind::Image => Some("image"),
            ContentKind::Video => Some("video"),
            ContentKind::Gif => Some("gif"),
            ContentKind::Audio => Some("audio"),
            ContentKind::Voice => Some("ptt"),
            ContentKind::Document => Some("document"),
            ContentKind::Sticker => Some("sticker"),
            ContentKind::Contact => Some("vcard"),
            _ => None,
        }
    }
}

impl Message {
    /// The innermost content: follows `deviceSentMessage.message` and the future-proof wrappers
    /// (ephemeral, view-once v1/v2/v2-extension, document-with-caption, edited).
    pub fn unwrapped(&self) -> &Message {
        let mut current = self;
        for _ in 0..MAX_WRAPPER_DEPTH {
            let inner = current
                .device_sent_message
                .as_ref()
                .and_then(|dsm| dsm.message.as_deref())
                .or_else(|| {
                    [
                        &current.ephemeral_message,
                        &current.view_once_message,
                        &current.view_once_message_v2,
                        &current.view_once_message_v2_extension,
                        &current.document_with_caption_message,
                        &current.edited_message,
                    ]
                    .into_iter()
                    .find_map(|w| w.as_ref().and_then(|fp| fp.message.as_deref()))
                });
            match inner {
                Some(next) => current = next,
                None => break,
            }
        }
        current
    }

    /// What the (unwrapped) message carries.
    pub fn kind(&self) -> ContentKind {
        let m = self.unwrapped();
        if m.conversation.is_some() || m.extended_text_message.is_some() {
            ContentKind::Text
        } else if m.image_message.is_some() {
            ContentKind::Image
        } else if let Some(video) = m.video_message.as_ref().or(m.ptv_message.as_ref()) {
            if video.gif_playback() {
                ContentKind::Gif
            } else {
                ContentKind::Video
            }
        } else if let Some(audio) = &m.audio_message {
            if audio.ptt() {
                ContentKind::Voice
            } else {
                ContentKind::Audio
            }
        } else if m.document_message.is_some() {
            ContentKind::Document
        } else if m.sticker_message.is_some() {
            ContentKind::Sticker
        } else if m.contact_message.is_some() {
            ContentKind::Contact
        } else if m.location_message.is_some() {
            ContentKind::Location
        } else if m.reaction_message.is_some() {
            ContentKind::Reaction
        } else if m.protocol_message.is_some() {
            ContentKind::Protocol
        } else if m.sender_key_distribution_message.is_some() || m.message_context_info.is_some() {
            ContentKind::KeyDistribution
        } else {
            ContentKind::Unknown
        }
    }

    /// The user-visible text of the (unwrapped) message: the text itself, or a media caption.
    pub fn text(&self) -> Option<&str> {
        let m = self.unwrapped();
        m.conversation
            .as_deref()
            .or_else(|| m.extended_text_message.as_ref()?.text.as_deref())
            .or_else(|| m.image_message.as_ref()?.caption.as_deref())
            .or_else(|| m.video_message.as_ref()?.caption.as_deref())
            .or_else(|| m.document_message.as_ref()?.caption.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::super::generated::message::{
        AudioMessage, DeviceSentMessage, FutureProofMessage, ImageMessage, ReactionMessage,
        VideoMessage,
    };
    use super::*;

    fn text(s: &str) -> Message {
        Message {
            conversation: Some(s.to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn unwraps_device_sent_and_future_proof_wrappers() {
        let inner = Message {
            image_message: Some(Box::new(ImageMessage {
                caption: Some("look".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let view_once = Message {
            view_once_message_v2: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(inner.clone())),
            })),
            ..Default::default()
        };
        let ephemeral = Message {
            ephemeral_message: Some(Box::new(FutureProofMessage {
                message: Some(Box::new(view_once)),
            })),
            ..Default::default()
        };
        let dsm = Message {
            device_sent_message: Some(Box::new(DeviceSentMessage {
                destination_jid: Some("1@s.whatsapp.net".into()),
                message: Some(Box::new(ephemeral)),
                phash: None,
            })),
            ..Default::default()
        };
        assert_eq!(dsm.unwrapped(), &inner);
        assert_eq!(dsm.kind(), ContentKind::Image);
        assert_eq!(dsm.text(), Some("look"));
        assert_eq!(ContentKind::Image.stanza_type(), "media");
        assert_eq!(ContentKind::Image.enc_mediatype(), Some("image"));
    }

    #[test]
    fn kinds_and_attributes() {
        assert_eq!(text("hi").kind(), ContentKind::Text);
        assert_eq!(text("hi").kind().stanza_type(), "text");
        assert_eq!(text("hi").kind().enc_mediatype(), None);
        let voice = Message {
            audio_message: Some(Box::new(AudioMessage {
                ptt: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(voice.kind().enc_mediatype(), Some("ptt"));
        let gif = Message {
            video_message: Some(Box::new(VideoMessage {
                gif_playback: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(gif.kind(), ContentKind::Gif);
        let reaction = Message {
            reaction_message: Some(ReactionMessage::default()),
            ..Default::default()
        };
        assert_eq!(reaction.kind().stanza_type(), "reaction");
        assert_eq!(Message::default().kind(), ContentKind::Unknown);
        assert_eq!(Message::default().text(), None);
    }
}
