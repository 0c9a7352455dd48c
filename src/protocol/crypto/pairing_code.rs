//! Pair-by-phone-number helpers: the 8-character code and the key derived from it (§5.4).
//!
//! The code is five random bytes written in WhatsApp's Crockford-style base32 alphabet (no 0, I, O
//! or U), and the key that wraps the pairing ephemeral is PBKDF2-HMAC-SHA256 of the code's ASCII
//! with 2^17 iterations.

use super::digest::pbkdf2_sha256;
use super::random::fill_random;

/// The 32-letter alphabet WhatsApp uses for link codes.
pub const ALPHABET: &[u8; 32] = b"123456789ABCDEFGHJKLMNPQRSTVWXYZ";

/// PBKDF2 iterations for the link-code key (`2 << 16`).
pub const KEY_ITERATIONS: u32 = 131_072;

/// Writes `bytes` as base32 in [`ALPHABET`], five bits per character, most significant first.
/// Five bytes give exactly eight characters; a trailing partial group is padded with zero bits.
pub fn bytes_to_crockford(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// A fresh random 8-character pairing code.
pub fn generate_code() -> String {
    let mut raw = [0u8; 5];
    fill_random(&mut raw);
    bytes_to_crockford(&raw)
}

/// The 32-byte key that wraps a pairing ephemeral: PBKDF2-HMAC-SHA256(code, salt, 131072).
pub fn derive_code_key(code: &str, salt: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2_sha256(code.as_bytes(), salt, KEY_ITERATIONS, &mut key);
    key
}

/// True when `code` is eight characters of [`ALPHABET`] (what a user may type or configure).
pub fn is_valid_code(code: &str) -> bool {
    code.len() == 8 && code.bytes().all(|c| ALPHABET.contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_map_to_first_and_last_letters() {
        assert_eq!(bytes_to_crockford(&[0; 5]), "11111111");
        assert_eq!(bytes_to_crockford(&[0xff; 5]), "ZZZZZZZZ");
    }

    #[test]
    fn generated_codes_are_valid() {
        for _ in 0..32 {
            assert!(is_valid_code(&generate_code()));
        }
        assert!(!is_valid_code("ABCD123"));
        assert!(!is_valid_code("ABCD12O4"));
    }

    #[test]
    fn partial_groups_are_padded() {
        assert_eq!(bytes_to_crockford(&[0x80]), "H1"); // 10000 = 16 = H, then 000 padded to 00000
    }
}
