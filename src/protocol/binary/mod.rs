//! The WhatsApp binary node format ("WABinary"): XMPP-like stanzas packed with token dictionaries.
//!
//! - [`Node`] is the model: a tag, ordered attributes (strings or [`Jid`](crate::protocol::jid::Jid)s)
//!   and [`Content`] (nothing, children, bytes, a string or a JID).
//! - [`encode`] produces a frame body exactly as Baileys' `encodeBinaryNode` does, including its leading
//!   `0x00` flag byte; [`decode`] reads a frame body, inflating it when the flag says zlib (`0x02`).
//! - `{}` on a node prints a one-line XML-like form for logs, `{:#}` an indented one.
//!
//! # Strings and JIDs on the wire
//! A string is written as the first that applies: empty → `LIST_EMPTY`; a token (single byte, then the
//! four double-byte dictionaries); a nibble-packed string (digits, `-`, `.`); a hex-packed string
//! (digits and **uppercase** `A-F`); a JID if it contains `@` (Baileys' rules, see below); else raw
//! bytes with BINARY_8/20/32. [`AttrValue::Jid`] and [`Content::Jid`] values are written as whatsmeow
//! writes JIDs: AD_JID for devices of phone-number and LID users and always for hosted users, FB_JID for
//! `msgr`, INTEROP_JID for `interop`, JID_PAIR otherwise. Build stanzas with typed JIDs; the string route
//! exists so that text copied from Baileys encodes to the very same bytes.
//!
//! # Where we differ from Baileys 6.7.24 when decoding
//! Baileys' string route is lossy, and our encoder reproduces its bytes exactly. Decoding those bytes
//! gives what the bytes say, which in every case but one is also what Baileys' decoder returns:
//! - `user_agent:device@server` strings lose the agent and the server (AD_JID has room for neither but
//!   the `lid` domain): they decode as `user:device@s.whatsapp.net` (or `@lid`).
//! - `user:0@server` decodes without `:0` (device 0 is the phone, printed as no device).
//! - string content that is not a token, packed string or JID goes out as BINARY and decodes as bytes;
//!   empty string content goes out as `LIST_EMPTY` and decodes as an empty child list.
//! - **the one deliberate difference**: AD_JID domain 128/129 decodes as `@hosted` / `@hosted.lid`
//!   (as whatsmeow and newer Baileys do), where Baileys 6.7.24 says `@s.whatsapp.net`. Hosted
//!   accounts are real, and mapping them onto the phone-number server would address the wrong Signal
//!   session. Domain bytes other than 0, 1, 128, 129 decode as an agent on `s.whatsapp.net`.
//!
//! When encoding, two strings no real address looks like are written so that they stay decodable:
//! `"a@b@c"` becomes JID_PAIR(a, raw `b@c`) rather than Baileys' nested JID, and `"x@"` goes out raw
//! rather than as a JID_PAIR with an empty server.
//!
//! We accept JIDs and raw BINARY strings in tag and attribute-name positions (read back as text), as
//! Baileys does, and FB_JID and INTEROP_JID, which Baileys 6.7.24 cannot read. Like whatsmeow we refuse
//! bytes after the node, a JID nested inside a JID, and list size 0 nodes; and FB_JID/INTEROP_JID whose
//! server is not `msgr`/`interop`.

mod decode;
mod display;
mod encode;
mod node;
mod packed;
#[cfg(test)]
mod robustness_tests;
pub mod token;

pub use decode::{decode, decode_node, unpack_frame, DecodeError, MAX_INFLATED};
pub use display::BYTES_SHOWN;
pub use encode::{encode, encode_into, encode_node_into, EncodeError};
pub use node::{AttrValue, Content, Node};
pub use packed::PACKED_MAX;

/// Deepest nesting of child lists the encoder writes and the decoder accepts.
pub const MAX_DEPTH: usize = 64;

/// The tag bytes of the format (§4.2 of the protocol notes).
pub mod tag {
    /// Empty list; `""` in string position; "no user" inside JID_PAIR.
    pub const LIST_EMPTY: u8 = 0;
    /// Single-byte token 1: `xmlstreamstart`.
    pub const STREAM_START: u8 = 1;
    /// Single-byte token 2: `xmlstreamend` (the server's goodbye node).
    pub const STREAM_END: u8 = 2;
    /// Double-byte token, dictionary 0 (then one index byte).
    pub const DICTIONARY_0: u8 = 236;
    /// Double-byte token, dictionary 1.
    pub const DICTIONARY_1: u8 = 237;
    /// Double-byte token, dictionary 2.
    pub const DICTIONARY_2: u8 = 238;
    /// Double-byte token, dictionary 3.
    pub const DICTIONARY_3: u8 = 239;
    /// Interop JID: user, u16 device, u16 integrator, server (`interop`).
    pub const INTEROP_JID: u8 = 245;
    /// Messenger JID: user, u16 device, server (`msgr`).
    pub const FB_JID: u8 = 246;
    /// Device JID: domain byte, device byte, user.
    pub const AD_JID: u8 = 247;
    /// List with a u8 count.
    pub const LIST_8: u8 = 248;
    /// List with a u16 count.
    pub const LIST_16: u8 = 249;
    /// JID pair: user (or LIST_EMPTY), server.
    pub const JID_PAIR: u8 = 250;
    /// Hex-packed string.
    pub const HEX_8: u8 = 251;
    /// Bytes with a u8 length.
    pub const BINARY_8: u8 = 252;
    /// Bytes with a 20-bit length in 3 bytes.
    pub const BINARY_20: u8 = 253;
    /// Bytes with a u32 length.
    pub const BINARY_32: u8 = 254;
    /// Nibble-packed string.
    pub const NIBBLE_8: u8 = 255;
}
