//! Hashes, HMAC, HKDF and PBKDF2.

use ring::{digest, hmac, pbkdf2};
use std::num::NonZeroU32;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha256_parts(&[data])
}

/// SHA-256 of the concatenation of `parts`, without building the concatenation.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// SHA-512 of `data`.
pub fn sha512(data: &[u8]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out.copy_from_slice(digest::digest(&digest::SHA512, data).as_ref());
    out
}

/// MD5 of `data`. Only for the ClientPayload build hash, which is an identifier, not a security check.
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    hmac_sha256_parts(key, &[data])
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// HMAC-SHA512 of `data` under `key`.
pub fn hmac_sha512(key: &[u8], data: &[u8]) -> [u8; 64] {
    let key = hmac::Key::new(hmac::HMAC_SHA512, key);
    let mut out = [0u8; 64];
    out.copy_from_slice(hmac::sign(&key, data).as_ref());
    out
}

/// The most output RFC 5869 allows for SHA-256 (255 blocks of 32 bytes).
const HKDF_MAX_LEN: usize = 255 * 32;

/// RFC 5869 HKDF-SHA256. An empty `salt` behaves as 32 zero bytes (HMAC pads short keys with zeros,
/// so the two are the same key). `len` above the RFC maximum of 8160 bytes is cut to that maximum.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let len = len.min(HKDF_MAX_LEN);
    let prk = hmac_sha256(salt, ikm);
    let mut okm = Vec::with_capacity(len);
    let mut previous: Option<[u8; 32]> = None;
    let mut counter: u8 = 1;
    while okm.len() < len {
        let block = match &previous {
            Some(prev) => hmac_sha256_parts(&prk, &[prev, info, &[counter]]),
            None => hmac_sha256_parts(&prk, &[info, &[counter]]),
        };
        let take = (len - okm.len()).min(32);
        okm.extend_from_slice(&block[..take]);
        previous = Some(block);
        counter = counter.wrapping_add(1);
    }
    okm
}

/// libsignal's `deriveSecrets`: HKDF-SHA256 output cut into `chunks` 32-byte pieces.
pub fn hkdf_sha256_chunks(ikm: &[u8], salt: &[u8], info: &[u8], chunks: usize) -> Vec<[u8; 32]> {
    let okm = hkdf_sha256(ikm, salt, info, chunks * 32);
    okm.chunks_exact(32)
        .map(|c| {
            let mut out = [0u8; 32];
            out.copy_from_slice(c);
            out
        })
        .collect()
}

/// PBKDF2-HMAC-SHA256. Zero iterations count as one; an empty `out` is left alone.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    if out.is_empty() {
        return;
    }
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, password, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn hkdf_matches_rfc5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt = hex("000102030405060708090a0b0c");
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        let okm = hkdf_sha256(&ikm, &salt, &info, 42);
        assert_eq!(
            okm,
            hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        );
    }

    #[test]
    fn hkdf_empty_salt_equals_zero_salt() {
        assert_eq!(
            hkdf_sha256(b"ikm", b"", b"info", 80),
            hkdf_sha256(b"ikm", &[0u8; 32], b"info", 80)
        );
    }

    #[test]
    fn hkdf_chunks_split_the_stream() {
        let whole = hkdf_sha256(b"k", b"s", b"i", 96);
        let chunks = hkdf_sha256_chunks(b"k", b"s", b"i", 3);
        assert_eq!(chunks.concat(), whole);
    }

    #[test]
    fn md5_of_abc() {
        assert_eq!(
            md5(b"abc").to_vec(),
            hex("900150983cd24fb0d6963f7d28e17f72")
        );
    }

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        let mut out = [0u8; 64];
        pbkdf2_sha256(b"passwd", b"salt", 1, &mut out);
        assert_eq!(
            out.to_vec(),
            hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        );
    }
}
