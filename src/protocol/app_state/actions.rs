//! The chat actions we read and write: mute (`regular_high`), pin, archive and mark-read
//! (`regular_low`), with the index names and action versions WhatsApp Web uses (same in whatsmeow's
//! `Build*` and Baileys' `chatModificationToAppPatch`).

use crate::protocol::proto::generated::{
    ArchiveChatAction, MarkChatAsReadAction, MuteAction, PinAction, SyncActionMessageRange,
    SyncActionValue,
};

/// One record to write: its collection, index and value.
#[derive(Debug, Clone, PartialEq)]
pub struct MutationSpec {
    pub collection: &'static str,
    /// `[action, chat JID, …]`.
    pub index: Vec<String>,
    /// `SyncActionData.version` of this action kind.
    pub action_version: i32,
    pub value: SyncActionValue,
}

impl MutationSpec {
    /// The index as compact JSON, the bytes the index MAC covers (`JSON.stringify` form).
    pub fn index_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.index).unwrap_or_default()
    }

    fn chat(
        collection: &'static str,
        action: &str,
        chat: &str,
        action_version: i32,
        value: SyncActionValue,
    ) -> MutationSpec {
        MutationSpec {
            collection,
            index: vec![action.to_string(), chat.to_string()],
            action_version,
            value,
        }
    }

    /// Mutes `chat` until `until_ms` (Unix ms; -1 for ever), or unmutes it with `None`.
    pub fn mute(chat: &str, until_ms: Option<i64>, now_ms: i64) -> MutationSpec {
        let value = SyncActionValue {
            timestamp: Some(now_ms),
            mute_action: Some(MuteAction {
                muted: Some(until_ms.is_some()),
                mute_end_timestamp: until_ms,
                ..Default::default()
            }),
            ..Default::default()
        };
        MutationSpec::chat("regular_high", "mute", chat, 2, value)
    }

    pub fn pin(chat: &str, pinned: bool, now_ms: i64) -> MutationSpec {
        let value = SyncActionValue {
            timestamp: Some(now_ms),
            pin_action: Some(PinAction {
                pinned: Some(pinned),
            }),
            ..Default::default()
        };
        MutationSpec::chat("regular_low", "pin_v1", chat, 5, value)
    }

    /// `last_message_secs`: time of the chat's newest message, which the archive applies up to.
    pub fn archive(
        chat: &str,
        archived: bool,
        last_message_secs: i64,
        now_ms: i64,
    ) -> MutationSpec {
        let value = SyncActionValue {
            timestamp: Some(now_ms),
            archive_chat_action: Some(ArchiveChatAction {
                archived: Some(archived),
                message_range: Some(range(last_message_secs)),
            }),
            ..Default::default()
        };
        MutationSpec::chat("regular_low", "archive", chat, 3, value)
    }

    pub fn mark_read(chat: &str, read: bool, last_message_secs: i64, now_ms: i64) -> MutationSpec {
        let value = SyncActionValue {
            timestamp: Some(now_ms),
            mark_chat_as_read_action: Some(MarkChatAsReadAction {
                read: Some(read),
                message_range: Some(range(last_message_secs)),
            }),
            ..Default::default()
        };
        MutationSpec::chat("regular_low", "markChatAsRead", chat, 3, value)
    }
}

fn range(last_message_secs: i64) -> SyncActionMessageRange {
    SyncActionMessageRange {
        last_message_timestamp: Some(last_message_secs),
        ..Default::default()
    }
}

/// A chat setting a record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatSetting {
    /// `until_ms`: Unix ms the mute ends, -1 for ever; `None` when unmuted.
    Mute {
        chat: String,
        until_ms: Option<i64>,
    },
    Pin {
        chat: String,
        pinned: bool,
    },
    Archive {
        chat: String,
        archived: bool,
    },
    MarkRead {
        chat: String,
        read: bool,
    },
}

impl ChatSetting {
    /// The chat JID the setting is about.
    pub fn chat(&self) -> &str {
        match self {
            ChatSetting::Mute { chat, .. }
            | ChatSetting::Pin { chat, .. }
            | ChatSetting::Archive { chat, .. }
            | ChatSetting::MarkRead { chat, .. } => chat,
        }
    }
}

/// The chat setting of a SET record (`index` = `[action, chat, …]`), or `None` for anything else.
pub fn chat_setting(index: &[String], value: &SyncActionValue) -> Option<ChatSetting> {
    let (action, chat) = match index {
        [action, chat, ..] => (action.as_str(), chat.clone()),
        _ => return None,
    };
    match action {
        "mute" => {
            let mute = value.mute_action.as_ref()?;
            let until_ms = if mute.muted() {
                Some(mute.mute_end_timestamp.unwrap_or(-1))
            } else {
                None
            };
            Some(ChatSetting::Mute { chat, until_ms })
        }
        "pin_v1" => Some(ChatSetting::Pin {
            chat,
            pinned: value.pin_action.as_ref()?.pinned(),
        }),
        "archive" => Some(ChatSetting::Archive {
            chat,
            archived: value.archive_chat_action.as_ref()?.archived(),
        }),
        "markChatAsRead" => Some(ChatSetting::MarkRead {
            chat,
            read: value.mark_chat_as_read_action.as_ref()?.read(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_round_trip_through_chat_setting() {
        let chat = "15550001111@s.whatsapp.net";
        let cases = [
            (
                MutationSpec::mute(chat, Some(1_800_000_000_000), 1),
                ChatSetting::Mute {
                    chat: chat.into(),
                    until_ms: Some(1_800_000_000_000),
                },
            ),
            (
                MutationSpec::mute(chat, None, 1),
                ChatSetting::Mute {
                    chat: chat.into(),
                    until_ms: None,
                },
            ),
            (
                MutationSpec::pin(chat, true, 1),
                ChatSetting::Pin {
                    chat: chat.into(),
                    pinned: true,
                },
            ),
            (
                MutationSpec::archive(chat, true, 5, 1),
                ChatSetting::Archive {
                    chat: chat.into(),
                    archived: true,
                },
            ),
            (
                MutationSpec::mark_read(chat, false, 5, 1),
                ChatSetting::MarkRead {
                    chat: chat.into(),
                    read: false,
                },
            ),
        ];
        for (spec, expected) in cases {
            assert_eq!(chat_setting(&spec.index, &spec.value), Some(expected));
        }
        assert_eq!(
            MutationSpec::pin(chat, true, 1).index_json(),
            br#"["pin_v1","15550001111@s.whatsapp.net"]"#.to_vec()
        );
        assert_eq!(MutationSpec::mute(chat, None, 1).collection, "regular_high");
    }

    #[test]
    fn muted_without_end_means_for_ever_and_other_indexes_are_ignored() {
        let value = SyncActionValue {
            mute_action: Some(MuteAction {
                muted: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let index = vec!["mute".to_string(), "1@s.whatsapp.net".to_string()];
        assert_eq!(
            chat_setting(&index, &value),
            Some(ChatSetting::Mute {
                chat: "1@s.whatsapp.net".into(),
                until_ms: Some(-1)
            })
        );
        assert_eq!(chat_setting(&["star".to_string()], &value), None);
        assert_eq!(
            chat_setting(&["pin_v1".to_string(), "x".to_string()], &value),
            None
        );
    }
}
