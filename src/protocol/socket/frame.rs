//! Sans-io frame codec (§1): `u24 BE length || payload`, the `WA 06 03` header glued to the first
//! client frame, and the optional `ED 00 01` edge-routing pre-intro.
//!
//! WebSocket message boundaries mean nothing: one message may hold several frames or part of one,
//! so [`FrameDecoder`] buffers bytes and hands out whole frames. Every malformed input is an error,
//! never a panic, and a declared length above the limit is refused as soon as its header arrives.

use std::fmt;

/// `"WA"`, protocol magic 6, binary dictionary version 3: the Noise prologue.
pub const WA_HEADER: [u8; 4] = [b'W', b'A', 6, 3];
/// Start of the edge-routing pre-intro: `"ED"`, 0, 1.
pub const ROUTING_PREFIX: [u8; 4] = [b'E', b'D', 0, 1];
/// The largest payload a 3-byte length can describe.
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;
/// Bytes in a frame's length prefix.
pub const LENGTH_LEN: usize = 3;

/// Why bytes could not be framed or unframed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A payload (or routing info) is longer than the limit.
    TooLarge { len: usize, max: usize },
    /// A client's stream did not start with the `WA` header (or a valid `ED` pre-intro).
    BadIntro([u8; 4]),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            FrameError::BadIntro(b) => write!(
                f,
                "connection does not start with the WA header (got {b:02x?})"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

fn push_len(out: &mut Vec<u8>, len: usize) -> Result<(), FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    Ok(())
}

/// Appends `len(payload) || payload` to `out`.
pub fn encode_frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    push_len(out, payload.len())?;
    out.extend_from_slice(payload);
    Ok(())
}

/// `len(payload) || payload` as a new buffer.
pub fn frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(payload.len() + LENGTH_LEN);
    encode_frame(payload, &mut out)?;
    Ok(out)
}

/// What a client sends before its first frame: optionally `ED 00 01 || u24 len || routing_info`,
/// then the `WA` header.
pub fn client_intro(routing_info: Option<&[u8]>) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    if let Some(info) = routing_info {
        out.extend_from_slice(&ROUTING_PREFIX);
        push_len(&mut out, info.len())?;
        out.extend_from_slice(info);
    }
    out.extend_from_slice(&WA_HEADER);
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Intro {
    /// Reading server→client frames: there is no intro.
    None,
    /// Reading a client's stream: the intro has not been seen yet.
    Expected,
    /// The intro was read (and stripped).
    Seen {
        header: [u8; 4],
        routing_info: Option<Vec<u8>>,
    },
}

/// Reassembles frames from arbitrarily cut byte chunks.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_len: usize,
    intro: Intro,
}

impl FrameDecoder {
    /// Decodes frames as a client receives them (no intro). `max_len` caps each payload.
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_len: max_len.min(MAX_FRAME_LEN),
            intro: Intro::None,
        }
    }

    /// Decodes a client's stream as a server receives it: strips the optional `ED` pre-intro and the
    /// `WA` header before the first frame.
    pub fn server_side(max_len: usize) -> FrameDecoder {
        FrameDecoder {
            intro: Intro::Expected,
            ..FrameDecoder::new(max_len)
        }
    }

    /// The `WA` header the client sent (the Noise prologue), once it has been read.
    pub fn intro_header(&self) -> Option<[u8; 4]> {
        match &self.intro {
            Intro::Seen { header, .. } => Some(*header),
            _ => None,
        }
    }

    /// The routing info of an `ED` pre-intro, once read.
    pub fn routing_info(&self) -> Option<&[u8]> {
        match &self.intro {
            Intro::Seen { routing_info, .. } => routing_info.as_deref(),
            _ => None,
        }
    }

    /// Bytes received but not yet handed out as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn read_len(bytes: &[u8]) -> Option<usize> {
        match bytes {
            [a, b, c, ..] => Some(usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c)),
            _ => None,
        }
    }

    /// Consumes the intro if it is complete; `Ok(false)` means more bytes are needed.
    fn take_intro(&mut self) -> Result<bool, FrameError> {
        let data = self.pending();
        let Some(first) = data.get(..4) else {
            return Ok(false);
        };
        let mut at = 0;
        let mut routing_info = None;
        if first == ROUTING_PREFIX {
            let Some(len) = data.get(4..).and_then(Self::read_len) else {
                return Ok(false);
            };
            if len > self.max_len {
                return Err(FrameError::TooLarge {
                    len,
                    max: self.max_len,
                });
            }
            let Some(info) = data.get(7..7 + len) else {
                return Ok(false);
            };
            routing_info = Some(info.to_vec());
            at = 7 + len;
        }
        let Some(header) = data.get(at..at + 4) else {
            return Ok(false);
        };
        let header = [header[0], header[1], header[2], header[3]];
        if header[..3] != WA_HEADER[..3] {
            return Err(FrameError::BadIntro(header));
        }
        self.start += at + 4;
        self.intro = Intro::Seen {
            header,
            routing_info,
        };
        Ok(true)
    }

    /// The next whole frame payload, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.intro == Intro::Expected && !self.take_intro()? {
            return Ok(None);
        }
        let data = self.pending();
        let Some(len) = Self::read_len(data) else {
            return Ok(None);
        };
        if len > self.max_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_len,
            });
        }
        let Some(payload) = data.get(LENGTH_LEN..LENGTH_LEN + len) else {
            return Ok(None);
        };
        let payload = payload.to_vec();
        self.start += LENGTH_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames(d: &mut FrameDecoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn frames_reassemble_across_any_cut() {
        let payloads: Vec<Vec<u8>> = vec![
            vec![],
            vec![1],
            (0..300).map(|i| i as u8).collect(),
            vec![7; 70_000],
        ];
        let mut wire = Vec::new();
        for p in &payloads {
            encode_frame(p, &mut wire).unwrap();
        }
        for step in [1usize, 2, 3, 4, 7, 1000, wire.len()] {
            let mut d = FrameDecoder::new(MAX_FRAME_LEN);
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                d.push(chunk);
                got.extend(all_frames(&mut d));
            }
            assert_eq!(got, payloads, "step {step}");
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn server_side_strips_both_intros() {
        for routing in [None, Some(&b"\x18\x9a\x7f"[..])] {
            let mut wire = client_intro(routing).unwrap();
            encode_frame(b"hello", &mut wire).unwrap();
            encode_frame(b"again", &mut wire).unwrap();
            for step in [1usize, 5, wire.len()] {
                let mut d = FrameDecoder::server_side(1024);
                let mut got = Vec::new();
                for chunk in wire.chunks(step) {
                    d.push(chunk);
                    got.extend(all_frames(&mut d));
                }
                assert_eq!(got, vec![b"hello".to_vec(), b"again".to_vec()]);
                assert_eq!(d.routing_info(), routing);
                assert_eq!(d.intro_header(), Some(WA_HEADER));
            }
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        let mut d = FrameDecoder::server_side(1024);
        d.push(b"GET / HTTP/1.1");
        assert!(matches!(d.next_frame(), Err(FrameError::BadIntro(_))));
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 11]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        assert!(frame(&vec![0; MAX_FRAME_LEN + 1]).is_err());
        let mut d = FrameDecoder::server_side(10);
        d.push(&[b'E', b'D', 0, 1, 0, 1, 0]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { .. })));
    }
}
