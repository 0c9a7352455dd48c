//! Group messages (§10.1 "Sending"): a `<message to=GROUP@g.us>` carrying SKDMs for devices that
//! lack the sender key (`<participants>`, pairwise pkmsg/msg) and one `<enc type="skmsg">` is fanned
//! out to every device of every current participant but the sender's. The simulated phones decrypt
//! (SKDM first, then the skmsg) into a per-group inbox and can send to groups too; when someone
//! leaves or is removed they drop their own sender key, so their next message starts a new one the
//! departed member never saw.

use super::super::registry::unix_now;
use super::super::routing::{account_devices, deliver, device_jid};
use super::super::Shared;
use super::state::Group;
use super::state::GroupInboxMessage;
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
    sender_key_distribution, MessageKind, OsRandom, ProtocolAddress, SenderKeyName, SenderKeyStore,
};
use hyper::StatusCode;
use std::collections::HashMap;

/// Most inbox entries kept per phone and group.
const MAX_INBOX: usize = 1000;

/// The phones still in group `group` (user part) forget their own sender key there, so the next
/// message they send starts a fresh one that members who left never received.
pub(crate) fn rotate_phone_sender_keys(shared: &Shared, group: &str, remaining: &[String]) {
    let group_jid = Jid::new(group, Server::Group).to_string();
    for phone in remaining {
        let name = SenderKeyName::new(
            group_jid.clone(),
            ProtocolAddress::from_jid(&device_jid(phone, 0)),
        );
        let outcome = super::super::phone_messages::with_phone_store(shared, phone, |store| {
            store.delete_sender_key(&name)
        });
        if let Some(Err(e)) = outcome {
            log::warn!("simulator: phone {phone} could not drop its sender key: {e}");
        }
    }
}

/// Every device of every participant: the device list the sender must cover.
pub(crate) fn participant_devices(shared: &Shared, g: &Group) -> Vec<Jid> {
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
pub(crate) fn route_group_message(shared: &Shared, phone: &str, device: u16, node: &Node) -> Node {
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
    let text = super::super::phone_messages::with_phone_store(shared, phone, |store| {
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

pub(crate) type ControlError = (StatusCode, &'static str, String);

/// `phone` sends `text` to group `group` (user part).
pub(crate) fn phone_send(
    shared: &Shared,
    phone: &str,
    group: &str,
    text: &str,
) -> Result<String, ControlError> {
    phone_send_content(shared, phone, group, &text_message(text))
}

/// `phone` sends `message` (text or media) to group `group` (user part): SKDM pairwise to every
/// other participant device (phones always redistribute; receivers ignore a key they already
/// hold), then one skmsg. The stanza `type` and the `<enc mediatype>` follow the content.
pub(crate) fn phone_send_content(
    shared: &Shared,
    phone: &str,
    group: &str,
    message: &Message,
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
    let missing = super::super::phone_messages::with_phone_store(shared, phone, |s| {
        devices_without_session(s, &targets).map_err(|e| e.to_string())
    })
    .ok_or_else(|| crypto("phone state unavailable".into()))?
    .map_err(crypto)?;
    if !missing.is_empty() {
        let fetch = key_fetch_node(&missing, None);
        if let Some(key) = fetch.child("key") {
            let answer = Node::new("iq").with_child(shared.registry.fetch_bundles(key));
            super::super::phone_messages::with_phone_store(shared, phone, |s| {
                apply_bundles(s, &answer).map_err(|e| e.to_string())
            })
            .ok_or_else(|| crypto("phone state unavailable".into()))?
            .map_err(crypto)?;
        }
    }
    let name = SenderKeyName::new(group_jid.to_string(), ProtocolAddress::from_jid(&me));
    let padded = pad_random(&message.encode_to_vec()).map_err(|_| crypto("randomness".into()))?;
    let content = message.kind();
    let (pairwise, skmsg) = super::super::phone_messages::with_phone_store(shared, phone, |s| {
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
        .with_opt_attr("mediatype", content.enc_mediatype())
        .with_bytes(skmsg);
    let stanza = Stanza {
        group: &group_jid,
        id: &id,
        kind: content.stanza_type(),
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
