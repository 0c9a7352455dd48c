//! App state sync on the engine (§12 part 2): the phone's `APP_STATE_SYNC_KEY_SHARE` is kept in the
//! store (inside the decrypting transaction), and one worker per engine fetches collections with
//! `<iq xmlns="w:sync:app:state">` after each login, when the server says a collection changed
//! (`<notification type="server_sync">`) and when new keys arrive. Every patch is checked before
//! anything of it is used (value and index MAC of each record, the LT-hash against the snapshot MAC,
//! the patch MAC, consecutive versions); a patch that fails stops that collection at its last good
//! version, and the next fetch starts there again. Each applied patch is ONE transaction: the new
//! version, LT-hash and record MACs together with the chat list changes it carries (mute, pin,
//! archive, mark read).
//!
//! A first sync asks for a snapshot; the server may answer with one (or with patches whose records
//! are) stored as an external blob on the media servers (`"WhatsApp App State Keys"`): it is
//! downloaded, its hashes and MAC checked like any media, and then checked as above (a snapshot's
//! LT-hash against its MAC) and applied, replacing the collection. Not handled: writing our own
//! changes (the API has no route for them).

use super::media::content::Attachment;
use super::media::MediaKind;
use super::messaging::{unix_now, Messenger};
use super::receive::Incoming;
use crate::protocol::app_state::{
    chat_setting, decode_patch, decode_snapshot, is_collection, AppStateError, ChatSetting,
    CollectionState, DecodedPatch, MutationKeys, Operation, COLLECTIONS,
};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::media::MediaType;
use crate::protocol::proto::generated::message::protocol_message::Type as ProtocolType;
use crate::protocol::proto::generated::{
    ExternalBlobReference, SyncdMutations, SyncdPatch, SyncdSnapshot, SyncdVersion,
};
use crate::protocol::proto::{Message, ProtoMessage};
use crate::store::{app_state as store, chats, lid_map, StoreError};
use redb::WriteTransaction;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;

/// Fetch rounds per collection and request (each round is one iq; `has_more_patches` asks for more).
const MAX_ROUNDS: usize = 100;

/// Why a collection could not be brought up to date.
#[derive(Debug)]
pub enum SyncError {
    /// The server did not answer, or answered with an error.
    Server(String),
    /// A patch failed a check; nothing of it was applied.
    Refused(AppStateError),
    Store(StoreError),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Server(e) => write!(f, "server: {e}"),
            SyncError::Refused(e) => write!(f, "patch refused: {e}"),
            SyncError::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for SyncError {}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Store(e)
    }
}

/// The keys of an `APP_STATE_SYNC_KEY_SHARE` our own phone sent, stored inside the decrypting
/// transaction. `None` when `message` is not one (or not from our own account); else the number of
/// new keys, or the store error.
pub(super) fn store_key_share_in(
    txn: &WriteTransaction,
    namespace: &str,
    incoming: &Incoming,
    message: &Message,
) -> Option<Result<usize, String>> {
    let protocol = message.protocol_message.as_ref()?;
    if !incoming.from_me || protocol.r#type != Some(ProtocolType::AppStateSyncKeyShare as i32) {
        return None;
    }
    let keys: Vec<(Vec<u8>, Vec<u8>)> = protocol
        .app_state_sync_key_share
        .as_ref()
        .map(|share| {
            share
                .keys
                .iter()
                .filter_map(|k| {
                    let id = k.key_id.as_ref()?.key_id.clone()?;
                    let data = k.key_data.as_ref()?.key_data.clone()?;
                    (!id.is_empty() && !data.is_empty()).then_some((id, data))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(store::put_keys_in(txn, namespace, &keys).map_err(|e| e.to_string()))
}

/// What the worker is asked to fetch.
enum Request {
    All,
    Collection(String),
}

/// The handle the messenger keeps to its app state worker.
pub(super) struct AppStateSync {
    tx: mpsc::UnboundedSender<Request>,
}

/// A handle and the receiver its worker reads (spawn [`sync_worker`] with it).
pub(super) fn channel() -> (AppStateSync, AppStateRequests) {
    let (tx, rx) = mpsc::unbounded_channel();
    (AppStateSync { tx }, AppStateRequests(rx))
}

/// The worker's end of [`channel`].
pub(super) struct AppStateRequests(mpsc::UnboundedReceiver<Request>);

impl AppStateSync {
    /// Fetch every collection (after login, after new keys).
    pub(super) fn fetch_all(&self) {
        let _ = self.tx.send(Request::All);
    }

    /// A stanza from the server: a `server_sync` notification asks for its collections.
    pub(super) fn on_notification(&self, node: &Node) {
        if node.tag != "notification" || node.attr("type") != Some("server_sync") {
            return;
        }
        for collection in node.children().iter().filter(|c| c.tag == "collection") {
            if let Some(name) = collection.attr_text("name") {
                if is_collection(&name) {
                    let _ = self.tx.send(Request::Collection(name.into_owned()));
                }
            }
        }
    }
}

/// Longest sleep between looks at mute ends (a mute ending later is looked at again then).
const MAX_MUTE_WAIT_MS: i64 = 3_600_000;

/// Fetches what is asked, one request at a time; requests that queue up meanwhile are merged. In
/// between it unmutes chats whose mute ended, waking up for the next mute end.
pub(super) async fn sync_worker(messenger: Weak<Messenger>, mut requests: AppStateRequests) {
    loop {
        let Some(m) = messenger.upgrade() else { return };
        let next_end = tokio::task::spawn_blocking(move || expire_mutes(&m))
            .await
            .unwrap_or_else(|e| Err(StoreError::Corrupt(e.to_string())))
            .unwrap_or_else(|e| {
                log::warn!("engine: cannot expire mutes: {e}");
                None
            });
        let first = match next_end {
            Some(end) => {
                let wait = end.saturating_sub(now_ms()).clamp(0, MAX_MUTE_WAIT_MS);
                let pause = std::time::Duration::from_millis(wait.unsigned_abs());
                tokio::select! {
                    request = requests.0.recv() => request,
                    _ = tokio::time::sleep(pause) => continue,
                }
            }
            None => requests.0.recv().await,
        };
        let Some(first) = first else { return };
        let mut wanted = BTreeSet::new();
        let mut add = |r: Request| match r {
            Request::All => wanted.extend(COLLECTIONS.iter().map(|c| c.to_string())),
            Request::Collection(name) => {
                wanted.insert(name);
            }
        };
        add(first);
        while let Ok(more) = requests.0.try_recv() {
            add(more);
        }
        let Some(m) = messenger.upgrade() else { return };
        for name in wanted {
            if let Err(e) = sync_collection(&m, &name).await {
                log::warn!("engine: app state {name}: {e}");
            }
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(unix_now().saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Unmutes (in the chat list) every chat whose mute ended, in one transaction; returns the next
/// mute end still ahead.
fn expire_mutes(m: &Messenger) -> Result<Option<i64>, StoreError> {
    let (db, namespace) = (m.setup.db.database(), m.setup.namespace.as_str());
    let now = now_ms();
    let mut next: Option<i64> = None;
    let mut ended = Vec::new();
    for (chat, sync) in store::chat_syncs(db, namespace)? {
        match sync.mute_until_ms {
            Some(end) if end != -1 && end <= now => ended.push(chat),
            Some(end) if end != -1 => next = Some(next.map_or(end, |n| n.min(end))),
            _ => {}
        }
    }
    if !ended.is_empty() {
        let txn = db.begin_write()?;
        for chat in ended {
            let setting = ChatSetting::Mute {
                chat,
                until_ms: None,
            };
            apply_setting(&txn, namespace, &setting, now)?;
        }
        txn.commit()?;
    }
    Ok(next)
}

/// Keys by id, expanded.
type KeyRing = HashMap<Vec<u8>, MutationKeys>;

fn load(m: &Messenger, name: &str) -> Result<(CollectionState, KeyRing), StoreError> {
    let db = m.setup.db.database();
    let state = store::collection_state(db, &m.setup.namespace, name)?;
    let keys = store::keys(db, &m.setup.namespace)?
        .into_iter()
        .map(|(id, data)| {
            let expanded = MutationKeys::expand(&data);
            (id, expanded)
        })
        .collect();
    Ok((state, keys))
}

fn sync_iq(name: &str, version: u64) -> Node {
    Node::new("iq")
        .with_attr("to", Jid::server_jid())
        .with_attr("xmlns", "w:sync:app:state")
        .with_attr("type", "set")
        .with_child(
            Node::new("sync").with_child(
                Node::new("collection")
                    .with_attr("name", name)
                    .with_attr("version", version)
                    .with_attr(
                        "return_snapshot",
                        if version == 0 { "true" } else { "false" },
                    ),
            ),
        )
}

/// Brings one collection up to date: fetch, check and apply patch by patch.
async fn sync_collection(m: &Arc<Messenger>, name: &str) -> Result<(), SyncError> {
    for _ in 0..MAX_ROUNDS {
        let m2 = Arc::clone(m);
        let owned = name.to_string();
        let (mut state, keys) = tokio::task::spawn_blocking(move || load(&m2, &owned))
            .await
            .map_err(|e| SyncError::Server(e.to_string()))??;
        if keys.is_empty() {
            // Nothing could be checked or read yet: the key share from the phone triggers a fetch.
            return Ok(());
        }
        let answer = m
            .iq(sync_iq(name, state.version))
            .await
            .map_err(|e| SyncError::Server(e.to_string()))?;
        if answer.attr("type") == Some("error") {
            return Err(SyncError::Server(format!("iq error {answer}")));
        }
        let collection = answer
            .child("sync")
            .and_then(|s| s.children().iter().find(|c| c.attr("name") == Some(name)))
            .ok_or_else(|| SyncError::Server("no collection in the answer".into()))?;
        if collection.attr("type") == Some("error") {
            return Err(SyncError::Server(format!("collection error {collection}")));
        }
        let keys_for = |id: &[u8]| keys.get(id).cloned();
        if let Some(reference) = collection.child("snapshot").and_then(Node::content_bytes) {
            if state.version != 0 {
                return Err(SyncError::Server("a snapshot we did not ask for".into()));
            }
            let reference = ExternalBlobReference::decode(reference)
                .map_err(|_| SyncError::Refused(AppStateError::Malformed("snapshot reference")))?;
            let blob = download_blob(m, name, &reference).await?;
            let snapshot = SyncdSnapshot::decode(blob.as_slice())
                .map_err(|_| SyncError::Refused(AppStateError::Malformed("snapshot")))?;
            let decoded =
                decode_snapshot(name, &snapshot, &keys_for).map_err(SyncError::Refused)?;
            save(m, name, &decoded, true).await?;
            state = CollectionState::default();
            decoded.apply_to(&mut state);
        }
        let patches: Vec<&[u8]> = collection
            .child("patches")
            .map(|p| p.children().iter().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.tag == "patch")
            .filter_map(Node::content_bytes)
            .collect();
        for bytes in patches {
            let mut patch = SyncdPatch::decode(bytes)
                .map_err(|_| SyncError::Refused(AppStateError::Malformed("patch")))?;
            let version = match patch.version.as_ref().and_then(|v| v.version) {
                Some(v) => v,
                None => {
                    // A patch without its version is the next one (Baileys reads them so too).
                    let next = state.version + 1;
                    patch.version = Some(SyncdVersion {
                        version: Some(next),
                    });
                    next
                }
            };
            if version <= state.version {
                continue;
            }
            if let Some(reference) = patch.external_mutations.take() {
                let blob = download_blob(m, name, &reference).await?;
                let external = SyncdMutations::decode(blob.as_slice())
                    .map_err(|_| SyncError::Refused(AppStateError::Malformed("mutations")))?;
                patch.mutations.extend(external.mutations);
            }
            let decoded =
                decode_patch(name, &patch, &state, &keys_for).map_err(SyncError::Refused)?;
            save(m, name, &decoded, false).await?;
            decoded.apply_to(&mut state);
        }
        if collection.attr("has_more_patches") != Some("true") {
            return Ok(());
        }
    }
    Ok(())
}

/// Downloads and decrypts a blob of app state (`"WhatsApp App State Keys"`), checking its hashes.
async fn download_blob(
    m: &Messenger,
    name: &str,
    reference: &ExternalBlobReference,
) -> Result<Vec<u8>, SyncError> {
    let attachment = Attachment {
        kind: MediaKind::Document,
        media_type: MediaType::AppState,
        voice: false,
        mimetype: "application/octet-stream".into(),
        filename: None,
        caption: None,
        file_length: reference.file_size_bytes.unwrap_or_default(),
        media_key: reference.media_key.clone().unwrap_or_default(),
        direct_path: reference.direct_path.clone(),
        url: None,
        file_sha256: reference.file_sha256.clone().unwrap_or_default(),
        file_enc_sha256: reference.file_enc_sha256.clone().unwrap_or_default(),
    };
    let media = m
        .fetch_attachment(&format!("app state {name}"), &attachment)
        .await;
    match media.bytes {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(SyncError::Server(format!(
            "app state blob not downloaded: {}",
            media.error.unwrap_or_default()
        ))),
    }
}

/// Records a checked patch (or snapshot, `replace`) off the async threads.
async fn save(
    m: &Arc<Messenger>,
    name: &str,
    decoded: &DecodedPatch,
    replace: bool,
) -> Result<(), SyncError> {
    let (m, name, decoded) = (Arc::clone(m), name.to_string(), decoded.clone());
    tokio::task::spawn_blocking(move || apply_patch(&m, &name, &decoded, replace))
        .await
        .map_err(|e| SyncError::Server(e.to_string()))??;
    Ok(())
}

/// Records one checked patch (or snapshot) and its chat changes in one transaction.
fn apply_patch(
    m: &Messenger,
    name: &str,
    patch: &DecodedPatch,
    replace: bool,
) -> Result<(), StoreError> {
    let namespace = m.setup.namespace.as_str();
    let txn = m.setup.db.database().begin_write()?;
    store::save_patch_in(&txn, namespace, name, patch, replace)?;
    let now_ms = now_ms();
    for mutation in &patch.mutations {
        if mutation.operation != Operation::Set {
            continue;
        }
        if let Some(setting) = chat_setting(&mutation.index, &mutation.value) {
            apply_setting(&txn, namespace, &setting, now_ms)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// The chat-list key of a chat JID: the phone number for private chats (LIDs mapped when known).
fn chat_number(txn: &WriteTransaction, namespace: &str, chat: &str) -> Option<String> {
    let jid = Jid::parse(chat).ok()?;
    if jid.is_phone_user() {
        return Some(jid.user);
    }
    if jid.is_lid() {
        return lid_map::pn_of_in(txn, namespace, &jid.user).ok().flatten();
    }
    None
}

fn apply_setting(
    txn: &WriteTransaction,
    namespace: &str,
    setting: &ChatSetting,
    now_ms: i64,
) -> Result<(), StoreError> {
    let number = chat_number(txn, namespace, setting.chat());
    match setting {
        ChatSetting::Mute { chat, until_ms } => {
            store::update_chat_sync_in(txn, namespace, chat, |c| c.mute_until_ms = *until_ms)?;
            let muted = store::mute_holds(*until_ms, now_ms);
            if let Some(number) = number {
                chats::apply_synced_settings_in(txn, namespace, &number, Some(muted), None, None)?;
            }
        }
        ChatSetting::Pin { chat, pinned } => {
            store::update_chat_sync_in(txn, namespace, chat, |c| c.pinned = *pinned)?;
            if let Some(number) = number {
                chats::apply_synced_settings_in(
                    txn,
                    namespace,
                    &number,
                    None,
                    Some(*pinned),
                    None,
                )?;
            }
        }
        ChatSetting::Archive { chat, archived } => {
            store::update_chat_sync_in(txn, namespace, chat, |c| c.archived = *archived)?;
        }
        ChatSetting::MarkRead { read, .. } => {
            if let Some(number) = number {
                chats::apply_synced_settings_in(txn, namespace, &number, None, None, Some(*read))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_request_asks_for_a_snapshot_only_from_scratch() {
        let first = sync_iq("regular_high", 0);
        let collection = first.child_path(&["sync", "collection"]).cloned();
        let collection = collection.unwrap_or_else(|| Node::new("missing"));
        assert_eq!(collection.attr("return_snapshot"), Some("true"));
        assert_eq!(collection.attr_text("version").as_deref(), Some("0"));
        let later = sync_iq("regular_high", 7);
        assert_eq!(
            later
                .child_path(&["sync", "collection"])
                .and_then(|c| c.attr("return_snapshot")),
            Some("false")
        );
        assert_eq!(first.attr("xmlns"), Some("w:sync:app:state"));
    }

    #[test]
    fn only_our_own_devices_can_share_keys() {
        use crate::protocol::proto::generated::message::{
            AppStateSyncKey, AppStateSyncKeyData, AppStateSyncKeyId, AppStateSyncKeyShare,
            ProtocolMessage,
        };
        let dir = crate::store::test_dir::TempDir::new();
        let db = redb::Database::create(dir.path().join("db.redb")).unwrap();
        let share = Message {
            protocol_message: Some(Box::new(ProtocolMessage {
                r#type: Some(ProtocolType::AppStateSyncKeyShare as i32),
                app_state_sync_key_share: Some(AppStateSyncKeyShare {
                    keys: vec![AppStateSyncKey {
                        key_id: Some(AppStateSyncKeyId {
                            key_id: Some(vec![0, 0, 0, 0, 1, 2]),
                        }),
                        key_data: Some(AppStateSyncKeyData {
                            key_data: Some(vec![9; 32]),
                            ..Default::default()
                        }),
                    }],
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        let incoming = |from_me: bool| {
            let stanza = Node::new("message")
                .with_attr("from", Jid::phone("15550001111").with_device(0))
                .with_attr("id", "1");
            let own = if from_me {
                "15550001111"
            } else {
                "15550009999"
            };
            super::super::receive::parse_incoming(&stanza, own).unwrap()
        };
        let txn = db.begin_write().unwrap();
        // A contact cannot plant keys; a text from our phone is not a key share.
        assert!(store_key_share_in(&txn, "c1", &incoming(false), &share).is_none());
        let text = Message {
            conversation: Some("hi".into()),
            ..Default::default()
        };
        assert!(store_key_share_in(&txn, "c1", &incoming(true), &text).is_none());
        assert_eq!(
            store_key_share_in(&txn, "c1", &incoming(true), &share),
            Some(Ok(1))
        );
        assert_eq!(
            store_key_share_in(&txn, "c1", &incoming(true), &share),
            Some(Ok(0)),
            "a key already held is not new"
        );
        txn.commit().unwrap();
        assert_eq!(
            store::keys(&db, "c1").unwrap(),
            vec![(vec![0, 0, 0, 0, 1, 2], vec![9; 32])]
        );
    }

    #[test]
    fn only_server_sync_notifications_ask_for_a_fetch() {
        let (sync, mut requests) = channel();
        let notification = |kind: &str, name: &str| {
            Node::new("notification")
                .with_attr("type", kind)
                .with_child(Node::new("collection").with_attr("name", name))
        };
        sync.on_notification(&notification("devices", "regular_high"));
        sync.on_notification(&notification("server_sync", "not_a_collection"));
        assert!(requests.0.try_recv().is_err());
        sync.on_notification(&notification("server_sync", "regular_low"));
        assert!(matches!(
            requests.0.try_recv(),
            Ok(Request::Collection(name)) if name == "regular_low"
        ));
    }
}
