//! Seeding a client's chat list from the history sync its phone sends after pairing (§12 part 1):
//! the chat's recent messages (stored, never announced: a history message is not a new message),
//! then the row's unread count, mute and pin as the phone had them.

use super::chats::ChatMessageRecord;
use super::{Store, StoreResult};
use redb::WriteTransaction;

/// One chat as the phone described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededChat {
    /// The peer's phone number (digits), the chat key of the chat tables.
    pub chat: String,
    /// The name the phone knows the chat by (address book or push name).
    pub name: Option<String>,
    /// Unread messages on the phone.
    pub unread_count: u32,
    pub muted: bool,
    pub pinned: bool,
    /// Oldest first.
    pub messages: Vec<ChatMessageRecord>,
}

impl Store {
    /// Records `seed` inside the caller's transaction: its messages (ids already stored are
    /// skipped), then unread count (the phone's, unless live traffic already counted more), mute,
    /// pin and name. Returns how many messages were new.
    pub fn seed_chat_in(
        txn: &WriteTransaction,
        client_id: &str,
        seed: &SeededChat,
    ) -> StoreResult<usize> {
        let mut live_unread = 0;
        Store::edit_chat_row_in(txn, client_id, &seed.chat, |row| {
            live_unread = row.unread_count
        })?;
        let mut added = 0;
        for message in &seed.messages {
            if Store::record_chat_message_in(txn, client_id, &seed.chat, None, message)? {
                added += 1;
            }
        }
        Store::edit_chat_row_in(txn, client_id, &seed.chat, |row| {
            // The phone's count already covers messages live traffic brought in meanwhile.
            row.unread_count = live_unread.max(seed.unread_count);
            row.muted = seed.muted;
            row.pinned = seed.pinned;
            if let Some(name) = seed
                .name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                row.name = Some(name.to_string());
            }
        })?;
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    fn message(id: &str, from_me: bool, ts: u64) -> ChatMessageRecord {
        ChatMessageRecord {
            id: id.into(),
            from_me,
            body: format!("body {id}"),
            timestamp: ts,
            kind: "chat".into(),
            ack: if from_me { "read" } else { "delivered" }.into(),
            media: None,
            reactions: Vec::new(),
            read: true,
            sent_row: None,
        }
    }

    #[test]
    fn seeding_sets_the_row_and_skips_known_messages() {
        let dir = TempDir::new();
        let store = Store::open(dir.path()).unwrap();
        let seed = SeededChat {
            chat: "15550001111".into(),
            name: Some("Dana".into()),
            unread_count: 2,
            muted: true,
            pinned: true,
            messages: vec![message("A", false, 100), message("B", true, 200)],
        };
        let txn = store.database().begin_write().unwrap();
        assert_eq!(Store::seed_chat_in(&txn, "c1", &seed).unwrap(), 2);
        txn.commit().unwrap();
        let txn = store.database().begin_write().unwrap();
        assert_eq!(Store::seed_chat_in(&txn, "c1", &seed).unwrap(), 0);
        txn.commit().unwrap();
        let chats = store.chats_of("c1").unwrap();
        assert_eq!(chats.len(), 1);
        let row = &chats[0];
        assert_eq!(row.name.as_deref(), Some("Dana"));
        assert!(row.muted && row.pinned);
        let last = row.last_message.as_ref().unwrap();
        assert_eq!((last.body.as_str(), last.from_me), ("body B", true));
        assert_eq!(row.timestamp, 200);
        // Seeding twice does not count the same unread messages twice.
        assert_eq!(row.unread_count, 2);
        assert_eq!(
            store.chat_messages("c1", "15550001111", 10).unwrap().len(),
            2
        );
    }
}
