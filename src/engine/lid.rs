//! Phone number ↔ LID (§8.1, §8.5): the engine learns the mapping from usync answers (`<lid val>`),
//! from history sync, from message attributes (`sender_lid`/`sender_pn` on 1:1 messages,
//! `participant_lid`/`participant_pn` in groups) and from its own login, and keeps it in the store
//! ([`crate::store::lid_map`]). Received messages carry both identities where known
//! ([`ReceivedMessage::sender_pn`], [`ReceivedMessage::sender_lid`]); a 1:1 chat reached through a
//! LID is reported under the phone number when that is known. Sends accept a LID: it is mapped to
//! the account's phone number (asking usync when the mapping is unknown), whose device list the
//! send then uses.

use super::messaging::{MessagingSetup, Messenger, ReceivedMessage};
use super::send::SendError;
use crate::protocol::binary::Node;
use crate::protocol::jid::{Jid, Server};
use crate::store::lid_map;
use redb::WriteTransaction;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_SID: AtomicU64 = AtomicU64::new(1);

/// The other identity of a message's sender named in its attributes: `sender_lid`/`sender_pn`
/// (1:1) or `participant_lid`/`participant_pn` (groups).
pub fn alternate_sender(node: &Node) -> Option<Jid> {
    let group = node.attr_jid("from").is_some_and(|j| j.is_group());
    let names: [&str; 2] = if group {
        ["participant_lid", "participant_pn"]
    } else {
        ["sender_lid", "sender_pn"]
    };
    names
        .iter()
        .find_map(|a| node.attr_jid(a))
        .filter(|j| !j.user.is_empty())
        .map(|j| j.to_non_ad())
}

/// (phone number, LID user) pairs in a usync answer (`<user jid=PN><lid val=LID@lid/></user>`).
pub fn usync_lids(answer: &Node) -> Vec<(String, String)> {
    let Some(list) = answer.child_path(&["usync", "list"]) else {
        return Vec::new();
    };
    list.children_by_tag("user")
        .filter_map(|user| {
            let pn = user.attr_jid("jid").filter(Jid::is_phone_user)?;
            let lid = user
                .child("lid")
                .and_then(|l| l.attr_jid("val"))
                .filter(|l| l.server == Server::Lid && !l.user.is_empty())?;
            Some((pn.user, lid.user))
        })
        .collect()
}

/// Fills `received.sender_pn`/`sender_lid` inside the decrypting transaction: from the sending
/// device and `alternate` (which also teaches the mapping), else from the stored mapping. A 1:1
/// chat named by a LID is renamed to its phone number when known.
pub(super) fn identify_sender(
    txn: &WriteTransaction,
    namespace: &str,
    alternate: Option<&Jid>,
    received: &mut ReceivedMessage,
) -> Result<(), String> {
    let err = |e: crate::store::StoreError| e.to_string();
    let from = received.from.to_non_ad();
    let (mut pn, mut lid) = match from.server {
        Server::Lid => (None, Some(from.user.clone())),
        _ if from.is_phone_user() => (Some(from.user.clone()), None),
        _ => return Ok(()),
    };
    match alternate {
        Some(alt) if alt.server == Server::Lid && lid.is_none() => lid = Some(alt.user.clone()),
        Some(alt) if alt.is_phone_user() && pn.is_none() => pn = Some(alt.user.clone()),
        _ => {}
    }
    match (&pn, &lid) {
        (Some(p), Some(l)) if alternate.is_some() => {
            lid_map::put_mapping_in(txn, namespace, p, l).map_err(err)?;
        }
        (Some(p), None) => lid = lid_map::lid_of_in(txn, namespace, p).map_err(err)?,
        (None, Some(l)) => pn = lid_map::pn_of_in(txn, namespace, l).map_err(err)?,
        _ => {}
    }
    if received.chat.server == Server::Lid && !received.from_me {
        if let Some(p) = &pn {
            received.chat = Jid::phone(p.clone());
        }
    }
    received.sender_pn = pn.map(Jid::phone);
    received.sender_lid = lid.map(Jid::lid);
    Ok(())
}

/// Remembers our own PN ↔ LID (from the login) so our own devices' messages carry both.
pub(super) fn remember_own(setup: &MessagingSetup, phone: &str, lid: Option<&str>) {
    let Some(lid) = lid else { return };
    if let Err(e) = lid_map::put_mapping(setup.db.database(), &setup.namespace, phone, lid) {
        log::warn!("engine: cannot store our own LID: {e}");
    }
}

impl Messenger {
    /// Stores the PN ↔ LID pairs a usync answer names.
    pub(super) fn remember_lids(&self, answer: &Node) {
        for (pn, lid) in usync_lids(answer) {
            // Usually known already: a read instead of a write transaction (and its fsync).
            if self.lid_of_phone(&pn).as_deref() == Some(lid.as_str()) {
                continue;
            }
            let stored =
                lid_map::put_mapping(self.setup.db.database(), &self.setup.namespace, &pn, &lid);
            if let Err(e) = stored {
                log::warn!("engine: cannot store the LID of {pn}: {e}");
            }
        }
    }

    /// The phone number of LID user `lid`, if known.
    pub fn phone_of_lid(&self, lid: &str) -> Option<String> {
        lid_map::pn_of(self.setup.db.database(), &self.setup.namespace, lid)
            .ok()
            .flatten()
    }

    /// The LID user of phone number `phone`, if known.
    pub fn lid_of_phone(&self, phone: &str) -> Option<String> {
        lid_map::lid_of(self.setup.db.database(), &self.setup.namespace, phone)
            .ok()
            .flatten()
    }

    /// The phone-number chat a send to `to` goes to: `to` itself for a phone number; for a LID its
    /// phone number, from the store or else from a usync query (which also stores it).
    pub(super) async fn resolve_recipient(&self, to: &Jid) -> Result<Jid, SendError> {
        if to.server != Server::Lid || to.user.is_empty() {
            return Ok(to.clone());
        }
        if let Some(pn) = self.phone_of_lid(&to.user) {
            return Ok(Jid::phone(pn));
        }
        let sid = format!("l{}", NEXT_SID.fetch_add(1, Ordering::Relaxed));
        let answer = self
            .iq(super::usync::device_query(&[to.to_non_ad()], &sid))
            .await?;
        self.remember_lids(&answer);
        let found = usync_lids(&answer)
            .into_iter()
            .find(|(_, lid)| *lid == to.user)
            .map(|(pn, _)| Jid::phone(pn));
        found.ok_or_else(|| SendError::BadRecipient(to.to_string()))
    }
}

impl super::EngineHandle {
    /// The phone number of a LID user, when this engine learnt it.
    pub fn phone_of_lid(&self, lid: &str) -> Option<String> {
        self.messenger.as_ref()?.phone_of_lid(lid)
    }

    /// The LID user of a phone number, when this engine learnt it.
    pub fn lid_of_phone(&self, phone: &str) -> Option<String> {
        self.messenger.as_ref()?.lid_of_phone(phone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    fn received(from: Jid, chat: Jid) -> ReceivedMessage {
        ReceivedMessage {
            id: "ID".into(),
            from,
            chat,
            from_me: false,
            text: Some("hi".into()),
            timestamp: 1,
            push_name: None,
            offline: false,
            media: None,
            reaction: None,
            sender_pn: None,
            sender_lid: None,
        }
    }

    #[test]
    fn senders_get_both_identities_and_lid_chats_their_number() {
        let dir = TempDir::new();
        let db = redb::Database::create(dir.path().join("lid.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        // A PN sender naming its LID teaches the mapping.
        let mut first = received(
            Jid::phone("15550001111").with_device(2),
            Jid::phone("15550001111"),
        );
        identify_sender(&txn, "c1", Some(&Jid::lid("101")), &mut first).unwrap();
        assert_eq!(first.sender_pn, Some(Jid::phone("15550001111")));
        assert_eq!(first.sender_lid, Some(Jid::lid("101")));
        // Later the same account writes from its LID without naming the number: the chat is
        // reported under the number.
        let mut second = received(Jid::lid("101").with_device(2), Jid::lid("101"));
        identify_sender(&txn, "c1", None, &mut second).unwrap();
        assert_eq!(second.chat, Jid::phone("15550001111"));
        assert_eq!(second.sender_pn, Some(Jid::phone("15550001111")));
        assert_eq!(second.sender_lid, Some(Jid::lid("101")));
        // An unknown LID stays a LID chat with only the LID known.
        let mut third = received(Jid::lid("202"), Jid::lid("202"));
        identify_sender(&txn, "c1", None, &mut third).unwrap();
        assert_eq!(
            (third.chat.clone(), third.sender_pn.clone()),
            (Jid::lid("202"), None)
        );
        assert_eq!(third.sender_lid, Some(Jid::lid("202")));
        // Group chats keep their JID.
        let mut group = received(
            Jid::phone("15550001111").with_device(2),
            Jid::group("120363000000000001"),
        );
        identify_sender(&txn, "c1", None, &mut group).unwrap();
        assert_eq!(group.chat, Jid::group("120363000000000001"));
        assert_eq!(group.sender_lid, Some(Jid::lid("101")));
    }

    #[test]
    fn alternate_ids_and_usync_lids() {
        let one = Node::new("message")
            .with_attr("from", Jid::phone("15550001111").with_device(2))
            .with_attr("sender_lid", Jid::lid("101").with_device(2));
        assert_eq!(alternate_sender(&one), Some(Jid::lid("101")));
        let group = Node::new("message")
            .with_attr("from", Jid::group("120363000000000001"))
            .with_attr("participant", Jid::lid("101"))
            .with_attr("participant_pn", Jid::phone("15550001111"))
            .with_attr("sender_lid", Jid::lid("999"));
        assert_eq!(alternate_sender(&group), Some(Jid::phone("15550001111")));
        assert_eq!(alternate_sender(&Node::new("message")), None);

        let answer = Node::new("iq").with_child(
            Node::new("usync").with_child(
                Node::new("list").with_children([
                    Node::new("user")
                        .with_attr("jid", Jid::phone("15550001111"))
                        .with_child(Node::new("lid").with_attr("val", Jid::lid("101"))),
                    Node::new("user").with_attr("jid", Jid::phone("15550002222")),
                ]),
            ),
        );
        assert_eq!(
            usync_lids(&answer),
            vec![("15550001111".to_string(), "101".to_string())]
        );
    }
}
