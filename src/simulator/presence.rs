//! Presence and chat state (§8.7, §13.1 item 9).
//!
//! - `<presence type="available|unavailable" name>` from a device sets its availability; an account
//!   is available while any of its devices is. Each change is pushed as
//!   `<presence from=PHONE@s.whatsapp.net type [last]/>` to every device subscribed to it.
//! - `<presence type="subscribe" to=JID/>` subscribes the sending device (until its connection ends)
//!   and answers at once with the account's current presence.
//! - `<chatstate to=JID><composing/>|<paused/></chatstate>` is forwarded to the peer's devices as
//!   `<chatstate from=SENDER>…</chatstate>` (for a group: `from=GROUP participant=SENDER`, to every
//!   other member). Neither presence nor chat state is queued for offline devices: they are live
//!   signals, gone when nobody is there to see them.
//!
//! The simulated phones (device 0) take part through the control API: they announce presence,
//! type, subscribe, and list what reached them.

use super::control::{error_response, json_response};
use super::registry::{unix_now, ConnId, ConnRole, ToConnection};
use super::routing::account_key;
use super::Shared;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

/// Most presence and chat-state events a phone keeps.
const MAX_EVENTS: usize = 500;

/// What reached a simulated phone.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceEvent {
    /// `presence` or `chatstate`.
    pub kind: &'static str,
    /// The account (or group) it is from.
    pub from: String,
    /// For group chat states: the member typing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant: Option<String>,
    /// `available`/`unavailable`, or `composing`/`recording`/`paused`.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<u64>,
    pub at: u64,
}

#[derive(Default)]
struct PresenceState {
    /// Phone → its devices that announced `available`.
    available: HashMap<String, BTreeSet<u16>>,
    /// Phone → when it last went unavailable.
    last_seen: HashMap<String, u64>,
    /// Subscribed-to phone → subscriber devices (phone, device).
    subscribers: HashMap<String, BTreeSet<(String, u16)>>,
    /// What each simulated phone received.
    events: HashMap<String, VecDeque<PresenceEvent>>,
}

/// Presence, subscriptions and the phones' presence logs.
#[derive(Default)]
pub(crate) struct PresenceBook {
    inner: Mutex<PresenceState>,
}

impl PresenceBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, PresenceState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `<presence from>` stanza telling `phone`'s presence as it stands.
fn presence_of(state: &PresenceState, phone: &str) -> Node {
    let available = state.available.get(phone).is_some_and(|d| !d.is_empty());
    Node::new("presence")
        .with_attr("from", Jid::phone(phone))
        .with_attr(
            "type",
            if available {
                "available"
            } else {
                "unavailable"
            },
        )
        .with_opt_attr(
            "last",
            (!available)
                .then(|| state.last_seen.get(phone).copied())
                .flatten(),
        )
}

/// Sends `node` to `phone`'s `device` if it is connected now; the phone itself logs it.
fn send_live(shared: &Shared, phone: &str, device: u16, node: &Node) {
    if device == 0 {
        record(shared, phone, node);
        return;
    }
    let inner = shared.registry.lock();
    let live = inner.connections.values().filter(|c| {
        matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d == device)
    });
    for conn in live {
        let _ = conn.tx.send(ToConnection::Send(node.clone()));
    }
}

/// A simulated phone notes a presence or chat-state stanza.
fn record(shared: &Shared, phone: &str, node: &Node) {
    let from = node.attr_jid("from").map(|j| j.user).unwrap_or_default();
    let event = match node.tag.as_str() {
        "presence" => PresenceEvent {
            kind: "presence",
            from,
            participant: None,
            state: node.attr("type").unwrap_or("available").to_string(),
            last: node.attr_parse("last"),
            at: unix_now(),
        },
        "chatstate" => {
            let Some(child) = node.children().first() else {
                return;
            };
            let state = if child.tag == "composing" && child.attr("media") == Some("audio") {
                "recording".to_string()
            } else {
                child.tag.clone()
            };
            PresenceEvent {
                kind: "chatstate",
                from,
                participant: node.attr_jid("participant").map(|j| j.user),
                state,
                last: None,
                at: unix_now(),
            }
        }
        _ => return,
    };
    let mut state = shared.presence.lock();
    let events = state.events.entry(phone.to_string()).or_default();
    if events.len() >= MAX_EVENTS {
        events.pop_front();
    }
    events.push_back(event);
}

/// Sets `phone`:`device`'s availability; when the account's presence changes, tells subscribers.
fn set_available(shared: &Shared, phone: &str, device: u16, available: bool) {
    let (changed, node, subscribers) = {
        let mut state = shared.presence.lock();
        let devices = state.available.entry(phone.to_string()).or_default();
        let before = !devices.is_empty();
        if available {
            devices.insert(device);
        } else {
            devices.remove(&device);
        }
        let after = !devices.is_empty();
        if before && !after {
            state.last_seen.insert(phone.to_string(), unix_now());
        }
        let subscribers: Vec<(String, u16)> = state
            .subscribers
            .get(phone)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        (before != after, presence_of(&state, phone), subscribers)
    };
    if changed {
        for (p, d) in subscribers {
            send_live(shared, &p, d, &node);
        }
    }
}

/// Subscribes `phone`:`device` to `target`'s presence; the current presence goes back at once.
fn subscribe(shared: &Shared, phone: &str, device: u16, target: &str) {
    let node = {
        let mut state = shared.presence.lock();
        state
            .subscribers
            .entry(target.to_string())
            .or_default()
            .insert((phone.to_string(), device));
        presence_of(&state, target)
    };
    send_live(shared, phone, device, &node);
}

/// Forwards a chat state from `phone` to the peer named by `to` (an account or a group).
fn chat_state(shared: &Shared, phone: &str, to: &Jid, child: &Node) {
    if child.tag != "composing" && child.tag != "paused" {
        return;
    }
    let mut state_child = Node::new(child.tag.as_str());
    if let Some(media) = child.attr("media") {
        state_child.set_attr("media", media);
    }
    let mut out = Node::new("chatstate").with_child(state_child);
    let (members, from) = if to.is_group() {
        let Some(group) = shared.groups.get(&to.user) else {
            return;
        };
        if !group.participants.contains_key(phone) {
            return;
        }
        out.set_attr("participant", Jid::phone(phone));
        (group.members(), to.to_non_ad())
    } else {
        let inner = shared.registry.lock();
        let Some(peer) = account_key(&inner.accounts, to) else {
            return;
        };
        (vec![peer], Jid::phone(phone))
    };
    out.set_attr("from", from);
    let targets: Vec<Jid> = {
        let inner = shared.registry.lock();
        members
            .iter()
            .filter(|m| *m != phone)
            .filter_map(|m| inner.accounts.get(m))
            .flat_map(super::routing::account_devices)
            .collect()
    };
    for target in targets {
        send_live(shared, &target.user, target.device, &out);
    }
}

/// Looks at every stanza a logged-in client sends; acts on presence and chat states. Other
/// handlers still see the stanza (the push name in a presence is kept by the iq answerer).
pub(super) fn observe(shared: &Shared, conn: ConnId, node: &Node) {
    if node.tag != "presence" && node.tag != "chatstate" {
        return;
    }
    let Some((phone, device)) = shared.registry.logged_in_as(conn) else {
        return;
    };
    on_stanza(shared, &phone, device, node);
}

fn on_stanza(shared: &Shared, phone: &str, device: u16, node: &Node) {
    match (node.tag.as_str(), node.attr("type")) {
        ("presence", Some("subscribe")) => {
            let target = {
                let inner = shared.registry.lock();
                node.attr_jid("to")
                    .and_then(|to| account_key(&inner.accounts, &to))
            };
            if let Some(target) = target {
                subscribe(shared, phone, device, &target);
            }
        }
        ("presence", Some("unavailable")) => set_available(shared, phone, device, false),
        ("presence", None | Some("available")) => set_available(shared, phone, device, true),
        ("chatstate", _) => {
            if let (Some(to), Some(child)) = (node.attr_jid("to"), node.children().first()) {
                chat_state(shared, phone, &to, child);
            }
        }
        _ => {}
    }
}

/// A connection ended: its device is no longer available and its subscriptions lapse.
pub(super) fn connection_ended(shared: &Shared, conn: ConnId) {
    let Some((phone, device)) = shared.registry.logged_in_as(conn) else {
        return;
    };
    {
        let mut state = shared.presence.lock();
        for subscribers in state.subscribers.values_mut() {
            subscribers.remove(&(phone.clone(), device));
        }
    }
    set_available(shared, &phone, device, false);
}

#[derive(Deserialize)]
struct PresenceBody {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct ChatStateBody {
    to: String,
    state: String,
}

#[derive(Deserialize)]
struct SubscribeBody {
    to: String,
}

/// `/sim/phones/{phone}/presence…` and `/chatstate` routes; `None` when the path is not ours.
pub(super) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let (phone, rest) = match segments {
        ["phones", phone, rest @ ..] => (*phone, rest),
        _ => return None,
    };
    let known = |p: &str| shared.registry.lock().accounts.contains_key(p);
    let answer = match (method, rest) {
        (&Method::GET, ["presence"]) => {
            if !known(phone) {
                return Some(no_phone());
            }
            let state = shared.presence.lock();
            let events: Vec<PresenceEvent> = state
                .events
                .get(phone)
                .map(|e| e.iter().cloned().collect())
                .unwrap_or_default();
            let current = presence_of(&state, phone);
            json_response(
                StatusCode::OK,
                &json!({
                    "available": current.attr("type") == Some("available"),
                    "lastSeen": current.attr_parse::<u64>("last"),
                    "received": events,
                }),
            )
        }
        (&Method::POST, ["presence"]) => {
            let parsed: PresenceBody = match parse(body) {
                Ok(v) => v,
                Err(answer) => return Some(*answer),
            };
            if !known(phone) {
                return Some(no_phone());
            }
            match parsed.kind.as_str() {
                "available" => set_available(shared, phone, 0, true),
                "unavailable" => set_available(shared, phone, 0, false),
                _ => return Some(invalid("type must be available or unavailable")),
            }
            json_response(StatusCode::OK, &json!({ "type": parsed.kind }))
        }
        (&Method::POST, ["presence", "subscribe"]) => {
            let parsed: SubscribeBody = match parse(body) {
                Ok(v) => v,
                Err(answer) => return Some(*answer),
            };
            let target = resolve(shared, &parsed.to);
            match (known(phone), target) {
                (false, _) => no_phone(),
                (_, None) => error_response(
                    StatusCode::NOT_FOUND,
                    "RECIPIENT_NOT_FOUND",
                    "no such account",
                ),
                (true, Some(target)) => {
                    subscribe(shared, phone, 0, &target);
                    json_response(StatusCode::OK, &json!({ "subscribed": target }))
                }
            }
        }
        (&Method::POST, ["chatstate"]) => {
            let parsed: ChatStateBody = match parse(body) {
                Ok(v) => v,
                Err(answer) => return Some(*answer),
            };
            if !known(phone) {
                return Some(no_phone());
            }
            let child = match parsed.state.as_str() {
                "composing" => Node::new("composing"),
                "recording" => Node::new("composing").with_attr("media", "audio"),
                "paused" => Node::new("paused"),
                _ => return Some(invalid("state must be composing, recording or paused")),
            };
            let to = if parsed.to.contains('@') {
                Jid::parse(&parsed.to).ok()
            } else {
                Some(Jid::phone(parsed.to.clone()))
            };
            let Some(to) = to else {
                return Some(invalid("to must be a phone number or a JID"));
            };
            chat_state(shared, phone, &to, &child);
            json_response(StatusCode::OK, &json!({ "state": parsed.state }))
        }
        _ => return None,
    };
    Some(answer)
}

fn resolve(shared: &Shared, to: &str) -> Option<String> {
    let jid = if to.contains('@') {
        Jid::parse(to).ok()?
    } else {
        Jid::phone(to)
    };
    account_key(&shared.registry.lock().accounts, &jid)
}

/// The body as `T`, or the 400 answer (boxed: a response is large).
fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Box<Response<Full<Bytes>>>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error_response(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &e.to_string(),
        ))
    })
}

fn invalid(message: &str) -> Response<Full<Bytes>> {
    error_response(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
}

fn no_phone() -> Response<Full<Bytes>> {
    error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone")
}
