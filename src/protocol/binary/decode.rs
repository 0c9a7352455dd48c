//! Bytes → node. Total on its input: every malformed frame comes back as a [`DecodeError`].
//!
//! Bounds: nesting depth ≤ [`MAX_DEPTH`], inflated size ≤ [`MAX_INFLATED`], and no allocation is sized
//! by a length field before the bytes it announces are known to be there.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

use super::node::{AttrValue, Content, Node};
use super::packed::{self, Alphabet, UnpackError};
use super::tag;
use super::token;
use super::MAX_DEPTH;
use crate::protocol::jid::{Jid, Server};

/// Largest node a compressed frame may inflate to.
pub const MAX_INFLATED: usize = 32 << 20;

/// Why bytes are not a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame is empty (not even a flag byte).
    EmptyFrame,
    /// The input ended inside an item.
    EndOfStream,
    /// A compressed frame is not a valid zlib stream.
    Inflate,
    /// A compressed frame inflates to more than [`MAX_INFLATED`] bytes.
    TooLarge,
    /// A byte that is not valid where it stands (e.g. tag 240, or a string where a list must be).
    InvalidTag { tag: u8, offset: usize },
    /// A node with list size 0 or an empty tag.
    InvalidNode { offset: usize },
    /// A JID whose parts are not strings, or whose server is empty or wrong for its encoding.
    InvalidJid { offset: usize },
    /// A packed string with a character outside its alphabet.
    InvalidPacked { offset: usize },
    /// Nodes nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Bytes left over after the node.
    TrailingBytes(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::EmptyFrame => f.write_str("empty frame"),
            DecodeError::EndOfStream => f.write_str("end of stream"),
            DecodeError::Inflate => f.write_str("compressed frame is not valid zlib"),
            DecodeError::TooLarge => write!(f, "frame inflates past {MAX_INFLATED} bytes"),
            DecodeError::InvalidTag { tag, offset } => {
                write!(f, "invalid tag {tag} at offset {offset}")
            }
            DecodeError::InvalidNode { offset } => write!(f, "invalid node at offset {offset}"),
            DecodeError::InvalidJid { offset } => write!(f, "invalid JID at offset {offset}"),
            DecodeError::InvalidPacked { offset } => {
                write!(f, "invalid packed string at offset {offset}")
            }
            DecodeError::TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} bytes left after the node"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a frame body: the flag byte (bit `0x02` = zlib-compressed), then one node.
pub fn decode(frame: &[u8]) -> Result<Node, DecodeError> {
    let body = unpack_frame(frame)?;
    decode_node(&body)
}

/// Strips the flag byte, inflating the rest when the frame says it is zlib (RFC 1950) compressed.
pub fn unpack_frame(frame: &[u8]) -> Result<Cow<'_, [u8]>, DecodeError> {
    let (&flags, body) = frame.split_first().ok_or(DecodeError::EmptyFrame)?;
    if flags & 0x02 == 0 {
        return Ok(Cow::Borrowed(body));
    }
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|_| DecodeError::Inflate)?;
    if inflated.len() > MAX_INFLATED {
        return Err(DecodeError::TooLarge);
    }
    Ok(Cow::Owned(inflated))
}

/// Decodes one node that fills `data` exactly (no flag byte).
pub fn decode_node(data: &[u8]) -> Result<Node, DecodeError> {
    let mut reader = Reader { data, pos: 0 };
    let node = reader.node(0)?;
    match data.len() - reader.pos {
        0 => Ok(node),
        left => Err(DecodeError::TrailingBytes(left)),
    }
}

/// A string-position item: text or a JID.
enum Text {
    Str(String),
    Jid(Jid),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Text::Str(s) => s,
            Text::Jid(j) => j.to_string(),
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.data.get(self.pos).ok_or(DecodeError::EndOfStream)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::EndOfStream)?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or(DecodeError::EndOfStream)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn invalid_tag(&self, tag: u8) -> DecodeError {
        DecodeError::InvalidTag {
            tag,
            offset: self.pos.saturating_sub(1),
        }
    }

    fn list_size(&mut self, tag: u8) -> Result<usize, DecodeError> {
        match tag {
            tag::LIST_EMPTY => Ok(0),
            tag::LIST_8 => Ok(usize::from(self.byte()?)),
            tag::LIST_16 => Ok(usize::from(self.u16()?)),
            other => Err(self.invalid_tag(other)),
        }
    }

    /// The length after a BINARY_8/20/32 tag, checked against what is left.
    fn byte_length(&mut self, tag: u8) -> Result<usize, DecodeError> {
        let len = match tag {
            tag::BINARY_8 => usize::from(self.byte()?),
            tag::BINARY_20 => {
                let b = self.take(3)?;
                (usize::from(b[0] & 0x0F) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
            }
            _ => {
                let b = self.take(4)?;
                u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
            }
        };
        if len > self.remaining() {
            return Err(DecodeError::EndOfStream);
        }
        Ok(len)
    }

    fn node(&mut self, depth: usize) -> Result<Node, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let start = self.pos;
        let list_tag = self.byte()?;
        let size = self.list_size(list_tag)?;
        if size == 0 {
            return Err(DecodeError::InvalidNode { offset: start });
        }
        let tag_byte = self.byte()?;
        let tag = self.text(tag_byte)?.into_string();
        if tag.is_empty() {
            return Err(DecodeError::InvalidNode { offset: start });
        }
        let n_attrs = (size - 1) / 2;
        // Each attribute takes at least two bytes: never reserve more than the input could hold.
        let mut attrs = Vec::with_capacity(n_attrs.min(self.remaining() / 2));
        for _ in 0..n_attrs {
            let key_tag = self.byte()?;
            // Baileys writes any string with '@' as a JID, names included; read it back as text.
            let key = self.text(key_tag)?.into_string();
            let value_tag = self.byte()?;
            let value = match self.text(value_tag)? {
                Text::Str(s) => AttrValue::Str(s),
                Text::Jid(j) => AttrValue::Jid(j),
            };
            attrs.push((key, value));
        }
        let content = if size % 2 == 0 {
            self.content(depth)?
        } else {
            Content::None
        };
        Ok(Node {
            tag,
            attrs,
            content,
        })
    }

    fn content(&mut self, depth: usize) -> Result<Content, DecodeError> {
        let tag = self.byte()?;
        match tag {
            tag::LIST_EMPTY => Ok(Content::Nodes(Vec::new())),
            tag::LIST_8 | tag::LIST_16 => {
                let count = self.list_size(tag)?;
                // A child takes at least three bytes.
                let mut children = Vec::with_capacity(count.min(self.remaining() / 3));
                for _ in 0..count {
                    children.push(self.node(depth + 1)?);
                }
                Ok(Content::Nodes(children))
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let len = self.byte_length(tag)?;
                Ok(Content::Bytes(self.take(len)?.to_vec()))
            }
            _ => Ok(match self.text(tag)? {
                Text::Str(s) => Content::Str(s),
                Text::Jid(j) => Content::Jid(j),
            }),
        }
    }

    /// A string-position item: token, packed, raw (lossy UTF-8) or JID. `LIST_EMPTY` is `""`.
    fn text(&mut self, tag: u8) -> Result<Text, DecodeError> {
        let offset = self.pos.saturating_sub(1);
        match tag {
            tag::JID_PAIR => {
                let user = self.plain_part(offset)?;
                let server = self.plain_part(offset)?;
                if server.is_empty() {
                    return Err(DecodeError::InvalidJid { offset });
                }
                Ok(Text::Jid(Jid::new(user, Server::from_name(&server))))
            }
            tag::AD_JID => {
                let domain = self.byte()?;
                let device = self.byte()?;
                let user = self.plain_part(offset)?;
                Ok(Text::Jid(Jid::from_ad_parts(
                    user,
                    domain,
                    u16::from(device),
                )))
            }
            tag::FB_JID => {
                let user = self.plain_part(offset)?;
                let device = self.u16()?;
                let server = self.plain_part(offset)?;
                if server != Server::Messenger.as_str() {
                    return Err(DecodeError::InvalidJid { offset });
                }
                Ok(Text::Jid(
                    Jid::new(user, Server::Messenger).with_device(device),
                ))
            }
            tag::INTEROP_JID => {
                let user = self.plain_part(offset)?;
                let device = self.u16()?;
                let integrator = self.u16()?;
                let server = self.plain_part(offset)?;
                if server != Server::Interop.as_str() {
                    return Err(DecodeError::InvalidJid { offset });
                }
                let mut jid = Jid::new(user, Server::Interop).with_device(device);
                jid.integrator = integrator;
                Ok(Text::Jid(jid))
            }
            other => self.plain(other).map(Text::Str),
        }
    }

    /// A JID part: any string item except another JID.
    fn plain_part(&mut self, jid_offset: usize) -> Result<String, DecodeError> {
        let tag = self.byte()?;
        if matches!(
            tag,
            tag::JID_PAIR | tag::AD_JID | tag::FB_JID | tag::INTEROP_JID
        ) {
            return Err(DecodeError::InvalidJid { offset: jid_offset });
        }
        self.plain(tag)
    }

    fn plain(&mut self, tag: u8) -> Result<String, DecodeError> {
        match tag {
            tag::LIST_EMPTY => Ok(String::new()),
            1..=235 => token::single(tag)
                .map(str::to_string)
                .ok_or_else(|| self.invalid_tag(tag)),
            tag::DICTIONARY_0..=tag::DICTIONARY_3 => {
                let index = self.byte()?;
                token::double(tag - tag::DICTIONARY_0, index)
                    .map(str::to_string)
                    .ok_or_else(|| self.invalid_tag(tag))
            }
            tag::NIBBLE_8 | tag::HEX_8 => {
                let alphabet = if tag == tag::NIBBLE_8 {
                    Alphabet::Nibble
                } else {
                    Alphabet::Hex
                };
                let offset = self.pos;
                match packed::unpack(&self.data[self.pos..], alphabet) {
                    Ok((text, used)) => {
                        self.pos += used;
                        Ok(text)
                    }
                    Err(UnpackError::Truncated) => Err(DecodeError::EndOfStream),
                    Err(UnpackError::BadNibble(_)) => Err(DecodeError::InvalidPacked { offset }),
                }
            }
            tag::BINARY_8 | tag::BINARY_20 | tag::BINARY_32 => {
                let len = self.byte_length(tag)?;
                let bytes = self.take(len)?;
                // Lossy, as Baileys: one odd byte in a display name must not drop the whole stanza.
                Ok(String::from_utf8_lossy(bytes).into_owned())
            }
            other => Err(self.invalid_tag(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(decode(&[]), Err(DecodeError::EmptyFrame));
        assert_eq!(decode(&[0, 0xF8]), Err(DecodeError::EndOfStream));
        assert_eq!(
            decode(&[0, 0, 0]),
            Err(DecodeError::InvalidNode { offset: 0 })
        );
        assert_eq!(
            decode(&[0, 0xF8, 1, 0xF0]),
            Err(DecodeError::InvalidTag {
                tag: 0xF0,
                offset: 2
            })
        );
        assert_eq!(
            decode(&[0, 0xF8, 1, 0x19, 0x19]),
            Err(DecodeError::TrailingBytes(1))
        );
        // Tag position holding LIST_EMPTY: an empty tag.
        assert_eq!(
            decode(&[0, 0xF8, 1, 0]),
            Err(DecodeError::InvalidNode { offset: 0 })
        );
        // JID_PAIR whose user is itself a JID.
        assert_eq!(
            decode(&[0, 0xF8, 3, 0x13, 0x11, 0xFA, 0xFA, 0, 3, 3]),
            Err(DecodeError::InvalidJid { offset: 4 })
        );
        // FB_JID whose server is not msgr.
        assert_eq!(
            decode(&[0, 0xF8, 3, 0x13, 0x11, 0xF6, 0x55, 0, 1, 3]),
            Err(DecodeError::InvalidJid { offset: 4 })
        );
        assert_eq!(decode(&[2, 1, 2, 3]), Err(DecodeError::Inflate));
    }

    #[test]
    fn typed_jids_and_content_kinds_round_trip() {
        use crate::protocol::binary::encode;
        let mut interop = Jid::new("15551234567", Server::Interop).with_device(2);
        interop.integrator = 7;
        let node = Node::new("message")
            .with_attr("to", Jid::lid("123456").with_device(3))
            .with_attr("from", Jid::new("555", Server::Hosted).with_device(1))
            .with_attr("h", Jid::new("556", Server::HostedLid))
            .with_attr("fb", Jid::new("100", Server::Messenger).with_device(300))
            .with_attr("io", interop)
            .with_attr("agent", Jid::from_ad_parts("77", 9, 4))
            .with_attr("srv", Jid::server_jid())
            .with_children([
                Node::new("a").with_text("available"),
                Node::new("b").with_text("3EB0"),
                Node::new("c").with_bytes(vec![9; 70_000]),
                Node::new("d").with_children(Vec::new()),
                Node::new("e").with_attr("x", Jid::group_server()),
            ]);
        let bytes = encode(&node).unwrap_or_default();
        assert_eq!(decode(&bytes), Ok(node));
    }

    #[test]
    fn zlib_frames_and_stream_end() {
        use std::io::Write;
        assert_eq!(
            decode(&[0, 0xF8, 1, tag::STREAM_END]).map(|n| n.tag),
            Ok("xmlstreamend".into())
        );
        let mut z = flate2::write::ZlibEncoder::new(vec![2], flate2::Compression::default());
        let written = z.write_all(&[0xF8, 3, 0x19, 0x08, 0xFF, 0x01, 0x99]);
        let frame = z.finish().unwrap_or_default();
        assert!(written.is_ok());
        let node = decode(&frame).unwrap_or_default();
        assert_eq!((node.tag.as_str(), node.attr("id")), ("iq", Some("99")));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut frame = vec![0];
        for _ in 0..=MAX_DEPTH + 2 {
            frame.extend_from_slice(&[0xF8, 2, 0x19, 0xF8, 1]);
        }
        frame.extend_from_slice(&[0xF8, 1, 0x19]);
        assert_eq!(decode(&frame), Err(DecodeError::TooDeep));
    }

    #[test]
    fn huge_declared_sizes_fail_without_allocating() {
        // LIST_16 of 65535 children, BINARY_32 of 4 GiB: both must end in EndOfStream.
        assert_eq!(
            decode(&[0, 0xF8, 2, 0x19, 0xF9, 0xFF, 0xFF]),
            Err(DecodeError::EndOfStream)
        );
        assert_eq!(
            decode(&[0, 0xF8, 2, 0x19, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 1]),
            Err(DecodeError::EndOfStream)
        );
    }
}
