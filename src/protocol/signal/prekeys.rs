//! WhatsApp's key nodes (`xmlns="encrypt"`): prekey generation and upload, signed-prekey rotation,
//! the key-fetch request and its bundle list, the count query and the digest check.
//!
//! The builders return `<iq>` nodes without an `id`; the caller's IQ layer adds it.

use super::builder::{local_identity, PreKeyBundle};
use super::error::SignalError;
use super::keys::{
    array32, next_pre_key_id, KeySource, LocalIdentity, PreKeyRecord, SignedPreKeyRecord, DJB_TYPE,
    MAX_PRE_KEY_ID,
};
use super::store::{IdentityStore, PreKeyStore, SignedPreKeyStore};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use ring::digest;

/// Prekeys uploaded right after pairing (whatsmeow and Baileys both use 812).
pub const INITIAL_PRE_KEY_UPLOAD: u32 = 812;
/// Prekeys uploaded when the server runs low.
pub const PRE_KEY_UPLOAD_BATCH: u32 = 50;
/// Upload again when the server has fewer than this many.
pub const MIN_PRE_KEY_COUNT: u32 = 5;
/// Signed prekeys older than this should be rotated.
pub const SIGNED_PRE_KEY_MAX_AGE_SECS: u64 = 7 * 24 * 3600;
/// Signed prekeys kept after a rotation (older ones may still be named by pkmsgs in flight).
pub const SIGNED_PRE_KEYS_KEPT: usize = 3;

fn encrypt_iq(kind: &str) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "encrypt")
        .with_attr("type", kind)
        .with_attr("to", Jid::server_jid())
}

fn u24(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

fn skey_node(signed: &SignedPreKeyRecord) -> Node {
    Node::new("skey").with_children([
        Node::new("id").with_bytes(u24(signed.id)),
        Node::new("value").with_bytes(signed.key_pair.public.to_vec()),
        Node::new("signature").with_bytes(signed.signature.to_vec()),
    ])
}

/// Generates `count` new one-time prekeys with ids continuing from the store's counter, stores them
/// and advances the counter. Upload them with [`upload_pre_keys_node`].
pub fn generate_pre_keys<S: PreKeyStore + ?Sized>(
    store: &mut S,
    count: u32,
    rng: &mut dyn KeySource,
) -> Result<Vec<PreKeyRecord>, SignalError> {
    let mut id = store.next_pre_key_id()?.clamp(1, MAX_PRE_KEY_ID);
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let record = PreKeyRecord {
            id,
            key_pair: rng.key_pair(),
        };
        store.store_pre_key(&record)?;
        out.push(record);
        id = next_pre_key_id(id);
    }
    store.set_next_pre_key_id(id)?;
    Ok(out)
}

/// The newest signed prekey (by creation time, then id), if any.
pub fn current_signed_pre_key<S: SignedPreKeyStore + ?Sized>(
    store: &S,
) -> Result<Option<SignedPreKeyRecord>, SignalError> {
    let mut newest: Option<SignedPreKeyRecord> = None;
    for id in store.signed_pre_key_ids()? {
        if let Some(record) = store.load_signed_pre_key(id)? {
            let newer = match &newest {
                Some(n) => (record.created_at, record.id) > (n.created_at, n.id),
                None => true,
            };
            if newer {
                newest = Some(record);
            }
        }
    }
    Ok(newest)
}

/// Makes a new signed prekey (id after the current one), stores it and drops all but the newest
/// [`SIGNED_PRE_KEYS_KEPT`]. Announce it with [`rotate_signed_pre_key_node`] (or in the next upload).
pub fn rotate_signed_pre_key<S: IdentityStore + SignedPreKeyStore + ?Sized>(
    store: &mut S,
    now_secs: u64,
    rng: &mut dyn KeySource,
) -> Result<SignedPreKeyRecord, SignalError> {
    let identity = local_identity(store)?;
    let id = match current_signed_pre_key(store)? {
        Some(current) => next_pre_key_id(current.id),
        None => 1,
    };
    let record = SignedPreKeyRecord::generate(id, &identity.key_pair, now_secs, rng);
    store.store_signed_pre_key(&record)?;
    let mut all = Vec::new();
    for id in store.signed_pre_key_ids()? {
        if let Some(r) = store.load_signed_pre_key(id)? {
            all.push((r.created_at, r.id));
        }
    }
    all.sort_unstable_by(|a, b| b.cmp(a));
    for (_, old) in all.into_iter().skip(SIGNED_PRE_KEYS_KEPT) {
        store.remove_signed_pre_key(old)?;
    }
    Ok(record)
}

/// Whether `signed` is old enough to rotate.
pub fn signed_pre_key_needs_rotation(signed: &SignedPreKeyRecord, now_secs: u64) -> bool {
    now_secs.saturating_sub(signed.created_at) >= SIGNED_PRE_KEY_MAX_AGE_SECS
}

/// `<iq xmlns="encrypt" type="set">` uploading our identity, signed prekey and `pre_keys`.
pub fn upload_pre_keys_node(
    identity: &LocalIdentity,
    signed: &SignedPreKeyRecord,
    pre_keys: &[PreKeyRecord],
) -> Node {
    let list = Node::new("list").with_children(pre_keys.iter().map(|k| {
        Node::new("key").with_children([
            Node::new("id").with_bytes(u24(k.id)),
            Node::new("value").with_bytes(k.key_pair.public.to_vec()),
        ])
    }));
    encrypt_iq("set").with_children([
        Node::new("registration").with_bytes(identity.registration_id.to_be_bytes().to_vec()),
        Node::new("type").with_bytes(vec![DJB_TYPE]),
        Node::new("identity").with_bytes(identity.key_pair.public.to_vec()),
        list,
        skey_node(signed),
    ])
}

/// `<iq xmlns="encrypt" type="set"><rotate><skey>…</skey></rotate></iq>`.
pub fn rotate_signed_pre_key_node(signed: &SignedPreKeyRecord) -> Node {
    encrypt_iq("set").with_child(Node::new("rotate").with_child(skey_node(signed)))
}

/// `<iq xmlns="encrypt" type="get"><count/></iq>`: how many prekeys the server still holds.
pub fn pre_key_count_node() -> Node {
    encrypt_iq("get").with_child(Node::new("count"))
}

/// The `value` of `<count value="N"/>` in the answer to [`pre_key_count_node`].
pub fn parse_pre_key_count(response: &Node) -> Option<u32> {
    response.child("count")?.attr_parse("value")
}

/// `<iq xmlns="encrypt" type="get"><key><user jid=…/>…</key></iq>`: fetch bundles of these devices.
/// `reason` is `Some("identity")` when refetching after an identity change.
pub fn key_fetch_node(devices: &[Jid], reason: Option<&str>) -> Node {
    let users = devices.iter().map(|jid| {
        Node::new("user")
            .with_attr("jid", jid.clone())
            .with_opt_attr("reason", reason)
    });
    encrypt_iq("get").with_child(Node::new("key").with_children(users))
}

/// Reads the `<list><user>…</user></list>` of a key-fetch result (also under a `<keys>` wrapper).
/// Each user gives its device JID and its bundle or why it is unusable; users without a JID are
/// skipped.
pub fn parse_key_bundles(response: &Node) -> Vec<(Jid, Result<PreKeyBundle, SignalError>)> {
    let list = response
        .child("list")
        .or_else(|| response.child_path(&["keys", "list"]))
        .or_else(|| response.child("keys"));
    let Some(list) = list else {
        return Vec::new();
    };
    list.children_by_tag("user")
        .filter_map(|user| Some((user.attr_jid("jid")?, parse_user_bundle(user))))
        .collect()
}

/// One `<user>` node's bundle.
pub fn parse_user_bundle(user: &Node) -> Result<PreKeyBundle, SignalError> {
    if user.child("error").is_some() {
        return Err(SignalError::InvalidBundle(
            "the server returned an error for this device",
        ));
    }
    if let Some(kind) = user.child("type") {
        if kind.content_bytes() != Some(&[DJB_TYPE][..]) {
            return Err(SignalError::InvalidBundle("key type is not 0x05"));
        }
    }
    let registration_id = be_number(child_bytes(user, "registration")?, 4)?;
    let identity_key = key_bytes(child_bytes(user, "identity")?)?;
    let skey = user
        .child("skey")
        .ok_or(SignalError::InvalidBundle("no signed prekey"))?;
    let signature = child_bytes(skey, "signature")?;
    let signed_pre_key_signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| SignalError::InvalidBundle("signature is not 64 bytes"))?;
    let pre_key = match user.child("key") {
        Some(key) => Some((
            be_number(child_bytes(key, "id")?, 3)?,
            key_bytes(child_bytes(key, "value")?)?,
        )),
        None => None,
    };
    Ok(PreKeyBundle {
        registration_id,
        identity_key,
        signed_pre_key_id: be_number(child_bytes(skey, "id")?, 3)?,
        signed_pre_key: key_bytes(child_bytes(skey, "value")?)?,
        signed_pre_key_signature,
        pre_key,
    })
}

fn child_bytes<'a>(node: &'a Node, tag: &'static str) -> Result<&'a [u8], SignalError> {
    node.child(tag)
        .and_then(Node::content_bytes)
        .ok_or(SignalError::InvalidBundle("a key field is missing"))
}

/// A big-endian number of 1..=`max_len` bytes.
fn be_number(bytes: &[u8], max_len: usize) -> Result<u32, SignalError> {
    if bytes.is_empty() || bytes.len() > max_len {
        return Err(SignalError::InvalidBundle("number has the wrong length"));
    }
    Ok(bytes.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)))
}

/// A 32-byte key, also accepted in its 33-byte `0x05 ||` form.
fn key_bytes(bytes: &[u8]) -> Result<[u8; 32], SignalError> {
    let raw = match bytes {
        [DJB_TYPE, rest @ ..] if rest.len() == 32 => rest,
        _ => bytes,
    };
    array32(raw).ok_or(SignalError::InvalidBundle("key is not 32 bytes"))
}

/// `<iq xmlns="encrypt" type="get"><digest/></iq>`: what the server holds of our keys.
pub fn digest_query_node() -> Node {
    encrypt_iq("get").with_child(Node::new("digest"))
}

/// Whether the server's `<digest>` answer matches our keys: registration id, identity, signed
/// prekey, every listed prekey known locally, and `hash = SHA1(identity ‖ skey ‖ signature ‖
/// prekeys…)`. `false` means "upload again"; a missing `<digest>` is also `false`.
pub fn verify_key_digest<S: IdentityStore + PreKeyStore + SignedPreKeyStore + ?Sized>(
    store: &S,
    response: &Node,
) -> Result<bool, SignalError> {
    let Some(digest_node) = response.child("digest") else {
        return Ok(false);
    };
    let identity = local_identity(store)?;
    let registration = be_number(child_bytes(digest_node, "registration")?, 4)?;
    let server_identity = key_bytes(child_bytes(digest_node, "identity")?)?;
    if registration != identity.registration_id || server_identity != identity.key_pair.public {
        return Ok(false);
    }
    let skey = digest_node
        .child("skey")
        .ok_or(SignalError::InvalidBundle("no signed prekey"))?;
    let skey_id = be_number(child_bytes(skey, "id")?, 3)?;
    let Some(signed) = store.load_signed_pre_key(skey_id)? else {
        return Ok(false);
    };
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&identity.key_pair.public);
    ctx.update(&signed.key_pair.public);
    ctx.update(&signed.signature);
    if let Some(list) = digest_node.child("list") {
        for id_node in list.children_by_tag("id") {
            let id = be_number(id_node.content_bytes().unwrap_or_default(), 3)?;
            let Some(pre_key) = store.load_pre_key(id)? else {
                return Ok(false);
            };
            ctx.update(&pre_key.key_pair.public);
        }
    }
    let expected = child_bytes(digest_node, "hash")?;
    Ok(ctx.finish().as_ref() == expected)
}
