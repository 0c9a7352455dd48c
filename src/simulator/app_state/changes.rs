//! Chat changes asked of the phone through the control API, and the records each one writes.

use super::now_ms;
use crate::protocol::app_state::MutationSpec;
use crate::protocol::jid::Jid;
use crate::simulator::registry::unix_now;
use serde::Deserialize;

/// A chat change made on the phone. Absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChatChange {
    /// Seconds to mute for; 0 unmutes; -1 mutes for ever.
    pub mute: Option<i64>,
    pub pin: Option<bool>,
    pub archive: Option<bool>,
    /// Mark the chat read (true) or unread (false).
    pub read: Option<bool>,
}

/// The chat JID a control-API chat names: a phone number (`+` allowed) or a full JID.
pub(super) fn chat_jid(chat: &str) -> Option<String> {
    if let Ok(jid) = Jid::parse(chat) {
        if jid.is_user() || jid.is_group() {
            return Some(jid.to_non_ad().to_string());
        }
    }
    let digits = chat.trim_start_matches('+');
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| Jid::phone(digits).to_string())
}

/// The records a change writes, in the order WhatsApp Web writes them.
pub(super) fn specs_of(chat: &str, change: &ChatChange) -> Vec<MutationSpec> {
    let now = now_ms();
    let now_secs = i64::try_from(unix_now()).unwrap_or(i64::MAX);
    let mut specs = Vec::new();
    if let Some(secs) = change.mute {
        let until = match secs {
            0 => None,
            s if s < 0 => Some(-1),
            s => Some(now.saturating_add(s.saturating_mul(1000))),
        };
        specs.push(MutationSpec::mute(chat, until, now));
    }
    if let Some(archived) = change.archive {
        specs.push(MutationSpec::archive(chat, archived, now_secs, now));
        // Archiving unpins (as WhatsApp Web and whatsmeow's BuildArchive do).
        if archived && change.pin != Some(true) {
            specs.push(MutationSpec::pin(chat, false, now));
        }
    }
    if let Some(pinned) = change.pin {
        specs.push(MutationSpec::pin(chat, pinned, now));
    }
    if let Some(read) = change.read {
        specs.push(MutationSpec::mark_read(chat, read, now_secs, now));
    }
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_are_numbers_or_jids() {
        assert_eq!(
            chat_jid("+15550001111").as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
        assert_eq!(
            chat_jid("15550001111@s.whatsapp.net").as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
        assert_eq!(
            chat_jid("120363000000000001@g.us").as_deref(),
            Some("120363000000000001@g.us")
        );
        assert_eq!(chat_jid("bob"), None);
        assert_eq!(chat_jid(""), None);
    }

    #[test]
    fn a_change_writes_records_in_their_collections() {
        let chat = "15550001111@s.whatsapp.net";
        let change = ChatChange {
            mute: Some(3600),
            archive: Some(true),
            ..Default::default()
        };
        let specs = specs_of(chat, &change);
        let kinds: Vec<(&str, &str)> = specs
            .iter()
            .map(|s| (s.collection, s.index[0].as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("regular_high", "mute"),
                ("regular_low", "archive"),
                ("regular_low", "pin_v1")
            ]
        );
        let unmute = specs_of(
            chat,
            &ChatChange {
                mute: Some(0),
                ..Default::default()
            },
        );
        assert_eq!(
            unmute[0].value.mute_action.as_ref().map(|m| m.muted()),
            Some(false)
        );
        assert!(specs_of(chat, &ChatChange::default()).is_empty());
    }
}
