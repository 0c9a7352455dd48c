//! The companion's long-lived credentials: everything a linked device must keep between runs.
//!
//! Created once before the first connection (§5.1 of the protocol notes), completed by pairing
//! ([`PairedDevice`]), wiped on logout. The struct is plain serde data so any store can persist it;
//! key material is written as base64 strings.

use crate::protocol::crypto::{random_bytes, xeddsa_sign_random, KeyPair};
use serde::{Deserialize, Serialize};

/// A signed prekey: a Curve25519 key pair signed by the identity key (`0x05 ‖ public`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPreKey {
    /// Key id, a u24 on the wire.
    pub id: u32,
    #[serde(with = "key_pair_b64")]
    pub key_pair: KeyPair,
    #[serde(with = "bytes64_b64")]
    pub signature: [u8; 64],
}

/// What pairing taught us about ourselves: our JIDs and the account's signed device identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedDevice {
    /// The account's phone number (digits only).
    pub phone: String,
    /// Our device id within the account (never 0: that is the phone).
    pub device: u16,
    /// Our LID user part, when the server told us (`<device lid=…>`).
    pub lid: Option<String>,
    /// `ADVSignedDeviceIdentity` as we signed it, including `accountSignatureKey`
    /// (it is attached as `<device-identity>` to pkmsg stanzas later).
    #[serde(with = "vec_b64")]
    pub signed_identity: Vec<u8>,
    /// The phone's identity key (the account signature key), trusted as device 0's identity.
    #[serde(with = "bytes32_b64")]
    pub account_signature_key: [u8; 32],
    /// `ADVDeviceIdentity.keyIndex` of this device.
    pub key_index: u32,
    /// `<platform name>` of the primary device, when given.
    pub platform: Option<String>,
    /// `<biz name>` for business accounts.
    pub business_name: Option<String>,
}

impl PairedDevice {
    /// Our device JID, `phone:device@s.whatsapp.net`.
    pub fn jid(&self) -> String {
        format!("{}:{}@s.whatsapp.net", self.phone, self.device)
    }
}

/// The companion's credentials. `paired` is `None` until pairing succeeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCreds {
    /// Long-term Noise static key, registered with the server at pairing.
    #[serde(with = "key_pair_b64")]
    pub noise_key: KeyPair,
    /// Signal identity key pair.
    #[serde(with = "key_pair_b64")]
    pub identity_key: KeyPair,
    /// Signal registration id (14 bits, as Signal clients generate it).
    pub registration_id: u32,
    pub signed_prekey: SignedPreKey,
    /// The secret shared with the phone through the QR code; authenticates pair-success.
    #[serde(with = "bytes32_b64")]
    pub adv_secret: [u8; 32],
    /// Set once pairing succeeded.
    pub paired: Option<PairedDevice>,
}

impl DeviceCreds {
    /// Fresh, unpaired credentials with random keys.
    pub fn generate() -> DeviceCreds {
        let identity_key = KeyPair::generate();
        let prekey = KeyPair::generate();
        let signature = xeddsa_sign_random(&identity_key.private, &prekey.public_signal());
        let reg_bytes: [u8; 2] = random_bytes();
        // 1..=16380, like libsignal's generateRegistrationId.
        let registration_id = u32::from(u16::from_be_bytes(reg_bytes)) % 16380 + 1;
        DeviceCreds {
            noise_key: KeyPair::generate(),
            identity_key,
            registration_id,
            signed_prekey: SignedPreKey {
                id: 1,
                key_pair: prekey,
                signature,
            },
            adv_secret: random_bytes(),
            paired: None,
        }
    }

    /// True once pairing completed and we can log in.
    pub fn is_paired(&self) -> bool {
        self.paired.is_some()
    }
}

fn decode_b64<E: serde::de::Error>(text: &str) -> Result<Vec<u8>, E> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| E::custom(format!("bad base64: {e}")))
}

fn encode_b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn fixed<const N: usize, E: serde::de::Error>(bytes: Vec<u8>) -> Result<[u8; N], E> {
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| E::custom(format!("expected {N} bytes, got {len}")))
}

mod vec_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_b64(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        super::decode_b64(&String::deserialize(d)?)
    }
}

mod bytes32_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_b64(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        super::fixed(super::decode_b64(&String::deserialize(d)?)?)
    }
}

mod bytes64_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_b64(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        super::fixed(super::decode_b64(&String::deserialize(d)?)?)
    }
}

/// A key pair is stored as its private half; the public half is derived on load.
mod key_pair_b64 {
    use crate::protocol::crypto::KeyPair;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &KeyPair, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_b64(&value.private))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyPair, D::Error> {
        let private = super::fixed(super::decode_b64(&String::deserialize(d)?)?)?;
        Ok(KeyPair::from_private(private))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::xeddsa_verify;

    #[test]
    fn generated_creds_are_consistent_and_round_trip_through_json() {
        let creds = DeviceCreds::generate();
        assert!(!creds.is_paired());
        assert!((1..=16380).contains(&creds.registration_id));
        assert!(xeddsa_verify(
            &creds.identity_key.public,
            &creds.signed_prekey.key_pair.public_signal(),
            &creds.signed_prekey.signature
        ));
        let json = serde_json::to_string(&creds).unwrap();
        let back: DeviceCreds = serde_json::from_str(&json).unwrap();
        assert_eq!(back, creds);
        assert_ne!(DeviceCreds::generate().noise_key, creds.noise_key);
    }

    #[test]
    fn truncated_key_is_refused() {
        let creds = DeviceCreds::generate();
        let mut json: serde_json::Value = serde_json::to_value(&creds).unwrap();
        json["adv_secret"] = serde_json::Value::String("AAAA".into());
        assert!(serde_json::from_value::<DeviceCreds>(json).is_err());
    }
}
