//! Signal registration ids: 14-bit numbers a device announces with its keys.

use super::random::fill_random;

/// The largest id Signal's 14-bit field can carry.
pub const MAX_REGISTRATION_ID: u32 = 16_383;

/// A random id in `1..=16383` (zero is avoided: some peers treat it as "unset").
pub fn generate_registration_id() -> u32 {
    loop {
        let mut raw = [0u8; 2];
        fill_random(&mut raw);
        let id = u32::from(u16::from_be_bytes(raw)) & MAX_REGISTRATION_ID;
        if id != 0 {
            return id;
        }
    }
}

/// Whether a peer's registration id is acceptable. Baileys only ever makes ids below 256 (its
/// `Uint16Array` bug) and may make 0, so everything in the 14-bit range is accepted.
pub fn registration_id_is_valid(id: u32) -> bool {
    id <= MAX_REGISTRATION_ID
}
