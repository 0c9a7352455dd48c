//! The engine's messaging side: sending 1:1 texts and reading incoming ones, with all Signal state in
//! redb transactions ([`SignalTxn`]).
//!
//! A [`Messenger`] lives next to the connection task. The connection hands it every stanza first
//! ([`Messenger::offer`]): iq answers and message acks it waits for, receipts (ack levels), and
//! incoming messages (queued for one worker task so they are decrypted in order). After each login the
//! connection attaches a fresh outbound channel ([`Messenger::attach`]) whose stanzas it writes to the
//! socket.
//!
//! Incoming message: decrypt and record (through [`InboundSink`]) in ONE transaction, commit, THEN
//! send the delivery receipt (which is the ack). A crash before the commit leaves the server's copy
//! unacknowledged, so it comes again and decrypts again; after the commit a redelivery is recognised
//! as a duplicate and only acknowledged.

use super::creds::DeviceCreds;
use super::message_id::{new_message_id, participant_hash};
use super::prekeys::{local_identity, signed_pre_key};
use super::receive::{receipt_ids, AckLevel};
use super::send::{
    apply_bundles, device_sent, devices_without_session, encrypt_for_devices, message_stanza,
    text_message, SendError,
};
use super::usync::{device_query, devices_notification_user, parse_devices, DeviceCache};
use crate::protocol::binary::Node;
use crate::protocol::jid::{Jid, Server};
use crate::protocol::signal::{
    key_fetch_node, IdentityStore, SignalError, SignedPreKeyStore, StoreError,
};
use crate::store::signal::{with_signal_txn, SignalTxn};
use redb::WriteTransaction;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};

/// How long a send waits for each server answer (usync, keys, the message ack).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// Sent messages whose ack level is remembered (for receipts arriving later).
const MAX_TRACKED: usize = 4096;

/// Where the Signal tables live: the app's `Store`, or a bare database in tests.
pub trait SignalDb: Send + Sync {
    fn database(&self) -> &redb::Database;
}

impl SignalDb for redb::Database {
    fn database(&self) -> &redb::Database {
        self
    }
}

impl SignalDb for crate::store::Store {
    fn database(&self) -> &redb::Database {
        crate::store::Store::database(self)
    }
}

/// A decrypted incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub id: String,
    /// The sending device.
    pub from: Jid,
    /// The chat (the sender; for our own devices' copies, whom they wrote to).
    pub chat: Jid,
    /// True when another of our own devices sent it.
    pub from_me: bool,
    pub text: Option<String>,
    /// Server time, Unix seconds.
    pub timestamp: u64,
    pub push_name: Option<String>,
    /// True when replayed from the server's offline queue.
    pub offline: bool,
    /// The file it carries, downloaded and verified before recording (see `engine::media`).
    pub media: Option<Box<super::media::ReceivedMedia>>,
    /// Set when the message is a reaction to another message.
    pub reaction: Option<Box<super::media::ReceivedReaction>>,
    /// The sender's phone-number account (`PHONE@s.whatsapp.net`), when known (see `engine::lid`).
    pub sender_pn: Option<Jid>,
    /// The sender's LID account (`LID@lid`), when known.
    pub sender_lid: Option<Jid>,
}

/// Records decrypted messages in the caller's tables, inside the transaction that also holds the
/// Signal session change (so both commit or neither does).
pub trait InboundSink: Send + Sync {
    fn record(&self, txn: &WriteTransaction, message: &ReceivedMessage) -> Result<(), String>;
}

/// A sink that records nothing (events only).
pub struct NoSink;

impl InboundSink for NoSink {
    fn record(&self, _: &WriteTransaction, _: &ReceivedMessage) -> Result<(), String> {
        Ok(())
    }
}

/// What the engine tells its owner about messages. Subscribe with `EngineHandle::events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A message was decrypted and recorded (already committed).
    MessageReceived(ReceivedMessage),
    /// A sent message reached a new ack level (server, delivered, read, played).
    AckChanged {
        id: String,
        chat: Jid,
        level: AckLevel,
    },
    /// The server refused a sent message with this error code; it was not delivered.
    SendFailed { id: String, chat: Jid, code: u16 },
    /// An incoming message could not be decrypted; a retry receipt was sent.
    UndecryptableMessage { id: String, from: Jid },
    /// The phone's history sync seeded the chat list (already committed; no message events).
    HistorySynced(super::history_sync::HistorySummary),
    /// A group we are in changed (`w:gp2` notification; see `engine::group_notifications`).
    GroupChanged(super::group_notifications::GroupChange),
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub id: String,
    /// The chat it went to (`PHONE@s.whatsapp.net`).
    pub to: Jid,
    /// `Server` when returned (a receipt may already have raised it).
    pub ack: AckLevel,
    /// Unix seconds.
    pub timestamp: u64,
}

/// How the engine reaches its Signal store and where received messages go.
#[derive(Clone)]
pub struct MessagingSetup {
    pub db: Arc<dyn SignalDb>,
    /// The Signal namespace (the client id).
    pub namespace: String,
    pub sink: Arc<dyn InboundSink>,
}

#[derive(Clone)]
pub(super) struct OwnDevice {
    pub(super) phone: String,
    pub(super) device: u16,
    pub(super) registration_id: u32,
    pub(super) signed_identity: Vec<u8>,
}

struct Link {
    out: mpsc::UnboundedSender<Node>,
    own: OwnDevice,
}

/// The messaging state of one engine (see the module docs).
pub struct Messenger {
    pub(super) setup: MessagingSetup,
    link: Mutex<Option<Link>>,
    /// Who waits for which answer: `iq:<id>` or `ack:<message id>`.
    waiters: Mutex<HashMap<String, oneshot::Sender<Node>>>,
    /// Device lists per user (forgotten on `devices` and `w:gp2` notifications).
    pub(super) devices: DeviceCache,
    levels: Mutex<HashMap<String, (Jid, AckLevel)>>,
    events: broadcast::Sender<EngineEvent>,
    inbound: mpsc::UnboundedSender<Node>,
    send_lock: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    /// Recently sent messages, for resending on a retry receipt.
    pub(super) sent: super::retry::SentCache,
    /// The app state sync worker (`app_state`): fetches on login, `server_sync` and new keys.
    pub(super) app_state: super::app_state::AppStateSync,
    /// Media hosts, upload auth and settings.
    pub(super) media: super::media::conn::MediaState,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Messenger {
    /// A messenger and its receive worker (spawned on the current tokio runtime).
    pub fn start(setup: MessagingSetup) -> Arc<Messenger> {
        let (inbound, rx) = mpsc::unbounded_channel();
        let (app_state, app_state_requests) = super::app_state::channel();
        let messenger = Arc::new(Messenger {
            setup,
            link: Mutex::new(None),
            waiters: Mutex::new(HashMap::new()),
            devices: DeviceCache::default(),
            levels: Mutex::new(HashMap::new()),
            events: broadcast::channel(256).0,
            inbound,
            send_lock: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
            sent: super::retry::SentCache::default(),
            app_state,
            media: Default::default(),
        });
        tokio::spawn(super::inbox::receive_worker(Arc::downgrade(&messenger), rx));
        tokio::spawn(super::app_state::sync_worker(
            Arc::downgrade(&messenger),
            app_state_requests,
        ));
        messenger
    }

    /// A receiver of every later event.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    pub(super) fn emit(&self, event: EngineEvent) {
        // No subscriber is fine: events are notifications, the data is in the store.
        let _ = self.events.send(event);
    }

    /// Called by the connection after each login: stores our identity and signed prekey in the
    /// Signal store (so pkmsgs to them decrypt) and returns the channel of stanzas to write.
    pub fn attach(&self, creds: &DeviceCreds) -> Option<mpsc::UnboundedReceiver<Node>> {
        let paired = creds.paired.as_ref()?;
        let identity = local_identity(creds);
        let signed = signed_pre_key(creds);
        let stored = with_signal_txn(self.setup.db.database(), &self.setup.namespace, |txn| {
            if txn.local_identity()?.as_ref() != Some(&identity) {
                txn.set_local_identity(&identity)?;
            }
            if txn.load_signed_pre_key(signed.id)?.is_none() {
                txn.store_signed_pre_key(&signed)?;
            }
            Ok::<_, StoreError>(())
        });
        if let Err(e) = stored {
            log::error!("engine: cannot store the Signal identity: {e}");
        }
        if let Err(e) = super::inbox::prune_seen(&self.setup) {
            log::warn!("engine: cannot prune the seen-message table: {e}");
        }
        super::lid::remember_own(&self.setup, &paired.phone, paired.lid.as_deref());
        let (out, rx) = mpsc::unbounded_channel();
        *lock(&self.link) = Some(Link {
            out,
            own: OwnDevice {
                phone: paired.phone.clone(),
                device: paired.device,
                registration_id: creds.registration_id,
                signed_identity: paired.signed_identity.clone(),
            },
        });
        // Catch up on app state (mute, pin, …) changed while we were away.
        self.app_state.fetch_all();
        Some(rx)
    }

    pub(super) fn own(&self) -> Option<OwnDevice> {
        lock(&self.link).as_ref().map(|l| l.own.clone())
    }

    pub(super) fn write(&self, node: Node) -> Result<(), SendError> {
        let link = lock(&self.link);
        let link = link.as_ref().ok_or(SendError::NotConnected)?;
        link.out.send(node).map_err(|_| SendError::NotConnected)
    }

    /// Offers a stanza from the server; true when it was ours (the connection then ignores it).
    pub fn offer(&self, node: &Node) -> bool {
        let id = node
            .attr_text("id")
            .map(|i| i.into_owned())
            .unwrap_or_default();
        match node.tag.as_str() {
            "iq" if matches!(node.attr("type"), Some("result") | Some("error")) => {
                match lock(&self.waiters).remove(&format!("iq:{id}")) {
                    Some(waiter) => {
                        let _ = waiter.send(node.clone());
                        true
                    }
                    None => false,
                }
            }
            "ack" if node.attr("class") == Some("message") => {
                if let Some(waiter) = lock(&self.waiters).remove(&format!("ack:{id}")) {
                    let _ = waiter.send(node.clone());
                }
                true
            }
            "ack" => true,
            "message" => self.inbound.send(node.clone()).is_ok(),
            "receipt" => {
                self.on_receipt(node);
                if node.attr("type") == Some("retry") {
                    // Resending needs a key fetch: the worker does it.
                    let _ = self.inbound.send(node.clone());
                }
                true
            }
            "notification" => {
                self.app_state.on_notification(node);
                if let Some(user) = devices_notification_user(node) {
                    self.devices.invalidate(&user);
                }
                self.on_holder_notification(node);
                self.on_group_notification(node);
                // The connection acknowledges notifications.
                false
            }
            _ => false,
        }
    }

    fn on_receipt(&self, node: &Node) {
        let kind = node.attr_text("type").map(|t| t.into_owned());
        let mut ack = Node::new("ack")
            .with_attr("class", "receipt")
            .with_attr("id", node.attr_text("id").unwrap_or_default().into_owned())
            .with_opt_attr("type", kind.clone());
        if let Some(from) = node.attr_jid("from") {
            ack.set_attr("to", from);
        }
        let _ = self.write(ack);
        let Some(level) = AckLevel::from_receipt_type(kind.as_deref()) else {
            return;
        };
        let chat = node.attr_jid("from").map(|j| j.to_non_ad());
        for id in receipt_ids(node) {
            self.raise(&id, chat.clone(), level);
        }
    }

    /// Raises a sent message's level (never lowers it) and reports a change.
    fn raise(&self, id: &str, chat: Option<Jid>, level: AckLevel) {
        let changed = {
            let mut levels = lock(&self.levels);
            if levels.len() >= MAX_TRACKED && !levels.contains_key(id) {
                levels.clear();
            }
            let entry = levels.entry(id.to_string()).or_insert_with(|| {
                (
                    chat.clone().unwrap_or_else(Jid::server_jid),
                    AckLevel::Pending,
                )
            });
            if entry.1 < level {
                entry.1 = level;
                Some(entry.0.clone())
            } else {
                None
            }
        };
        if let Some(chat) = changed {
            self.emit(EngineEvent::AckChanged {
                id: id.to_string(),
                chat,
                level,
            });
        }
    }

    /// The best ack level a sent message reached, if it is still tracked.
    pub fn ack_level(&self, id: &str) -> Option<AckLevel> {
        lock(&self.levels).get(id).map(|(_, l)| *l)
    }

    /// Writes `node` and waits for the answer filed under `key`. When the connection drops first,
    /// `lost` is the error (the stanza may or may not have reached the server).
    pub(super) async fn request(
        &self,
        key: String,
        node: Node,
        lost: SendError,
    ) -> Result<Node, SendError> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(key.clone(), tx);
        let out = lock(&self.link).as_ref().map(|l| l.out.clone());
        let (Some(out), Ok(())) = (out, self.write(node)) else {
            lock(&self.waiters).remove(&key);
            return Err(SendError::NotConnected);
        };
        let outcome = tokio::select! {
            answer = tokio::time::timeout(ANSWER_TIMEOUT, rx) => match answer {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(_)) => Err(lost),
                Err(_) => Err(SendError::Timeout),
            },
            // The connection task dropped its end: this link is gone.
            _ = out.closed() => Err(lost),
        };
        if outcome.is_err() {
            lock(&self.waiters).remove(&key);
        }
        outcome
    }

    pub(super) async fn iq(&self, node: Node) -> Result<Node, SendError> {
        let id = format!("m{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        self.request(
            format!("iq:{id}"),
            node.with_attr("id", id.as_str()),
            SendError::NotConnected,
        )
        .await
    }

    async fn devices_of(&self, user: &str) -> Result<Vec<Jid>, SendError> {
        if let Some(cached) = self.devices.get(user) {
            return Ok(cached);
        }
        let sid = format!("s{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let answer = self.iq(device_query(&[Jid::phone(user)], &sid)).await?;
        self.remember_lids(&answer);
        let devices = parse_devices(&answer).remove(user).unwrap_or_default();
        self.devices.put(user, devices.clone());
        Ok(devices)
    }

    pub(super) async fn in_txn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SignalTxn) -> Result<T, SignalError> + Send + 'static,
    ) -> Result<T, SendError> {
        let db = Arc::clone(&self.setup.db);
        let namespace = self.setup.namespace.clone();
        tokio::task::spawn_blocking(move || with_signal_txn(db.database(), &namespace, f))
            .await
            .map_err(|e| SendError::Crypto(e.to_string()))?
            .map_err(SendError::from)
    }

    /// Sends a text to `to` (a user JID, `@s.whatsapp.net` or `@c.us`) and waits for the server ack.
    pub async fn send_text(&self, to: &Jid, text: &str) -> Result<SentMessage, SendError> {
        self.send_text_as(to, text, None).await
    }

    /// Sends under `id` (chosen by the caller) when given, else under a new id. Resending with
    /// the same id lets WhatsApp drop the repeat (the scheduler's exactly-once rests on it).
    pub async fn send_text_as(
        &self,
        to: &Jid,
        text: &str,
        id: Option<&str>,
    ) -> Result<SentMessage, SendError> {
        self.send_message_as(to, text_message(text), id).await
    }

    /// Sends any `Message` (text, media, reaction) to a user: the one 1:1 send path.
    pub(super) async fn send_message_as(
        &self,
        to: &Jid,
        message: crate::protocol::proto::Message,
        id: Option<&str>,
    ) -> Result<SentMessage, SendError> {
        // A LID recipient is sent to under its phone number (its devices, its chat).
        let to = &self.resolve_recipient(to).await?;
        let chat = match to.server {
            Server::Whatsapp | Server::LegacyUser if !to.user.is_empty() => {
                Jid::phone(to.user.clone())
            }
            _ => return Err(SendError::BadRecipient(to.to_string())),
        };
        // One send at a time keeps the Signal state changes of two sends from interleaving.
        let _turn = self.send_lock.lock().await;
        let own = self.own().ok_or(SendError::NotConnected)?;
        let recipients = self.devices_of(&chat.user).await?;
        if recipients.is_empty() {
            return Err(SendError::NoDevices);
        }
        let mut all = recipients;
        if chat.user != own.phone {
            let own_devices = self.devices_of(&own.phone).await?;
            all.extend(own_devices.into_iter().filter(|d| d.device != own.device));
        } else {
            all.retain(|d| d.device != own.device);
        }
        let id = id.map_or_else(|| new_message_id(&own.phone, unix_now()), str::to_string);
        let phash = participant_hash(&all);
        let own_copy = device_sent(&chat, &message, Some(&phash));
        let encrypt_all = |bundles: Option<Node>| {
            let (targets, own_phone) = (all.clone(), own.phone.clone());
            let (message, own_copy) = (message.clone(), own_copy.clone());
            move |txn: &mut SignalTxn| {
                if let Some(answer) = bundles {
                    apply_bundles(txn, &answer)?;
                }
                // With every session in place, encrypting is the whole transaction (one commit).
                let missing = devices_without_session(txn, &targets)?;
                if !missing.is_empty() {
                    return Ok(Err(missing));
                }
                encrypt_for_devices(txn, &message, &own_copy, &targets, &own_phone).map(Ok)
            }
        };
        let ciphertexts = match self.in_txn(encrypt_all(None)).await? {
            Ok(sealed) => sealed,
            Err(missing) => {
                let answer = self.iq(key_fetch_node(&missing, None)).await?;
                match self.in_txn(encrypt_all(Some(answer))).await? {
                    Ok(sealed) => sealed,
                    // Devices whose bundle was unusable are left out, as before.
                    Err(_) => {
                        let (targets, own_phone) = (all.clone(), own.phone.clone());
                        let (message, own_copy) = (message.clone(), own_copy.clone());
                        self.in_txn(move |txn| {
                            encrypt_for_devices(txn, &message, &own_copy, &targets, &own_phone)
                        })
                        .await?
                    }
                }
            }
        };
        if ciphertexts.is_empty() {
            return Err(SendError::NoDevices);
        }
        let mut stanza = message_stanza(
            &id,
            &chat,
            &ciphertexts,
            Some(&own.signed_identity),
            Some(&phash),
        );
        super::media::content::mark_stanza(&mut stanza, &message);
        lock(&self.levels).insert(id.clone(), (chat.clone(), AckLevel::Pending));
        self.sent.remember(&id, &chat, &message);
        let ack = self
            .request(format!("ack:{id}"), stanza, SendError::Timeout)
            .await?;
        if let Some(code) = ack.attr_parse::<u16>("error") {
            self.raise(&id, Some(chat.clone()), AckLevel::Error);
            if let Some(entry) = lock(&self.levels).get_mut(&id) {
                entry.1 = AckLevel::Error;
            }
            self.emit(EngineEvent::SendFailed { id, chat, code });
            return Err(SendError::Refused(code));
        }
        if ack.attr_text("phash").is_some_and(|p| p != phash) {
            // The device lists changed: ask again next time.
            self.devices.invalidate(&chat.user);
            self.devices.invalidate(&own.phone);
        }
        self.raise(&id, Some(chat.clone()), AckLevel::Server);
        Ok(SentMessage {
            ack: self.ack_level(&id).unwrap_or(AckLevel::Server),
            id,
            to: chat,
            timestamp: ack.attr_parse("t").unwrap_or_else(unix_now),
        })
    }
}

impl super::EngineHandle {
    /// Sends a text to `to` and waits for the server's ack: the message id and its ack level, or
    /// why it was not sent (an ack with an error such as 463 → [`SendError::Refused`]).
    pub async fn send_text(&self, to: &Jid, text: &str) -> Result<SentMessage, SendError> {
        match &self.messenger {
            Some(m) => m.send_text(to, text).await,
            None => Err(SendError::NotConnected),
        }
    }

    /// Like [`send_text`](Self::send_text), under the message id `id` chosen by the caller.
    pub async fn send_text_with_id(
        &self,
        to: &Jid,
        text: &str,
        id: &str,
    ) -> Result<SentMessage, SendError> {
        match &self.messenger {
            Some(m) => m.send_text_as(to, text, Some(id)).await,
            None => Err(SendError::NotConnected),
        }
    }

    /// Message events from now on (`None` when the engine was started without messaging).
    pub fn events(&self) -> Option<broadcast::Receiver<EngineEvent>> {
        self.messenger.as_ref().map(|m| m.subscribe())
    }

    /// The best ack level a message sent by this engine reached (while it is still tracked).
    pub fn ack_level(&self, id: &str) -> Option<AckLevel> {
        self.messenger.as_ref().and_then(|m| m.ack_level(id))
    }
}

#[cfg(test)]
#[path = "messaging_tests.rs"]
mod tests;
