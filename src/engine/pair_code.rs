//! Pairing by phone number, companion side (§5.4 of the protocol notes): the 8-character code, the
//! `companion_hello` iq, and the `companion_finish` answer to the primary's notification, which also
//! yields the new adv secret. Pure functions over nodes.

use crate::protocol::binary::Node;
use crate::protocol::crypto::pairing_code::{derive_code_key, generate_code};
use crate::protocol::crypto::{
    aes_ctr_apply, aes_gcm_encrypt, hkdf_sha256, random_bytes, x25519_checked, KeyPair,
};
use crate::protocol::jid::Jid;
use std::fmt;

/// HKDF info for the key that encrypts the key bundle.
const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
/// HKDF info for the adv secret.
const ADV_SECRET_INFO: &[u8] = b"adv_secret";
/// `companion_platform_id` for Chrome (the platform our DeviceProps claim).
const PLATFORM_ID: &str = "1";
/// `companion_platform_display`: the server accepts only `Browser (OS)` with common names.
const PLATFORM_DISPLAY: &str = "Chrome (Linux)";

/// Why a code pairing step failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairCodeError {
    /// The phone number is not 5 to 20 digits.
    BadPhone,
    /// The server's answer or notification lacks a part (named).
    Malformed(&'static str),
    /// The notification is for another pairing attempt.
    RefMismatch,
    /// A key exchange produced a weak (all-zero) secret.
    WeakKey,
}

impl fmt::Display for PairCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairCodeError::BadPhone => f.write_str("phone number must be 5 to 20 digits"),
            PairCodeError::Malformed(what) => write!(f, "malformed link-code stanza: {what}"),
            PairCodeError::RefMismatch => f.write_str("link-code notification for another pairing"),
            PairCodeError::WeakKey => f.write_str("weak key in link-code exchange"),
        }
    }
}

impl std::error::Error for PairCodeError {}

/// Encrypts a 32-byte ephemeral public key with the code: `salt ‖ iv ‖ AES-CTR(PBKDF2(code, salt), iv, key)`.
pub fn wrap_ephemeral(code: &str, public: &[u8; 32]) -> Vec<u8> {
    let salt: [u8; 32] = random_bytes();
    let iv: [u8; 16] = random_bytes();
    let key = derive_code_key(code, &salt);
    let mut sealed = *public;
    aes_ctr_apply(&key, &iv, &mut sealed);
    [&salt[..], &iv[..], &sealed[..]].concat()
}

/// The inverse of [`wrap_ephemeral`]. A wrong code gives a wrong key, which only shows later.
pub fn unwrap_ephemeral(code: &str, wrapped: &[u8]) -> Option<[u8; 32]> {
    if wrapped.len() != 80 {
        return None;
    }
    let (salt, rest) = wrapped.split_at(32);
    let (iv, sealed) = rest.split_at(16);
    let iv: [u8; 16] = iv.try_into().ok()?;
    let mut public: [u8; 32] = sealed.try_into().ok()?;
    aes_ctr_apply(&derive_code_key(code, salt), &iv, &mut public);
    Some(public)
}

/// A code pairing in progress: what the companion must remember between hello and finish.
#[derive(Debug, Clone)]
pub struct CodePairing {
    /// The phone's JID (`PHONE@s.whatsapp.net`).
    pub phone: Jid,
    /// The 8 characters of the code (shown to users as `XXXX-XXXX`).
    pub code: String,
    pub ephemeral: KeyPair,
    /// The server's `link_code_pairing_ref`, once it answered the hello.
    pub reference: Option<Vec<u8>>,
}

impl CodePairing {
    /// Starts a code pairing with `phone` (digits; other characters are ignored).
    pub fn new(phone: &str) -> Result<CodePairing, PairCodeError> {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        if !(5..=20).contains(&digits.len()) {
            return Err(PairCodeError::BadPhone);
        }
        Ok(CodePairing {
            phone: Jid::phone(digits),
            code: generate_code(),
            ephemeral: KeyPair::generate(),
            reference: None,
        })
    }

    /// The code as users type it, `XXXX-XXXX`.
    pub fn display_code(&self) -> String {
        let (a, b) = self.code.split_at(self.code.len().min(4));
        format!("{a}-{b}")
    }

    /// The `companion_hello` iq.
    pub fn hello(&self, id: &str, noise_public: &[u8; 32]) -> Node {
        Node::new("iq")
            .with_attr("id", id)
            .with_attr("xmlns", "md")
            .with_attr("type", "set")
            .with_attr("to", Jid::server_jid())
            .with_child(
                Node::new("link_code_companion_reg")
                    .with_attr("jid", self.phone.clone())
                    .with_attr("stage", "companion_hello")
                    .with_attr("should_show_push_notification", "true")
                    .with_children([
                        Node::new("link_code_pairing_wrapped_companion_ephemeral_pub")
                            .with_bytes(wrap_ephemeral(&self.code, &self.ephemeral.public)),
                        Node::new("companion_server_auth_key_pub")
                            .with_bytes(noise_public.to_vec()),
                        Node::new("companion_platform_id")
                            .with_bytes(PLATFORM_ID.as_bytes().to_vec()),
                        Node::new("companion_platform_display")
                            .with_bytes(PLATFORM_DISPLAY.as_bytes().to_vec()),
                        Node::new("link_code_pairing_nonce").with_bytes(vec![0]),
                    ]),
            )
    }

    /// Reads the pairing ref from the server's answer to the hello.
    pub fn read_hello_result(&mut self, result: &Node) -> Result<(), PairCodeError> {
        let reference = result
            .child_path(&["link_code_companion_reg", "link_code_pairing_ref"])
            .and_then(Node::content_bytes)
            .ok_or(PairCodeError::Malformed("link_code_pairing_ref"))?;
        self.reference = Some(reference.to_vec());
        Ok(())
    }

    /// Answers the primary's `link_code_companion_reg` notification: returns the `companion_finish` iq
    /// and the new adv secret (it replaces the stored one).
    pub fn finish(
        &self,
        notification: &Node,
        identity: &KeyPair,
        id: &str,
    ) -> Result<(Node, [u8; 32]), PairCodeError> {
        let reg = notification
            .child("link_code_companion_reg")
            .ok_or(PairCodeError::Malformed("link_code_companion_reg"))?;
        let bytes_of = |tag: &'static str| {
            reg.child(tag)
                .and_then(Node::content_bytes)
                .ok_or(PairCodeError::Malformed(tag))
        };
        let reference = bytes_of("link_code_pairing_ref")?;
        if self.reference.as_deref() != Some(reference) {
            return Err(PairCodeError::RefMismatch);
        }
        let wrapped = bytes_of("link_code_pairing_wrapped_primary_ephemeral_pub")?;
        let primary_identity: [u8; 32] = bytes_of("primary_identity_pub")?
            .try_into()
            .map_err(|_| PairCodeError::Malformed("primary_identity_pub"))?;
        let primary_ephemeral = unwrap_ephemeral(&self.code, wrapped)
            .ok_or(PairCodeError::Malformed("wrapped primary ephemeral"))?;
        let shared = x25519_checked(&self.ephemeral.private, &primary_ephemeral)
            .map_err(|_| PairCodeError::WeakKey)?;

        let adv_random: [u8; 32] = random_bytes();
        let salt: [u8; 32] = random_bytes();
        let nonce: [u8; 12] = random_bytes();
        let bundle_key: [u8; 32] = hkdf_sha256(&shared, &salt, BUNDLE_KEY_INFO, 32)
            .try_into()
            .map_err(|_| PairCodeError::WeakKey)?;
        let bundle = [&identity.public[..], &primary_identity[..], &adv_random[..]].concat();
        let sealed = aes_gcm_encrypt(&bundle_key, &nonce, &[], &bundle);
        let wrapped_bundle = [&salt[..], &nonce[..], &sealed[..]].concat();

        let identity_shared = x25519_checked(&identity.private, &primary_identity)
            .map_err(|_| PairCodeError::WeakKey)?;
        let adv_input = [&shared[..], &identity_shared[..], &adv_random[..]].concat();
        let adv_secret: [u8; 32] = hkdf_sha256(&adv_input, &[], ADV_SECRET_INFO, 32)
            .try_into()
            .map_err(|_| PairCodeError::WeakKey)?;

        let iq = Node::new("iq")
            .with_attr("id", id)
            .with_attr("xmlns", "md")
            .with_attr("type", "set")
            .with_attr("to", Jid::server_jid())
            .with_child(
                Node::new("link_code_companion_reg")
                    .with_attr("jid", self.phone.clone())
                    .with_attr("stage", "companion_finish")
                    .with_children([
                        Node::new("link_code_pairing_wrapped_key_bundle")
                            .with_bytes(wrapped_bundle),
                        Node::new("companion_identity_public").with_bytes(identity.public.to_vec()),
                        Node::new("link_code_pairing_ref").with_bytes(reference.to_vec()),
                    ]),
            );
        Ok((iq, adv_secret))
    }
}

/// True for the primary's `<notification type="link_code_companion_reg">`.
pub fn is_code_notification(node: &Node) -> bool {
    node.tag == "notification" && node.attr("type") == Some("link_code_companion_reg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_wrapping_round_trips_only_with_the_code() {
        let key = KeyPair::generate();
        let wrapped = wrap_ephemeral("ABCD2345", &key.public);
        assert_eq!(wrapped.len(), 80);
        assert_eq!(unwrap_ephemeral("ABCD2345", &wrapped), Some(key.public));
        assert_ne!(unwrap_ephemeral("ABCD2346", &wrapped), Some(key.public));
        assert_eq!(unwrap_ephemeral("ABCD2345", &wrapped[..79]), None);
    }

    #[test]
    fn code_is_eight_characters_shown_with_a_dash() {
        let pairing = CodePairing::new("+1 555 000 1111").unwrap();
        assert_eq!(pairing.phone.user, "15550001111");
        assert_eq!(pairing.code.len(), 8);
        assert_eq!(pairing.display_code().len(), 9);
        assert!(CodePairing::new("12").is_err());
    }
}
