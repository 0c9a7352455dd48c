//! `w:gp2` notifications (§10.1 "Events"): every change to a group is told to every device of
//! everyone in the group before or after the change, as
//! `<notification type="w:gp2" from=GROUP participant=ACTOR id t notify>` with one child naming
//! the change. Companions that are offline find it queued for their next login; the phones (device
//! 0) have nothing to do with it. The device that made the change learns from its iq answer instead.

use super::super::registry::unix_now;
use super::super::routing::{account_devices, deliver};
use super::super::Shared;
use super::iq::group_node;
use super::state::{Applied, Change, Group};
use crate::protocol::binary::Node;
use crate::protocol::jid::{Jid, Server};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT_NOTIFICATION: AtomicU64 = AtomicU64::new(1);

fn participants(tag: &str, phones: &[String]) -> Node {
    Node::new(tag).with_children(
        phones
            .iter()
            .map(|p| Node::new("participant").with_attr("jid", Jid::phone(p.clone()))),
    )
}

/// The child that names `change` in the notification, or `None` when nothing changed (every
/// named participant was refused).
pub(crate) fn change_child(change: &Change, applied: &Applied, actor: &str) -> Option<Node> {
    let node = match change {
        Change::Add(_) | Change::Remove(_) | Change::Promote(_) | Change::Demote(_) => {
            if applied.changed.is_empty() {
                return None;
            }
            let tag = change.participant_action()?.0;
            participants(tag, &applied.changed)
        }
        // Leaving shows as a removal whose only participant is the actor (as clients expect).
        Change::Leave => participants("remove", &[actor.to_string()]),
        Change::Subject(subject) => Node::new("subject")
            .with_attr("subject", subject.as_str())
            .with_attr("s_o", Jid::phone(actor))
            .with_attr("s_t", unix_now()),
        Change::Description(_) => {
            match applied.group.as_ref().and_then(|g| g.description.as_ref()) {
                Some(d) => Node::new("description")
                    .with_attr("id", d.id.as_str())
                    .with_child(Node::new("body").with_text(d.text.clone())),
                None => Node::new("description")
                    .with_attr("id", format!("d{}", unix_now()))
                    .with_attr("delete", "true"),
            }
        }
        Change::Announce(true) => Node::new("announcement"),
        Change::Announce(false) => Node::new("not_announcement"),
        Change::Locked(true) => Node::new("locked"),
        Change::Locked(false) => Node::new("unlocked"),
    };
    Some(node)
}

/// The `create` child every participant of a new group hears of, carrying the whole group.
pub(crate) fn create_child(id: &str, group: &Group) -> Node {
    Node::new("create").with_child(group_node(id, group))
}

/// Sends `<notification type="w:gp2" from=GROUP participant=ACTOR>child</notification>` to every
/// companion of every phone in `audience`, except the acting device itself (`skip`).
pub(crate) fn notify(
    shared: &Shared,
    group: &str,
    actor: &str,
    audience: &[String],
    skip: Option<u16>,
    child: Node,
) {
    let notify_name = shared
        .registry
        .phone(actor)
        .map(|v| v.name)
        .unwrap_or_default();
    let node = Node::new("notification")
        .with_attr("type", "w:gp2")
        .with_attr("from", Jid::new(group, Server::Group))
        .with_attr("participant", Jid::phone(actor))
        .with_attr(
            "id",
            format!("gp2-{}", NEXT_NOTIFICATION.fetch_add(1, Ordering::Relaxed)),
        )
        .with_attr("t", unix_now())
        .with_attr("notify", notify_name)
        .with_child(child);
    let targets: Vec<Jid> = {
        let inner = shared.registry.lock();
        audience
            .iter()
            .filter_map(|p| inner.accounts.get(p))
            .flat_map(account_devices)
            .filter(|d| d.device != 0)
            .filter(|d| !(d.user == actor && Some(d.device) == skip))
            .collect()
    };
    for device in targets {
        deliver(shared, &device.user, device.device, node.clone());
    }
}
