//! Pairing by phone number, the primary phone's side (§5.4): the phone "types" the companion's code,
//! answers with its own wrapped ephemeral, and recovers the adv secret from the companion's key bundle.

use super::iq::{error_reply, result_reply};
use super::phone::{LinkError, ScannedQr};
use super::registry::{
    begin_link, ConnId, ConnRole, Inner, LinkWaiter, LinkedDevice, Registry, SimError, ToConnection,
};
use crate::protocol::binary::Node;
use crate::protocol::crypto::pairing_code::derive_code_key;
use crate::protocol::crypto::{
    aes_ctr_apply, aes_gcm_decrypt, hkdf_sha256, random_bytes, x25519_checked, KeyPair,
};
use crate::protocol::jid::Jid;
use tokio::sync::oneshot;

const BUNDLE_KEY_INFO: &[u8] = b"link_code_pairing_key_bundle_encryption_key";
const ADV_SECRET_INFO: &[u8] = b"adv_secret";

/// What a companion sent in `companion_hello`.
#[derive(Debug, Clone)]
pub struct CodeHello {
    /// The phone number the companion wants to link to.
    pub phone: String,
    /// `salt ‖ iv ‖ AES-CTR(code key, companion ephemeral)`.
    pub wrapped_companion: Vec<u8>,
    /// The companion's Noise key (`companion_server_auth_key_pub`).
    pub noise_public: [u8; 32],
    /// The `link_code_pairing_ref` we answered with.
    pub reference: Vec<u8>,
}

/// The phone's half, kept between its notification and the companion's `companion_finish`.
#[derive(Debug, Clone)]
pub struct PrimaryCode {
    ephemeral: KeyPair,
    companion_ephemeral: [u8; 32],
}

fn ctr(code: &str, salt: &[u8], iv: &[u8; 16], data: &mut [u8; 32]) {
    aes_ctr_apply(&derive_code_key(code, salt), iv, data);
}

/// Reads a `companion_hello` iq (`<link_code_companion_reg stage="companion_hello">`).
pub fn read_hello(iq: &Node, reference: Vec<u8>) -> Option<CodeHello> {
    let reg = iq.child("link_code_companion_reg")?;
    if reg.attr("stage") != Some("companion_hello") {
        return None;
    }
    let phone = reg.attr_jid("jid")?.user;
    let wrapped = reg
        .child("link_code_pairing_wrapped_companion_ephemeral_pub")?
        .content_bytes()?;
    let noise_public = reg
        .child("companion_server_auth_key_pub")?
        .content_bytes()?
        .try_into()
        .ok()?;
    (wrapped.len() == 80).then(|| CodeHello {
        phone,
        wrapped_companion: wrapped.to_vec(),
        noise_public,
        reference,
    })
}

/// The phone enters `code` (dashes and case ignored): unwraps the companion's ephemeral and builds the
/// `link_code_companion_reg` notification carrying its own wrapped ephemeral and identity key.
pub fn primary_hello(
    hello: &CodeHello,
    code: &str,
    phone_identity: &[u8; 32],
    id: &str,
) -> (Node, PrimaryCode) {
    let code: String = code
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let (salt, rest) = hello.wrapped_companion.split_at(32);
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&rest[..16]);
    let mut companion_ephemeral = [0u8; 32];
    companion_ephemeral.copy_from_slice(&rest[16..48]);
    ctr(&code, salt, &iv, &mut companion_ephemeral);

    let ephemeral = KeyPair::generate();
    let own_salt: [u8; 32] = random_bytes();
    let own_iv: [u8; 16] = random_bytes();
    let mut sealed = ephemeral.public;
    ctr(&code, &own_salt, &own_iv, &mut sealed);
    let wrapped = [&own_salt[..], &own_iv[..], &sealed[..]].concat();

    let node = Node::new("notification")
        .with_attr("from", Jid::server_jid())
        .with_attr("type", "link_code_companion_reg")
        .with_attr("id", id)
        .with_attr("t", super::registry::unix_now())
        .with_child(
            Node::new("link_code_companion_reg")
                .with_attr("stage", "primary_hello")
                .with_children([
                    Node::new("link_code_pairing_ref").with_bytes(hello.reference.clone()),
                    Node::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .with_bytes(wrapped),
                    Node::new("primary_identity_pub").with_bytes(phone_identity.to_vec()),
                ]),
        );
    (
        node,
        PrimaryCode {
            ephemeral,
            companion_ephemeral,
        },
    )
}

/// Reads `companion_finish`: decrypts the key bundle (which fails when the code was wrong), checks the
/// identities in it, and derives the adv secret. Returns (companion identity, adv secret).
pub fn primary_finish(
    state: &PrimaryCode,
    phone_identity: &KeyPair,
    iq: &Node,
) -> Result<([u8; 32], [u8; 32]), LinkError> {
    let reg = iq
        .child("link_code_companion_reg")
        .filter(|r| r.attr("stage") == Some("companion_finish"))
        .ok_or(LinkError::Malformed("companion_finish"))?;
    let bundle = reg
        .child("link_code_pairing_wrapped_key_bundle")
        .and_then(Node::content_bytes)
        .filter(|b| b.len() > 44)
        .ok_or(LinkError::Malformed("wrapped key bundle"))?;
    let companion_identity: [u8; 32] = reg
        .child("companion_identity_public")
        .and_then(Node::content_bytes)
        .and_then(|k| k.try_into().ok())
        .ok_or(LinkError::Malformed("companion identity"))?;
    let shared = x25519_checked(&state.ephemeral.private, &state.companion_ephemeral)
        .map_err(|_| LinkError::Malformed("weak ephemeral"))?;
    let (salt, rest) = bundle.split_at(32);
    let (nonce, sealed) = rest.split_at(12);
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| LinkError::Malformed("bundle nonce"))?;
    let key: [u8; 32] = hkdf_sha256(&shared, salt, BUNDLE_KEY_INFO, 32)
        .try_into()
        .map_err(|_| LinkError::Malformed("bundle key"))?;
    // A wrong code gave the two sides different ephemerals, so this is where it shows.
    let plain = aes_gcm_decrypt(&key, &nonce, &[], sealed).map_err(|_| LinkError::WrongCode)?;
    if plain.len() != 96
        || plain[..32] != companion_identity
        || plain[32..64] != phone_identity.public
    {
        return Err(LinkError::Malformed("key bundle contents"));
    }
    let identity_shared = x25519_checked(&phone_identity.private, &companion_identity)
        .map_err(|_| LinkError::Malformed("weak identity"))?;
    let input = [&shared[..], &identity_shared[..], &plain[64..]].concat();
    let adv_secret: [u8; 32] = hkdf_sha256(&input, &[], ADV_SECRET_INFO, 32)
        .try_into()
        .map_err(|_| LinkError::Malformed("adv secret"))?;
    Ok((companion_identity, adv_secret))
}

/// A registering connection's code pairing: the hello, then the phone's half once a code was typed.
pub(super) struct CodeState {
    hello: CodeHello,
    primary: Option<(PrimaryCode, LinkWaiter)>,
}

impl Registry {
    /// `companion_hello` from the registering connection `conn`: remembers it and returns the pairing
    /// ref to answer with.
    pub fn code_hello(&self, conn: ConnId, iq: &Node) -> Result<Vec<u8>, SimError> {
        let reference = {
            use base64::Engine as _;
            let bytes: [u8; 18] = random_bytes();
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into_bytes()
        };
        let hello = read_hello(iq, reference.clone())
            .ok_or(SimError::Link(LinkError::Malformed("companion_hello")))?;
        let mut inner = self.lock();
        if !inner.accounts.contains_key(&hello.phone) {
            return Err(SimError::PhoneNotFound);
        }
        let Some(ConnRole::Registering {
            registration, code, ..
        }) = inner.connections.get_mut(&conn).map(|c| &mut c.role)
        else {
            return Err(SimError::UnknownRef);
        };
        if registration.noise_public != hello.noise_public {
            return Err(SimError::QrKeysMismatch);
        }
        *code = Some(Box::new(CodeState {
            hello,
            primary: None,
        }));
        Ok(reference)
    }

    /// The phone `phone` types `code`: the companion waiting for it gets the phone's notification. The
    /// receiver resolves when the companion is linked (or pairing failed).
    pub fn enter_code(
        &self,
        phone: &str,
        code: &str,
    ) -> Result<oneshot::Receiver<Result<LinkedDevice, String>>, SimError> {
        let mut inner = self.lock();
        let Inner {
            accounts,
            connections,
            ..
        } = &mut *inner;
        let account = accounts.get(phone).ok_or(SimError::PhoneNotFound)?;
        let (conn_id, conn) = connections
            .iter_mut()
            .find(|(_, c)| {
                matches!(&c.role, ConnRole::Registering { code: Some(state), .. }
                    if state.hello.phone == phone && state.primary.is_none())
            })
            .ok_or(SimError::NoCodePending)?;
        let ConnRole::Registering {
            code: Some(state), ..
        } = &mut conn.role
        else {
            return Err(SimError::NoCodePending);
        };
        let id = format!("lc-{conn_id}");
        let (node, primary) =
            primary_hello(&state.hello, code, &account.phone.identity.public, &id);
        let (done_tx, done_rx) = oneshot::channel();
        state.primary = Some((primary, done_tx));
        let _ = conn.tx.send(ToConnection::Send(node));
        Ok(done_rx)
    }

    /// `companion_finish` from `conn`: checks the key bundle, derives the adv secret, and continues as a
    /// QR scan would (pair-success).
    pub fn code_finish(&self, conn: ConnId, iq: &Node) -> Result<(), SimError> {
        let mut inner = self.lock();
        let Inner {
            accounts,
            connections,
            ..
        } = &mut *inner;
        let connection = connections.get_mut(&conn).ok_or(SimError::UnknownRef)?;
        let ConnRole::Registering {
            registration,
            link,
            code: Some(state),
            ..
        } = &mut connection.role
        else {
            return Err(SimError::NoCodePending);
        };
        let (primary, done) = state.primary.take().ok_or(SimError::NoCodePending)?;
        let account = accounts
            .get_mut(&state.hello.phone)
            .ok_or(SimError::PhoneNotFound)?;
        let outcome =
            primary_finish(&primary, &account.phone.identity, iq).and_then(|(identity, adv)| {
                if identity == registration.identity_public {
                    Ok(adv)
                } else {
                    Err(LinkError::Malformed(
                        "companion identity differs from its registration",
                    ))
                }
            });
        let adv_secret = match outcome {
            Ok(adv) => adv,
            Err(e) => {
                let _ = done.send(Err(e.to_string()));
                return Err(SimError::Link(e));
            }
        };
        let scanned = ScannedQr {
            reference: String::from_utf8_lossy(&state.hello.reference).into_owned(),
            noise_public: state.hello.noise_public,
            identity_public: registration.identity_public,
            adv_secret,
        };
        begin_link(account, conn, &connection.tx, link, scanned, done);
        Ok(())
    }
}

/// Answers a registering companion's `link_code_companion_reg` iq (hello or finish); `None` for any
/// other stanza.
pub(super) fn answer_code_iq(registry: &Registry, conn: ConnId, iq: &Node) -> Option<Node> {
    let stage = iq.child("link_code_companion_reg")?.attr("stage")?;
    let id = iq.attr("id")?;
    let answer = match stage {
        "companion_hello" => match registry.code_hello(conn, iq) {
            Ok(reference) => result_reply(id).with_child(
                Node::new("link_code_companion_reg")
                    .with_child(Node::new("link_code_pairing_ref").with_bytes(reference)),
            ),
            Err(SimError::PhoneNotFound) => error_reply(id, 404, "item-not-found"),
            Err(e) => {
                log::debug!("simulator: companion_hello refused: {e}");
                error_reply(id, 400, "bad-request")
            }
        },
        "companion_finish" => match registry.code_finish(conn, iq) {
            Ok(()) => result_reply(id),
            Err(e) => {
                log::info!("simulator: code pairing failed: {e}");
                error_reply(id, 400, "bad-request")
            }
        },
        _ => error_reply(id, 400, "bad-request"),
    };
    Some(answer)
}
