//! Group message plumbing besides the fan-out (`groups`): receipts for a group message go back to
//! its sender (`<receipt to=GROUP participant=SENDER>` → the sender's devices, `from=GROUP
//! participant=READER`; a retry only to the named device), a retry answer `<message to=GROUP
//! participant=DEVICE>` (the content pairwise, with a fresh SKDM) goes to that one device, and a log
//! of which devices each group message carried a pairwise enc (the SKDM) for, so tests can check
//! that a sender does not redistribute its key (`GET /sim/groups/{id}/messages/{msg}`).

use super::control::{error_response, json_response};
use super::registry::{unix_now, ConnId};
use super::routing::{account_devices, account_key, deliver, device_jid};
use super::Shared;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Group messages remembered in the log.
const LOGGED: usize = 2000;

/// One group message as the server saw it.
#[derive(Debug, Clone)]
struct Logged {
    group: String,
    id: String,
    sender: String,
    /// Devices the stanza carried a pairwise enc for (its `<participants>`).
    pairwise: Vec<String>,
    /// Set for a retry answer addressed to one device.
    direct_to: Option<String>,
}

/// The log of group messages (newest last).
#[derive(Default)]
pub(crate) struct GroupLog {
    inner: Mutex<VecDeque<Logged>>,
}

impl GroupLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Logged>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, entry: Logged) {
        let mut log = self.lock();
        if log.len() >= LOGGED {
            log.pop_front();
        }
        log.push_back(entry);
    }
}

/// Looks at every `<message to=GROUP>` from a logged-in client before the group router: logs it,
/// and answers (delivers) the ones addressed to a single device. `None` lets `groups` route it.
pub(super) fn on_stanza(shared: &Shared, conn: ConnId, node: &Node) -> Option<Node> {
    if node.tag != "message" {
        return None;
    }
    let group = node.attr_jid("to").filter(Jid::is_group)?;
    let (phone, device) = shared.registry.logged_in_as(conn)?;
    let id = node.attr_text("id").unwrap_or_default().into_owned();
    let pairwise = node
        .child("participants")
        .map(|p| {
            p.children_by_tag("to")
                .filter_map(|t| t.attr_jid("jid").map(|j| j.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let target = node.attr_jid("participant");
    shared.group_log.push(Logged {
        group: group.user.clone(),
        id: id.clone(),
        sender: device_jid(&phone, device).to_string(),
        pairwise,
        direct_to: target.as_ref().map(Jid::to_string),
    });
    let target = target?;
    Some(direct(shared, &phone, device, &group, &target, &id, node))
}

fn message_ack(id: &str, group: &Jid) -> Node {
    Node::new("ack")
        .with_attr("class", "message")
        .with_attr("id", id)
        .with_attr("from", group.clone())
        .with_attr("t", unix_now())
}

/// A retry answer: the pairwise enc goes to `target` alone, as a group message from the sender.
fn direct(
    shared: &Shared,
    phone: &str,
    device: u16,
    group: &Jid,
    target: &Jid,
    id: &str,
    node: &Node,
) -> Node {
    let Some(g) = shared.groups.get(&group.user) else {
        return message_ack(id, group).with_attr("error", 404);
    };
    let owner = {
        let inner = shared.registry.lock();
        account_key(&inner.accounts, target)
    };
    let member = |p: &str| g.participants.contains_key(p);
    let (Some(owner), true) = (owner, member(phone)) else {
        return message_ack(id, group).with_attr("error", 403);
    };
    if !member(&owner) {
        return message_ack(id, group).with_attr("error", 403);
    }
    let Some(enc) = node.child("enc") else {
        return message_ack(id, group).with_attr("error", 400);
    };
    let notify = shared
        .registry
        .phone(phone)
        .map(|v| v.name)
        .unwrap_or_default();
    let mut out = Node::new("message")
        .with_attr("from", group.clone())
        .with_attr("participant", device_jid(phone, device))
        .with_attr("id", id)
        .with_attr("t", unix_now())
        .with_attr(
            "type",
            node.attr_text("type").unwrap_or_default().into_owned(),
        )
        .with_attr("notify", notify)
        .with_child(enc.clone());
    if enc.attr("type") == Some("pkmsg") {
        if let Some(identity) = node.child("device-identity") {
            out.push_child(identity.clone());
        }
    }
    if target.device == 0 {
        // The simulated phones read group messages through the fan-out only.
        log::info!("simulator: retry answer {id} for phone {owner} not delivered");
    } else {
        deliver(shared, &owner, target.device, out);
    }
    message_ack(id, group)
}

/// Forwards a receipt for a group message (`to=GROUP participant=SENDER`) to the sender's devices
/// (only the named one for a retry), never back to the reader's own device.
pub(super) fn forward_group_receipt(shared: &Shared, phone: &str, device: u16, node: &Node) {
    let (Some(group), Some(sender)) = (node.attr_jid("to"), node.attr_jid("participant")) else {
        return;
    };
    let kind = node.attr_text("type").map(|t| t.into_owned());
    let mut forwarded = Node::new("receipt")
        .with_attr("from", group)
        .with_attr("participant", device_jid(phone, device))
        .with_attr("id", node.attr_text("id").unwrap_or_default().into_owned())
        .with_attr(
            "t",
            node.attr_text("t")
                .map_or_else(|| unix_now().to_string(), |t| t.into_owned()),
        )
        .with_opt_attr("type", kind.clone());
    for child in node.children() {
        forwarded.push_child(child.clone());
    }
    let targets: Vec<(String, u16)> = {
        let inner = shared.registry.lock();
        let Some(owner) = account_key(&inner.accounts, &sender) else {
            return;
        };
        inner
            .accounts
            .get(&owner)
            .map(account_devices)
            .unwrap_or_default()
            .into_iter()
            .filter(|j| kind.as_deref() != Some("retry") || j.device == sender.device)
            .filter(|j| !(owner == phone && j.device == device))
            .map(|j| (owner.clone(), j.device))
            .collect()
    };
    for (owner, target) in targets {
        if target != 0 {
            deliver(shared, &owner, target, forwarded.clone());
        }
    }
}

/// `GET /sim/groups/{id}/messages/{msg}`: how the server saw one group message (the devices its
/// stanza carried a pairwise SKDM for). `None` when the path is not ours.
pub(super) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
) -> Option<Response<Full<Bytes>>> {
    let (&Method::GET, ["groups", group, "messages", id]) = (method, segments) else {
        return None;
    };
    let group = group.strip_suffix("@g.us").unwrap_or(group);
    let found: Vec<_> = shared
        .group_log
        .lock()
        .iter()
        .filter(|l| l.group == group && l.id == *id)
        .map(|l| {
            json!({
                "sender": l.sender,
                "skdmTo": l.pairwise,
                "directTo": l.direct_to,
            })
        })
        .collect();
    Some(if found.is_empty() {
        error_response(
            StatusCode::NOT_FOUND,
            "MESSAGE_NOT_FOUND",
            "no such group message",
        )
    } else {
        json_response(StatusCode::OK, &json!({ "stanzas": found }))
    })
}
