//! What the engine does with `w:gp2` notifications (§10.1 "Events"): a group was created with us in
//! it, participants were added, removed, promoted or demoted, the subject, description or settings
//! changed. The connection acknowledges every notification; here the engine
//!
//! - forgets the cached device lists of everyone a change names (new members may bring devices
//!   we have never seen; the next send asks the server afresh),
//! - forgets which devices hold our sender key in a group we were removed from or left (should we
//!   be added back, everyone gets a fresh distribution) — when someone else leaves, the next send
//!   notices the missing holder and starts a new sender key (`group_receipts`),
//! - reports the change to its owner as [`EngineEvent::GroupChanged`].
//!
//! Group metadata itself is not cached: every send and every `group_info` asks the server, so a
//! change is seen by the very next one.

use super::messaging::{EngineEvent, Messenger};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;

/// What changed in a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// The group was created (with us in it); `participants` are its members.
    Create {
        subject: Option<String>,
    },
    Add,
    Remove,
    Promote,
    Demote,
    Subject(String),
    /// `None`: the description was deleted.
    Description(Option<String>),
    /// Only admins may send (`true`) or everyone again (`false`).
    Announce(bool),
    /// Only admins may edit the group info (`true`) or everyone again (`false`).
    Locked(bool),
    /// A change this engine does not model (ephemeral, invite link, …): the child's tag.
    Other(String),
}

/// One `w:gp2` notification, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChange {
    pub group: Jid,
    /// Who made the change (the `participant` attribute), when the server names them.
    pub actor: Option<Jid>,
    pub action: GroupAction,
    /// The participants the change names (added, removed, …; the members for `Create`).
    pub participants: Vec<Jid>,
    /// Server time (Unix seconds), 0 when absent.
    pub timestamp: u64,
}

impl GroupChange {
    /// True when the change took `user` (a phone number) out of the group.
    pub fn removes(&self, user: &str) -> bool {
        self.action == GroupAction::Remove && self.participants.iter().any(|p| p.user == user)
    }
}

fn participants_of(node: &Node) -> Vec<Jid> {
    node.children_by_tag("participant")
        .filter_map(|p| p.attr_jid("jid"))
        .collect()
}

/// Parses a `<notification type="w:gp2" from=GROUP>`; `None` for anything else.
pub fn parse_group_change(node: &Node) -> Option<GroupChange> {
    if node.tag != "notification" || node.attr("type") != Some("w:gp2") {
        return None;
    }
    let group = node.attr_jid("from").filter(Jid::is_group)?;
    let child = node.children().first()?;
    let text = |n: &Node| n.content_text().map(|t| t.into_owned());
    let (action, participants) = match child.tag.as_str() {
        "create" => {
            let created = child.child("group");
            let subject = created.and_then(|g| g.attr_text("subject").map(|s| s.into_owned()));
            let members = created.map(participants_of).unwrap_or_default();
            (GroupAction::Create { subject }, members)
        }
        "add" => (GroupAction::Add, participants_of(child)),
        "remove" => (GroupAction::Remove, participants_of(child)),
        "promote" => (GroupAction::Promote, participants_of(child)),
        "demote" => (GroupAction::Demote, participants_of(child)),
        "subject" => {
            let subject = child
                .attr_text("subject")
                .map(|s| s.into_owned())
                .or_else(|| text(child))
                .unwrap_or_default();
            (GroupAction::Subject(subject), Vec::new())
        }
        "description" if child.attr("delete") == Some("true") => {
            (GroupAction::Description(None), Vec::new())
        }
        "description" => {
            let body = child.child("body").and_then(text);
            (GroupAction::Description(body), Vec::new())
        }
        "announcement" => (GroupAction::Announce(true), Vec::new()),
        "not_announcement" => (GroupAction::Announce(false), Vec::new()),
        "locked" => (GroupAction::Locked(true), Vec::new()),
        "unlocked" => (GroupAction::Locked(false), Vec::new()),
        other => (GroupAction::Other(other.to_string()), Vec::new()),
    };
    Some(GroupChange {
        group: group.to_non_ad(),
        actor: node.attr_jid("participant"),
        action,
        participants,
        timestamp: node.attr_parse("t").unwrap_or(0),
    })
}

impl Messenger {
    /// Reacts to a `w:gp2` notification (see the module docs); other stanzas are ignored.
    pub(super) fn on_group_notification(&self, node: &Node) {
        let Some(change) = parse_group_change(node) else {
            return;
        };
        for participant in &change.participants {
            self.devices.invalidate(&participant.user);
        }
        if let Some(own) = self.own() {
            if change.removes(&own.phone) {
                self.forget_sender_key_holders(&change.group);
            }
        }
        log::info!(
            "engine: group {} changed: {:?} by {:?}",
            change.group,
            change.action,
            change.actor.as_ref().map(|a| a.to_string())
        );
        self.emit(EngineEvent::GroupChanged(change));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(child: Node) -> Node {
        Node::new("notification")
            .with_attr("type", "w:gp2")
            .with_attr("from", Jid::group("120363000000000042"))
            .with_attr("participant", Jid::phone("15550001111"))
            .with_attr("t", 1_700_000_000u64)
            .with_child(child)
    }

    fn named(tag: &str, phones: &[&str]) -> Node {
        Node::new(tag).with_children(
            phones
                .iter()
                .map(|p| Node::new("participant").with_attr("jid", Jid::phone(*p))),
        )
    }

    #[test]
    fn participant_changes_name_the_actor_and_the_participants() {
        let change = parse_group_change(&notification(named("remove", &["15550002222"]))).unwrap();
        assert_eq!(change.group, Jid::group("120363000000000042"));
        assert_eq!(change.actor, Some(Jid::phone("15550001111")));
        assert_eq!(change.action, GroupAction::Remove);
        assert_eq!(change.participants, vec![Jid::phone("15550002222")]);
        assert_eq!(change.timestamp, 1_700_000_000);
        assert!(change.removes("15550002222"));
        assert!(!change.removes("15550001111"));
        let added = parse_group_change(&notification(named("add", &["1", "2"]))).unwrap();
        assert_eq!(
            (added.action, added.participants.len()),
            (GroupAction::Add, 2)
        );
    }

    #[test]
    fn info_changes_and_creation() {
        let subject = Node::new("subject").with_attr("subject", "New name");
        assert_eq!(
            parse_group_change(&notification(subject)).unwrap().action,
            GroupAction::Subject("New name".into())
        );
        let description = Node::new("description")
            .with_attr("id", "d1")
            .with_child(Node::new("body").with_text("About"));
        assert_eq!(
            parse_group_change(&notification(description))
                .unwrap()
                .action,
            GroupAction::Description(Some("About".into()))
        );
        let deleted = Node::new("description").with_attr("delete", "true");
        assert_eq!(
            parse_group_change(&notification(deleted)).unwrap().action,
            GroupAction::Description(None)
        );
        for (tag, action) in [
            ("announcement", GroupAction::Announce(true)),
            ("not_announcement", GroupAction::Announce(false)),
            ("locked", GroupAction::Locked(true)),
            ("unlocked", GroupAction::Locked(false)),
            ("ephemeral", GroupAction::Other("ephemeral".into())),
        ] {
            assert_eq!(
                parse_group_change(&notification(Node::new(tag)))
                    .unwrap()
                    .action,
                action
            );
        }
        let create = Node::new("create").with_child(
            named("group", &["15550001111", "15550003333"]).with_attr("subject", "Team"),
        );
        let created = parse_group_change(&notification(create)).unwrap();
        assert_eq!(
            created.action,
            GroupAction::Create {
                subject: Some("Team".into())
            }
        );
        assert_eq!(created.participants.len(), 2);
    }

    #[test]
    fn other_stanzas_are_not_group_changes() {
        let devices = Node::new("notification")
            .with_attr("type", "devices")
            .with_attr("from", Jid::phone("15550001111"));
        assert_eq!(parse_group_change(&devices), None);
        let not_a_group = Node::new("notification")
            .with_attr("type", "w:gp2")
            .with_attr("from", Jid::phone("15550001111"))
            .with_child(Node::new("add"));
        assert_eq!(parse_group_change(&not_a_group), None);
        let empty = Node::new("notification")
            .with_attr("type", "w:gp2")
            .with_attr("from", Jid::group("1"));
        assert_eq!(parse_group_change(&empty), None);
    }
}
