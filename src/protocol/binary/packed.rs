//! Packed strings: two characters per byte for digit strings (NIBBLE_8) and uppercase hex (HEX_8).

/// Longest string that may be packed.
pub const PACKED_MAX: usize = 127;

/// Which 16-character alphabet a packed string uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `0-9`, `-` (10), `.` (11); 15 pads.
    Nibble,
    /// `0-9`, `A-F` (uppercase only); 15 doubles as padding.
    Hex,
}

const PAD: u8 = 15;

fn nibble_code(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'-' => Some(10),
        b'.' => Some(11),
        _ => None,
    }
}

fn hex_code(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Alphabet {
    fn code(self, c: u8) -> Option<u8> {
        match self {
            Alphabet::Nibble => nibble_code(c),
            Alphabet::Hex => hex_code(c),
        }
    }

    fn char(self, code: u8) -> Option<u8> {
        match (self, code) {
            (_, 0..=9) => Some(b'0' + code),
            (Alphabet::Nibble, 10) => Some(b'-'),
            (Alphabet::Nibble, 11) => Some(b'.'),
            (Alphabet::Hex, 10..=15) => Some(b'A' + code - 10),
            _ => None,
        }
    }
}

/// The alphabet `text` can be packed with (nibble preferred), or `None` if it cannot be packed.
pub fn packable(text: &str) -> Option<Alphabet> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > PACKED_MAX {
        return None;
    }
    if bytes.iter().all(|&c| nibble_code(c).is_some()) {
        Some(Alphabet::Nibble)
    } else if bytes.iter().all(|&c| hex_code(c).is_some()) {
        Some(Alphabet::Hex)
    } else {
        None
    }
}

/// Appends the packed form (length byte, then pairs) of a string already accepted by [`packable`].
pub fn pack_into(text: &str, alphabet: Alphabet, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let odd = bytes.len() % 2;
    // ≤ 127 characters, so the pair count fits the low 7 bits.
    let pairs = bytes.len().div_ceil(2) as u8;
    out.push(pairs | if odd == 1 { 0x80 } else { 0 });
    for pair in bytes.chunks(2) {
        let hi = alphabet.code(pair[0]).unwrap_or(PAD);
        let lo = pair.get(1).and_then(|&c| alphabet.code(c)).unwrap_or(PAD);
        out.push((hi << 4) | lo);
    }
}

/// Why packed bytes could not be unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackError {
    /// Fewer bytes than the length byte announces.
    Truncated,
    /// A nibble outside the alphabet (or padding in the middle of a nibble string).
    BadNibble(u8),
}

/// Unpacks from `input` (starting at its length byte); returns the text and the bytes consumed.
pub fn unpack(input: &[u8], alphabet: Alphabet) -> Result<(String, usize), UnpackError> {
    let (&start, rest) = input.split_first().ok_or(UnpackError::Truncated)?;
    let pairs = usize::from(start & 0x7F);
    let odd = start & 0x80 != 0;
    let data = rest.get(..pairs).ok_or(UnpackError::Truncated)?;
    let mut text = String::with_capacity(pairs * 2);
    for (i, &byte) in data.iter().enumerate() {
        let last = i + 1 == pairs;
        for (j, code) in [byte >> 4, byte & 0x0F].into_iter().enumerate() {
            if odd && last && j == 1 {
                // The pad nibble the odd flag tells us to drop.
                continue;
            }
            let c = alphabet.char(code).ok_or(UnpackError::BadNibble(code))?;
            text.push(char::from(c));
        }
    }
    if odd && pairs == 0 {
        return Err(UnpackError::Truncated);
    }
    Ok((text, 1 + pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let alphabet = packable(text).unwrap_or_else(|| panic!("{text} packable"));
        pack_into(text, alphabet, &mut out);
        out
    }

    #[test]
    fn choice_of_alphabet() {
        assert_eq!(packable("123-4.5"), Some(Alphabet::Nibble));
        assert_eq!(packable("3EB0"), Some(Alphabet::Hex));
        assert_eq!(packable("3eb0"), None, "lowercase hex stays raw");
        assert_eq!(packable(""), None);
        assert_eq!(packable(&"1".repeat(127)), Some(Alphabet::Nibble));
        assert_eq!(packable(&"1".repeat(128)), None);
    }

    #[test]
    fn round_trips() {
        for text in ["1", "12", "12345", "1.2-3.4", "ABC", "3EB0C1F2A3B4C5D6E7F8"] {
            let packed = pack(text);
            let alphabet = packable(text).unwrap_or(Alphabet::Nibble);
            assert_eq!(
                unpack(&packed, alphabet),
                Ok((text.to_string(), packed.len()))
            );
        }
        assert_eq!(pack("12345"), vec![0x83, 0x12, 0x34, 0x5F]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(unpack(&[], Alphabet::Nibble), Err(UnpackError::Truncated));
        assert_eq!(
            unpack(&[0x02, 0x12], Alphabet::Nibble),
            Err(UnpackError::Truncated)
        );
        assert_eq!(
            unpack(&[0x01, 0xC1], Alphabet::Nibble),
            Err(UnpackError::BadNibble(12))
        );
        assert_eq!(
            unpack(&[0x01, 0x1F], Alphabet::Nibble),
            Err(UnpackError::BadNibble(15))
        );
        assert_eq!(unpack(&[0x80], Alphabet::Hex), Err(UnpackError::Truncated));
        assert_eq!(
            unpack(&[0x81, 0x1F], Alphabet::Hex),
            Ok(("1".to_string(), 2))
        );
    }
}
