//! Groups on the simulator (§10.1): groups created through `POST /sim/groups`, the `w:g2` iqs a
//! companion uses (participating list, metadata), and group messages: a `<message to=GROUP@g.us>`
//! carrying SKDMs for devices that lack the sender key (`<participants>`, pairwise pkmsg/msg) and one
//! `<enc type="skmsg">` is fanned out to every participant device but the sender's. The simulated
//! phones decrypt (SKDM first, then the skmsg) into a per-group inbox and can send to groups too.

use super::control::{error_response, json_response};
use super::iq::error_reply;
use super::registry::{unix_now, ConnId};
use super::routing::{account_devices, deliver, device_jid};
use super::Shared;
use crate::engine::message_id::{new_message_id, participant_hash};
use crate::engine::send::text_message;
use crate::engine::send::{apply_bundles, devices_without_session, enc_node, encrypt_for_devices};
use crate::protocol::binary::Node;
use crate::protocol::jid::{Jid, Server};
use crate::protocol::proto::generated::message::SenderKeyDistributionMessage as SkdmProto;
use crate::protocol::proto::pad_random;
use crate::protocol::proto::{decode_padded_message, Message, ProtoMessage};
use crate::protocol::signal::{
    decrypt, group_decrypt, group_encrypt, key_fetch_node, process_sender_key_distribution,
    sender_key_distribution, MessageKind, OsRandom, ProtocolAddress, SenderKeyName,
};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Most inbox entries kept per phone and group.
const MAX_INBOX: usize = 1000;
/// Prefix of simulated group ids (real ones look alike: `120363…@g.us`).
const GROUP_ID_PREFIX: &str = "120363";

/// One simulated group.
#[derive(Debug, Clone)]
struct Group {
    subject: String,
    creator: String,
    creation: u64,
    description: Option<String>,
    /// Account phone → admin.
    participants: BTreeMap<String, bool>,
    announce: bool,
    locked: bool,
}

/// A group message a simulated phone received and decrypted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInboxMessage {
    pub id: String,
    /// The sending device.
    pub participant: String,
    pub text: Option<String>,
    pub timestamp: u64,
}

#[derive(Default)]
struct GroupState {
    groups: BTreeMap<String, Group>,
    next: u64,
    /// (phone, group user part) → what that phone received there.
    inboxes: HashMap<(String, String), Vec<GroupInboxMessage>>,
    decrypt_failures: u64,
}

/// Every simulated group.
#[derive(Default)]
pub(crate) struct GroupBook {
    inner: Mutex<GroupState>,
    /// Channels (newsletters) live beside the groups.
    channels: super::channels::ChannelBook,
}

impl GroupBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &str) -> Option<Group> {
        self.lock().groups.get(id).cloned()
    }
}

#[derive(Deserialize)]
struct NewGroup {
    creator: String,
    subject: String,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default)]
    announce: bool,
    #[serde(default)]
    locked: bool,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct GroupSend {
    from: String,
    text: String,
}

/// The user part of a group id as given in a path or JSON (`123@g.us` or `123`).
fn group_user(id: &str) -> &str {
    id.strip_suffix("@g.us").unwrap_or(id)
}

/// `/sim/groups…` routes; `None` when the path is not ours.
pub(super) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let channels = &shared.groups.channels;
    if let Some(response) = super::channels::control_route(shared, channels, method, segments, body)
    {
        return Some(response);
    }
    let response = match (method, segments) {
        (&Method::POST, ["groups"]) => create(shared, body),
        (&Method::GET, ["groups", id]) => match shared.groups.get(group_user(id)) {
            Some(g) => json_response(StatusCode::OK, &group_json(group_user(id), &g)),
            None => not_found(),
        },
        (&Method::POST, ["groups", id, "send"]) => {
            let send: GroupSend = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "INVALID_JSON",
                        &e.to_string(),
                    ))
                }
            };
            match phone_send(shared, &send.from, group_user(id), &send.text) {
                Ok(id) => json_response(StatusCode::OK, &json!({ "id": id })),
                Err((status, code, message)) => error_response(status, code, &message),
            }
        }
        (&Method::GET, ["groups", id, "inbox", phone]) => {
            let state = shared.groups.lock();
            if !state.groups.contains_key(group_user(id)) {
                return Some(not_found());
            }
            let inbox = state
                .inboxes
                .get(&(phone.to_string(), group_user(id).to_string()))
                .cloned()
                .unwrap_or_default();
            json_response(
                StatusCode::OK,
                &json!({ "messages": inbox, "decryptFailures": state.decrypt_failures }),
            )
        }
        _ => return None,
    };
    Some(response)
}

fn not_found() -> Response<Full<Bytes>> {
    error_response(StatusCode::NOT_FOUND, "GROUP_NOT_FOUND", "no such group")
}

fn create(shared: &Shared, body: &[u8]) -> Response<Full<Bytes>> {
    let new: NewGroup = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "INVALID_JSON", &e.to_string()),
    };
    if new.subject.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "subject is required",
        );
    }
    {
        let inner = shared.registry.lock();
        let unknown = std::iter::once(&new.creator)
            .chain(new.participants.iter())
            .find(|p| !inner.accounts.contains_key(p.as_str()));
        if let Some(p) = unknown {
            return error_response(
                StatusCode::NOT_FOUND,
                "PHONE_NOT_FOUND",
                &format!("no phone {p}"),
            );
        }
    }
    let mut participants: BTreeMap<String, bool> = new
        .participants
        .iter()
        .map(|p| (p.clone(), false))
        .collect();
    participants.insert(new.creator.clone(), true);
    let mut state = shared.groups.lock();
    state.next += 1;
    let id = format!(
        "{GROUP_ID_PREFIX}{:013}",
        unix_now() % 10_000_000 * 1_000_000 + state.next
    );
    state.groups.insert(
        id.clone(),
        Group {
            subject: new.subject,
            creator: new.creator,
            creation: unix_now(),
            description: new.description,
            participants,
            announce: new.announce,
            locked: new.locked,
        },
    );
    json_response(StatusCode::CREATED, &json!({ "id": format!("{id}@g.us") }))
}

fn group_json(id: &str, g: &Group) -> serde_json::Value {
    json!({
        "id": format!("{id}@g.us"),
        "subject": g.subject,
        "creator": g.creator,
        "creation": g.creation,
        "announce": g.announce,
        "locked": g.locked,
        "participants": g.participants.iter()
            .map(|(p, admin)| json!({ "phone": p, "admin": admin }))
            .collect::<Vec<_>>(),
    })
}

/// The `<group>` node of §10.1.
fn group_node(id: &str, g: &Group) -> Node {
    let creator = Jid::phone(g.creator.clone());
    let mut node = Node::new("group")
        .with_attr("id", id)
        .with_attr("subject", g.subject.as_str())
        .with_attr("s_t", g.creation)
        .with_attr("s_o", creator.clone())
        .with_attr("creation", g.creation)
        .with_attr("creator", creator)
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
    if let Some(text) = &g.description {
        node.push_child(
            Node::new("description")
                .with_attr("id", format!("d{}", g.creation))
                .with_attr("t", g.creation)
                .with_attr("participant", Jid::phone(g.creator.clone()))
                .with_child(Node::new("body").with_text(text.clone())),
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

/// The answer to a stanza about groups from a logged-in client: `w:g2` iqs and messages to
/// `@g.us`. `None` when the stanza is not about groups.
pub(super) fn on_stanza(shared: &Shared, conn: ConnId, node: &Node) -> Option<Node> {
    if super::channels::is_channel_stanza(node) {
        let (phone, _) = shared.registry.logged_in_as(conn)?;
        return super::channels::on_stanza(&shared.groups.channels, &phone, node);
    }
    let is_group_iq = node.tag == "iq" && node.attr("xmlns") == Some("w:g2");
    let is_group_message =
        node.tag == "message" && node.attr_jid("to").is_some_and(|j| j.is_group());
    if !is_group_iq && !is_group_message {
        return None;
    }
    let (phone, device) = shared.registry.logged_in_as(conn)?;
    if is_group_message {
        return Some(route_group_message(shared, &phone, device, node));
    }
    let id = node.attr("id")?;
    if node.attr("type") != Some("get") {
        return Some(error_reply(id, 501, "feature-not-implemented"));
    }
    let reply = |child: Node| {
        Node::new("iq")
            .with_attr("from", Jid::group_server())
            .with_attr("type", "result")
            .with_attr("id", id)
            .with_child(child)
    };
    if node.child("participating").is_some() {
        let state = shared.groups.lock();
        let groups = state
            .groups
            .iter()
            .filter(|(_, g)| g.participants.contains_key(&phone))
            .map(|(id, g)| group_node(id, g));
        return Some(reply(Node::new("groups").with_children(groups)));
    }
    if node.child("query").is_some() {
        let Some(to) = node.attr_jid("to").filter(Jid::is_group) else {
            return Some(error_reply(id, 400, "bad-request"));
        };
        return Some(match shared.groups.get(&to.user) {
            None => error_reply(id, 404, "item-not-found"),
            Some(g) if !g.participants.contains_key(&phone) => error_reply(id, 403, "forbidden"),
            Some(g) => reply(group_node(&to.user, &g)),
        });
    }
    Some(error_reply(id, 501, "feature-not-implemented"))
}

/// Every device of every participant: the device list the sender must cover.
fn participant_devices(shared: &Shared, g: &Group) -> Vec<Jid> {
    let inner = shared.registry.lock();
    g.participants
        .keys()
        .filter_map(|p| inner.accounts.get(p))
        .flat_map(account_devices)
        .collect()
}

fn message_ack(id: &str, to: &Jid) -> Node {
    Node::new("ack")
        .with_attr("class", "message")
        .with_attr("id", id)
        .with_attr("from", to.clone())
        .with_attr("t", unix_now())
}

/// Fans a group message from `phone`:`device` out to every other participant device.
fn route_group_message(shared: &Shared, phone: &str, device: u16, node: &Node) -> Node {
    let id = node.attr_text("id").unwrap_or_default().into_owned();
    let Some(to) = node.attr_jid("to") else {
        return Node::new("ack")
            .with_attr("class", "message")
            .with_attr("id", id)
            .with_attr("error", 400);
    };
    let Some(group) = shared.groups.get(&to.user) else {
        return message_ack(&id, &to).with_attr("error", 404);
    };
    match group.participants.get(phone) {
        None => return message_ack(&id, &to).with_attr("error", 403),
        Some(false) if group.announce => return message_ack(&id, &to).with_attr("error", 403),
        _ => {}
    }
    let Some(skmsg) = node
        .children_by_tag("enc")
        .find(|e| e.attr("type") == Some("skmsg"))
    else {
        return message_ack(&id, &to).with_attr("error", 400);
    };
    let mut pairwise: HashMap<String, Node> = HashMap::new();
    if let Some(participants) = node.child("participants") {
        for to_node in participants.children_by_tag("to") {
            if let (Some(jid), Some(enc)) = (to_node.attr_jid("jid"), to_node.child("enc")) {
                pairwise.insert(jid.to_string(), enc.clone());
            }
        }
    }
    let devices = participant_devices(shared, &group);
    let kind = node
        .attr_text("type")
        .map_or_else(|| "text".to_string(), |t| t.into_owned());
    let stanza = Stanza {
        group: &to,
        id: &id,
        kind: &kind,
        sender: device_jid(phone, device),
        notify: shared
            .registry
            .phone(phone)
            .map(|v| v.name)
            .unwrap_or_default(),
        identity: node.child("device-identity"),
    };
    for target in devices
        .iter()
        .filter(|j| !(j.user == phone && j.device == device))
    {
        let mut encs: Vec<Node> = pairwise.remove(&target.to_string()).into_iter().collect();
        encs.push(skmsg.clone());
        fan_out(shared, &stanza, target, encs);
    }
    let mut ack = message_ack(&id, &to);
    if node.has_attr("phash") {
        ack.set_attr("phash", participant_hash(&devices));
    }
    ack
}

/// What every copy of one group message shares.
struct Stanza<'a> {
    group: &'a Jid,
    id: &'a str,
    kind: &'a str,
    sender: Jid,
    notify: String,
    identity: Option<&'a Node>,
}

fn fan_out(shared: &Shared, stanza: &Stanza<'_>, target: &Jid, encs: Vec<Node>) {
    let has_pkmsg = encs.iter().any(|e| e.attr("type") == Some("pkmsg"));
    let mut out = Node::new("message")
        .with_attr("from", stanza.group.clone())
        .with_attr("participant", stanza.sender.clone())
        .with_attr("id", stanza.id)
        .with_attr("t", unix_now())
        .with_attr("type", stanza.kind)
        .with_attr("notify", stanza.notify.as_str())
        .with_children(encs);
    if has_pkmsg {
        if let Some(identity) = stanza.identity {
            out.push_child(identity.clone());
        }
    }
    if target.device == 0 {
        phone_receive(shared, &target.user, &out);
    } else {
        deliver(shared, &target.user, target.device, out);
    }
}

/// A simulated phone reads a group message: SKDM from the pairwise enc first, then the skmsg.
fn phone_receive(shared: &Shared, phone: &str, node: &Node) {
    let (Some(group), Some(sender)) = (node.attr_jid("from"), node.attr_jid("participant")) else {
        return;
    };
    let id = node.attr_text("id").unwrap_or_default().into_owned();
    let address = ProtocolAddress::from_jid(&sender);
    let name = SenderKeyName::new(group.to_string(), address.clone());
    let text = super::phone_messages::with_phone_store(shared, phone, |store| {
        let mut text = None;
        for enc in node.children_by_tag("enc") {
            let bytes = enc.content_bytes().unwrap_or_default();
            let kind = enc.attr_text("type").unwrap_or_default().into_owned();
            if kind == "skmsg" {
                let plain = group_decrypt(store, &name, bytes).map_err(|e| e.to_string())?;
                let message = decode_padded_message(&plain).map_err(|e| e.to_string())?;
                text = Some(message.text().map(str::to_string));
            } else if let Some(kind) = MessageKind::from_enc_type(&kind) {
                let plain = decrypt(store, &address, kind, bytes, &mut OsRandom)
                    .map_err(|e| e.to_string())?;
                let message = decode_padded_message(&plain).map_err(|e| e.to_string())?;
                if let Some(skdm) = message
                    .sender_key_distribution_message
                    .and_then(|s| s.axolotl_sender_key_distribution_message)
                {
                    process_sender_key_distribution(store, &name, &skdm)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        text.ok_or_else(|| "no skmsg".to_string())
    });
    let mut state = shared.groups.lock();
    match text {
        Some(Ok(text)) => {
            if sender.user == phone {
                return;
            }
            let inbox = state
                .inboxes
                .entry((phone.to_string(), group.user.clone()))
                .or_default();
            if inbox
                .iter()
                .any(|m| m.id == id && m.participant == sender.to_string())
            {
                return;
            }
            inbox.push(GroupInboxMessage {
                id,
                participant: sender.to_string(),
                text,
                timestamp: node.attr_parse("t").unwrap_or_default(),
            });
            if inbox.len() > MAX_INBOX {
                inbox.remove(0);
            }
        }
        Some(Err(e)) => {
            log::info!("simulator: phone {phone} cannot decrypt group message {id}: {e}");
            state.decrypt_failures += 1;
        }
        None => {}
    }
}

type ControlError = (StatusCode, &'static str, String);

/// `phone` sends `text` to group `group` (user part): SKDM pairwise to every other participant
/// device (phones always redistribute; receivers ignore a key they already hold), then one skmsg.
fn phone_send(
    shared: &Shared,
    phone: &str,
    group: &str,
    text: &str,
) -> Result<String, ControlError> {
    let g = shared.groups.get(group).ok_or((
        StatusCode::NOT_FOUND,
        "GROUP_NOT_FOUND",
        "no such group".to_string(),
    ))?;
    match g.participants.get(phone) {
        None => {
            return Err((
                StatusCode::FORBIDDEN,
                "NOT_A_PARTICIPANT",
                format!("{phone} is not in the group"),
            ))
        }
        Some(false) if g.announce => {
            return Err((
                StatusCode::FORBIDDEN,
                "READ_ONLY_CHAT",
                "only admins may send".to_string(),
            ))
        }
        _ => {}
    }
    let group_jid = Jid::new(group, Server::Group);
    let me = device_jid(phone, 0);
    let targets: Vec<Jid> = participant_devices(shared, &g)
        .into_iter()
        .filter(|j| *j != me)
        .collect();
    let crypto = |e: String| (StatusCode::INTERNAL_SERVER_ERROR, "CRYPTO_ERROR", e);
    let missing = super::phone_messages::with_phone_store(shared, phone, |s| {
        devices_without_session(s, &targets).map_err(|e| e.to_string())
    })
    .ok_or_else(|| crypto("phone state unavailable".into()))?
    .map_err(crypto)?;
    if !missing.is_empty() {
        let fetch = key_fetch_node(&missing, None);
        if let Some(key) = fetch.child("key") {
            let answer = Node::new("iq").with_child(shared.registry.fetch_bundles(key));
            super::phone_messages::with_phone_store(shared, phone, |s| {
                apply_bundles(s, &answer).map_err(|e| e.to_string())
            })
            .ok_or_else(|| crypto("phone state unavailable".into()))?
            .map_err(crypto)?;
        }
    }
    let name = SenderKeyName::new(group_jid.to_string(), ProtocolAddress::from_jid(&me));
    let padded =
        pad_random(&text_message(text).encode_to_vec()).map_err(|_| crypto("randomness".into()))?;
    let (pairwise, skmsg) = super::phone_messages::with_phone_store(shared, phone, |s| {
        let skdm = sender_key_distribution(s, &name, &mut OsRandom).map_err(|e| e.to_string())?;
        let carrier = Message {
            sender_key_distribution_message: Some(SkdmProto {
                group_id: Some(group_jid.to_string()),
                axolotl_sender_key_distribution_message: Some(skdm.serialized().to_vec()),
            }),
            ..Default::default()
        };
        let pairwise = encrypt_for_devices(s, &carrier, &carrier, &targets, phone)
            .map_err(|e| e.to_string())?;
        let skmsg = group_encrypt(s, &name, &padded, &mut OsRandom).map_err(|e| e.to_string())?;
        Ok::<_, String>((pairwise, skmsg))
    })
    .ok_or_else(|| crypto("phone state unavailable".into()))?
    .map_err(crypto)?;
    let id = new_message_id(phone, unix_now());
    let skmsg_node = Node::new("enc")
        .with_attr("v", "2")
        .with_attr("type", "skmsg")
        .with_bytes(skmsg);
    let stanza = Stanza {
        group: &group_jid,
        id: &id,
        kind: "text",
        sender: me.clone(),
        notify: shared
            .registry
            .phone(phone)
            .map(|v| v.name)
            .unwrap_or_default(),
        identity: None,
    };
    for c in pairwise {
        fan_out(
            shared,
            &stanza,
            &c.device,
            vec![enc_node(&c.message), skmsg_node.clone()],
        );
    }
    Ok(id)
}
