//! The last message and unread count of each group and channel of a client, for
//! `GET /api/groups/:clientId` (`lastMessage`, `timestamp`, `unreadCount`).
//!
//! Group messages are not chats of the chat interface (that lists private chats only), so they get
//! this one small row per (client, group): written in the transaction that records a received group
//! message (the engine's decrypting transaction) and after each send to a group. Unread counts the
//! messages received since the client last sent to the group: there is no "mark group read" route,
//! and answering a group is the one sign we have that it was read.

use super::{decode, encode, Store, StoreResult};
use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// (client id, group or channel JID) → [`GroupActivity`] JSON.
const GROUP_ACTIVITY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("group_activity");

/// Bodies are cut to this many characters (the list shows a preview).
const MAX_BODY_CHARS: usize = 1024;

/// The last message of a group or channel and how many arrived unread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupActivity {
    pub body: String,
    /// Unix seconds of the last message.
    pub timestamp: u64,
    pub from_me: bool,
    pub unread_count: u32,
}

impl Store {
    /// Notes a message in `group` inside the caller's write transaction. An older message than
    /// the last one does not replace it (but still counts as unread when incoming).
    pub fn note_group_message_in(
        txn: &WriteTransaction,
        client_id: &str,
        group: &str,
        body: &str,
        timestamp: u64,
        from_me: bool,
    ) -> StoreResult<()> {
        let mut table = txn.open_table(GROUP_ACTIVITY)?;
        let old: Option<GroupActivity> = match table.get((client_id, group))? {
            Some(guard) => Some(decode(guard.value())?),
            None => None,
        };
        let unread = match (&old, from_me) {
            (_, true) => 0,
            (Some(old), false) => old.unread_count.saturating_add(1),
            (None, false) => 1,
        };
        let newer = old.as_ref().is_none_or(|o| timestamp >= o.timestamp);
        let next = match old {
            Some(old) if !newer => GroupActivity {
                unread_count: unread,
                ..old
            },
            _ => GroupActivity {
                body: body.chars().take(MAX_BODY_CHARS).collect(),
                timestamp,
                from_me,
                unread_count: unread,
            },
        };
        table.insert((client_id, group), encode(&next)?.as_slice())?;
        Ok(())
    }

    /// [`Store::note_group_message_in`] in its own transaction (sends).
    pub fn note_group_message(
        &self,
        client_id: &str,
        group: &str,
        body: &str,
        timestamp: u64,
        from_me: bool,
    ) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        Store::note_group_message_in(&txn, client_id, group, body, timestamp, from_me)?;
        txn.commit()?;
        Ok(())
    }

    /// Every group and channel of `client_id` with activity, by JID.
    pub fn group_activity(&self, client_id: &str) -> StoreResult<HashMap<String, GroupActivity>> {
        let txn: ReadTransaction = self.db.begin_read()?;
        let table = match txn.open_table(GROUP_ACTIVITY) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = HashMap::new();
        for entry in table.range((client_id, "")..)? {
            let (key, value) = entry?;
            let (client, group) = key.value();
            if client != client_id {
                break;
            }
            out.insert(group.to_string(), decode(value.value())?);
        }
        Ok(out)
    }
}

/// Forgets a deleted client's group activity (inside the deleting transaction).
pub(super) fn delete_client_group_activity(
    txn: &WriteTransaction,
    client_id: &str,
) -> StoreResult<()> {
    let mut table = txn.open_table(GROUP_ACTIVITY)?;
    let mut groups: Vec<String> = Vec::new();
    for entry in table.range((client_id, "")..)? {
        let (key, _) = entry?;
        let (client, group) = key.value();
        if client != client_id {
            break;
        }
        groups.push(group.to_string());
    }
    for group in groups {
        table.remove((client_id, group.as_str()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    #[test]
    fn last_message_and_unread_follow_the_group() {
        let dir = TempDir::new();
        let store = Store::open(dir.path()).unwrap();
        let g = "120363001@g.us";
        assert!(store.group_activity("c1").unwrap().is_empty());
        store.note_group_message("c1", g, "hi", 100, false).unwrap();
        store
            .note_group_message("c1", g, "there", 101, false)
            .unwrap();
        let a = &store.group_activity("c1").unwrap()[g];
        assert_eq!(
            (a.body.as_str(), a.timestamp, a.from_me, a.unread_count),
            ("there", 101, false, 2)
        );
        // An older message arriving late counts but does not become the last one.
        store.note_group_message("c1", g, "old", 50, false).unwrap();
        let a = &store.group_activity("c1").unwrap()[g];
        assert_eq!((a.body.as_str(), a.unread_count), ("there", 3));
        // Our own send: the last message, nothing unread.
        store
            .note_group_message("c1", g, "answer", 102, true)
            .unwrap();
        let a = &store.group_activity("c1").unwrap()[g];
        assert_eq!(
            (a.body.as_str(), a.from_me, a.unread_count),
            ("answer", true, 0)
        );
        // Other clients and groups are separate.
        store.note_group_message("c2", g, "x", 1, false).unwrap();
        store
            .note_group_message("c1", "9@newsletter", "post", 7, false)
            .unwrap();
        assert_eq!(store.group_activity("c1").unwrap().len(), 2);
        assert_eq!(store.group_activity("c2").unwrap()[g].unread_count, 1);
        let txn = store.database().begin_write().unwrap();
        delete_client_group_activity(&txn, "c1").unwrap();
        txn.commit().unwrap();
        assert!(store.group_activity("c1").unwrap().is_empty());
        assert_eq!(store.group_activity("c2").unwrap().len(), 1);
    }
}
