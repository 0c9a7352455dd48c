//! Channels (newsletters, §10.2) on the simulator: created through `POST /sim/channels`, listed to a
//! companion by the `w:mex` subscribed-newsletters query (JSON result), and posted to in plaintext
//! (`<message to=ID@newsletter><plaintext>`) by the owner or an admin only; the ack carries the
//! post's `server_id`. Posts are kept per channel for the control API and pushed to every
//! companion of every member (followers, admins, the owner) but the posting device, as
//! `<message from=ID@newsletter type=text id server_id t><plaintext>…</plaintext></message>`;
//! companions that are offline find them in their offline queue.

use super::control::{error_response, json_response};
use super::iq::error_reply;
use super::registry::unix_now;
use super::Shared;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::{Message, ProtoMessage};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The subscribed-newsletters query (§10.2).
const SUBSCRIBED_QUERY: &str = "6388546374527196";
/// Most posts kept per channel.
const MAX_POSTS: usize = 1000;

/// A post in a channel.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelPost {
    pub server_id: u64,
    pub id: String,
    pub from: String,
    pub text: Option<String>,
    pub timestamp: u64,
}

struct Channel {
    name: String,
    description: String,
    creation: u64,
    /// Phone → role (`OWNER`, `ADMIN`, `SUBSCRIBER`).
    members: BTreeMap<String, &'static str>,
    posts: Vec<ChannelPost>,
    next_server_id: u64,
}

#[derive(Default)]
struct ChannelState {
    channels: BTreeMap<String, Channel>,
    next: u64,
}

/// Every simulated channel.
#[derive(Default)]
pub(crate) struct ChannelBook {
    inner: Mutex<ChannelState>,
}

impl ChannelBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Deserialize)]
struct NewChannel {
    owner: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    admins: Vec<String>,
    #[serde(default)]
    subscribers: Vec<String>,
}

/// `/sim/channels…` routes; `None` when the path is not ours.
pub(super) fn control_route(
    shared: &Shared,
    book: &ChannelBook,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let response = match (method, segments) {
        (&Method::POST, ["channels"]) => create(shared, book, body),
        (&Method::GET, ["channels", id]) => {
            let state = book.lock();
            match state
                .channels
                .get(id.strip_suffix("@newsletter").unwrap_or(id))
            {
                Some(c) => json_response(
                    StatusCode::OK,
                    &json!({ "name": c.name, "members": c.members, "posts": c.posts }),
                ),
                None => error_response(
                    StatusCode::NOT_FOUND,
                    "CHANNEL_NOT_FOUND",
                    "no such channel",
                ),
            }
        }
        _ => return None,
    };
    Some(response)
}

fn create(shared: &Shared, book: &ChannelBook, body: &[u8]) -> Response<Full<Bytes>> {
    let new: NewChannel = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "INVALID_JSON", &e.to_string()),
    };
    {
        let inner = shared.registry.lock();
        let everyone = std::iter::once(&new.owner)
            .chain(&new.admins)
            .chain(&new.subscribers);
        if let Some(p) = everyone
            .into_iter()
            .find(|p| !inner.accounts.contains_key(p.as_str()))
        {
            return error_response(
                StatusCode::NOT_FOUND,
                "PHONE_NOT_FOUND",
                &format!("no phone {p}"),
            );
        }
    }
    let mut members: BTreeMap<String, &'static str> = new
        .subscribers
        .iter()
        .map(|p| (p.clone(), "SUBSCRIBER"))
        .collect();
    members.extend(new.admins.iter().map(|p| (p.clone(), "ADMIN")));
    members.insert(new.owner.clone(), "OWNER");
    let mut state = book.lock();
    state.next += 1;
    let id = format!(
        "120363{:012}",
        unix_now() % 1_000_000 * 1_000_000 + state.next
    );
    state.channels.insert(
        id.clone(),
        Channel {
            name: new.name,
            description: new.description,
            creation: unix_now(),
            members,
            posts: Vec::new(),
            next_server_id: 100,
        },
    );
    json_response(
        StatusCode::CREATED,
        &json!({ "id": format!("{id}@newsletter") }),
    )
}

/// True for `w:mex` iqs and messages to `@newsletter`.
pub(super) fn is_channel_stanza(node: &Node) -> bool {
    (node.tag == "iq" && node.attr("xmlns") == Some("w:mex"))
        || (node.tag == "message" && node.attr_jid("to").is_some_and(|j| j.is_newsletter()))
}

/// Answers `w:mex` iqs and posts to `@newsletter`; `None` when the stanza is neither.
pub(super) fn on_stanza(
    shared: &Shared,
    book: &ChannelBook,
    phone: &str,
    device: u16,
    node: &Node,
) -> Option<Node> {
    if node.tag == "message" && node.attr_jid("to").is_some_and(|j| j.is_newsletter()) {
        let (ack, push) = post(book, phone, node);
        if let Some(push) = push {
            push_post(shared, phone, device, push);
        }
        return Some(ack);
    }
    if node.tag != "iq" || node.attr("xmlns") != Some("w:mex") {
        return None;
    }
    let id = node.attr("id")?;
    let query = node.child("query");
    if query.and_then(|q| q.attr("query_id")) != Some(SUBSCRIBED_QUERY) {
        return Some(error_reply(id, 501, "feature-not-implemented"));
    }
    let state = book.lock();
    let list: Vec<serde_json::Value> = state
        .channels
        .iter()
        .filter_map(|(cid, c)| {
            let role = c.members.get(phone)?;
            Some(json!({
                "id": format!("{cid}@newsletter"),
                "state": { "type": "ACTIVE" },
                "thread_metadata": {
                    "creation_time": c.creation.to_string(),
                    "name": { "text": c.name, "id": format!("n{}", c.creation), "update_time": c.creation.to_string() },
                    "description": { "text": c.description, "id": format!("d{}", c.creation), "update_time": c.creation.to_string() },
                    "subscribers_count": c.members.len().to_string(),
                    "verification": "UNVERIFIED",
                },
                "viewer_metadata": { "mute": "OFF", "role": role },
            }))
        })
        .collect();
    let result = json!({ "data": { "xwa2_newsletter_subscribed": list } });
    Some(
        Node::new("iq")
            .with_attr("from", Jid::server_jid())
            .with_attr("type", "result")
            .with_attr("id", id)
            .with_child(Node::new("result").with_bytes(result.to_string().into_bytes())),
    )
}

/// A post to push to the channel's members: who they are and the stanza they get.
struct Push {
    members: Vec<String>,
    stanza: Node,
}

/// Stores a post from `phone`; returns the ack and, when accepted, what to push.
fn post(book: &ChannelBook, phone: &str, node: &Node) -> (Node, Option<Push>) {
    let id = node.attr_text("id").unwrap_or_default().into_owned();
    let mut ack = Node::new("ack")
        .with_attr("class", "message")
        .with_attr("id", id.as_str())
        .with_attr("t", unix_now());
    let Some(to) = node.attr_jid("to") else {
        return (ack.with_attr("error", 400), None);
    };
    ack.set_attr("from", to.clone());
    let plaintext = node.child("plaintext");
    let text = plaintext
        .and_then(Node::content_bytes)
        .and_then(|b| Message::decode(b).ok())
        .map(|m| m.text().map(str::to_string));
    let (Some(text), Some(plaintext)) = (text, plaintext) else {
        return (ack.with_attr("error", 400), None);
    };
    let mut state = book.lock();
    let Some(channel) = state.channels.get_mut(&to.user) else {
        return (ack.with_attr("error", 404), None);
    };
    if !matches!(channel.members.get(phone), Some(&"OWNER") | Some(&"ADMIN")) {
        return (ack.with_attr("error", 403), None);
    }
    channel.next_server_id += 1;
    let server_id = channel.next_server_id;
    let timestamp = unix_now();
    channel.posts.push(ChannelPost {
        server_id,
        id: id.clone(),
        from: phone.to_string(),
        text,
        timestamp,
    });
    if channel.posts.len() > MAX_POSTS {
        channel.posts.remove(0);
    }
    let kind = node
        .attr_text("type")
        .map_or_else(|| "text".to_string(), |t| t.into_owned());
    let stanza = Node::new("message")
        .with_attr("from", to.to_non_ad())
        .with_attr("type", kind)
        .with_attr("id", id.as_str())
        .with_attr("server_id", server_id)
        .with_attr("t", timestamp)
        .with_child(plaintext.clone());
    let push = Push {
        members: channel.members.keys().cloned().collect(),
        stanza,
    };
    (ack.with_attr("server_id", server_id), Some(push))
}

/// Delivers a post to every companion of every member but the posting device (queued for those
/// offline).
fn push_post(shared: &Shared, phone: &str, device: u16, push: Push) {
    let targets: Vec<Jid> = {
        let inner = shared.registry.lock();
        push.members
            .iter()
            .filter_map(|p| inner.accounts.get(p))
            .flat_map(super::routing::account_devices)
            .filter(|d| d.device != 0 && !(d.user == phone && d.device == device))
            .collect()
    };
    for target in targets {
        super::routing::deliver(shared, &target.user, target.device, push.stanza.clone());
    }
}
