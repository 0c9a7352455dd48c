//! The `w:g2` iqs a companion sends (§10.1): the participating list and one group's metadata
//! (`get`), and the changes (`set`): create, add/remove/promote/demote participants, subject,
//! description, announcement/locked settings and leave. Changes go through [`super::apply_change`],
//! so they are told to the other members exactly as the control API's are.

use super::super::iq::error_reply;
use super::super::Shared;
use super::state::{Change, Group, NewGroup};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;

/// The `<group>` node of §10.1.
pub(crate) fn group_node(id: &str, g: &Group) -> Node {
    let mut node = Node::new("group")
        .with_attr("id", id)
        .with_attr("subject", g.subject.as_str())
        .with_attr("s_t", g.subject_time)
        .with_attr("s_o", Jid::phone(g.subject_owner.clone()))
        .with_attr("creation", g.creation)
        .with_attr("creator", Jid::phone(g.creator.clone()))
        .with_attr("size", g.participants.len())
        .with_attr("addressing_mode", "pn");
    for (phone, admin) in &g.participants {
        let mut p = Node::new("participant").with_attr("jid", Jid::phone(phone.clone()));
        if *admin {
            let kind = if *phone == g.creator {
                "superadmin"
            } else {
                "admin"
            };
            p.set_attr("type", kind);
        }
        node.push_child(p);
    }
    if let Some(d) = &g.description {
        node.push_child(
            Node::new("description")
                .with_attr("id", d.id.as_str())
                .with_attr("t", d.time)
                .with_attr("participant", Jid::phone(d.owner.clone()))
                .with_child(Node::new("body").with_text(d.text.clone())),
        );
    }
    if g.announce {
        node.push_child(Node::new("announcement"));
    }
    if g.locked {
        node.push_child(Node::new("locked"));
    }
    node
}

fn result(id: &str) -> Node {
    Node::new("iq")
        .with_attr("from", Jid::group_server())
        .with_attr("type", "result")
        .with_attr("id", id)
}

/// The phones a `<participant jid>` list names (phone JIDs only; LIDs are resolved to phones).
fn named_phones(shared: &Shared, node: &Node) -> Vec<String> {
    let inner = shared.registry.lock();
    node.children_by_tag("participant")
        .filter_map(|p| p.attr_jid("jid"))
        .map(|jid| super::super::routing::account_key(&inner.accounts, &jid).unwrap_or(jid.user))
        .collect()
}

/// Answers a `w:g2` iq from `phone`:`device`.
pub(crate) fn answer(shared: &Shared, phone: &str, device: u16, node: &Node) -> Option<Node> {
    let id = node.attr("id")?;
    match node.attr("type") {
        Some("get") => Some(answer_get(shared, phone, id, node)),
        Some("set") => Some(answer_set(shared, phone, device, id, node)),
        _ => None,
    }
}

fn answer_get(shared: &Shared, phone: &str, id: &str, node: &Node) -> Node {
    if node.child("participating").is_some() {
        let state = shared.groups.lock();
        let groups = state
            .groups
            .iter()
            .filter(|(_, g)| g.participants.contains_key(phone))
            .map(|(id, g)| group_node(id, g));
        return result(id).with_child(Node::new("groups").with_children(groups));
    }
    if node.child("query").is_some() {
        let Some(to) = node.attr_jid("to").filter(Jid::is_group) else {
            return error_reply(id, 400, "bad-request");
        };
        return match shared.groups.get(&to.user) {
            None => error_reply(id, 404, "item-not-found"),
            Some(g) if !g.participants.contains_key(phone) => error_reply(id, 403, "forbidden"),
            Some(g) => result(id).with_child(group_node(&to.user, &g)),
        };
    }
    error_reply(id, 501, "feature-not-implemented")
}

fn answer_set(shared: &Shared, phone: &str, device: u16, id: &str, node: &Node) -> Node {
    if let Some(create) = node.child("create") {
        return answer_create(shared, phone, device, id, create);
    }
    if let Some(leave) = node.child("leave") {
        let mut answered = Node::new("leave");
        for group in leave.children_by_tag("group") {
            let Some(jid) = group.attr_jid("id").filter(Jid::is_group) else {
                continue;
            };
            let mut item = Node::new("group").with_attr("id", jid.clone());
            if let Err(e) =
                super::apply_change(shared, &jid.user, phone, Some(device), &Change::Leave)
            {
                item.set_attr("error", e.code());
            }
            answered.push_child(item);
        }
        return result(id).with_child(answered);
    }
    let Some(group) = node.attr_jid("to").filter(Jid::is_group) else {
        return error_reply(id, 400, "bad-request");
    };
    let Some(child) = node.children().first() else {
        return error_reply(id, 400, "bad-request");
    };
    let change = match child.tag.as_str() {
        "add" => Change::Add(named_phones(shared, child)),
        "remove" => Change::Remove(named_phones(shared, child)),
        "promote" => Change::Promote(named_phones(shared, child)),
        "demote" => Change::Demote(named_phones(shared, child)),
        "subject" => Change::Subject(
            child
                .content_text()
                .or_else(|| child.attr_text("subject"))
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        ),
        "description" if child.attr("delete") == Some("true") => Change::Description(None),
        "description" => Change::Description(
            child
                .child("body")
                .and_then(Node::content_text)
                .map(|t| t.into_owned()),
        ),
        "announcement" => Change::Announce(true),
        "not_announcement" => Change::Announce(false),
        "locked" => Change::Locked(true),
        "unlocked" => Change::Locked(false),
        _ => return error_reply(id, 501, "feature-not-implemented"),
    };
    match super::apply_change(shared, &group.user, phone, Some(device), &change) {
        Err(e) => error_reply(id, e.code(), e.text()),
        Ok(applied) => match change.participant_action() {
            Some((tag, _)) => result(id).with_child(Node::new(tag).with_children(
                applied.results.iter().map(|(p, error)| {
                    Node::new("participant")
                        .with_attr("jid", Jid::phone(p.clone()))
                        .with_opt_attr("error", *error)
                }),
            )),
            None => result(id),
        },
    }
}

fn answer_create(shared: &Shared, phone: &str, device: u16, id: &str, create: &Node) -> Node {
    let subject = create
        .attr_text("subject")
        .map(|s| s.into_owned())
        .unwrap_or_default();
    if subject.trim().is_empty() {
        return error_reply(id, 400, "bad-request");
    }
    let participants: Vec<String> = {
        let wanted = named_phones(shared, create);
        let inner = shared.registry.lock();
        wanted
            .into_iter()
            .filter(|p| p != phone && inner.accounts.contains_key(p))
            .collect()
    };
    let new = NewGroup {
        creator: phone.to_string(),
        subject,
        participants,
        announce: create.child("announcement").is_some(),
        locked: create.child("locked").is_some(),
        description: create
            .child("description")
            .and_then(|d| d.child("body"))
            .and_then(Node::content_text)
            .map(|t| t.into_owned()),
    };
    let (gid, group) = super::create_group(shared, new, Some(device));
    result(id).with_child(group_node(&gid, &group))
}
