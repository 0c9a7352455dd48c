//! Curve25519 keys: X25519 Diffie-Hellman and XEdDSA signatures (Signal's scheme).
//!
//! WhatsApp identity and noise keys are Montgomery-form X25519 keys. Signatures with those keys use
//! XEdDSA: the private scalar signs on the birationally equivalent Edwards curve, and because a
//! Montgomery u-coordinate loses the Edwards sign bit, the signer stores that bit in the top bit of
//! the signature's last byte (as curve25519-js and libsignal-client both do). The verifier converts
//! the Montgomery key to Edwards with that bit, clears it, and runs an ordinary Ed25519 check.

use super::random::fill_random;
use super::CryptoError;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::Scalar;
use ring::digest;

/// A Curve25519 key pair. `private` is stored clamped; `public` is the X25519 u-coordinate.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    pub private: [u8; 32],
    pub public: [u8; 32],
}

impl std::fmt::Debug for KeyPair {
    // The private half never goes into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

fn clamp(mut k: [u8; 32]) -> [u8; 32] {
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    k
}

impl KeyPair {
    /// A fresh random key pair.
    pub fn generate() -> KeyPair {
        let mut private = [0u8; 32];
        fill_random(&mut private);
        KeyPair::from_private(private)
    }

    /// The key pair for `private` (clamped here, so unclamped input is fine).
    pub fn from_private(private: [u8; 32]) -> KeyPair {
        let private = clamp(private);
        let public = MontgomeryPoint::mul_base_clamped(private).to_bytes();
        KeyPair { private, public }
    }

    /// The public key in Signal's serialised form: `0x05 || public`.
    pub fn public_signal(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = 0x05;
        out[1..].copy_from_slice(&self.public);
        out
    }
}

/// X25519: the shared secret of `private` (clamped here) and a peer's `public`.
pub fn x25519(private: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    MontgomeryPoint(*public).mul_clamped(*private).to_bytes()
}

/// X25519 that refuses an all-zero result, i.e. a peer public key of small order.
pub fn x25519_checked(private: &[u8; 32], public: &[u8; 32]) -> Result<[u8; 32], CryptoError> {
    let shared = x25519(private, public);
    if shared.iter().all(|b| *b == 0) {
        Err(CryptoError::WeakPublicKey)
    } else {
        Ok(shared)
    }
}

fn scalar_from_hash(parts: &[&[u8]]) -> Scalar {
    let mut ctx = digest::Context::new(&digest::SHA512);
    for part in parts {
        ctx.update(part);
    }
    let mut wide = [0u8; 64];
    wide.copy_from_slice(ctx.finish().as_ref());
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Signs with nonce `r` already chosen; shared by the randomised and deterministic variants.
fn sign_with_nonce(a_bytes: &[u8; 32], message: &[u8], r: Scalar) -> [u8; 64] {
    let a = Scalar::from_bytes_mod_order(*a_bytes);
    let public_edwards = EdwardsPoint::mul_base(&a).compress();
    let sign_bit = public_edwards.as_bytes()[31] & 0x80;
    let cap_r = EdwardsPoint::mul_base(&r).compress();
    let h = scalar_from_hash(&[cap_r.as_bytes(), public_edwards.as_bytes(), message]);
    let s = h * a + r;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(cap_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig[63] = (sig[63] & 0x7f) | sign_bit;
    sig
}

/// XEdDSA signature with caller-supplied 64 bytes of randomness `Z` (libsignal's
/// `calculate_signature`): `r = SHA512(0xFE || 0xFF*31 || a || message || Z) mod L`.
pub fn xeddsa_sign(private: &[u8; 32], message: &[u8], random64: &[u8; 64]) -> [u8; 64] {
    let a_bytes = clamp(*private);
    let mut prefix = [0xffu8; 32];
    prefix[0] = 0xfe;
    let r = scalar_from_hash(&[&prefix, &a_bytes, message, random64]);
    sign_with_nonce(&a_bytes, message, r)
}

/// XEdDSA signature with fresh randomness from the OS.
pub fn xeddsa_sign_random(private: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let mut z = [0u8; 64];
    fill_random(&mut z);
    xeddsa_sign(private, message, &z)
}

/// The deterministic variant Baileys' `Curve.sign` uses (curve25519-js without randomness):
/// `r = SHA512(a || message) mod L`. Produces byte-identical signatures to Baileys, which matters
/// only where a test compares signature bytes; verifiers accept either variant.
pub fn xeddsa_sign_deterministic(private: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let a_bytes = clamp(*private);
    let r = scalar_from_hash(&[&a_bytes, message]);
    sign_with_nonce(&a_bytes, message, r)
}

/// Verifies an XEdDSA signature by the X25519 key `public` (as libsignal-client does).
pub fn xeddsa_verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let sign_bit = (signature[63] & 0x80) >> 7;
    let Some(a_point) = MontgomeryPoint(*public).to_edwards(sign_bit) else {
        return false;
    };
    let mut cap_r = [0u8; 32];
    cap_r.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    s_bytes[31] &= 0x7f;
    // s must be below 2^253 (libsignal's bound); a canonical s is far below it.
    if s_bytes[31] & 0xe0 != 0 {
        return false;
    }
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let cap_a = a_point.compress();
    let h = scalar_from_hash(&[&cap_r, cap_a.as_bytes(), message]);
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-a_point, &s);
    check.compress() == CompressedEdwardsY(cap_r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x25519_agrees_both_ways() {
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        assert_eq!(x25519(&a.private, &b.public), x25519(&b.private, &a.public));
    }

    #[test]
    fn x25519_matches_rfc7748_vector() {
        let alice = KeyPair::from_private([
            0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2,
            0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5,
            0x1d, 0xb9, 0x2c, 0x2a,
        ]);
        assert_eq!(
            alice.public,
            [
                0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e,
                0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e,
                0xaa, 0x9b, 0x4e, 0x6a
            ]
        );
    }

    #[test]
    fn low_order_point_is_refused() {
        let k = KeyPair::generate();
        assert_eq!(
            x25519_checked(&k.private, &[0u8; 32]),
            Err(CryptoError::WeakPublicKey)
        );
    }

    #[test]
    fn signatures_verify_and_reject_tampering() {
        for _ in 0..16 {
            let k = KeyPair::generate();
            let sig = xeddsa_sign_random(&k.private, b"message");
            assert!(xeddsa_verify(&k.public, b"message", &sig));
            assert!(!xeddsa_verify(&k.public, b"messagf", &sig));
            let det = xeddsa_sign_deterministic(&k.private, b"message");
            assert!(xeddsa_verify(&k.public, b"message", &det));
            let mut bad = sig;
            bad[5] ^= 1;
            assert!(!xeddsa_verify(&k.public, b"message", &bad));
            let other = KeyPair::generate();
            assert!(!xeddsa_verify(&other.public, b"message", &sig));
        }
    }
}
