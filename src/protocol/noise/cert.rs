//! The server certificate chain sent inside ServerHello (§2.4): checking it (client) and making
//! one (the simulator's server).
//!
//! The chain is root → intermediate → leaf. The client checks, all of them, always: the
//! intermediate is signed by the trusted root and names issuer serial 0; the leaf is signed by the
//! intermediate's key and names the intermediate's serial as issuer; the leaf key is the server
//! static key the handshake just decrypted; and both certificates are valid at "now". WhatsApp's
//! root is a Curve25519 key and signs with XEdDSA; the interop vectors use an Ed25519 test root, so
//! a root carries its signature scheme and the whole chain is checked with that scheme.

use crate::protocol::crypto::{self, KeyPair};
use crate::protocol::proto::{CertChain, NoiseCertificate, NoiseCertificateDetails, ProtoMessage};
use ring::signature::{Ed25519KeyPair, UnparsedPublicKey, ED25519};
use std::fmt;

/// WhatsApp's long-term root key ("WhatsAppLongTerm1", serial 0), a Curve25519 key used with XEdDSA.
pub const WHATSAPP_ROOT_PUBLIC: [u8; 32] = [
    0x14, 0x23, 0x75, 0x57, 0x4d, 0x0a, 0x58, 0x71, 0x66, 0xaa, 0xe7, 0x1e, 0xbe, 0x51, 0x64, 0x37,
    0xc4, 0xa2, 0x8b, 0x73, 0xe3, 0x69, 0x5c, 0x6c, 0xe1, 0xf7, 0xf9, 0x54, 0x5d, 0xa8, 0xee, 0x6b,
];

/// The serial of the root, which the intermediate must name as its issuer.
pub const ROOT_SERIAL: u32 = 0;

/// How the certificates of a chain are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// XEdDSA with Curve25519 keys (WhatsApp's production chain).
    XEdDsa,
    /// Plain Ed25519 keys and signatures (the interop vectors' synthetic chain).
    Ed25519,
}

impl SignatureScheme {
    fn verify(self, public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        match self {
            SignatureScheme::XEdDsa => crypto::xeddsa_verify(public, message, signature),
            SignatureScheme::Ed25519 => UnparsedPublicKey::new(&ED25519, public)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// The root the client trusts. There is no "trust anything" value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedRoot {
    pub scheme: SignatureScheme,
    pub public: [u8; 32],
}

impl TrustedRoot {
    /// WhatsApp's real root (the default).
    pub fn whatsapp() -> TrustedRoot {
        TrustedRoot {
            scheme: SignatureScheme::XEdDsa,
            public: WHATSAPP_ROOT_PUBLIC,
        }
    }

    /// A Curve25519/XEdDSA root, e.g. the simulator's.
    pub fn xeddsa(public: [u8; 32]) -> TrustedRoot {
        TrustedRoot {
            scheme: SignatureScheme::XEdDsa,
            public,
        }
    }

    /// An Ed25519 root, e.g. the interop vectors' test root.
    pub fn ed25519(public: [u8; 32]) -> TrustedRoot {
        TrustedRoot {
            scheme: SignatureScheme::Ed25519,
            public,
        }
    }
}

impl Default for TrustedRoot {
    fn default() -> Self {
        TrustedRoot::whatsapp()
    }
}

/// Why a certificate chain was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertError {
    /// The chain or a details message is not valid protobuf.
    Malformed(&'static str),
    /// A certificate, its details, its signature or its key is missing or the wrong length.
    MissingPart(&'static str),
    /// The intermediate's signature does not verify under the trusted root.
    IntermediateSignature,
    /// The intermediate does not name the root (serial 0) as its issuer.
    IntermediateIssuer(u32),
    /// The leaf's signature does not verify under the intermediate's key.
    LeafSignature,
    /// The leaf names a different issuer than the intermediate's serial.
    LeafIssuer { expected: u32, actual: u32 },
    /// The leaf key is not the static key the server used in the handshake.
    LeafKeyMismatch,
    /// A certificate is outside its validity window at the given time.
    NotValidAt { which: &'static str, now: u64 },
}

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertError::Malformed(what) => write!(f, "certificate chain is malformed: {what}"),
            CertError::MissingPart(what) => write!(f, "certificate chain lacks {what}"),
            CertError::IntermediateSignature => {
                f.write_str("intermediate certificate is not signed by the trusted root")
            }
            CertError::IntermediateIssuer(s) => write!(
                f,
                "intermediate certificate names issuer serial {s}, not the root"
            ),
            CertError::LeafSignature => {
                f.write_str("leaf certificate is not signed by the intermediate")
            }
            CertError::LeafIssuer { expected, actual } => {
                write!(
                    f,
                    "leaf certificate names issuer serial {actual}, expected {expected}"
                )
            }
            CertError::LeafKeyMismatch => {
                f.write_str("leaf certificate key is not the server's static key")
            }
            CertError::NotValidAt { which, now } => {
                write!(f, "{which} certificate is not valid at {now}")
            }
        }
    }
}

impl std::error::Error for CertError {}

/// The facts a verified chain establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    pub intermediate_serial: u32,
    pub intermediate_key: [u8; 32],
    pub leaf_serial: u32,
    pub leaf_key: [u8; 32],
    /// The end of the shorter validity window, in Unix seconds.
    pub valid_until: u64,
}

fn parts(
    cert: Option<&NoiseCertificate>,
    which: &'static str,
) -> Result<(Vec<u8>, [u8; 64]), CertError> {
    let cert = cert.ok_or(CertError::MissingPart(which))?;
    let details = cert.details.clone().ok_or(CertError::MissingPart(which))?;
    let signature: [u8; 64] = cert
        .signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(CertError::MissingPart("a 64-byte signature"))?;
    Ok((details, signature))
}

fn decode_details(
    raw: &[u8],
    which: &'static str,
) -> Result<(NoiseCertificateDetails, [u8; 32]), CertError> {
    let details = NoiseCertificateDetails::decode(raw).map_err(|_| CertError::Malformed(which))?;
    let key: [u8; 32] = details
        .key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or(CertError::MissingPart("a 32-byte certificate key"))?;
    Ok((details, key))
}

fn check_validity(
    details: &NoiseCertificateDetails,
    which: &'static str,
    now: u64,
) -> Result<(), CertError> {
    let not_before = details.not_before.unwrap_or(0);
    let not_after = details.not_after.unwrap_or(0);
    if now < not_before || now > not_after {
        return Err(CertError::NotValidAt { which, now });
    }
    Ok(())
}

/// Checks an encoded CertChain against `root`, the server's decrypted static key and `now`
/// (Unix seconds).
pub fn verify_chain(
    chain_bytes: &[u8],
    server_static: &[u8; 32],
    root: &TrustedRoot,
    now: u64,
) -> Result<VerifiedChain, CertError> {
    let chain = CertChain::decode(chain_bytes).map_err(|_| CertError::Malformed("CertChain"))?;
    let (inter_raw, inter_sig) = parts(chain.intermediate.as_ref(), "an intermediate certificate")?;
    let (leaf_raw, leaf_sig) = parts(chain.leaf.as_ref(), "a leaf certificate")?;

    if !root.scheme.verify(&root.public, &inter_raw, &inter_sig) {
        return Err(CertError::IntermediateSignature);
    }
    let (inter, inter_key) = decode_details(&inter_raw, "intermediate details")?;
    let inter_issuer = inter.issuer_serial.unwrap_or(0);
    if inter_issuer != ROOT_SERIAL {
        return Err(CertError::IntermediateIssuer(inter_issuer));
    }
    check_validity(&inter, "intermediate", now)?;

    if !root.scheme.verify(&inter_key, &leaf_raw, &leaf_sig) {
        return Err(CertError::LeafSignature);
    }
    let (leaf, leaf_key) = decode_details(&leaf_raw, "leaf details")?;
    let inter_serial = inter.serial.unwrap_or(0);
    let leaf_issuer = leaf.issuer_serial.unwrap_or(0);
    if leaf_issuer != inter_serial {
        return Err(CertError::LeafIssuer {
            expected: inter_serial,
            actual: leaf_issuer,
        });
    }
    if !crypto::constant_time_eq(&leaf_key, server_static) {
        return Err(CertError::LeafKeyMismatch);
    }
    check_validity(&leaf, "leaf", now)?;
    Ok(VerifiedChain {
        intermediate_serial: inter_serial,
        intermediate_key: inter_key,
        leaf_serial: leaf.serial.unwrap_or(0),
        leaf_key,
        valid_until: inter
            .not_after
            .unwrap_or(0)
            .min(leaf.not_after.unwrap_or(0)),
    })
}

/// A key that can sign certificates: what a server (the simulator) holds.
#[derive(Clone)]
pub enum CertSigningKey {
    /// A Curve25519 key signing with XEdDSA.
    XEdDsa(KeyPair),
    /// An Ed25519 key given by its 32-byte seed.
    Ed25519 { seed: [u8; 32] },
}

impl fmt::Debug for CertSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSigningKey")
            .field("scheme", &self.scheme())
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl CertSigningKey {
    /// A fresh random XEdDSA signing key.
    pub fn generate() -> CertSigningKey {
        CertSigningKey::XEdDsa(KeyPair::generate())
    }

    pub fn scheme(&self) -> SignatureScheme {
        match self {
            CertSigningKey::XEdDsa(_) => SignatureScheme::XEdDsa,
            CertSigningKey::Ed25519 { .. } => SignatureScheme::Ed25519,
        }
    }

    /// The public key that goes into a certificate or a [`TrustedRoot`].
    pub fn public(&self) -> [u8; 32] {
        match self {
            CertSigningKey::XEdDsa(pair) => pair.public,
            CertSigningKey::Ed25519 { seed } => ed25519_pair(seed)
                .map(|p| {
                    let mut out = [0u8; 32];
                    out.copy_from_slice(ring::signature::KeyPair::public_key(&p).as_ref());
                    out
                })
                .unwrap_or([0u8; 32]),
        }
    }

    /// The root a client must trust to accept chains this key starts.
    pub fn as_trusted_root(&self) -> TrustedRoot {
        TrustedRoot {
            scheme: self.scheme(),
            public: self.public(),
        }
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        match self {
            CertSigningKey::XEdDsa(pair) => crypto::xeddsa_sign_random(&pair.private, message),
            CertSigningKey::Ed25519 { seed } => {
                let mut out = [0u8; 64];
                if let Some(pair) = ed25519_pair(seed) {
                    out.copy_from_slice(pair.sign(message).as_ref());
                }
                out
            }
        }
    }
}

fn ed25519_pair(seed: &[u8; 32]) -> Option<Ed25519KeyPair> {
    Ed25519KeyPair::from_seed_unchecked(seed).ok()
}

/// One certificate to issue: its serial, its issuer's serial, and its validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSpec {
    pub serial: u32,
    pub issuer_serial: u32,
    pub not_before: u64,
    pub not_after: u64,
}

fn issue(signer: &CertSigningKey, spec: &CertSpec, key: &[u8; 32]) -> NoiseCertificate {
    let details = NoiseCertificateDetails {
        serial: Some(spec.serial),
        issuer_serial: Some(spec.issuer_serial),
        key: Some(key.to_vec()),
        not_before: Some(spec.not_before),
        not_after: Some(spec.not_after),
    }
    .encode_to_vec();
    let signature = signer.sign(&details).to_vec();
    NoiseCertificate {
        details: Some(details),
        signature: Some(signature),
    }
}

/// Makes an encoded CertChain: `root` signs the intermediate (which carries `intermediate`'s public
/// key), `intermediate` signs the leaf (which carries `server_static`). Both keys must use the same
/// scheme for a client to accept the result.
pub fn make_chain(
    root: &CertSigningKey,
    intermediate: &CertSigningKey,
    intermediate_spec: &CertSpec,
    server_static: &[u8; 32],
    leaf_spec: &CertSpec,
) -> Vec<u8> {
    CertChain {
        intermediate: Some(issue(root, intermediate_spec, &intermediate.public())),
        leaf: Some(issue(intermediate, leaf_spec, server_static)),
    }
    .encode_to_vec()
}

/// The usual simulator chain: intermediate serial 1 issued by the root (serial 0), leaf serial 2
/// issued by the intermediate, both valid from `not_before` to `not_after`.
pub fn make_simple_chain(
    root: &CertSigningKey,
    intermediate: &CertSigningKey,
    server_static: &[u8; 32],
    not_before: u64,
    not_after: u64,
) -> Vec<u8> {
    let inter = CertSpec {
        serial: 1,
        issuer_serial: ROOT_SERIAL,
        not_before,
        not_after,
    };
    let leaf = CertSpec {
        serial: 2,
        issuer_serial: 1,
        not_before,
        not_after,
    };
    make_chain(root, intermediate, &inter, server_static, &leaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn setup(root: &CertSigningKey, inter: &CertSigningKey) -> ([u8; 32], Vec<u8>) {
        let server = KeyPair::generate();
        (
            server.public,
            make_simple_chain(root, inter, &server.public, NOW - 10, NOW + 10),
        )
    }

    #[test]
    fn chains_of_both_schemes_verify() {
        for (root, inter) in [
            (CertSigningKey::generate(), CertSigningKey::generate()),
            (
                CertSigningKey::Ed25519 { seed: [1; 32] },
                CertSigningKey::Ed25519 { seed: [2; 32] },
            ),
        ] {
            let (server, chain) = setup(&root, &inter);
            let ok = verify_chain(&chain, &server, &root.as_trusted_root(), NOW).unwrap();
            assert_eq!(ok.leaf_key, server);
            assert_eq!(ok.intermediate_key, inter.public());
        }
    }

    #[test]
    fn every_check_rejects() {
        let root = CertSigningKey::generate();
        let inter = CertSigningKey::generate();
        let trusted = root.as_trusted_root();
        let (server, chain) = setup(&root, &inter);
        // Wrong root, and WhatsApp's real root, both refuse a simulator chain.
        let other = CertSigningKey::generate().as_trusted_root();
        assert_eq!(
            verify_chain(&chain, &server, &other, NOW),
            Err(CertError::IntermediateSignature)
        );
        assert_eq!(
            verify_chain(&chain, &server, &TrustedRoot::whatsapp(), NOW),
            Err(CertError::IntermediateSignature)
        );
        // Leaf key must be the server static.
        assert_eq!(
            verify_chain(&chain, &[9; 32], &trusted, NOW),
            Err(CertError::LeafKeyMismatch)
        );
        // Dates.
        assert!(matches!(
            verify_chain(&chain, &server, &trusted, NOW + 11),
            Err(CertError::NotValidAt { .. })
        ));
        assert!(matches!(
            verify_chain(&chain, &server, &trusted, NOW - 11),
            Err(CertError::NotValidAt { .. })
        ));
        // Leaf signed by someone other than the intermediate.
        let forged = make_chain(
            &root,
            &inter,
            &CertSpec {
                serial: 1,
                issuer_serial: 0,
                not_before: 0,
                not_after: u64::MAX,
            },
            &server,
            &CertSpec {
                serial: 2,
                issuer_serial: 1,
                not_before: 0,
                not_after: u64::MAX,
            },
        );
        let mut decoded = CertChain::decode(&forged[..]).unwrap();
        let impostor = CertSigningKey::generate();
        decoded.leaf = Some(issue(
            &impostor,
            &CertSpec {
                serial: 2,
                issuer_serial: 1,
                not_before: 0,
                not_after: u64::MAX,
            },
            &server,
        ));
        assert_eq!(
            verify_chain(&decoded.encode_to_vec(), &server, &trusted, NOW),
            Err(CertError::LeafSignature)
        );
        // Issuer serials.
        let bad_inter = make_chain(
            &root,
            &inter,
            &CertSpec {
                serial: 1,
                issuer_serial: 5,
                not_before: 0,
                not_after: u64::MAX,
            },
            &server,
            &CertSpec {
                serial: 2,
                issuer_serial: 1,
                not_before: 0,
                not_after: u64::MAX,
            },
        );
        assert_eq!(
            verify_chain(&bad_inter, &server, &trusted, NOW),
            Err(CertError::IntermediateIssuer(5))
        );
        let bad_leaf = make_chain(
            &root,
            &inter,
            &CertSpec {
                serial: 1,
                issuer_serial: 0,
                not_before: 0,
                not_after: u64::MAX,
            },
            &server,
            &CertSpec {
                serial: 2,
                issuer_serial: 7,
                not_before: 0,
                not_after: u64::MAX,
            },
        );
        assert_eq!(
            verify_chain(&bad_leaf, &server, &trusted, NOW),
            Err(CertError::LeafIssuer {
                expected: 1,
                actual: 7
            })
        );
        // Garbage.
        assert!(verify_chain(&[0xff, 0xff], &server, &trusted, NOW).is_err());
        assert!(matches!(
            verify_chain(&[], &server, &trusted, NOW),
            Err(CertError::MissingPart(_))
        ));
    }
}
