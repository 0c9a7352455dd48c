//! Groups (§10.1, §7.6): the participating list and one group's metadata over `w:g2` iqs, sending
//! a text with our sender key (SKDM pairwise to the participant devices that lack it, then one
//! `skmsg` for everyone), and reading a group message from a participant (SKDM first, then the
//! skmsg) — decrypted and recorded in one transaction, then acknowledged, like 1:1 messages.

use super::message_id::{new_message_id, participant_hash};
use super::messaging::{unix_now, EngineEvent, Messenger, ReceivedMessage, SentMessage};
use super::send::{
    apply_bundles, devices_without_session, enc_node, encrypt_for_devices, text_message,
    DeviceCiphertext, SendError,
};
use super::usync::{device_query, parse_devices};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::message::SenderKeyDistributionMessage as SkdmProto;
use crate::protocol::proto::{decode_padded_message, pad_random, Message, ProtoMessage};
use crate::protocol::signal::{
    decrypt, group_decrypt, group_encrypt, key_fetch_node, process_sender_key_distribution,
    sender_key_distribution, MessageKind, OsRandom, ProtocolAddress, SenderKeyName, SignalError,
    StoreError,
};
use crate::store::seen_messages::{self, SeenKey};
use crate::store::signal::SignalTxn;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// One participant of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupParticipant {
    pub jid: Jid,
    pub admin: bool,
    pub super_admin: bool,
}

/// A group as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// `ID@g.us`.
    pub id: Jid,
    pub subject: String,
    pub creator: Option<Jid>,
    /// Unix seconds.
    pub creation: u64,
    pub description: Option<String>,
    pub participants: Vec<GroupParticipant>,
    /// Only admins may send (`<announcement/>`).
    pub announce: bool,
    /// Only admins may edit the group info (`<locked/>`).
    pub locked: bool,
}

impl GroupInfo {
    /// True when `user` (a phone number) is an admin of the group.
    pub fn is_admin(&self, user: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.jid.user == user && (p.admin || p.super_admin))
    }
}

/// Why a group operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// No such group (server 404).
    NotFound,
    /// We are not a participant (server 403).
    NotParticipant,
    /// Announcement group and we are not an admin: only admins may send.
    ReadOnly,
    /// The request or the send failed.
    Send(SendError),
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::NotFound => f.write_str("group not found"),
            GroupError::NotParticipant => f.write_str("not a participant of the group"),
            GroupError::ReadOnly => f.write_str("only group admins can send messages"),
            GroupError::Send(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GroupError {}

impl From<SendError> for GroupError {
    fn from(e: SendError) -> Self {
        GroupError::Send(e)
    }
}

/// Reads a `<group>` node (§10.1).
pub fn parse_group(node: &Node) -> Option<GroupInfo> {
    let id = node.attr_text("id")?;
    let id = Jid::parse(&id)
        .ok()
        .filter(Jid::is_group)
        .unwrap_or_else(|| Jid::group(id.into_owned()));
    Some(GroupInfo {
        id,
        subject: node
            .attr_text("subject")
            .map(|s| s.into_owned())
            .unwrap_or_default(),
        creator: node.attr_jid("creator"),
        creation: node.attr_parse("creation").unwrap_or_default(),
        description: node
            .child_path(&["description", "body"])
            .and_then(Node::content_text)
            .map(|t| t.into_owned()),
        participants: node
            .children_by_tag("participant")
            .filter_map(|p| {
                let kind = p.attr_text("type");
                Some(GroupParticipant {
                    jid: p.attr_jid("jid")?,
                    admin: kind.as_deref() == Some("admin"),
                    super_admin: kind.as_deref() == Some("superadmin"),
                })
            })
            .collect(),
        announce: node.child("announcement").is_some(),
        locked: node.child("locked").is_some(),
    })
}

fn g2_get(to: Jid, child: Node) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "w:g2")
        .with_attr("type", "get")
        .with_attr("to", to)
        .with_child(child)
}

fn iq_error(answer: &Node) -> Option<GroupError> {
    if answer.attr("type") != Some("error") {
        return None;
    }
    let code: u16 = answer
        .child("error")
        .and_then(|e| e.attr_parse("code"))
        .unwrap_or(500);
    Some(match code {
        404 => GroupError::NotFound,
        403 => GroupError::NotParticipant,
        code => GroupError::Send(SendError::Refused(code)),
    })
}

static NEXT_SID: AtomicU64 = AtomicU64::new(1);

impl Messenger {
    /// Every group we participate in, with metadata.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, GroupError> {
        let query = Node::new("participating")
            .with_child(Node::new("participants"))
            .with_child(Node::new("description"));
        let answer = self.iq(g2_get(Jid::group_server(), query)).await?;
        if let Some(e) = iq_error(&answer) {
            return Err(e);
        }
        Ok(answer
            .child("groups")
            .map(|g| g.children_by_tag("group").filter_map(parse_group).collect())
            .unwrap_or_default())
    }

    /// One group's metadata.
    pub async fn group_info(&self, group: &Jid) -> Result<GroupInfo, GroupError> {
        if !group.is_group() {
            return Err(GroupError::NotFound);
        }
        let query = Node::new("query").with_attr("request", "interactive");
        let answer = self.iq(g2_get(group.to_non_ad(), query)).await?;
        if let Some(e) = iq_error(&answer) {
            return Err(e);
        }
        answer
            .child("group")
            .and_then(parse_group)
            .ok_or(GroupError::Send(SendError::Crypto(
                "group answer without <group>".into(),
            )))
    }

    /// Sends `text` to `group` with our sender key and waits for the server ack.
    pub async fn send_group_text(
        &self,
        group: &Jid,
        text: &str,
    ) -> Result<SentMessage, GroupError> {
        self.send_group_message(group, text_message(text)).await
    }

    /// Sends any `Message` (text, media) to `group`: the one group send path.
    pub(super) async fn send_group_message(
        &self,
        group: &Jid,
        message: Message,
    ) -> Result<SentMessage, GroupError> {
        let info = self.group_info(group).await?;
        let own = self.own().ok_or(SendError::NotConnected)?;
        if !info.participants.iter().any(|p| p.jid.user == own.phone) {
            return Err(GroupError::NotParticipant);
        }
        if info.announce && !info.is_admin(&own.phone) {
            return Err(GroupError::ReadOnly);
        }
        let users: Vec<Jid> = info
            .participants
            .iter()
            .map(|p| Jid::phone(p.jid.user.clone()))
            .collect();
        let sid = format!("g{}", NEXT_SID.fetch_add(1, Ordering::Relaxed));
        let answer = self.iq(device_query(&users, &sid)).await?;
        let mut devices: Vec<Jid> = parse_devices(&answer).into_values().flatten().collect();
        devices.sort_by_key(|d| d.to_string());
        let phash = participant_hash(&devices);
        devices.retain(|d| !(d.user == own.phone && d.device == own.device));
        let group_id = info.id.to_string();
        let me = ProtocolAddress::from_jid(&Jid::phone(own.phone.clone()).with_device(own.device));
        let name = SenderKeyName::new(group_id.clone(), me);
        // Who lacks our key comes from the store (it survives restarts; see group_receipts).
        let (namespace, gid, key_name) =
            (self.setup.namespace.clone(), group_id.clone(), name.clone());
        let lacking: Vec<Jid> = self
            .in_txn(move |txn| {
                super::group_receipts::devices_lacking_key(
                    txn, &namespace, &gid, &key_name, &devices,
                )
            })
            .await?;
        let padded = pad_random(&message.encode_to_vec())
            .map_err(|_| SendError::Crypto("system randomness".into()))?;
        let targets = lacking.clone();
        let missing = self
            .in_txn(move |txn| devices_without_session(txn, &targets))
            .await?;
        let bundles = if missing.is_empty() {
            None
        } else {
            Some(self.iq(key_fetch_node(&missing, None)).await?)
        };
        let own_phone = own.phone.clone();
        let namespace = self.setup.namespace.clone();
        let (pairwise, skmsg) = self
            .in_txn(move |txn| {
                let sealed = seal(
                    txn, bundles, &name, &group_id, &lacking, &own_phone, &padded,
                )?;
                // Recorded with the key state that made the SKDMs, in one commit.
                let holders: Vec<String> = sealed.0.iter().map(|c| c.device.to_string()).collect();
                crate::store::sender_key_holders::add_in(
                    txn.txn(),
                    &namespace,
                    &group_id,
                    &holders,
                )
                .map_err(|e| SignalError::Store(StoreError(e.to_string())))?;
                Ok(sealed)
            })
            .await?;
        let id = new_message_id(&own.phone, unix_now());
        let mut stanza = group_stanza(
            &id,
            &info.id,
            &pairwise,
            skmsg,
            &own.signed_identity,
            &phash,
        );
        super::media::content::mark_stanza(&mut stanza, &message);
        self.sent.remember(&id, &info.id, &message);
        let ack = self
            .request(format!("ack:{id}"), stanza, SendError::Timeout)
            .await?;
        if let Some(code) = ack.attr_parse::<u16>("error") {
            // The refused stanza delivered no SKDM.
            let (namespace, gid) = (self.setup.namespace.clone(), info.id.to_string());
            let holders: Vec<String> = pairwise.iter().map(|c| c.device.to_string()).collect();
            let _ = self
                .in_txn(move |txn| {
                    crate::store::sender_key_holders::remove_in(
                        txn.txn(),
                        &namespace,
                        &gid,
                        &holders,
                    )
                    .map_err(|e| SignalError::Store(StoreError(e.to_string())))
                })
                .await;
            self.emit(EngineEvent::SendFailed {
                id,
                chat: info.id.clone(),
                code,
            });
            return Err(GroupError::Send(SendError::Refused(code)));
        }
        Ok(SentMessage {
            id,
            to: info.id,
            ack: super::receive::AckLevel::Server,
            timestamp: ack.attr_parse("t").unwrap_or_else(unix_now),
        })
    }
}

/// One transaction: new sessions from `bundles`, our SKDM pairwise to `lacking`, the skmsg.
fn seal(
    txn: &mut SignalTxn,
    bundles: Option<Node>,
    name: &SenderKeyName,
    group_id: &str,
    lacking: &[Jid],
    own_phone: &str,
    padded: &[u8],
) -> Result<(Vec<DeviceCiphertext>, Vec<u8>), SignalError> {
    if let Some(answer) = bundles {
        apply_bundles(txn, &answer)?;
    }
    let skdm = sender_key_distribution(txn, name, &mut OsRandom)?;
    let carrier = Message {
        sender_key_distribution_message: Some(SkdmProto {
            group_id: Some(group_id.to_string()),
            axolotl_sender_key_distribution_message: Some(skdm.serialized().to_vec()),
        }),
        ..Default::default()
    };
    let pairwise = if lacking.is_empty() {
        Vec::new()
    } else {
        encrypt_for_devices(txn, &carrier, &carrier, lacking, own_phone)?
    };
    let skmsg = group_encrypt(txn, name, padded, &mut OsRandom)?;
    Ok((pairwise, skmsg))
}

fn group_stanza(
    id: &str,
    group: &Jid,
    pairwise: &[DeviceCiphertext],
    skmsg: Vec<u8>,
    identity: &[u8],
    phash: &str,
) -> Node {
    let mut node = Node::new("message")
        .with_attr("id", id)
        .with_attr("to", group.to_non_ad())
        .with_attr("type", "text")
        .with_attr("phash", phash)
        .with_attr("addressing_mode", "pn");
    if !pairwise.is_empty() {
        node.push_child(
            Node::new("participants").with_children(pairwise.iter().map(|c| {
                Node::new("to")
                    .with_attr("jid", c.device.clone())
                    .with_child(enc_node(&c.message))
            })),
        );
    }
    node.push_child(
        Node::new("enc")
            .with_attr("v", "2")
            .with_attr("type", "skmsg")
            .with_bytes(skmsg),
    );
    if pairwise
        .iter()
        .any(|c| c.message.kind == MessageKind::PreKey)
    {
        node.push_child(Node::new("device-identity").with_bytes(identity.to_vec()));
    }
    node
}

/// True for a `<message>` from a group (the receive worker hands these to [`receive_group`]).
pub(super) fn is_group_message(node: &Node) -> bool {
    node.tag == "message" && node.attr_jid("from").is_some_and(|j| j.is_group())
}

enum GroupOutcome {
    Recorded(Box<ReceivedMessage>),
    Duplicate,
    /// It carries a file: nothing was committed; fetch it, then read the message again.
    NeedsMedia(Box<super::media::content::Attachment>),
}

/// Reads one group message: decrypt (SKDM, then skmsg) and record in one transaction, then
/// acknowledge with a delivery receipt; anything unreadable is acknowledged with an ack (no retry
/// round for groups in this slice).
pub(super) async fn receive_group(m: &Messenger, node: &Node, own_phone: &str) {
    let (Some(group), Some(sender), Some(id)) = (
        node.attr_jid("from"),
        node.attr_jid("participant"),
        node.attr_text("id").map(|i| i.into_owned()),
    ) else {
        return;
    };
    let setup = m.setup.clone();
    let job = node.clone();
    let own_phone = own_phone.to_string();
    let phone = own_phone.clone();
    let mut outcome =
        tokio::task::spawn_blocking(move || handle_group(&setup, &job, &phone, None)).await;
    if let Ok(Ok(GroupOutcome::NeedsMedia(attachment))) = &outcome {
        let media = m.fetch_attachment(&id, attachment).await;
        let (setup, job) = (m.setup.clone(), node.clone());
        outcome = tokio::task::spawn_blocking(move || {
            handle_group(&setup, &job, &own_phone, Some(media))
        })
        .await;
    }
    let reply = match outcome {
        Ok(Ok(GroupOutcome::Recorded(received))) => {
            m.emit(EngineEvent::MessageReceived(*received));
            Some(group_receipt(&id, &group, &sender))
        }
        Ok(Ok(GroupOutcome::Duplicate)) => Some(group_receipt(&id, &group, &sender)),
        Ok(Ok(GroupOutcome::NeedsMedia(_))) => None,
        Ok(Err(GroupReadError::Store(e))) => {
            log::error!("engine: cannot record group message {id}: {e}");
            None
        }
        Ok(Err(GroupReadError::Unreadable(e))) => {
            log::warn!("engine: group message {id} from {sender}: {e}");
            m.emit(EngineEvent::UndecryptableMessage {
                id: id.clone(),
                from: sender.clone(),
            });
            // Ask the sender once (with its key); a resend we still cannot read is only acked.
            let resent = node.children_by_tag("enc").any(|e| e.has_attr("count"));
            match m.own() {
                Some(own) if !resent => Some(super::group_receipts::group_retry_receipt(
                    &id,
                    &group,
                    &sender,
                    own.registration_id,
                    1,
                    unix_now(),
                )),
                _ => Some(
                    Node::new("ack")
                        .with_attr("class", "message")
                        .with_attr("id", id.as_str())
                        .with_attr("to", group.clone())
                        .with_attr("participant", sender.clone()),
                ),
            }
        }
        Err(e) => {
            log::error!("engine: group message worker failed: {e}");
            None
        }
    };
    if let Some(reply) = reply {
        let _ = m.write(reply);
    }
}

fn group_receipt(id: &str, group: &Jid, sender: &Jid) -> Node {
    Node::new("receipt")
        .with_attr("id", id)
        .with_attr("to", group.clone())
        .with_attr("participant", sender.clone())
}

enum GroupReadError {
    Store(String),
    Unreadable(String),
}

fn handle_group(
    setup: &super::messaging::MessagingSetup,
    node: &Node,
    own_phone: &str,
    media: Option<Box<super::media::ReceivedMedia>>,
) -> Result<GroupOutcome, GroupReadError> {
    let store = |e: String| GroupReadError::Store(e);
    let unreadable = |e: String| GroupReadError::Unreadable(e);
    let (Some(group), Some(sender), Some(id)) = (
        node.attr_jid("from"),
        node.attr_jid("participant"),
        node.attr_text("id"),
    ) else {
        return Err(unreadable("no from/participant/id".into()));
    };
    let (group_s, sender_s) = (group.to_string(), sender.to_string());
    let seen_key = SeenKey {
        namespace: &setup.namespace,
        chat: &group_s,
        sender: &sender_s,
        id: id.as_ref(),
    };
    let mut txn = SignalTxn::begin(setup.db.database(), &setup.namespace)
        .map_err(|e| store(e.to_string()))?;
    if seen_messages::was_seen(txn.txn(), seen_key).map_err(|e| store(e.to_string()))? {
        return Ok(GroupOutcome::Duplicate);
    }
    let address = ProtocolAddress::from_jid(&sender);
    let name = SenderKeyName::new(group_s.clone(), address.clone());
    let mut text = None;
    let (mut attachment, mut reaction) = (None, None);
    let mut got_skmsg = false;
    for enc in node.children_by_tag("enc") {
        let bytes = enc.content_bytes().unwrap_or_default();
        let kind = enc.attr_text("type").unwrap_or_default().into_owned();
        let plain = if kind == "skmsg" {
            got_skmsg = true;
            group_decrypt(&mut txn, &name, bytes)
        } else if let Some(kind) = MessageKind::from_enc_type(&kind) {
            decrypt(&mut txn, &address, kind, bytes, &mut OsRandom)
        } else {
            continue;
        };
        let plain = match plain {
            Ok(p) => p,
            Err(SignalError::DuplicateMessage) => return Ok(GroupOutcome::Duplicate),
            Err(SignalError::Store(StoreError(e))) => return Err(store(e)),
            Err(e) => return Err(unreadable(e.to_string())),
        };
        let message = decode_padded_message(&plain).map_err(|e| unreadable(e.to_string()))?;
        if let Some(skdm) = message
            .sender_key_distribution_message
            .as_ref()
            .and_then(|s| s.axolotl_sender_key_distribution_message.as_deref())
        {
            process_sender_key_distribution(&mut txn, &name, skdm)
                .map_err(|e| unreadable(e.to_string()))?;
        }
        if let Some(t) = message.text() {
            text = Some(t.to_string());
        }
        attachment = attachment.or_else(|| super::media::content::attachment_of(&message));
        reaction = reaction.or_else(|| super::media::content::reaction_of(&message));
    }
    // A retry answer carries the content pairwise (with a fresh SKDM) instead of an skmsg.
    let has_content = text.is_some() || attachment.is_some() || reaction.is_some();
    if !got_skmsg && !has_content {
        return Err(unreadable("no skmsg".into()));
    }
    if let (Some(attachment), None) = (&attachment, &media) {
        // Downloads happen outside the transaction; the message decrypts again afterwards.
        drop(txn);
        return Ok(GroupOutcome::NeedsMedia(Box::new(attachment.clone())));
    }
    let mut received = ReceivedMessage {
        id: id.to_string(),
        from: sender.clone(),
        chat: group.to_non_ad(),
        from_me: sender.user == own_phone,
        text,
        timestamp: node.attr_parse("t").unwrap_or_default(),
        push_name: node.attr_text("notify").map(|n| n.into_owned()),
        offline: node.has_attr("offline"),
        media: attachment.and(media),
        reaction: reaction.map(Box::new),
        sender_pn: None,
        sender_lid: None,
    };
    let alternate = super::lid::alternate_sender(node);
    super::lid::identify_sender(
        txn.txn(),
        &setup.namespace,
        alternate.as_ref(),
        &mut received,
    )
    .map_err(store)?;
    seen_messages::mark_seen(txn.txn(), seen_key, unix_now()).map_err(|e| store(e.to_string()))?;
    setup.sink.record(txn.txn(), &received).map_err(store)?;
    txn.commit().map_err(|e| store(e.to_string()))?;
    Ok(GroupOutcome::Recorded(Box::new(received)))
}

impl super::EngineHandle {
    /// Every group we participate in, with metadata.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, GroupError> {
        match &self.messenger {
            Some(m) => m.groups().await,
            None => Err(GroupError::Send(SendError::NotConnected)),
        }
    }

    /// One group's metadata (`ID@g.us`).
    pub async fn group_info(&self, group: &Jid) -> Result<GroupInfo, GroupError> {
        match &self.messenger {
            Some(m) => m.group_info(group).await,
            None => Err(GroupError::Send(SendError::NotConnected)),
        }
    }

    /// Sends a text to a group and waits for the server ack; [`GroupError::ReadOnly`] when the
    /// group is announcement-only and we are not an admin.
    pub async fn send_group_text(
        &self,
        group: &Jid,
        text: &str,
    ) -> Result<SentMessage, GroupError> {
        match &self.messenger {
            Some(m) => m.send_group_text(group, text).await,
            None => Err(GroupError::Send(SendError::NotConnected)),
        }
    }
}
