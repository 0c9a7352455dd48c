//! The LT-hash ("WhatsApp Patch Integrity"): a 128-byte sum over the value MACs of every SET record
//! in a collection. Each MAC is expanded with HKDF to 128 bytes and added (or subtracted) as 64
//! little-endian u16 lanes with wrap-around, so the hash depends on the set of records and not on the
//! order in which they were written.

use crate::protocol::crypto::hkdf_sha256;

/// Bytes in the hash.
pub const LT_HASH_LEN: usize = 128;
const PATCH_INTEGRITY_INFO: &[u8] = b"WhatsApp Patch Integrity";

/// A collection's integrity hash.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash([u8; LT_HASH_LEN]);

impl Default for LtHash {
    fn default() -> Self {
        LtHash([0; LT_HASH_LEN])
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({:02x?}..)", &self.0[..8])
    }
}

impl LtHash {
    /// From stored bytes; `None` unless exactly 128 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<LtHash> {
        bytes.try_into().ok().map(LtHash)
    }

    pub fn as_bytes(&self) -> &[u8; LT_HASH_LEN] {
        &self.0
    }

    /// Adds one value MAC.
    pub fn add(&mut self, value_mac: &[u8]) {
        self.combine(value_mac, u16::wrapping_add);
    }

    /// Subtracts one value MAC.
    pub fn subtract(&mut self, value_mac: &[u8]) {
        self.combine(value_mac, u16::wrapping_sub);
    }

    /// Subtracts every MAC in `removed`, then adds every MAC in `added`.
    pub fn subtract_then_add(&mut self, removed: &[&[u8]], added: &[&[u8]]) {
        for mac in removed {
            self.subtract(mac);
        }
        for mac in added {
            self.add(mac);
        }
    }

    fn combine(&mut self, value_mac: &[u8], op: fn(u16, u16) -> u16) {
        let expanded = hkdf_sha256(value_mac, &[], PATCH_INTEGRITY_INFO, LT_HASH_LEN);
        for (lane, other) in self.0.chunks_exact_mut(2).zip(expanded.chunks_exact(2)) {
            let x = u16::from_le_bytes([lane[0], lane[1]]);
            let y = u16::from_le_bytes([other[0], other[1]]);
            lane.copy_from_slice(&op(x, y).to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter_and_subtract_undoes_add() {
        let mut a = LtHash::default();
        a.add(b"one");
        a.add(b"two");
        let mut b = LtHash::default();
        b.add(b"two");
        b.add(b"one");
        assert_eq!(a, b);
        assert_ne!(a, LtHash::default());
        a.subtract_then_add(&[b"one", b"two"], &[]);
        assert_eq!(a, LtHash::default());
    }

    #[test]
    fn lanes_are_little_endian_u16_with_wraparound() {
        let expanded = hkdf_sha256(b"mac", &[], b"WhatsApp Patch Integrity", 128);
        let mut hash = LtHash::from_bytes(&[0xff; 128]).unwrap_or_default();
        hash.add(b"mac");
        let lane0 = u16::from_le_bytes([expanded[0], expanded[1]]).wrapping_add(0xffff);
        assert_eq!(hash.as_bytes()[..2], lane0.to_le_bytes());
        let lane63 = u16::from_le_bytes([expanded[126], expanded[127]]).wrapping_add(0xffff);
        assert_eq!(hash.as_bytes()[126..], lane63.to_le_bytes());
        assert!(LtHash::from_bytes(&[0; 127]).is_none());
    }
}
