//! The simulator's own server identity: a root key, an intermediate, and the Noise static key the leaf
//! certifies. Clients trust the root only when they are configured to talk to a simulator.

use crate::protocol::crypto::{hkdf_sha256, KeyPair};
use crate::protocol::noise::cert::make_simple_chain;
use crate::protocol::noise::{CertSigningKey, TrustedRoot};

/// How long the certificates stay valid after start (a simulator is restarted far more often).
const VALIDITY_SECS: u64 = 365 * 24 * 3600;
/// Slack before "now", so clients with a slightly late clock accept the chain.
const CLOCK_SLACK_SECS: u64 = 24 * 3600;

/// Root, intermediate and static keys plus the encoded certificate chain sent in every ServerHello.
#[derive(Clone)]
pub struct ServerIdentity {
    root: CertSigningKey,
    /// The Noise static key (the leaf's key).
    pub static_key: KeyPair,
    /// Encoded CertChain (intermediate serial 1 by the root, leaf serial 2 by the intermediate).
    pub cert_chain: Vec<u8>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("root", &self.root.public())
            .finish_non_exhaustive()
    }
}

fn derived_key(seed: &[u8; 32], label: &str) -> KeyPair {
    let bytes = hkdf_sha256(seed, b"chattu-simulator", label.as_bytes(), 32);
    let mut private = [0u8; 32];
    private.copy_from_slice(&bytes);
    KeyPair::from_private(private)
}

impl ServerIdentity {
    /// Fresh random keys.
    pub fn generate() -> ServerIdentity {
        ServerIdentity::build(
            KeyPair::generate(),
            KeyPair::generate(),
            KeyPair::generate(),
        )
    }

    /// Keys derived from `seed`: the same seed gives the same root, so a client configured with that
    /// root keeps trusting a restarted simulator.
    pub fn from_seed(seed: &[u8; 32]) -> ServerIdentity {
        ServerIdentity::build(
            derived_key(seed, "root"),
            derived_key(seed, "intermediate"),
            derived_key(seed, "static"),
        )
    }

    fn build(root: KeyPair, intermediate: KeyPair, static_key: KeyPair) -> ServerIdentity {
        let root = CertSigningKey::XEdDsa(root);
        let intermediate = CertSigningKey::XEdDsa(intermediate);
        let now = super::registry::unix_now();
        let cert_chain = make_simple_chain(
            &root,
            &intermediate,
            &static_key.public,
            now.saturating_sub(CLOCK_SLACK_SECS),
            now + VALIDITY_SECS,
        );
        ServerIdentity {
            root,
            static_key,
            cert_chain,
        }
    }

    /// The root a client must trust to accept this simulator.
    pub fn trusted_root(&self) -> TrustedRoot {
        self.root.as_trusted_root()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::noise::cert::verify_chain;

    #[test]
    fn chain_verifies_against_own_root_only() {
        let identity = ServerIdentity::generate();
        let now = super::super::registry::unix_now();
        let root = identity.trusted_root();
        assert!(verify_chain(
            &identity.cert_chain,
            &identity.static_key.public,
            &root,
            now
        )
        .is_ok());
        let other = ServerIdentity::generate().trusted_root();
        assert!(verify_chain(
            &identity.cert_chain,
            &identity.static_key.public,
            &other,
            now
        )
        .is_err());
    }

    #[test]
    fn seed_fixes_the_root() {
        let a = ServerIdentity::from_seed(&[7; 32]);
        let b = ServerIdentity::from_seed(&[7; 32]);
        assert_eq!(a.trusted_root(), b.trusted_root());
        assert_ne!(
            a.trusted_root(),
            ServerIdentity::from_seed(&[8; 32]).trusted_root()
        );
    }
}
