//! The five keys a syncd key (`AppStateSyncKeyData.keyData`, shared by the phone) expands to, and the
//! MACs built from them (WhatsApp Web's `WAWebSyncdCrypto`; same layout in whatsmeow and Baileys).

use super::lthash::LtHash;
use crate::protocol::crypto::{hkdf_sha256, hmac_sha256, hmac_sha256_parts, hmac_sha512};

/// HKDF info of the key expansion.
const MUTATION_KEYS_INFO: &[u8] = b"WhatsApp Mutation Keys";
/// Bytes of MAC each value carries at its end.
pub const VALUE_MAC_LEN: usize = 32;

/// What a mutation does to its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Set,
    Remove,
}

impl Operation {
    /// The byte the value MAC starts with (`SyncdOperation` + 1).
    fn mac_byte(self) -> u8 {
        match self {
            Operation::Set => 1,
            Operation::Remove => 2,
        }
    }

    /// The `SyncdMutation.operation` number.
    pub fn wire(self) -> i32 {
        match self {
            Operation::Set => 0,
            Operation::Remove => 1,
        }
    }

    /// From the `SyncdMutation.operation` number (absent means SET, as in snapshots).
    pub fn from_wire(value: Option<i32>) -> Option<Operation> {
        match value {
            None | Some(0) => Some(Operation::Set),
            Some(1) => Some(Operation::Remove),
            Some(_) => None,
        }
    }
}

/// `HKDF(keyData, ∅, "WhatsApp Mutation Keys", 160)` cut into five 32-byte keys.
#[derive(Clone, PartialEq, Eq)]
pub struct MutationKeys {
    pub index: [u8; 32],
    pub value_encryption: [u8; 32],
    pub value_mac: [u8; 32],
    pub snapshot_mac: [u8; 32],
    pub patch_mac: [u8; 32],
}

impl std::fmt::Debug for MutationKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MutationKeys(..)")
    }
}

fn part(okm: &[u8], n: usize) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Some(src) = okm.get(n * 32..(n + 1) * 32) {
        out.copy_from_slice(src);
    }
    out
}

impl MutationKeys {
    /// Expands one shared app state key.
    pub fn expand(key_data: &[u8]) -> MutationKeys {
        let okm = hkdf_sha256(key_data, &[], MUTATION_KEYS_INFO, 160);
        MutationKeys {
            index: part(&okm, 0),
            value_encryption: part(&okm, 1),
            value_mac: part(&okm, 2),
            snapshot_mac: part(&okm, 3),
            patch_mac: part(&okm, 4),
        }
    }

    /// HMAC-SHA256 of the index JSON: the record's `SyncdIndex.blob`.
    pub fn index_mac(&self, index_json: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.index, index_json)
    }

    /// The value MAC: HMAC-SHA512(op+1 ‖ keyId ‖ iv‖ciphertext ‖ u64be(len(keyId)+1)) cut to 32 bytes.
    pub fn value_mac(&self, operation: Operation, encrypted: &[u8], key_id: &[u8]) -> [u8; 32] {
        let associated_len = key_id.len() as u64 + 1;
        let mut data = Vec::with_capacity(1 + key_id.len() + encrypted.len() + 8);
        data.push(operation.mac_byte());
        data.extend_from_slice(key_id);
        data.extend_from_slice(encrypted);
        data.extend_from_slice(&associated_len.to_be_bytes());
        let full = hmac_sha512(&self.value_mac, &data);
        part(&full, 0)
    }

    /// The snapshot MAC: HMAC-SHA256(ltHash ‖ u64be(version) ‖ collection name).
    pub fn snapshot_mac(&self, hash: &LtHash, version: u64, name: &str) -> [u8; 32] {
        hmac_sha256_parts(
            &self.snapshot_mac,
            &[hash.as_bytes(), &version.to_be_bytes(), name.as_bytes()],
        )
    }

    /// The patch MAC: HMAC-SHA256(snapshotMac ‖ each value MAC ‖ u64be(version) ‖ collection name).
    pub fn patch_mac(
        &self,
        snapshot_mac: &[u8],
        value_macs: &[&[u8]],
        version: u64,
        name: &str,
    ) -> [u8; 32] {
        let version = version.to_be_bytes();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(value_macs.len() + 3);
        parts.push(snapshot_mac);
        parts.extend_from_slice(value_macs);
        parts.push(&version);
        parts.push(name.as_bytes());
        hmac_sha256_parts(&self.patch_mac, &parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crypto::hmac_sha512;

    #[test]
    fn expansion_is_hkdf_in_order() {
        let keys = MutationKeys::expand(b"key data");
        let okm = hkdf_sha256(b"key data", &[], b"WhatsApp Mutation Keys", 160);
        assert_eq!(&okm[0..32], &keys.index);
        assert_eq!(&okm[32..64], &keys.value_encryption);
        assert_eq!(&okm[64..96], &keys.value_mac);
        assert_eq!(&okm[96..128], &keys.snapshot_mac);
        assert_eq!(&okm[128..160], &keys.patch_mac);
        assert_ne!(keys.index, keys.patch_mac);
    }

    #[test]
    fn value_mac_layout() {
        let keys = MutationKeys::expand(&[7; 32]);
        let key_id = [0, 0, 0, 0, 0x12, 0x34];
        let encrypted = [9u8; 48];
        let mut expected = vec![1u8];
        expected.extend_from_slice(&key_id);
        expected.extend_from_slice(&encrypted);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
        let full = hmac_sha512(&keys.value_mac, &expected);
        assert_eq!(
            keys.value_mac(Operation::Set, &encrypted, &key_id)[..],
            full[..32]
        );
        assert_ne!(
            keys.value_mac(Operation::Remove, &encrypted, &key_id),
            keys.value_mac(Operation::Set, &encrypted, &key_id)
        );
    }
}
