//! Received media and reactions in the app's own store, through the engine the manager starts (its
//! sink is `services::chats::ChatSink`): a phone's image and document land in the chat with their
//! kind, description and verified bytes (`Store::chat_media`), the received history row and the
//! queued `message_received` webhook describe the media, and a reaction from a second engine lands
//! on the message it reacts to.

mod sandbox_app_support;

use base64::Engine as _;
use chattu::config::Config;
use chattu::engine::messaging::{EngineEvent, MessagingSetup, NoSink, SignalDb};
use chattu::engine::signal_prekeys::RedbPreKeys;
use chattu::engine::{self, EngineConfig, EngineStatus, MemoryCredentialStore};
use chattu::protocol::jid::Jid;
use chattu::services::whatsapp;
use chattu::services::{App, OpenOptions, Role, SystemClock};
use hyper::Method;
use sandbox_app_support::{control, scan_client_qr};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

async fn qr_of(engine: &engine::EngineHandle) -> String {
    match tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::PendingAuth { .. })),
    )
    .await
    {
        Ok(EngineStatus::PendingAuth { qr, .. }) => qr,
        other => panic!("no QR: {other:?}"),
    }
}

async fn connected(engine: &engine::EngineHandle) {
    let status = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(
        matches!(status, Ok(EngineStatus::Connected { .. })),
        "{status:?}"
    );
}

/// Waits for `check` to return Some, polling the store.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..400 {
        if let Some(found) = check() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_media_and_reactions_reach_the_chat_store() {
    let dir = std::env::temp_dir().join(format!("chattu-media-chats-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _cleanup = RemoveOnDrop(dir.clone());
    let mut config = Config::default();
    config.storage.data_dir = dir.join("app");
    config.accounts.argon2_memory_kib = 1024;
    config.accounts.argon2_iterations = 1;
    let app = App::open_with(
        config,
        OpenOptions {
            clock: Arc::new(SystemClock),
            initial_admin_password: Some("admin-password-1".into()),
        },
    )
    .expect("open app");
    let (_, key) = (app.accounts)
        .create_user_local("ops", Role::User, "ops-password-1")
        .expect("user");
    let caller = app.accounts.authenticate_api_key(&key).expect("caller");
    app.clients
        .create(&caller, "desk", "15550011001")
        .expect("client");
    // A webhook URL makes the store keep the events (nothing delivers them in this test).
    app.store
        .update_client("desk", |c| {
            c.webhook_url = Some("http://127.0.0.1:9/hook".into())
        })
        .expect("webhook url");

    let manager = whatsapp::start(&app, true).await.expect("start engines");
    let sandbox = app.whatsapp.sandbox().expect("sandbox").clone();
    for phone in ["15550011001", "15550011002"] {
        let (status, body) = control(
            &sandbox,
            Method::POST,
            "/sim/phones",
            json!({ "phone": phone }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let desk = scan_client_qr(&manager, &sandbox, "desk", "15550011001").await;
    connected(&desk).await;
    let mut events = desk.events().expect("messaging engine");

    // The phone sends an image with a caption and a document.
    let picture: Vec<u8> = (0..6000u32).map(|i| (i * 29 + 3) as u8).collect();
    let pdf: Vec<u8> = (0..3333u32).map(|i| (i * 7 + 1) as u8).collect();
    let mut ids = Vec::new();
    for (kind, bytes, mimetype, filename, caption) in [
        ("image", &picture, "image/jpeg", None, Some("look at this")),
        ("document", &pdf, "application/pdf", Some("offer.pdf"), None),
    ] {
        let (status, answer) = control(
            &sandbox,
            Method::POST,
            "/sim/phones/15550011002/messages",
            json!({
                "to": "15550011001",
                "mediaType": kind,
                "mediaBase64": base64::engine::general_purpose::STANDARD.encode(bytes),
                "mimetype": mimetype,
                "filename": filename,
                "caption": caption,
            }),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_string());
    }
    let (image_id, doc_id) = (&ids[0], &ids[1]);
    let (info, stored) = eventually("the image is stored", || {
        app.store.chat_media("desk", image_id).unwrap()
    })
    .await;
    assert_eq!(info.mimetype, "image/jpeg");
    assert!(stored == picture, "the stored image differs");
    let (info, stored) = eventually("the document is stored", || {
        app.store.chat_media("desk", doc_id).unwrap()
    })
    .await;
    assert_eq!(
        (info.mimetype.as_str(), info.filename.as_deref()),
        ("application/pdf", Some("offer.pdf"))
    );
    assert!(stored == pdf, "the stored document differs");
    let messages = app.store.chat_messages("desk", "15550011002", 10).unwrap();
    let image = messages
        .iter()
        .find(|m| &m.id == image_id)
        .expect("image row");
    assert_eq!(
        (image.kind.as_str(), image.body.as_str()),
        ("image", "look at this")
    );
    let doc = messages
        .iter()
        .find(|m| &m.id == doc_id)
        .expect("document row");
    assert_eq!((doc.kind.as_str(), doc.body.as_str()), ("document", ""));

    // The queued message_received events describe the media.
    let queued = app.store.webhook_pending("desk", 10).unwrap();
    let bodies: Vec<Value> = queued
        .iter()
        .filter(|e| e.event == "message_received")
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["data"]["hasMedia"], true);
    assert_eq!(bodies[0]["data"]["mediaType"], "image");
    assert_eq!(bodies[0]["data"]["body"], "look at this");
    assert_eq!(bodies[1]["data"]["mediaType"], "document");
    assert_eq!(bodies[1]["data"]["filename"], "offer.pdf");
    assert_eq!(bodies[1]["data"]["mediaDownloaded"], true);

    // A second engine on the phone's account reacts to the image.
    let friend_db = Arc::new(redb::Database::create(dir.join("friend.redb")).unwrap());
    let signal_db: Arc<dyn SignalDb> = friend_db;
    let friend = engine::start_messaging(
        EngineConfig::simulator(sandbox.ws_url(), sandbox.trusted_root()),
        Arc::new(MemoryCredentialStore::new()),
        Arc::new(RedbPreKeys::new(signal_db.clone(), "friend")),
        MessagingSetup {
            db: signal_db,
            namespace: "friend".into(),
            sink: Arc::new(NoSink),
        },
    );
    let qr = qr_of(&friend).await;
    let (status, body) = control(
        &sandbox,
        Method::POST,
        "/sim/phones/15550011002/scan",
        json!({ "qr": qr }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    connected(&friend).await;
    let desk_jid = Jid::phone("15550011001");
    let mut attempt = 0;
    let reaction = loop {
        match friend.send_reaction(&desk_jid, image_id, true, "❤️").await {
            Ok(sent) => break sent,
            Err(e) if attempt < 40 => {
                attempt += 1;
                eprintln!("reaction not sent yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("reaction: {e}"),
        }
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(EngineEvent::MessageReceived(m))) if m.id == reaction.id => break,
            Ok(Ok(_)) => {}
            other => panic!("the reaction never came: {other:?}"),
        }
    }
    let reactions = eventually("the reaction is on the image", || {
        let messages = app.store.chat_messages("desk", "15550011002", 10).unwrap();
        let image = messages.into_iter().find(|m| &m.id == image_id)?;
        (!image.reactions.is_empty()).then_some(image.reactions)
    })
    .await;
    assert_eq!(reactions.len(), 1);
    assert_eq!(
        (reactions[0].reaction.as_str(), reactions[0].sender.as_str()),
        ("❤️", "15550011002")
    );
    // The reaction is not a chat message of its own.
    let messages = app.store.chat_messages("desk", "15550011002", 10).unwrap();
    assert!(messages.iter().all(|m| m.id != reaction.id));

    friend.shutdown().await;
    whatsapp::stop(&app).await;
}

/// Removes the data directory when the test ends, passed or not.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
