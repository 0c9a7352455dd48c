//! A simulated primary phone (device 0): it scans a companion's QR code, vouches for the companion with a
//! real ADV account signature (HMAC'd with the QR's adv secret), and checks the companion's countersignature.

use super::keys::PhoneSignalKeys;
use crate::protocol::binary::Node;
use crate::protocol::crypto::{
    hmac_sha256, random_bytes, xeddsa_sign_random, xeddsa_verify, KeyPair,
};
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::{
    AdvDeviceIdentity, AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac,
};
use crate::protocol::proto::ProtoMessage;
use std::fmt;

/// Prefix of the account signature message (the phone signs the companion's identity).
const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
/// Prefix of the companion's device signature message.
const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

/// What a QR code carries (§5.2): the ref and the companion's three public values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedQr {
    pub reference: String,
    pub noise_public: [u8; 32],
    pub identity_public: [u8; 32],
    pub adv_secret: [u8; 32],
}

/// Why a QR text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrParseError {
    /// Fewer than four comma-separated fields.
    MissingFields,
    /// A key field is not base64 of 32 bytes (named).
    BadKey(&'static str),
}

impl fmt::Display for QrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QrParseError::MissingFields => {
                f.write_str("QR text needs ref,noise,identity,adv fields")
            }
            QrParseError::BadKey(what) => write!(f, "QR {what} is not base64 of 32 bytes"),
        }
    }
}

impl std::error::Error for QrParseError {}

/// Prefix current WhatsApp Web puts in front of the QR fields.
const QR_URL_PREFIX: &str = "https://wa.me/settings/linked_devices#";

/// Parses a QR text in either form: the four Baileys fields, or the URL form with a platform field.
pub fn parse_qr(text: &str) -> Result<ScannedQr, QrParseError> {
    let body = text.trim();
    let body = body.strip_prefix(QR_URL_PREFIX).unwrap_or(body);
    // The ref itself never holds a comma (it is base64 with a version prefix), so split from the left.
    let mut fields = body.split(',');
    let (Some(reference), Some(noise), Some(identity), Some(adv)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(QrParseError::MissingFields);
    };
    if reference.is_empty() {
        return Err(QrParseError::MissingFields);
    }
    Ok(ScannedQr {
        reference: reference.to_string(),
        noise_public: key32(noise, "noise key")?,
        identity_public: key32(identity, "identity key")?,
        adv_secret: key32(adv, "adv secret")?,
    })
}

fn key32(text: &str, what: &'static str) -> Result<[u8; 32], QrParseError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(QrParseError::BadKey(what))
}

/// A simulated account's primary phone.
#[derive(Debug, Clone)]
pub struct Phone {
    /// Phone number digits.
    pub phone: String,
    /// Push name.
    pub name: String,
    /// LID user part (15 random digits).
    pub lid: String,
    /// The account key: ADV account signature key and device 0's Signal identity.
    pub identity: KeyPair,
    /// `ADVDeviceIdentity.rawId` of the account.
    pub raw_id: u32,
    /// Key index handed to the next companion.
    pub next_key_index: u32,
    /// Device 0's Signal keys (registration id, signed prekey).
    pub signal: PhoneSignalKeys,
}

/// A pair-success sent and waiting for the companion's `pair-device-sign`.
#[derive(Debug, Clone)]
pub struct PendingLink {
    pub device: u16,
    pub key_index: u32,
    pub scanned: ScannedQr,
    /// The `ADVDeviceIdentity` bytes the phone signed.
    pub details: Vec<u8>,
    pub account_signature: [u8; 64],
}

/// Why a `pair-device-sign` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    Malformed(&'static str),
    /// The companion changed what the phone signed.
    DetailsChanged,
    /// The device signature does not verify with the companion's identity key.
    BadDeviceSignature,
    /// The companion's key bundle does not decrypt: the code typed on the phone was wrong.
    WrongCode,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Malformed(what) => write!(f, "malformed pair-device-sign: {what}"),
            LinkError::DetailsChanged => {
                f.write_str("device identity details differ from the phone's")
            }
            LinkError::BadDeviceSignature => f.write_str("device signature does not verify"),
            LinkError::WrongCode => f.write_str("the code does not match the companion's"),
        }
    }
}

impl std::error::Error for LinkError {}

impl Phone {
    /// A new phone with a fresh identity and LID.
    pub fn new(phone: &str, name: &str) -> Phone {
        let digits: [u8; 15] = random_bytes();
        let mut lid: String = digits.iter().map(|d| char::from(b'0' + d % 10)).collect();
        if lid.starts_with('0') {
            lid.replace_range(0..1, "1");
        }
        let raw: [u8; 4] = random_bytes();
        let identity = KeyPair::generate();
        Phone {
            signal: PhoneSignalKeys::generate(&identity),
            phone: phone.to_string(),
            name: name.to_string(),
            lid,
            identity,
            raw_id: u32::from_be_bytes(raw) >> 1,
            next_key_index: 1,
        }
    }

    /// Vouches for the scanned companion as `device`: returns the `<pair-success>` iq (with id `iq_id`)
    /// and the state needed to check the companion's answer.
    pub fn link(
        &mut self,
        scanned: ScannedQr,
        device: u16,
        iq_id: &str,
        now: u64,
    ) -> (Node, PendingLink) {
        let key_index = self.next_key_index;
        self.next_key_index += 1;
        let details = AdvDeviceIdentity {
            raw_id: Some(self.raw_id),
            timestamp: Some(now),
            key_index: Some(key_index),
            ..Default::default()
        }
        .encode_to_vec();
        let message = [
            &ACCOUNT_SIGNATURE_PREFIX[..],
            &details,
            &scanned.identity_public,
        ]
        .concat();
        let account_signature = xeddsa_sign_random(&self.identity.private, &message);
        let signed = AdvSignedDeviceIdentity {
            details: Some(details.clone()),
            account_signature_key: Some(self.identity.public.to_vec()),
            account_signature: Some(account_signature.to_vec()),
            device_signature: None,
        }
        .encode_to_vec();
        let container = AdvSignedDeviceIdentityHmac {
            hmac: Some(hmac_sha256(&scanned.adv_secret, &signed).to_vec()),
            details: Some(signed),
            account_type: None,
        }
        .encode_to_vec();
        let node = Node::new("iq")
            .with_attr("from", Jid::server_jid())
            .with_attr("type", "set")
            .with_attr("id", iq_id)
            .with_attr("t", now)
            .with_child(
                Node::new("pair-success")
                    .with_child(
                        Node::new("device-identity")
                            .with_attr("key-index", key_index)
                            .with_bytes(container),
                    )
                    .with_child(
                        Node::new("device")
                            .with_attr("jid", Jid::phone(self.phone.clone()).with_device(device))
                            .with_attr("lid", Jid::lid(self.lid.clone()).with_device(device)),
                    )
                    .with_child(Node::new("platform").with_attr("name", "android")),
            );
        let pending = PendingLink {
            device,
            key_index,
            scanned,
            details,
            account_signature,
        };
        (node, pending)
    }

    /// The `ADVSignedDeviceIdentity` bytes of a `<pair-device-sign>` answer.
    pub fn signed_identity_of(answer: &Node) -> Option<&[u8]> {
        answer
            .child_path(&["pair-device-sign", "device-identity"])
            .and_then(Node::content_bytes)
    }

    /// Checks the companion's `ADVSignedDeviceIdentity` (from `<pair-device-sign>`): same details and
    /// account signature as sent, and a device signature by the companion's identity key.
    /// Returns the full signed identity (with the account signature key) to keep for the device.
    pub fn verify_device_sign(
        &self,
        pending: &PendingLink,
        signed_bytes: &[u8],
    ) -> Result<Vec<u8>, LinkError> {
        let mut signed = AdvSignedDeviceIdentity::decode(signed_bytes)
            .map_err(|_| LinkError::Malformed("ADVSignedDeviceIdentity"))?;
        if signed.details.as_deref() != Some(pending.details.as_slice())
            || signed.account_signature.as_deref() != Some(&pending.account_signature[..])
        {
            return Err(LinkError::DetailsChanged);
        }
        let device_signature: [u8; 64] = signed
            .device_signature
            .as_deref()
            .and_then(|s| s.try_into().ok())
            .ok_or(LinkError::Malformed("device signature"))?;
        let message = [
            &DEVICE_SIGNATURE_PREFIX[..],
            &pending.details,
            &pending.scanned.identity_public,
            &self.identity.public,
        ]
        .concat();
        if !xeddsa_verify(
            &pending.scanned.identity_public,
            &message,
            &device_signature,
        ) {
            return Err(LinkError::BadDeviceSignature);
        }
        signed.account_signature_key = Some(self.identity.public.to_vec());
        Ok(signed.encode_to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOISE: &str = "8Y4pPtR8scjBZkHECkBsX1X6t8U8I8/guvBfC37u9nI=";
    const IDENTITY: &str = "DgAfwJBMD3VTzs2j39FspT/0Mo5SNynMh3KS1k2PBUU=";
    const ADV: &str = "Eiy8UYGqKnekdvKhsjgIiocmYD6+oCfuQzI97Ral3kQ=";

    #[test]
    fn parses_both_qr_forms() {
        let short = format!("2@abc==,{NOISE},{IDENTITY},{ADV}");
        let long =
            format!("https://wa.me/settings/linked_devices#2@abc==,{NOISE},{IDENTITY},{ADV},1");
        let a = parse_qr(&short).unwrap();
        assert_eq!(a, parse_qr(&long).unwrap());
        assert_eq!(a.reference, "2@abc==");
        assert_eq!(a.noise_public[0], 0xf1);
    }

    #[test]
    fn refuses_broken_qr_texts() {
        assert_eq!(parse_qr("just text"), Err(QrParseError::MissingFields));
        assert_eq!(
            parse_qr(&format!(",{NOISE},{IDENTITY},{ADV}")),
            Err(QrParseError::MissingFields)
        );
        assert_eq!(
            parse_qr(&format!("2@x,{NOISE},AAAA,{ADV}")),
            Err(QrParseError::BadKey("identity key"))
        );
    }

    #[test]
    fn device_sign_must_come_from_the_scanned_identity() {
        let mut phone = Phone::new("15550001111", "Dana");
        let companion = KeyPair::generate();
        let scanned = ScannedQr {
            reference: "2@x".into(),
            noise_public: KeyPair::generate().public,
            identity_public: companion.public,
            adv_secret: [9; 32],
        };
        let (_, pending) = phone.link(scanned, 1, "id", 1_700_000_000);
        let sign = |key: &KeyPair| {
            let message = [
                &DEVICE_SIGNATURE_PREFIX[..],
                &pending.details,
                &companion.public,
                &phone.identity.public,
            ]
            .concat();
            AdvSignedDeviceIdentity {
                details: Some(pending.details.clone()),
                account_signature_key: None,
                account_signature: Some(pending.account_signature.to_vec()),
                device_signature: Some(xeddsa_sign_random(&key.private, &message).to_vec()),
            }
            .encode_to_vec()
        };
        assert!(phone
            .verify_device_sign(&pending, &sign(&companion))
            .is_ok());
        assert_eq!(
            phone.verify_device_sign(&pending, &sign(&KeyPair::generate())),
            Err(LinkError::BadDeviceSignature)
        );
    }
}
