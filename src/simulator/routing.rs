//! The server's message router (§13.1 items 7–8): `<message>` stanzas fan out to every addressed
//! device, the sender gets a server `<ack class="message">`, devices that are offline find their
//! stanzas queued for the next login (then the `<ib><offline count>` marker), and `<receipt>` stanzas
//! go back to the original sender's devices. The simulated phones (device 0) take part through
//! [`super::phone_messages`].

use super::phone_messages;
use super::registry::{unix_now, Account, ConnId, ConnRole};
use super::Shared;
use crate::engine::message_id::participant_hash;
use crate::engine::receive::receipt_ids;
use crate::protocol::binary::Node;
use crate::protocol::jid::{Jid, Server};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Most stanzas kept for one offline device; older ones are dropped first.
const MAX_QUEUED: usize = 5000;

/// Offline queues and injected send refusals.
#[derive(Default)]
pub(crate) struct Mailboxes {
    inner: Mutex<MailState>,
}

#[derive(Default)]
struct MailState {
    offline: HashMap<(String, u16), VecDeque<Node>>,
    /// Error code for the next `<message>` a device sends (fault injection).
    refusals: HashMap<(String, u16), u16>,
    /// Messages written to a device and not yet acknowledged (receipt or ack), by id: replayed at
    /// its next login, as the real server redelivers what a device never confirmed.
    unacked: HashMap<(String, u16), VecDeque<(String, Node)>>,
}

impl Mailboxes {
    fn lock(&self) -> std::sync::MutexGuard<'_, MailState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next send of `phone`'s `device` fail with `code` in the server ack.
    pub(crate) fn refuse_next_send(&self, phone: &str, device: u16, code: u16) {
        self.lock()
            .refusals
            .insert((phone.to_string(), device), code);
    }

    fn take_refusal(&self, phone: &str, device: u16) -> Option<u16> {
        self.lock().refusals.remove(&(phone.to_string(), device))
    }

    fn queue(&self, phone: &str, device: u16, node: Node) {
        let mut state = self.lock();
        let queue = state
            .offline
            .entry((phone.to_string(), device))
            .or_default();
        if queue.len() >= MAX_QUEUED {
            queue.pop_front();
        }
        queue.push_back(node);
    }

    /// How many stanzas wait for `phone`'s `device`.
    pub(crate) fn queued(&self, phone: &str, device: u16) -> usize {
        self.lock()
            .offline
            .get(&(phone.to_string(), device))
            .map_or(0, VecDeque::len)
    }

    /// What a device that just logged in must get: messages an earlier connection never
    /// acknowledged, then the queue. Messages among them stay unacknowledged until confirmed.
    fn take(&self, phone: &str, device: u16) -> Vec<Node> {
        let mut state = self.lock();
        let key = (phone.to_string(), device);
        let mut out: Vec<Node> = state
            .unacked
            .remove(&key)
            .map(|pending| pending.into_iter().map(|(_, n)| n).collect())
            .unwrap_or_default();
        out.extend(
            state
                .offline
                .remove(&key)
                .map(Vec::from)
                .unwrap_or_default(),
        );
        for node in &out {
            remember_unacked(&mut state, &key, node);
        }
        out
    }

    fn written(&self, phone: &str, device: u16, node: &Node) {
        remember_unacked(&mut self.lock(), &(phone.to_string(), device), node);
    }

    /// The device confirmed these message ids.
    fn acknowledged(&self, phone: &str, device: u16, ids: &[String]) {
        let mut state = self.lock();
        if let Some(pending) = state.unacked.get_mut(&(phone.to_string(), device)) {
            pending.retain(|(id, _)| !ids.contains(id));
        }
    }
}

fn remember_unacked(state: &mut MailState, key: &(String, u16), node: &Node) {
    if node.tag != "message" {
        return;
    }
    let Some(id) = node.attr_text("id").map(|i| i.into_owned()) else {
        return;
    };
    let pending = state.unacked.entry(key.clone()).or_default();
    if pending.len() >= MAX_QUEUED {
        pending.pop_front();
    }
    let mut node = node.clone();
    node.remove_attr("offline");
    pending.push_back((id, node));
}

/// The account a JID names, by phone number or LID.
pub(super) fn account_key(accounts: &BTreeMap<String, Account>, jid: &Jid) -> Option<String> {
    if jid.server == Server::Lid {
        accounts
            .values()
            .find(|a| a.phone.lid == jid.user)
            .map(|a| a.phone.phone.clone())
    } else {
        accounts.contains_key(&jid.user).then(|| jid.user.clone())
    }
}

/// Device JIDs of an account: the phone (device 0) and every linked companion.
pub(super) fn account_devices(account: &Account) -> Vec<Jid> {
    let phone = Jid::phone(account.phone.phone.clone());
    std::iter::once(phone.clone())
        .chain(
            account
                .devices
                .keys()
                .map(|d| phone.clone().with_device(*d)),
        )
        .collect()
}

/// The JID a device sends from: `PHONE@s.whatsapp.net` for the phone, `PHONE:DEV@…` otherwise.
pub(super) fn device_jid(phone: &str, device: u16) -> Jid {
    Jid::phone(phone).with_device(device)
}

/// Sends `node` to `phone`'s `device` now, or queues it until that device logs in. Stanzas for the
/// phone itself (device 0) go to the simulated phone.
pub(super) fn deliver(shared: &Shared, phone: &str, device: u16, node: Node) {
    if device == 0 {
        phone_messages::receive(shared, phone, node);
        return;
    }
    let inner = shared.registry.lock();
    if !inner
        .accounts
        .get(phone)
        .is_some_and(|a| a.devices.contains_key(&device))
    {
        return;
    }
    let live = inner.connections.values().find(|c| {
        matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d == device)
    });
    match live {
        Some(c)
            if c.tx
                .send(super::registry::ToConnection::Send(node.clone()))
                .is_ok() =>
        {
            shared.mailboxes.written(phone, device, &node);
        }
        // Queued while the registry is locked, so a login cannot slip in between.
        _ => shared.mailboxes.queue(phone, device, node),
    }
}

/// Everything queued for a device that just logged in, marked `offline`, followed by the
/// `<ib><offline count>` marker.
pub(super) fn offline_replay(shared: &Shared, phone: &str, device: u16) -> Vec<Node> {
    let queued = shared.mailboxes.take(phone, device);
    let count = queued.len();
    let mut out: Vec<Node> = queued
        .into_iter()
        .map(|n| n.with_attr("offline", "1"))
        .collect();
    out.push(Node::new("ib").with_child(Node::new("offline").with_attr("count", count)));
    out
}

/// The answer to a `<message>` or `<receipt>` from a logged-in client, if the stanza is one.
pub(super) fn on_stanza(shared: &Shared, conn: ConnId, node: &Node) -> Option<Node> {
    let (phone, device) = shared.registry.logged_in_as(conn)?;
    match node.tag.as_str() {
        "message" => Some(route_message(shared, &phone, device, node)),
        "receipt" => {
            shared
                .mailboxes
                .acknowledged(&phone, device, &receipt_ids(node));
            Some(route_receipt(shared, &phone, device, node))
        }
        "ack" if node.attr("class") == Some("message") => {
            let id = node.attr_text("id").map(|i| i.into_owned());
            shared
                .mailboxes
                .acknowledged(&phone, device, &id.into_iter().collect::<Vec<_>>());
            None
        }
        "call" => Some(super::calls::on_call(shared, &phone, device, node)),
        _ => None,
    }
}

fn message_ack(id: &str, to: Option<&Jid>) -> Node {
    Node::new("ack")
        .with_attr("class", "message")
        .with_attr("id", id)
        .with_opt_attr("from", to.cloned())
        .with_attr("t", unix_now())
}

/// Fans a `<message>` from `phone`:`device` out and answers with the server ack.
pub(super) fn route_message(shared: &Shared, phone: &str, device: u16, node: &Node) -> Node {
    let id = node.attr_text("id").unwrap_or_default().into_owned();
    let to = node.attr_jid("to");
    if let Some(code) = shared.mailboxes.take_refusal(phone, device) {
        return message_ack(&id, to.as_ref()).with_attr("error", code);
    }
    let Some(to) = to else {
        return message_ack(&id, None).with_attr("error", 400);
    };
    // Resolve the recipient and the devices the server expects the sender to address.
    let (recipient, expected, push_name) = {
        let inner = shared.registry.lock();
        let Some(recipient) = account_key(&inner.accounts, &to) else {
            return message_ack(&id, Some(&to)).with_attr("error", 404);
        };
        let mut expected: Vec<Jid> = inner
            .accounts
            .get(&recipient)
            .map(account_devices)
            .unwrap_or_default();
        if recipient != phone {
            expected.extend(
                inner
                    .accounts
                    .get(phone)
                    .map(account_devices)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|j| j.device != device),
            );
        }
        let name = inner
            .accounts
            .get(phone)
            .map(|a| a.phone.name.clone())
            .unwrap_or_default();
        (recipient, expected, name)
    };
    let mut targets: Vec<(Jid, &Node)> = Vec::new();
    if let Some(participants) = node.child("participants") {
        for to_node in participants.children_by_tag("to") {
            if let (Some(jid), Some(enc)) = (to_node.attr_jid("jid"), to_node.child("enc")) {
                targets.push((jid, enc));
            }
        }
    } else if let Some(enc) = node.child("enc") {
        targets.push((to.clone(), enc));
    }
    let sender = device_jid(phone, device);
    let kind = node
        .attr_text("type")
        .unwrap_or(std::borrow::Cow::Borrowed("text"));
    let identity = node.child("device-identity");
    for (target, enc) in targets {
        let owner = {
            let inner = shared.registry.lock();
            account_key(&inner.accounts, &target)
        };
        let Some(owner) = owner else { continue };
        // Only the recipient's devices and the sender's own other devices are valid targets.
        if owner != recipient && owner != phone {
            continue;
        }
        if owner == phone && target.device == device {
            continue;
        }
        let mut out = Node::new("message")
            .with_attr("from", sender.clone())
            .with_attr("id", id.as_str())
            .with_attr("t", unix_now())
            .with_attr("type", kind.as_ref())
            .with_attr("notify", push_name.as_str());
        if owner == phone && recipient != phone {
            out.set_attr("recipient", Jid::phone(recipient.clone()));
        }
        out.push_child(enc.clone());
        if enc.attr_text("type").as_deref() == Some("pkmsg") {
            if let Some(identity) = identity {
                out.push_child(identity.clone());
            }
        }
        deliver(shared, &owner, target.device, out);
    }
    let mut ack = message_ack(&id, Some(&to));
    if node.has_attr("phash") {
        ack.set_attr("phash", participant_hash(&expected));
    }
    ack
}

/// Forwards a `<receipt>` from `phone`:`device` to the devices of the original sender and acks it.
pub(super) fn route_receipt(shared: &Shared, phone: &str, device: u16, node: &Node) -> Node {
    let id = node.attr_text("id").unwrap_or_default().into_owned();
    let kind = node.attr_text("type").map(|t| t.into_owned());
    let ack = Node::new("ack")
        .with_attr("class", "receipt")
        .with_attr("id", id.as_str())
        .with_opt_attr("type", kind.clone());
    let Some(to) = node.attr_jid("to") else {
        return ack;
    };
    if to.is_group() {
        super::group_delivery::forward_group_receipt(shared, phone, device, node);
        return ack;
    }
    let mut forwarded = Node::new("receipt")
        .with_attr("from", device_jid(phone, device))
        .with_attr("id", id.as_str())
        .with_attr(
            "t",
            node.attr_text("t")
                .map_or_else(|| unix_now().to_string(), |t| t.into_owned()),
        )
        .with_opt_attr("type", kind.clone())
        .with_opt_attr("recipient", node.attr_jid("recipient"));
    for child in node.children() {
        forwarded.push_child(child.clone());
    }
    forward_receipt(shared, phone, device, &to, kind.as_deref(), forwarded);
    ack
}

/// Sends a receipt (already addressed `from` the reader) to the devices of the account `to` names:
/// only the named device for retries, every device otherwise (never back to the reader itself).
pub(super) fn forward_receipt(
    shared: &Shared,
    reader_phone: &str,
    reader_device: u16,
    to: &Jid,
    kind: Option<&str>,
    receipt: Node,
) {
    let targets: Vec<(String, u16)> = {
        let inner = shared.registry.lock();
        let Some(owner) = account_key(&inner.accounts, to) else {
            return;
        };
        let devices = inner
            .accounts
            .get(&owner)
            .map(account_devices)
            .unwrap_or_default();
        devices
            .into_iter()
            .filter(|j| kind != Some("retry") || j.device == to.device)
            .filter(|j| !(owner == reader_phone && j.device == reader_device))
            .map(|j| (owner.clone(), j.device))
            .collect()
    };
    for (owner, device) in targets {
        deliver(shared, &owner, device, receipt.clone());
    }
}
