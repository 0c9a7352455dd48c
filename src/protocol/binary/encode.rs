//! Node → bytes, byte-for-byte as Baileys' `encodeBinaryNode` (and whatsmeow for typed JIDs).

use std::fmt;

use super::node::{AttrValue, Content, Node};
use super::packed::{self, Alphabet};
use super::tag;
use super::token::{self, Token};
use super::MAX_DEPTH;
use crate::protocol::jid::{Jid, Server};

/// Why a node cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A node has more than 65535 list items (children, or 1 + 2·attributes + content).
    TooManyItems(usize),
    /// A string or byte payload is 2^32 bytes or longer.
    TooLong(usize),
    /// A JID's device does not fit the one-byte AD_JID device field.
    DeviceTooLarge(u16),
    /// A node has an empty tag.
    EmptyTag,
    /// Children are nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyItems(n) => write!(f, "a list of {n} items does not fit LIST_16"),
            EncodeError::TooLong(n) => write!(f, "{n} bytes do not fit BINARY_32"),
            EncodeError::DeviceTooLarge(d) => write!(f, "device {d} does not fit an AD_JID"),
            EncodeError::EmptyTag => f.write_str("a node needs a non-empty tag"),
            EncodeError::TooDeep => write!(f, "nodes are nested deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Encodes a whole frame body: the `0x00` flag byte (uncompressed), then the node.
pub fn encode(node: &Node) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(estimate_len(node, 0));
    encode_into(node, &mut out)?;
    Ok(out)
}

/// Appends the `0x00` flag byte and the node to `out` (on error, `out` may hold a partial node).
pub fn encode_into(node: &Node, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(0);
    encode_node_into(node, out)
}

/// Appends the node alone, without a flag byte.
pub fn encode_node_into(node: &Node, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Writer { out }.node(node, 0)
}

/// A cheap upper-ish bound on the encoded size, so big payloads are copied once.
fn estimate_len(node: &Node, depth: usize) -> usize {
    let attrs: usize = node
        .attrs
        .iter()
        .map(|(k, v)| {
            k.len()
                + 4
                + match v {
                    AttrValue::Str(s) => s.len() + 4,
                    AttrValue::Jid(j) => j.user.len() + 16,
                }
        })
        .sum();
    let content = match &node.content {
        Content::None => 0,
        Content::Bytes(b) => b.len() + 5,
        Content::Str(s) => s.len() + 5,
        Content::Jid(j) => j.user.len() + 16,
        Content::Nodes(children) if depth < MAX_DEPTH => {
            3 + children
                .iter()
                .map(|c| estimate_len(c, depth + 1))
                .sum::<usize>()
        }
        Content::Nodes(_) => 0,
    };
    1 + 3 + node.tag.len() + 2 + attrs + content
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn node(&mut self, node: &Node, depth: usize) -> Result<(), EncodeError> {
        if depth > MAX_DEPTH {
            return Err(EncodeError::TooDeep);
        }
        if node.tag.is_empty() {
            return Err(EncodeError::EmptyTag);
        }
        let has_content = !matches!(node.content, Content::None);
        self.list_start(1 + 2 * node.attrs.len() + usize::from(has_content))?;
        self.string(&node.tag)?;
        for (key, value) in &node.attrs {
            self.string(key)?;
            match value {
                AttrValue::Str(s) => self.string(s)?,
                AttrValue::Jid(j) => self.jid(j)?,
            }
        }
        match &node.content {
            Content::None => {}
            Content::Str(s) => self.string(s)?,
            Content::Jid(j) => self.jid(j)?,
            Content::Bytes(b) => {
                self.byte_length(b.len())?;
                self.out.extend_from_slice(b);
            }
            Content::Nodes(children) => {
                self.list_start(children.len())?;
                for child in children {
                    self.node(child, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn list_start(&mut self, len: usize) -> Result<(), EncodeError> {
        match len {
            0 => self.out.push(tag::LIST_EMPTY),
            1..=255 => self.out.extend_from_slice(&[tag::LIST_8, len as u8]),
            256..=0xFFFF => {
                self.out.push(tag::LIST_16);
                self.out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => return Err(EncodeError::TooManyItems(len)),
        }
        Ok(())
    }

    fn byte_length(&mut self, len: usize) -> Result<(), EncodeError> {
        if len < 256 {
            self.out.extend_from_slice(&[tag::BINARY_8, len as u8]);
        } else if len < 1 << 20 {
            let b = (len as u32).to_be_bytes();
            self.out
                .extend_from_slice(&[tag::BINARY_20, b[1] & 0x0F, b[2], b[3]]);
        } else {
            let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLong(len))?;
            self.out.push(tag::BINARY_32);
            self.out.extend_from_slice(&len32.to_be_bytes());
        }
        Ok(())
    }

    /// Token, packed or raw: never a JID. Used for the parts of JIDs.
    fn plain(&mut self, s: &str) -> Result<(), EncodeError> {
        if s.is_empty() {
            self.out.push(tag::LIST_EMPTY);
        } else if let Some(tok) = token::lookup(s) {
            self.token(tok);
        } else if let Some(alphabet) = packed::packable(s) {
            self.packed(s, alphabet);
        } else {
            self.raw(s)?;
        }
        Ok(())
    }

    fn token(&mut self, tok: Token) {
        match tok {
            Token::Single(b) => self.out.push(b),
            Token::Double { dict, index } => self
                .out
                .extend_from_slice(&[tag::DICTIONARY_0 + dict, index]),
        }
    }

    fn packed(&mut self, s: &str, alphabet: Alphabet) {
        self.out.push(match alphabet {
            Alphabet::Nibble => tag::NIBBLE_8,
            Alphabet::Hex => tag::HEX_8,
        });
        packed::pack_into(s, alphabet, self.out);
    }

    fn raw(&mut self, s: &str) -> Result<(), EncodeError> {
        self.byte_length(s.len())?;
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    /// Baileys' `writeString`: token > nibble > hex > JID (contains `@`) > raw.
    ///
    /// The JID branch copies Baileys' `jidDecode` + `writeJid`: split at the first `@`; the user part is
    /// cut at `:` (device) and `_` (agent, dropped); with a device it becomes AD_JID with domain 1 for
    /// `lid` and 0 otherwise (the server is not written); without one, JID_PAIR(user, server).
    ///
    /// Two deliberate differences keep everything we encode decodable (Baileys' decoder is laxer than
    /// whatsmeow's and ours): the server of a JID_PAIR is written as a plain string, never as a nested JID
    /// (`"a@b@c"` gives JID_PAIR(a, raw "b@c")), and a string whose server would be empty (`"x@"`) goes
    /// out raw. Neither can happen with a real address.
    fn string(&mut self, s: &str) -> Result<(), EncodeError> {
        if s.is_empty() {
            self.out.push(tag::LIST_EMPTY);
            return Ok(());
        }
        if let Some(tok) = token::lookup(s) {
            self.token(tok);
            return Ok(());
        }
        if let Some(alphabet) = packed::packable(s) {
            self.packed(s, alphabet);
            return Ok(());
        }
        let Some((user_combined, server)) = s.split_once('@') else {
            return self.raw(s);
        };
        let mut parts = user_combined.split(':');
        let user_agent = parts.next().unwrap_or_default();
        let device = parts.next();
        let user = user_agent.split('_').next().unwrap_or_default();
        match device {
            Some(device) if !device.is_empty() => {
                let domain = u8::from(server == "lid");
                self.out
                    .extend_from_slice(&[tag::AD_JID, domain, js_number_byte(device)]);
                self.plain(user)
            }
            _ if server.is_empty() => self.raw(s),
            _ => {
                self.out.push(tag::JID_PAIR);
                self.plain(user)?;
                self.plain(server)
            }
        }
    }

    /// A typed JID, as whatsmeow writes it: AD_JID for devices (or agents) of phone-number and LID users
    /// and always for hosted users, FB_JID for `msgr`, INTEROP_JID for `interop`, else JID_PAIR.
    fn jid(&mut self, jid: &Jid) -> Result<(), EncodeError> {
        let ad = match jid.server {
            Server::Whatsapp | Server::Lid => jid.device != 0 || jid.agent != 0,
            Server::Hosted | Server::HostedLid => true,
            _ => false,
        };
        if ad {
            let device =
                u8::try_from(jid.device).map_err(|_| EncodeError::DeviceTooLarge(jid.device))?;
            self.out
                .extend_from_slice(&[tag::AD_JID, jid.domain_type(), device]);
            return self.plain(&jid.user);
        }
        match jid.server {
            Server::Messenger => {
                self.out.push(tag::FB_JID);
                self.plain(&jid.user)?;
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.plain(jid.server.as_str())
            }
            Server::Interop => {
                self.out.push(tag::INTEROP_JID);
                self.plain(&jid.user)?;
                self.out.extend_from_slice(&jid.device.to_be_bytes());
                self.out.extend_from_slice(&jid.integrator.to_be_bytes());
                self.plain(jid.server.as_str())
            }
            _ => {
                self.out.push(tag::JID_PAIR);
                self.plain(&jid.user)?;
                self.plain(jid.server.as_str())
            }
        }
    }
}

/// JavaScript's `(+text || 0) & 0xff` for a device string, as Baileys computes the AD_JID device byte.
fn js_number_byte(text: &str) -> u8 {
    match text.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => n.trunc().rem_euclid(256.0) as u8,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(node: &Node) -> String {
        encode(node)
            .unwrap_or_default()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn typed_jids_follow_whatsmeow() {
        let msg = |j: Jid| Node::new("message").with_attr("to", j);
        assert_eq!(hex(&msg(Jid::server_jid())), "00f8031311fa0003");
        assert_eq!(
            hex(&msg(Jid::phone("1234").with_device(0))),
            "00f8031311faff02123403"
        );
        assert_eq!(
            hex(&msg(Jid::lid("1234").with_device(2))),
            "00f8031311f70102ff021234"
        );
        let hosted = Jid::new("1234", Server::Hosted);
        assert_eq!(hex(&msg(hosted)), "00f8031311f78000ff021234");
        let fb = Jid::new("1234", Server::Messenger).with_device(258);
        assert_eq!(hex(&msg(fb)), "00f8031311f6ff0212340102cc");
        let mut interop = Jid::new("1234", Server::Interop).with_device(1);
        interop.integrator = 7;
        assert_eq!(
            hex(&msg(interop)),
            "00f8031311f5ff02123400010007fc07696e7465726f70"
        );
        let big = Jid::phone("1").with_device(300);
        assert_eq!(encode(&msg(big)), Err(EncodeError::DeviceTooLarge(300)));
    }

    #[test]
    fn refuses_unencodable_nodes() {
        assert_eq!(encode(&Node::new("")), Err(EncodeError::EmptyTag));
        let wide = Node::new("list").with_children((0..70_000).map(|_| Node::new("i")));
        assert_eq!(encode(&wide), Err(EncodeError::TooManyItems(70_000)));
        let mut deep = Node::new("x");
        for _ in 0..=MAX_DEPTH + 1 {
            deep = Node::new("x").with_child(deep);
        }
        assert_eq!(encode(&deep), Err(EncodeError::TooDeep));
    }

    #[test]
    fn javascript_device_numbers() {
        assert_eq!(js_number_byte("4"), 4);
        assert_eq!(js_number_byte("300"), 44);
        assert_eq!(js_number_byte("x"), 0);
        assert_eq!(js_number_byte("-1"), 255);
    }

    #[test]
    fn at_strings_that_would_not_decode_go_out_raw() {
        let node = Node::new("x").with_attr("a", "b@q@");
        // JID_PAIR(raw "b", raw "q@")
        assert_eq!(hex(&node), "00f803fc0178fc0161fafc0162fc027140");
        let decoded = super::super::decode(&encode(&node).unwrap_or_default());
        assert_eq!(
            decoded.map(|n| n.to_string()),
            Ok("<x a=\"b@q@\"/>".to_string())
        );
    }

    #[test]
    fn many_at_signs_make_one_jid() {
        let s = "@".repeat(100_000);
        let node = Node::new("x").with_attr("a", s.as_str());
        let bytes = encode(&node).unwrap_or_default();
        assert_eq!(
            &bytes[..12],
            &[0, 0xF8, 3, 0xFC, 1, b'x', 0xFC, 1, b'a', 0xFA, 0, 0xFD]
        );
        let back = super::super::decode(&bytes).ok();
        assert_eq!(
            back.and_then(|n| n.attr_text("a").map(|a| a.len())),
            Some(100_000)
        );
    }
}
