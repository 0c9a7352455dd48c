//! Pairing, companion side (§5.2–5.3 of the protocol notes): the QR texts from `<pair-device>`, the checks on
//! `<pair-success>`, our device signature and the `<pair-device-sign>` reply. Pure functions over nodes.

use super::creds::{DeviceCreds, PairedDevice};
use crate::protocol::binary::{Content, Node};
use crate::protocol::crypto::{
    constant_time_eq, hmac_sha256_parts, xeddsa_sign_random, xeddsa_verify,
};
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};
use crate::protocol::proto::ProtoMessage;
use std::fmt;

/// `ADVEncryptionType.HOSTED`: the account (or device) is hosted by a business provider.
pub const ADV_HOSTED: i32 = 1;
/// Prefix of the account signature message (the phone signs our identity).
pub const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the device signature message (we countersign).
pub const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];
/// Prefix for the HMAC input and the account signature of hosted accounts.
pub const HOSTED_ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 5];
/// Prefix of the device signature of hosted accounts.
pub const HOSTED_DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 6];

/// The `<pair-device>` request: the refs to show as QR codes, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairDeviceRequest {
    /// The iq id, to acknowledge.
    pub iq_id: String,
    pub refs: Vec<String>,
}

/// Reads `<iq type="set"><pair-device><ref>…</ref>…</pair-device></iq>`; `None` for any other stanza.
pub fn parse_pair_device(node: &Node) -> Option<PairDeviceRequest> {
    if node.tag != "iq" || node.attr("type") != Some("set") {
        return None;
    }
    let pair_device = node.child("pair-device")?;
    let refs = pair_device
        .children_by_tag("ref")
        .filter_map(|r| r.content_text().map(|t| t.into_owned()))
        .collect();
    Some(PairDeviceRequest {
        iq_id: node.attr("id")?.to_string(),
        refs,
    })
}

/// The text encoded in the QR code for one ref: `ref,b64(noise pub),b64(identity pub),b64(adv secret)`.
pub fn qr_text(reference: &str, creds: &DeviceCreds) -> String {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    format!(
        "{reference},{},{},{}",
        b64.encode(creds.noise_key.public),
        b64.encode(creds.identity_key.public),
        b64.encode(creds.adv_secret)
    )
}

/// `<iq to=@s.whatsapp.net type="result" id=…/>`, the plain acknowledgement of a server iq.
pub fn iq_result(id: &str) -> Node {
    Node::new("iq")
        .with_attr("to", Jid::server_jid())
        .with_attr("type", "result")
        .with_attr("id", id)
}

/// `<iq to=@s.whatsapp.net type="error" id=…><error code text/></iq>`.
pub fn iq_error(id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .with_attr("to", Jid::server_jid())
        .with_attr("type", "error")
        .with_attr("id", id)
        .with_child(
            Node::new("error")
                .with_attr("code", code)
                .with_attr("text", text),
        )
}

/// Why a pair-success was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairError {
    /// The stanza lacks a part we need (named).
    Malformed(&'static str),
    /// The HMAC made with our adv secret does not match: not meant for us.
    HmacMismatch,
    /// The phone's account signature over our identity does not verify.
    SignatureMismatch,
}

impl PairError {
    /// The iq error code and text to answer the server with.
    pub fn iq_error(&self) -> (u16, &'static str) {
        match self {
            PairError::Malformed(_) => (500, "internal-error"),
            PairError::HmacMismatch => (401, "hmac-mismatch"),
            PairError::SignatureMismatch => (401, "signature-mismatch"),
        }
    }
}

impl fmt::Display for PairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PairError::Malformed(what) => write!(f, "malformed pair-success: {what}"),
            PairError::HmacMismatch => {
                f.write_str("pair-success HMAC does not match our adv secret")
            }
            PairError::SignatureMismatch => f.write_str("account signature does not verify"),
        }
    }
}

impl std::error::Error for PairError {}

/// A pair-success that passed every check.
#[derive(Debug, Clone)]
pub struct PairAccepted {
    /// The reply to send: `<pair-device-sign>` carrying our signed device identity.
    pub reply: Node,
    /// What to store in the creds.
    pub paired: PairedDevice,
}

/// A pair-success that failed, with the iq error to send back.
#[derive(Debug, Clone)]
pub struct PairRejected {
    pub error: PairError,
    /// `None` when the stanza had no id to answer.
    pub reply: Option<Node>,
}

/// True when `node` is `<iq><pair-success>…`.
pub fn is_pair_success(node: &Node) -> bool {
    node.tag == "iq" && node.child("pair-success").is_some()
}

/// Checks a `<pair-success>` iq against our creds and builds the `<pair-device-sign>` reply (§5.3).
pub fn handle_pair_success(
    creds: &DeviceCreds,
    node: &Node,
) -> Result<PairAccepted, Box<PairRejected>> {
    let iq_id = node.attr("id");
    verify_and_sign(creds, node, iq_id).map_err(|error| {
        let reply = iq_id.map(|id| {
            let (code, text) = error.iq_error();
            iq_error(id, code, text)
        });
        Box::new(PairRejected { error, reply })
    })
}

fn verify_and_sign(
    creds: &DeviceCreds,
    node: &Node,
    iq_id: Option<&str>,
) -> Result<PairAccepted, PairError> {
    let iq_id = iq_id.ok_or(PairError::Malformed("iq id"))?;
    let success = node
        .child("pair-success")
        .ok_or(PairError::Malformed("pair-success"))?;
    let container_bytes = success
        .child("device-identity")
        .and_then(Node::content_bytes)
        .ok_or(PairError::Malformed("device-identity"))?;
    let device = success
        .child("device")
        .ok_or(PairError::Malformed("device"))?;
    let jid = device
        .attr_jid("jid")
        .ok_or(PairError::Malformed("device jid"))?;
    let lid = device.attr_jid("lid");

    let container = AdvSignedDeviceIdentityHmac::decode(container_bytes)
        .map_err(|_| PairError::Malformed("ADVSignedDeviceIdentityHMAC"))?;
    let signed_bytes = container
        .details
        .as_deref()
        .ok_or(PairError::Malformed("HMAC details"))?;
    let hosted = container.account_type == Some(ADV_HOSTED);
    let hmac_prefix: &[u8] = if hosted {
        &HOSTED_ACCOUNT_SIGNATURE_PREFIX
    } else {
        &[]
    };
    let expected = hmac_sha256_parts(&creds.adv_secret, &[hmac_prefix, signed_bytes]);
    let given = container.hmac.as_deref().unwrap_or_default();
    if !constant_time_eq(&expected, given) {
        return Err(PairError::HmacMismatch);
    }

    let mut signed = AdvSignedDeviceIdentity::decode(signed_bytes)
        .map_err(|_| PairError::Malformed("ADVSignedDeviceIdentity"))?;
    let details = signed
        .details
        .clone()
        .ok_or(PairError::Malformed("identity details"))?;
    let identity = AdvDeviceIdentity::decode(details.as_slice())
        .map_err(|_| PairError::Malformed("ADVDeviceIdentity"))?;
    let account_key: [u8; 32] = signed
        .account_signature_key
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .ok_or(PairError::Malformed("account signature key"))?;
    let account_signature: [u8; 64] = signed
        .account_signature
        .as_deref()
        .and_then(|s| s.try_into().ok())
        .ok_or(PairError::Malformed("account signature"))?;

    let own_identity = creds.identity_key.public;
    let verifies = |prefix: &[u8]| {
        let message = [prefix, &details, &own_identity].concat();
        xeddsa_verify(&account_key, &message, &account_signature)
    };
    // Hosted devices are signed with 06 05 by whatsmeow's reckoning and 06 00 by Baileys'; accept either.
    let hosted_device = identity.device_type == Some(ADV_HOSTED);
    let account_ok = verifies(&ACCOUNT_SIGNATURE_PREFIX)
        || (hosted_device && verifies(&HOSTED_ACCOUNT_SIGNATURE_PREFIX));
    if !account_ok {
        return Err(PairError::SignatureMismatch);
    }

    let device_prefix = if hosted {
        HOSTED_DEVICE_SIGNATURE_PREFIX
    } else {
        DEVICE_SIGNATURE_PREFIX
    };
    let device_message = [&device_prefix[..], &details, &own_identity, &account_key].concat();
    let device_signature = xeddsa_sign_random(&creds.identity_key.private, &device_message);
    signed.device_signature = Some(device_signature.to_vec());
    let stored = signed.encode_to_vec();
    // The reply leaves out the account signature key (the server already knows it).
    signed.account_signature_key = None;
    let reply_identity = signed.encode_to_vec();
    let key_index = identity.key_index.unwrap_or_default();

    let reply = Node::new("iq")
        .with_attr("to", Jid::server_jid())
        .with_attr("type", "result")
        .with_attr("id", iq_id)
        .with_child(
            Node::new("pair-device-sign").with_child(
                Node::new("device-identity")
                    .with_attr("key-index", key_index)
                    .with_bytes(reply_identity),
            ),
        );
    let paired = PairedDevice {
        phone: jid.user.clone(),
        device: jid.device,
        lid: lid.map(|l| l.user),
        signed_identity: stored,
        account_signature_key: account_key,
        key_index,
        platform: success
            .child("platform")
            .and_then(|p| p.attr_text("name"))
            .map(|n| n.into_owned()),
        business_name: success
            .child("biz")
            .and_then(|b| b.attr_text("name"))
            .map(|n| n.into_owned()),
    };
    Ok(PairAccepted { reply, paired })
}

/// The `device-identity` bytes of a `<pair-device-sign>` reply, for whoever verifies it.
pub fn pair_device_sign_identity(node: &Node) -> Option<(&[u8], Option<u32>)> {
    let identity = node.child_path(&["pair-device-sign", "device-identity"])?;
    let bytes = match &identity.content {
        Content::Bytes(b) => b.as_slice(),
        _ => return None,
    };
    Some((bytes, identity.attr_parse("key-index")))
}
