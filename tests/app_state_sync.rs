//! App state sync between a simulated phone and the engine over real sockets: the phone shares its
//! app state key with the newly paired engine, then every chat change it makes (control API) arrives
//! as a checked patch and lands in the chat list (mute, pin, mark read) and the synced chat settings
//! (archive, mute end). A patch with a wrong MAC is refused and leaves nothing behind; a restarted
//! engine keeps its versions and asks only for what is newer.

mod companion_support;

use chattu::simulator::SimulatorHandle;
use chattu::store::chats::{ChatMessageRecord, ChatRecord};
use chattu::store::{app_state, Store};
use companion_support::{
    connected, create_phone, eventually, http, messaging_engine, pair, paired_engine, simulator,
    TempStore,
};
use serde_json::{json, Value};
use std::sync::Arc;

const ACCOUNT: &str = "15550001111";
const PEER: &str = "15550002222";
const CLIENT: &str = "client-1";

/// The phone changes its chat with `chat`; returns the collection versions it wrote.
async fn phone_changes_chat(sim: &SimulatorHandle, chat: &str, change: Value) -> Value {
    let (status, body) = http(
        "POST",
        format!(
            "{}/sim/phones/{ACCOUNT}/app-state/chats/{chat}",
            sim.http_base()
        ),
        Some(change),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["versions"].clone()
}

async fn app_state_view(sim: &SimulatorHandle) -> Value {
    let (status, body) = http(
        "GET",
        format!("{}/sim/phones/{ACCOUNT}/app-state", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the phone's app-state view satisfies `done`.
async fn app_state_until(sim: &SimulatorHandle, what: &str, done: impl Fn(&Value) -> bool) {
    let done = &done;
    eventually(what, || async move {
        done(&app_state_view(sim).await).then_some(())
    })
    .await;
}

/// Every fetch the server answered, oldest first: `{collection, since}`.
async fn asked(sim: &SimulatorHandle) -> Vec<Value> {
    app_state_view(sim).await["asked"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn chat_row(store: &Store, number: &str) -> Option<ChatRecord> {
    store
        .chats_of(CLIENT)
        .unwrap()
        .into_iter()
        .find(|c| c.chat == number)
}

fn version(store: &Store, collection: &str) -> u64 {
    app_state::collection_version(store.database(), CLIENT, collection).unwrap()
}

/// Waits until the engine stored the phone's app state key.
async fn key_stored(store: &Arc<Store>) {
    let store = store.clone();
    eventually("the app state key share", move || {
        let store = store.clone();
        async move {
            let keys = app_state::keys(store.database(), CLIENT).unwrap();
            (!keys.is_empty()).then_some(())
        }
    })
    .await;
}

/// Waits until the chat row of `number` satisfies `wanted`.
async fn chat_becomes(
    store: &Arc<Store>,
    number: &str,
    what: &str,
    wanted: impl Fn(&ChatRecord) -> bool + Clone,
) -> ChatRecord {
    let store = store.clone();
    let number = number.to_string();
    eventually(what, move || {
        let (store, number, wanted) = (store.clone(), number.clone(), wanted.clone());
        async move { chat_row(&store, &number).filter(|row| wanted(row)) }
    })
    .await
}

/// An incoming message in the chat with `number`, unread.
fn seed_unread_message(store: &Store, number: &str) {
    let txn = store.database().begin_write().unwrap();
    let message = ChatMessageRecord {
        id: "3EB0SEEDED".into(),
        from_me: false,
        body: "hi".into(),
        timestamp: 1_700_000_000,
        kind: "chat".into(),
        ack: "delivered".into(),
        media: None,
        reactions: Vec::new(),
        read: false,
        sent_row: None,
    };
    Store::record_chat_message_in(&txn, CLIENT, number, Some("Peer"), &message).unwrap();
    txn.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_chat_changes_reach_the_chat_list() {
    let sim = simulator().await;
    let store = TempStore::new("app-state-changes");
    let (engine, _creds) = paired_engine(&sim, ACCOUNT, "Dana", &store, CLIENT).await;
    key_stored(&store.store).await;
    seed_unread_message(&store.store, PEER);
    assert_eq!(
        chat_row(&store.store, PEER).map(|c| c.unread_count),
        Some(1)
    );

    let versions = phone_changes_chat(&sim, PEER, json!({ "mute": 3600, "pin": true })).await;
    assert_eq!(versions, json!({ "regular_high": 1, "regular_low": 1 }));
    chat_becomes(&store.store, PEER, "muted and pinned", |c| {
        c.muted && c.pinned
    })
    .await;
    let synced = app_state::chat_sync(
        store.store.database(),
        CLIENT,
        &format!("{PEER}@s.whatsapp.net"),
    )
    .unwrap();
    let until = synced.mute_until_ms.expect("a mute end");
    let now_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!((until - (now_ms + 3_600_000)).abs() < 10_000, "{until}");

    phone_changes_chat(&sim, PEER, json!({ "read": true })).await;
    chat_becomes(&store.store, PEER, "read", |c| c.unread_count == 0).await;
    assert!(store
        .store
        .unread_chat_message_ids(CLIENT, PEER)
        .unwrap()
        .is_empty());

    // Archiving unpins, in the same patch.
    phone_changes_chat(&sim, PEER, json!({ "archive": true })).await;
    chat_becomes(&store.store, PEER, "unpinned", |c| !c.pinned).await;
    let jid = format!("{PEER}@s.whatsapp.net");
    assert!(
        app_state::chat_sync(store.store.database(), CLIENT, &jid)
            .unwrap()
            .archived
    );

    // A pin for a chat without messages creates its row; a phone number in any form works.
    phone_changes_chat(&sim, "+15550003333", json!({ "pin": true })).await;
    chat_becomes(&store.store, "15550003333", "a pinned new chat", |c| {
        c.pinned
    })
    .await;

    phone_changes_chat(&sim, PEER, json!({ "mute": 0 })).await;
    chat_becomes(&store.store, PEER, "unmuted", |c| !c.muted).await;
    assert_eq!(version(&store.store, "regular_high"), 2);
    assert_eq!(version(&store.store, "regular_low"), 4);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_patch_is_refused_and_a_good_copy_applies_later() {
    let sim = simulator().await;
    let store = TempStore::new("app-state-tamper");
    let (engine, _creds) = paired_engine(&sim, ACCOUNT, "Dana", &store, CLIENT).await;
    key_stored(&store.store).await;
    // The key share made the engine fetch every collection once; let that finish first, so the
    // spoiled answer below is the only fetch of the mute.
    app_state_until(&sim, "the fetches after the key share", |view| {
        view["asked"].as_array().map_or(0, Vec::len) >= 5
    })
    .await;

    // The next patch the server hands out carries a wrong patch MAC.
    let (status, _) = http(
        "POST",
        format!(
            "{}/sim/phones/{ACCOUNT}/app-state/corrupt-next",
            sim.http_base()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200);
    phone_changes_chat(&sim, PEER, json!({ "mute": -1 })).await;
    app_state_until(&sim, "the spoiled answer", |view| {
        view["corruptAnswers"] == 0
    })
    .await;

    // A later change in another collection goes through; by then the engine (one worker, in
    // order) has handled the spoiled answer: it applied nothing of it.
    phone_changes_chat(&sim, PEER, json!({ "pin": true })).await;
    let row = chat_becomes(&store.store, PEER, "pinned", |c| c.pinned).await;
    assert!(!row.muted, "the tampered mute was applied: {row:?}");
    assert_eq!(version(&store.store, "regular_high"), 0);
    assert_eq!(version(&store.store, "regular_low"), 1);

    // The next notification for regular_high fetches from version 0 again: both mutes arrive intact.
    phone_changes_chat(&sim, PEER, json!({ "mute": 7200 })).await;
    let db = store.store.clone();
    eventually("regular_high at version 2", move || {
        let db = db.clone();
        async move { (version(&db, "regular_high") == 2).then_some(()) }
    })
    .await;
    assert!(chat_row(&store.store, PEER).is_some_and(|c| c.muted));
    assert_eq!(app_state_view(&sim).await["lastAsked"]["regular_high"], 0);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_engine_keeps_its_versions_and_fetches_only_newer_patches() {
    let sim = simulator().await;
    let store = TempStore::new("app-state-restart");
    let (engine, creds) = paired_engine(&sim, ACCOUNT, "Dana", &store, CLIENT).await;
    key_stored(&store.store).await;
    phone_changes_chat(&sim, PEER, json!({ "mute": -1 })).await;
    chat_becomes(&store.store, PEER, "muted", |c| c.muted).await;
    engine.shutdown().await;
    let asked_before = asked(&sim).await.len();

    // While the engine is away the phone unmutes and pins.
    let versions = phone_changes_chat(&sim, PEER, json!({ "mute": 0, "pin": true })).await;
    assert_eq!(versions, json!({ "regular_high": 2, "regular_low": 1 }));

    let engine = messaging_engine(
        &sim,
        &creds,
        &store,
        CLIENT,
        Arc::new(chattu::engine::messaging::NoSink),
    );
    connected(&engine).await;
    chat_becomes(&store.store, PEER, "unmuted and pinned", |c| {
        !c.muted && c.pinned
    })
    .await;
    assert_eq!(version(&store.store, "regular_high"), 2);
    assert_eq!(version(&store.store, "regular_low"), 1);
    // After the restart the engine asked for regular_high from version 1 (the one it had), never
    // from scratch.
    let since_restart: Vec<u64> = asked(&sim).await[asked_before..]
        .iter()
        .filter(|a| a["collection"] == "regular_high")
        .filter_map(|a| a["since"].as_u64())
        .collect();
    assert!(since_restart.contains(&1), "{since_restart:?}");
    assert!(since_restart.iter().all(|&v| v >= 1), "{since_restart:?}");
    let view = app_state_view(&sim).await;
    assert_eq!(view["keySharedWith"], json!([1]), "the key was shared once");
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_sync_from_a_snapshot_blob_and_external_patches() {
    let sim = simulator().await;
    let store = TempStore::new("app-state-external");
    create_phone(&sim, ACCOUNT, "Dana").await;
    // Changes made before the engine is linked: its first sync gets them as one snapshot.
    phone_changes_chat(&sim, PEER, json!({ "mute": -1, "pin": false })).await;
    phone_changes_chat(&sim, PEER, json!({ "pin": true })).await;
    let (status, _) = http(
        "POST",
        format!(
            "{}/sim/phones/{ACCOUNT}/app-state/external",
            sim.http_base()
        ),
        Some(json!({ "enabled": true })),
    )
    .await;
    assert_eq!(status, 200);

    let creds = Arc::new(chattu::engine::MemoryCredentialStore::new());
    let engine = messaging_engine(
        &sim,
        &creds,
        &store,
        CLIENT,
        Arc::new(chattu::engine::messaging::NoSink),
    );
    pair(&sim, ACCOUNT, &engine).await;
    // Pinned only comes from regular_low's second version, muted from regular_high.
    chat_becomes(
        &store.store,
        PEER,
        "muted and pinned from the snapshots",
        |c| c.muted && c.pinned,
    )
    .await;
    assert_eq!(version(&store.store, "regular_high"), 1);
    assert_eq!(version(&store.store, "regular_low"), 2);
    let view = app_state_view(&sim).await;
    assert!(view["snapshotsServed"].as_u64().unwrap_or(0) >= 2, "{view}");

    // Later patches come with their records in an external blob.
    phone_changes_chat(&sim, PEER, json!({ "mute": 0 })).await;
    chat_becomes(&store.store, PEER, "unmuted", |c| !c.muted).await;
    assert_eq!(version(&store.store, "regular_high"), 2);
    let view = app_state_view(&sim).await;
    assert!(
        view["externalPatchesServed"].as_u64().unwrap_or(0) >= 1,
        "{view}"
    );
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mute_for_a_while_ends_by_itself() {
    let sim = simulator().await;
    let store = TempStore::new("app-state-mute-ends");
    let (engine, _creds) = paired_engine(&sim, ACCOUNT, "Dana", &store, CLIENT).await;
    key_stored(&store.store).await;
    phone_changes_chat(&sim, PEER, json!({ "mute": 3 })).await;
    chat_becomes(&store.store, PEER, "muted", |c| c.muted).await;
    // No further patch: the engine unmutes the chat when the mute end passes.
    chat_becomes(&store.store, PEER, "unmuted after 3 s", |c| !c.muted).await;
    let jid = format!("{PEER}@s.whatsapp.net");
    let synced = app_state::chat_sync(store.store.database(), CLIENT, &jid).unwrap();
    assert_eq!(synced.mute_until_ms, None);
    assert_eq!(version(&store.store, "regular_high"), 1);
    engine.shutdown().await;
    sim.shutdown().await;
}

/// How many app state keys the engine holds.
fn key_count(store: &Store) -> usize {
    app_state::keys(store.database(), CLIENT).unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patch_under_a_key_not_yet_shared_waits_for_the_key() {
    let sim = simulator().await;
    let store = TempStore::new("app-state-rotation");
    let (engine, _creds) = paired_engine(&sim, ACCOUNT, "Dana", &store, CLIENT).await;
    key_stored(&store.store).await;
    phone_changes_chat(&sim, PEER, json!({ "mute": -1 })).await;
    chat_becomes(&store.store, PEER, "muted", |c| c.muted).await;

    // The phone rotates its key but does not share it yet: the pin it writes cannot be checked.
    let rotate = |body: Value| {
        let url = format!(
            "{}/sim/phones/{ACCOUNT}/app-state/rotate-key",
            sim.http_base()
        );
        async move {
            let (status, answer) = http("POST", url, Some(body)).await;
            assert_eq!(status, 200, "{answer}");
            answer
        }
    };
    rotate(json!({ "share": false })).await;
    let before = asked(&sim).await.len();
    phone_changes_chat(&sim, PEER, json!({ "pin": true })).await;
    app_state_until(&sim, "the engine fetching the pin", |view| {
        let asked = view["asked"].as_array().cloned().unwrap_or_default();
        asked[before.min(asked.len())..]
            .iter()
            .any(|a| a["collection"] == "regular_low")
    })
    .await;
    // Whenever the engine has looked at it, it could not apply it: the key is missing.
    assert_eq!(version(&store.store, "regular_low"), 0);
    assert!(chat_row(&store.store, PEER).is_some_and(|c| !c.pinned));
    assert_eq!(key_count(&store.store), 1);

    // The key share brings the new key and a fetch of everything: the pin applies.
    let (status, shared) = http(
        "POST",
        format!(
            "{}/sim/phones/{ACCOUNT}/app-state/share-keys",
            sim.http_base()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shared}");
    chat_becomes(&store.store, PEER, "pinned", |c| c.pinned).await;
    assert_eq!(key_count(&store.store), 2);

    // A rotation that is shared at once: the next change applies directly.
    let rotated = rotate(json!({})).await;
    assert_eq!(rotated["sharedWith"], json!([1]));
    phone_changes_chat(&sim, PEER, json!({ "mute": 0 })).await;
    chat_becomes(&store.store, PEER, "unmuted", |c| !c.muted).await;
    assert_eq!(key_count(&store.store), 3);
    assert_eq!(version(&store.store, "regular_high"), 2);
    engine.shutdown().await;
    sim.shutdown().await;
}
