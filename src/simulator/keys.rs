//! The server's copy of each device's Signal keys (§6.4, §7.2): uploads, signed-prekey rotation, the
//! count, the digest, and bundle fetches that hand each one-time prekey out once.

use crate::protocol::binary::Node;
use crate::protocol::crypto::{random_bytes, xeddsa_sign_random, KeyPair};
use crate::protocol::jid::Jid;
use std::collections::BTreeMap;

/// Signal's key type byte for Curve25519 (DJB) keys.
const DJB_TYPE: u8 = 5;
/// Most one-time prekeys kept per device (a client uploads 812 at first).
const MAX_ONE_TIME_KEYS: usize = 2000;

/// A signed prekey as the server holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedKey {
    pub id: u32,
    pub public: [u8; 32],
    pub signature: [u8; 64],
}

/// One device's public keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceKeys {
    pub registration_id: u32,
    pub identity: [u8; 32],
    pub signed: Option<SignedKey>,
    /// One-time prekeys by id, in upload order of ids.
    pub one_time: BTreeMap<u32, [u8; 32]>,
}

/// The simulated phone's own Signal keys (device 0), so companions can open sessions with it.
#[derive(Debug, Clone)]
pub struct PhoneSignalKeys {
    pub registration_id: u32,
    pub signed_pre_key: KeyPair,
    pub signed_pre_key_id: u32,
    pub signature: [u8; 64],
}

impl PhoneSignalKeys {
    /// Fresh keys for a phone whose identity is `identity`.
    pub fn generate(identity: &KeyPair) -> PhoneSignalKeys {
        let signed_pre_key = KeyPair::generate();
        let signature = xeddsa_sign_random(&identity.private, &signed_pre_key.public_signal());
        let reg: [u8; 2] = random_bytes();
        PhoneSignalKeys {
            registration_id: u32::from(u16::from_be_bytes(reg)) % 16380 + 1,
            signed_pre_key,
            signed_pre_key_id: 1,
            signature,
        }
    }

    /// The phone's keys as the server publishes them (no one-time prekeys).
    pub fn public(&self, identity: &KeyPair) -> DeviceKeys {
        DeviceKeys {
            registration_id: self.registration_id,
            identity: identity.public,
            signed: Some(SignedKey {
                id: self.signed_pre_key_id,
                public: self.signed_pre_key.public,
                signature: self.signature,
            }),
            one_time: BTreeMap::new(),
        }
    }
}

fn u24(n: u32) -> Vec<u8> {
    n.to_be_bytes()[1..].to_vec()
}

fn be_number(bytes: &[u8]) -> Option<u32> {
    (!bytes.is_empty() && bytes.len() <= 4)
        .then(|| bytes.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)))
}

/// A 32-byte key, also in its 33-byte `0x05 ‖ key` form.
fn key32(bytes: &[u8]) -> Option<[u8; 32]> {
    let raw = match bytes {
        [DJB_TYPE, rest @ ..] if rest.len() == 32 => rest,
        _ => bytes,
    };
    raw.try_into().ok()
}

fn child_bytes<'a>(node: &'a Node, tag: &str) -> Option<&'a [u8]> {
    node.child(tag)?.content_bytes()
}

fn read_skey(skey: &Node) -> Option<SignedKey> {
    Some(SignedKey {
        id: be_number(child_bytes(skey, "id")?)?,
        public: key32(child_bytes(skey, "value")?)?,
        signature: child_bytes(skey, "signature")?.try_into().ok()?,
    })
}

fn skey_node(signed: &SignedKey) -> Node {
    Node::new("skey").with_children([
        Node::new("id").with_bytes(u24(signed.id)),
        Node::new("value").with_bytes(signed.public.to_vec()),
        Node::new("signature").with_bytes(signed.signature.to_vec()),
    ])
}

impl DeviceKeys {
    /// Keys known from a companion's registration payload (identity, signed prekey).
    pub fn registered(
        registration_id: u32,
        identity: [u8; 32],
        signed: Option<SignedKey>,
    ) -> DeviceKeys {
        DeviceKeys {
            registration_id,
            identity,
            signed,
            one_time: BTreeMap::new(),
        }
    }

    /// Applies an upload iq (`<registration><type><identity><list><skey>`); returns keys added, or
    /// `None` when it is malformed or names another identity.
    pub fn apply_upload(&mut self, iq: &Node) -> Option<usize> {
        if let Some(identity) = child_bytes(iq, "identity") {
            if key32(identity)? != self.identity {
                return None;
            }
        }
        if let Some(reg) = child_bytes(iq, "registration") {
            self.registration_id = be_number(reg)?;
        }
        if let Some(skey) = iq.child("skey") {
            self.signed = Some(read_skey(skey)?);
        }
        let mut added = 0;
        for key in iq
            .child("list")
            .map(|l| l.children_by_tag("key"))
            .into_iter()
            .flatten()
        {
            if self.one_time.len() >= MAX_ONE_TIME_KEYS {
                break;
            }
            let id = be_number(child_bytes(key, "id")?)?;
            let value = key32(child_bytes(key, "value")?)?;
            if self.one_time.insert(id, value).is_none() {
                added += 1;
            }
        }
        Some(added)
    }

    /// Applies `<rotate><skey>…</skey></rotate>`.
    pub fn apply_rotate(&mut self, rotate: &Node) -> Option<()> {
        self.signed = Some(read_skey(rotate.child("skey")?)?);
        Some(())
    }

    /// `<user jid>` with this device's bundle, taking (and forgetting) its lowest one-time prekey.
    pub fn take_bundle(&mut self, jid: Jid) -> Node {
        let Some(signed) = self.signed.clone() else {
            return user_error(jid, 404, "item-not-found");
        };
        let one_time = self.one_time.pop_first();
        let mut user = Node::new("user").with_attr("jid", jid).with_children([
            Node::new("registration").with_bytes(self.registration_id.to_be_bytes().to_vec()),
            Node::new("type").with_bytes(vec![DJB_TYPE]),
            Node::new("identity").with_bytes(self.identity.to_vec()),
            skey_node(&signed),
        ]);
        if let Some((id, public)) = one_time {
            user.push_child(Node::new("key").with_children([
                Node::new("id").with_bytes(u24(id)),
                Node::new("value").with_bytes(public.to_vec()),
            ]));
        }
        user
    }

    /// `<digest>`: what the server holds, with `hash = SHA1(identity ‖ skey ‖ signature ‖ prekeys…)`.
    pub fn digest(&self) -> Option<Node> {
        let signed = self.signed.as_ref()?;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&self.identity);
        ctx.update(&signed.public);
        ctx.update(&signed.signature);
        for public in self.one_time.values() {
            ctx.update(public);
        }
        let list = Node::new("list").with_children(
            self.one_time
                .keys()
                .map(|id| Node::new("id").with_bytes(u24(*id))),
        );
        Some(Node::new("digest").with_children([
            Node::new("registration").with_bytes(self.registration_id.to_be_bytes().to_vec()),
            Node::new("type").with_bytes(vec![DJB_TYPE]),
            Node::new("identity").with_bytes(self.identity.to_vec()),
            skey_node(signed),
            list,
            Node::new("hash").with_bytes(ctx.finish().as_ref().to_vec()),
        ]))
    }
}

/// `<user jid><error code text/></user>` in a key-fetch answer.
pub fn user_error(jid: Jid, code: u16, text: &str) -> Node {
    Node::new("user").with_attr("jid", jid).with_child(
        Node::new("error")
            .with_attr("code", code)
            .with_attr("text", text),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::signal::prekeys::parse_user_bundle;

    fn upload(ids: std::ops::Range<u32>, identity: [u8; 32]) -> Node {
        let skey = SignedKey {
            id: 7,
            public: [3; 32],
            signature: [4; 64],
        };
        Node::new("iq").with_children([
            Node::new("registration").with_bytes(42u32.to_be_bytes().to_vec()),
            Node::new("type").with_bytes(vec![5]),
            Node::new("identity").with_bytes(identity.to_vec()),
            Node::new("list").with_children(ids.map(|id| {
                Node::new("key").with_children([
                    Node::new("id").with_bytes(u24(id)),
                    Node::new("value").with_bytes(vec![id as u8; 32]),
                ])
            })),
            skey_node(&skey),
        ])
    }

    #[test]
    fn bundles_hand_out_each_one_time_key_once() {
        let mut keys = DeviceKeys::registered(1, [9; 32], None);
        assert_eq!(keys.apply_upload(&upload(1..4, [9; 32])), Some(3));
        assert_eq!(
            keys.apply_upload(&upload(1..4, [8; 32])),
            None,
            "another identity"
        );
        let jid = Jid::phone("15550001111").with_device(2);
        let mut seen = Vec::new();
        for _ in 0..4 {
            let bundle = parse_user_bundle(&keys.take_bundle(jid.clone())).unwrap();
            assert_eq!(bundle.registration_id, 42);
            assert_eq!(bundle.signed_pre_key_id, 7);
            seen.push(bundle.pre_key.map(|(id, _)| id));
        }
        assert_eq!(seen, [Some(1), Some(2), Some(3), None]);
    }

    #[test]
    fn digest_lists_what_is_held() {
        let mut keys = DeviceKeys::registered(1, [9; 32], None);
        assert!(keys.digest().is_none());
        keys.apply_upload(&upload(5..7, [9; 32]));
        let digest = keys.digest().unwrap();
        assert_eq!(digest.child("list").unwrap().children().len(), 2);
        assert_eq!(
            digest.child("hash").unwrap().content_bytes().unwrap().len(),
            20
        );
    }
}
