//! App state sync on the simulated server and phones (§12 part 2). Each account's phone holds one app
//! state key and hands it to every newly linked companion (a peer `protocolMessage`
//! `APP_STATE_SYNC_KEY_SHARE` from device 0, right after the companion's first prekey upload). A chat
//! change made through the control API is written by the phone as a real encrypted, MAC'd patch of the
//! right collection; the server keeps the patches in order and tells the companions
//! (`<notification type="server_sync">`), which then fetch them with
//! `<iq xmlns="w:sync:app:state">`. Patches are served inline, never as external blobs; a first sync
//! (`return_snapshot="true"`) gets every patch from version 1 instead of a snapshot, which both
//! whatsmeow and Baileys accept. Companions may upload patches too; the phone checks them with its key.

use super::phone_messages;
use super::registry::{unix_now, ConnId};
use super::routing::deliver;
use super::Shared;
use crate::engine::message_id::new_message_id;
use crate::protocol::app_state::{
    decode_patch, encode_patch, is_collection, CollectionState, DecodedPatch, MutationKeys,
    MutationSpec, Operation,
};
use crate::protocol::binary::Node;
use crate::protocol::crypto::random_bytes;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::message::protocol_message::Type as ProtocolType;
use crate::protocol::proto::generated::message::{
    AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyFingerprint, AppStateSyncKeyId,
    AppStateSyncKeyShare, ProtocolMessage,
};
use crate::protocol::proto::generated::{SyncdPatch, SyncdRecord, SyncdVersion};
use crate::protocol::proto::{Message, ProtoMessage};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

mod blobs;
mod changes;
mod control;

pub(crate) use changes::ChatChange;
use changes::{chat_jid, specs_of};
pub(super) use control::control_route;

/// Most patches one sync answer carries; the rest follow with `has_more_patches`.
const PATCHES_PER_ANSWER: usize = 50;
/// Most patches a collection keeps (a simulated account never needs more).
const MAX_PATCHES: usize = 10_000;
/// Fetches remembered for the control API.
const MAX_ASKED_LOG: usize = 200;

/// One collection on the server: its patches in version order (patch `i` has version `i + 1`), and
/// the phone's own view of it (to write the next patch).
#[derive(Default)]
struct Collection {
    patches: Vec<SyncdPatch>,
    phone_state: CollectionState,
    /// The live SET record of every index (what a snapshot holds).
    live: BTreeMap<[u8; 32], SyncdRecord>,
}

impl Collection {
    /// Adds a patch the phone accepted and follows its records.
    fn push(&mut self, patch: SyncdPatch, outcome: &DecodedPatch) {
        for m in &patch.mutations {
            let Some(record) = &m.record else { continue };
            let index = record
                .index
                .as_ref()
                .and_then(|i| i.blob.as_deref())
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            let Some(index) = index else { continue };
            match Operation::from_wire(m.operation) {
                Some(Operation::Set) => {
                    self.live.insert(index, record.clone());
                }
                _ => {
                    self.live.remove(&index);
                }
            }
        }
        outcome.apply_to(&mut self.phone_state);
        self.patches.push(patch);
    }
}

/// An account's app state: the phone's key and the collections.
struct AccountSync {
    /// The current key (patches are written with it).
    key_id: Vec<u8>,
    key_data: [u8; 32],
    key_created_ms: i64,
    /// Keys used before a rotation: (id, data, created ms); older patches stay under them.
    older_keys: Vec<(Vec<u8>, [u8; 32], i64)>,
    collections: BTreeMap<String, Collection>,
    /// (device, identity) of the companions the key went to.
    shared_with: HashSet<(u16, [u8; 32])>,
    /// Sync answers still to spoil (fault injection): their first patch gets a wrong patch MAC.
    corrupt_answers: u32,
    /// Serve first syncs as snapshots and patches' records as external blobs on the media host.
    external: bool,
    /// Snapshots and external patches served.
    snapshots_served: u64,
    external_patches_served: u64,
    /// Sync requests answered.
    fetches: u64,
    /// The version each collection was last fetched from.
    last_asked: BTreeMap<String, u64>,
    /// Every fetch as (collection, from version), the latest [`MAX_ASKED_LOG`].
    asked: Vec<(String, u64)>,
}

impl AccountSync {
    fn new() -> AccountSync {
        // Key ids on real accounts are six bytes, the first four zero.
        let tail: [u8; 2] = random_bytes();
        AccountSync {
            key_id: vec![0, 0, 0, 0, tail[0], tail[1]],
            key_data: random_bytes(),
            key_created_ms: now_ms(),
            older_keys: Vec::new(),
            collections: BTreeMap::new(),
            shared_with: HashSet::new(),
            corrupt_answers: 0,
            external: false,
            snapshots_served: 0,
            external_patches_served: 0,
            fetches: 0,
            last_asked: BTreeMap::new(),
            asked: Vec::new(),
        }
    }

    fn keys(&self) -> MutationKeys {
        MutationKeys::expand(&self.key_data)
    }

    /// Every key the phone has had, oldest first: (id, data, created ms).
    fn all_keys(&self) -> Vec<(Vec<u8>, [u8; 32], i64)> {
        let mut all = self.older_keys.clone();
        all.push((self.key_id.clone(), self.key_data, self.key_created_ms));
        all
    }

    /// A new current key (a fresh id); the old one is kept for older patches.
    fn rotate_key(&mut self) {
        let old = (self.key_id.clone(), self.key_data, self.key_created_ms);
        let mut id = old.0.clone();
        while self.all_keys().iter().any(|(k, _, _)| *k == id) {
            let tail: [u8; 2] = random_bytes();
            id = vec![0, 0, 0, 0, tail[0], tail[1]];
        }
        self.older_keys.push(old);
        self.key_id = id;
        self.key_data = random_bytes();
        self.key_created_ms = now_ms();
    }

    fn version(&self, name: &str) -> u64 {
        self.collections
            .get(name)
            .map_or(0, |c| c.patches.len() as u64)
    }
}

/// Every account's app state.
#[derive(Default)]
pub(crate) struct AppStateBook {
    accounts: Mutex<HashMap<String, AccountSync>>,
}

impl AppStateBook {
    fn with<T>(&self, phone: &str, f: impl FnOnce(&mut AccountSync) -> T) -> T {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        f(accounts
            .entry(phone.to_string())
            .or_insert_with(AccountSync::new))
    }
}

fn now_ms() -> i64 {
    i64::try_from(unix_now().saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Called after a device uploaded prekeys: a companion that has not had the key yet gets it.
pub(super) fn after_key_upload(shared: &Shared, conn: ConnId) {
    let Some((phone, device, identity)) = shared.registry.logged_in_identity(conn) else {
        return;
    };
    let first = shared
        .app_state
        .with(&phone, |a| a.shared_with.insert((device, identity)));
    if first {
        if let Err(e) = send_key_share(shared, &phone, device) {
            log::info!(
                "simulator: phone {phone} cannot share its app state key with {device}: {e}"
            );
        }
    }
}

/// The phone sends its app state keys (every key it has had) to its companion `device`; returns
/// the message id.
pub(crate) fn send_key_share(shared: &Shared, phone: &str, device: u16) -> Result<String, String> {
    let raw_id = shared
        .registry
        .lock()
        .accounts
        .get(phone)
        .map(|a| a.phone.raw_id)
        .ok_or("no such phone")?;
    let keys = shared.app_state.with(phone, |a| a.all_keys());
    let share = AppStateSyncKeyShare {
        keys: keys
            .into_iter()
            .map(|(key_id, key_data, created)| AppStateSyncKey {
                key_id: Some(AppStateSyncKeyId {
                    key_id: Some(key_id),
                }),
                key_data: Some(AppStateSyncKeyData {
                    key_data: Some(key_data.to_vec()),
                    fingerprint: Some(AppStateSyncKeyFingerprint {
                        raw_id: Some(raw_id),
                        current_index: Some(0),
                        device_indexes: vec![0],
                    }),
                    timestamp: Some(created),
                }),
            })
            .collect(),
    };
    let message = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(ProtocolType::AppStateSyncKeyShare as i32),
            app_state_sync_key_share: Some(share),
            ..Default::default()
        })),
        ..Default::default()
    };
    send_peer_message(shared, phone, device, &message)
}

/// Encrypts `message` from the phone to its own `device` and delivers it as a peer message.
fn send_peer_message(
    shared: &Shared,
    phone: &str,
    device: u16,
    message: &Message,
) -> Result<String, String> {
    let id = new_message_id(phone, unix_now());
    let node = phone_messages::peer_message_node(shared, phone, device, &id, message)?;
    deliver(shared, phone, device, node);
    Ok(id)
}

/// The phone applies `change` to `chat`: one patch per collection touched, then every companion is
/// told. Returns the new version of each collection written.
pub(crate) fn change_chat(
    shared: &Shared,
    phone: &str,
    chat: &str,
    change: &ChatChange,
) -> Vec<(String, u64)> {
    let specs = specs_of(chat, change);
    let mut by_collection: BTreeMap<&'static str, Vec<MutationSpec>> = BTreeMap::new();
    for spec in specs {
        by_collection.entry(spec.collection).or_default().push(spec);
    }
    let written: Vec<(String, u64)> = shared.app_state.with(phone, |account| {
        let keys = account.keys();
        let key_id = account.key_id.clone();
        let mut written = Vec::new();
        for (name, specs) in by_collection {
            let collection = account.collections.entry(name.to_string()).or_default();
            if collection.patches.len() >= MAX_PATCHES {
                log::warn!("simulator: {phone} {name} holds {MAX_PATCHES} patches; change dropped");
                continue;
            }
            let (patch, outcome) = encode_patch(
                name,
                &collection.phone_state,
                &keys,
                &key_id,
                &specs,
                random_bytes::<16>,
            );
            collection.push(patch, &outcome);
            written.push((name.to_string(), outcome.version));
        }
        written
    });
    for (name, version) in &written {
        notify_companions(shared, phone, None, name, *version);
    }
    written
}

/// `<notification type="server_sync"><collection name version/></notification>` to every companion
/// of `phone` except `skip`.
fn notify_companions(shared: &Shared, phone: &str, skip: Option<u16>, name: &str, version: u64) {
    let devices: Vec<u16> = shared
        .registry
        .phone(phone)
        .map(|v| v.devices.iter().map(|d| d.device).collect())
        .unwrap_or_default();
    for device in devices.into_iter().filter(|d| Some(*d) != skip && *d != 0) {
        let node = Node::new("notification")
            .with_attr("from", Jid::phone(phone))
            .with_attr("type", "server_sync")
            .with_attr("id", format!("sync-{name}-{version}-{device}"))
            .with_attr("t", unix_now())
            .with_child(
                Node::new("collection")
                    .with_attr("name", name)
                    .with_attr("version", version),
            );
        deliver(shared, phone, device, node);
    }
}

fn iq_reply(id: &str) -> Node {
    Node::new("iq")
        .with_attr("from", Jid::server_jid())
        .with_attr("type", "result")
        .with_attr("id", id)
}

/// Answers `<iq xmlns="w:sync:app:state" type="set"><sync><collection …/>…</sync></iq>` from `conn`:
/// for each collection the patches after the asked version, or stores a patch the device uploads.
pub(super) fn answer_sync(shared: &Shared, conn: ConnId, id: &str, node: &Node) -> Node {
    let Some((phone, device)) = shared.registry.logged_in_as(conn) else {
        return super::iq::error_reply(id, 401, "not-authorized");
    };
    let Some(sync) = node.child("sync") else {
        return super::iq::error_reply(id, 400, "bad-request");
    };
    let mut answer = Node::new("sync");
    let mut uploaded = Vec::new();
    for asked in sync.children().iter().filter(|c| c.tag == "collection") {
        let name = asked.attr_text("name").unwrap_or_default().into_owned();
        let since: u64 = asked.attr_parse("version").unwrap_or(0);
        let reply = if !is_collection(&name) {
            collection_error(&name, 400, "bad-request")
        } else if let Some(patch) = asked.child("patch").and_then(Node::content_bytes) {
            match upload_patch(shared, &phone, &name, since, patch) {
                Ok(version) => {
                    uploaded.push((name.clone(), version));
                    Node::new("collection")
                        .with_attr("name", name.as_str())
                        .with_attr("version", version)
                }
                Err(reply) => reply,
            }
        } else {
            let snapshot = asked.attr("return_snapshot") == Some("true");
            serve(shared, &phone, &name, since, snapshot)
        };
        answer.push_child(reply);
    }
    for (name, version) in uploaded {
        notify_companions(shared, &phone, Some(device), &name, version);
    }
    iq_reply(id).with_child(answer)
}

fn collection_error(name: &str, code: u16, text: &str) -> Node {
    Node::new("collection")
        .with_attr("name", name)
        .with_attr("type", "error")
        .with_child(
            Node::new("error")
                .with_attr("code", code)
                .with_attr("text", text),
        )
}

/// The answer for `name` from version `since`: in external mode a first sync asking for a snapshot
/// gets one, else the patches.
fn serve(shared: &Shared, phone: &str, name: &str, since: u64, snapshot: bool) -> Node {
    let external = shared.app_state.with(phone, |a| a.external);
    if external && snapshot && since == 0 {
        if let Some(answer) = blobs::serve_snapshot(shared, phone, name) {
            return answer;
        }
    }
    let answer = serve_patches(shared, phone, name, since);
    if external {
        blobs::externalize(shared, phone, answer)
    } else {
        answer
    }
}

/// The patches of `name` after version `since` (at most [`PATCHES_PER_ANSWER`]).
fn serve_patches(shared: &Shared, phone: &str, name: &str, since: u64) -> Node {
    shared.app_state.with(phone, |account| {
        account.fetches += 1;
        account.last_asked.insert(name.to_string(), since);
        if account.asked.len() >= MAX_ASKED_LOG {
            account.asked.remove(0);
        }
        account.asked.push((name.to_string(), since));
        let version = account.version(name);
        let start = usize::try_from(since.min(version)).unwrap_or(usize::MAX);
        let all = account
            .collections
            .get(name)
            .map(|c| c.patches.as_slice())
            .unwrap_or_default();
        let batch = all.get(start..).unwrap_or_default();
        let more = batch.len() > PATCHES_PER_ANSWER;
        let batch = &batch[..batch.len().min(PATCHES_PER_ANSWER)];
        let spoil = !batch.is_empty() && account.corrupt_answers > 0;
        if spoil {
            account.corrupt_answers -= 1;
        }
        let patches = Node::new("patches").with_children(batch.iter().enumerate().map(|(i, p)| {
            let mut p = p.clone();
            if spoil && i == 0 {
                if let Some(mac) = p.patch_mac.as_mut().and_then(|m| m.first_mut()) {
                    *mac ^= 0x01;
                }
            }
            Node::new("patch").with_bytes(p.encode_to_vec())
        }));
        let served = since.max(start as u64) + batch.len() as u64;
        let mut collection = Node::new("collection")
            .with_attr("name", name)
            .with_attr("version", served);
        if more {
            collection.set_attr("has_more_patches", "true");
        }
        collection.with_child(patches)
    })
}

/// A device uploads the next patch of `name` (it must build on the newest version, else 409 with
/// the patches it missed). The phone checks it with the account key and follows it.
fn upload_patch(
    shared: &Shared,
    phone: &str,
    name: &str,
    since: u64,
    bytes: &[u8],
) -> Result<u64, Node> {
    let Ok(mut patch) = SyncdPatch::decode(bytes) else {
        return Err(collection_error(name, 400, "bad-request"));
    };
    let current = shared.app_state.with(phone, |a| a.version(name));
    if since != current {
        let mut conflict = serve(shared, phone, name, since, false);
        conflict.set_attr("type", "error");
        conflict.push_child(
            Node::new("error")
                .with_attr("code", 409)
                .with_attr("text", "conflict"),
        );
        return Err(conflict);
    }
    shared.app_state.with(phone, |account| {
        let version = current + 1;
        patch.version = Some(SyncdVersion {
            version: Some(version),
        });
        let ring = account.all_keys();
        let keys_for = move |id: &[u8]| {
            ring.iter()
                .find(|(k, _, _)| k == id)
                .map(|(_, data, _)| MutationKeys::expand(data))
        };
        let collection = account.collections.entry(name.to_string()).or_default();
        match decode_patch(name, &patch, &collection.phone_state, &keys_for) {
            Ok(outcome) => {
                collection.push(patch, &outcome);
                Ok(version)
            }
            Err(e) => {
                log::info!("simulator: {phone} refuses an uploaded {name} patch: {e}");
                Err(collection_error(name, 400, "bad-request"))
            }
        }
    })
}
