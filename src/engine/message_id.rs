//! Message ids (§8.2) and the participant-list hash `phash` (§7.8).

use crate::protocol::crypto::{random_bytes, sha256};
use crate::protocol::jid::Jid;
use base64::Engine as _;

/// A WhatsApp Web style message id: `3EB0` followed by 18 upper-case hex digits of
/// `SHA256(unix seconds (u64 BE) ‖ own phone ‖ "@c.us" ‖ 16 random bytes)`.
pub fn new_message_id(own_phone: &str, unix_secs: u64) -> String {
    let nonce: [u8; 16] = random_bytes();
    let mut input = Vec::with_capacity(8 + own_phone.len() + 5 + 16);
    input.extend_from_slice(&unix_secs.to_be_bytes());
    input.extend_from_slice(own_phone.as_bytes());
    input.extend_from_slice(b"@c.us");
    input.extend_from_slice(&nonce);
    let digest = sha256(&input);
    let hex: String = digest.iter().take(9).map(|b| format!("{b:02X}")).collect();
    format!("3EB0{hex}")
}

/// `user.agent:device@server`, the form devices take inside the participant hash.
fn ad_string(jid: &Jid) -> String {
    format!(
        "{}.{}:{}@{}",
        jid.user,
        jid.agent,
        jid.device,
        jid.server.as_str()
    )
}

/// phash v2 of a device list: `2:` + unpadded base64 of the first 6 bytes of
/// SHA256 over the sorted device strings.
pub fn participant_hash(devices: &[Jid]) -> String {
    let mut names: Vec<String> = devices.iter().map(ad_string).collect();
    names.sort();
    let digest = sha256(names.concat().as_bytes());
    let short = digest.get(..6).unwrap_or_default();
    format!(
        "2:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(short)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_web_shape_and_differ() {
        let a = new_message_id("15550001111", 1_700_000_000);
        let b = new_message_id("15550001111", 1_700_000_000);
        assert_eq!(a.len(), 22);
        assert!(a.starts_with("3EB0"));
        assert!(a[4..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn empty_device_list_hashes_to_the_dictionary_token() {
        assert_eq!(participant_hash(&[]), "2:47DEQpj8");
    }

    #[test]
    fn hash_ignores_order_but_not_membership() {
        let one = Jid::phone("15550001111");
        let two = Jid::phone("15550001111").with_device(3);
        let three = Jid::phone("15550002222").with_device(1);
        assert_eq!(
            participant_hash(&[one.clone(), two.clone()]),
            participant_hash(&[two.clone(), one.clone()])
        );
        assert_ne!(
            participant_hash(&[one.clone(), two.clone()]),
            participant_hash(&[one, two, three])
        );
    }
}
