//! WhatsApp's random plaintext padding for Signal-encrypted messages (`<enc v="2">`).
//!
//! Before encryption the encoded `Message` gets `n` trailing bytes, each equal to `n`, with `n` in
//! `1..=16` taken from the low nibble of one random byte. The receiver strips as many bytes as the last
//! byte says. We validate the whole padding on receipt so a corrupt plaintext is reported instead of
//! being silently cut short.

use std::fmt;

/// The largest padding WhatsApp produces (and that we accept).
pub const MAX_PADDING: usize = 16;

/// Why a padded plaintext was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaddingError {
    /// There is no byte at all, so no padding length.
    Empty,
    /// The last byte is 0 or larger than 16.
    InvalidLength(u8),
    /// The padding is longer than the whole plaintext.
    TooShort { padding: usize, len: usize },
    /// Not every padding byte equals the padding length.
    Inconsistent,
}

impl fmt::Display for PaddingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaddingError::Empty => write!(f, "padded plaintext is empty"),
            PaddingError::InvalidLength(n) => {
                write!(f, "padding length {n} is outside 1..={MAX_PADDING}")
            }
            PaddingError::TooShort { padding, len } => {
                write!(f, "padding length {padding} exceeds plaintext length {len}")
            }
            PaddingError::Inconsistent => write!(f, "padding bytes differ from the padding length"),
        }
    }
}

impl std::error::Error for PaddingError {}

/// Pads `encoded` with `n = (random_byte & 0x0f) + 1` bytes of value `n`.
pub fn pad(encoded: &[u8], random_byte: u8) -> Vec<u8> {
    let n = (random_byte & 0x0f) + 1;
    let mut out = Vec::with_capacity(encoded.len() + usize::from(n));
    out.extend_from_slice(encoded);
    out.resize(encoded.len() + usize::from(n), n);
    out
}

/// Pads `encoded` with a padding length drawn from the system's secure random generator.
pub fn pad_random(encoded: &[u8]) -> Result<Vec<u8>, ring::error::Unspecified> {
    use ring::rand::SecureRandom;
    let mut byte = [0u8; 1];
    ring::rand::SystemRandom::new().fill(&mut byte)?;
    Ok(pad(encoded, byte[0]))
}

/// Strips and validates the padding, returning the encoded message it covered.
pub fn unpad(padded: &[u8]) -> Result<&[u8], PaddingError> {
    let (&last, _) = padded.split_last().ok_or(PaddingError::Empty)?;
    let n = usize::from(last);
    if n == 0 || n > MAX_PADDING {
        return Err(PaddingError::InvalidLength(last));
    }
    let split = padded.len().checked_sub(n).ok_or(PaddingError::TooShort {
        padding: n,
        len: padded.len(),
    })?;
    let (message, padding) = padded.split_at(split);
    if padding.iter().any(|&b| b != last) {
        return Err(PaddingError::Inconsistent);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_length_comes_from_low_nibble() {
        assert_eq!(pad(b"x", 0x00), b"x\x01");
        assert_eq!(pad(b"x", 0xf3), b"x\x04\x04\x04\x04");
        assert_eq!(pad(b"", 0x0f).len(), 16);
    }

    #[test]
    fn unpad_reverses_pad_for_every_length() {
        for byte in 0..=u8::MAX {
            let padded = pad(b"hello", byte);
            assert_eq!(unpad(&padded), Ok(&b"hello"[..]));
        }
    }

    #[test]
    fn pad_random_stays_in_range() {
        for _ in 0..64 {
            let padded = pad_random(b"abc").expect("system rng");
            let extra = padded.len() - 3;
            assert!((1..=MAX_PADDING).contains(&extra), "extra {extra}");
            assert_eq!(unpad(&padded), Ok(&b"abc"[..]));
        }
    }

    #[test]
    fn unpad_rejects_bad_padding() {
        assert_eq!(unpad(b""), Err(PaddingError::Empty));
        assert_eq!(unpad(b"abc\x00"), Err(PaddingError::InvalidLength(0)));
        assert_eq!(unpad(b"abc\x11"), Err(PaddingError::InvalidLength(17)));
        assert_eq!(
            unpad(b"\x03\x03"),
            Err(PaddingError::TooShort { padding: 3, len: 2 })
        );
        assert_eq!(unpad(b"abc\x02\x03\x03"), Err(PaddingError::Inconsistent));
        // The whole input may be padding: an empty message is valid.
        assert_eq!(unpad(b"\x02\x02"), Ok(&b""[..]));
    }
}
