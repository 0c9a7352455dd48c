//! Media through the engine against the simulator over real sockets: every kind engine → phone (the
//! phone downloads, verifies and decrypts it: same SHA-256) and phone → engine (downloaded and
//! verified before the message is recorded, the bytes reach the sink in the same transaction); a
//! download over the engine's size cap still records the message, described without bytes; group
//! media between two engines (sender keys); 1:1 media and a reaction between two engines; a channel
//! post with an unencrypted upload.

use base64::Engine as _;
use chattu::engine::channels::ChannelError;
use chattu::engine::media::{MediaKind, OutgoingMedia, ReceivedMedia};
use chattu::engine::messaging::{InboundSink, MessagingSetup, ReceivedMessage, SignalDb};
use chattu::engine::send::SendError;
use chattu::engine::signal_prekeys::RedbPreKeys;
use chattu::engine::{self, EngineConfig, EngineHandle, MemoryCredentialStore};
use chattu::protocol::crypto::sha256;
use chattu::protocol::jid::Jid;
use chattu::simulator::SimulatorHandle;
use redb::{TableDefinition, WriteTransaction};
use serde_json::{json, Value};
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

mod companion_support;
use companion_support::{
    call, create_unnamed_phone, pair, received_by_engine, simulator, TempDb, PATIENCE,
};

/// What the test sink recorded, written inside the engine's transaction: id → media bytes, or
/// id → "reaction:<target>:<emoji>".
const RECORDED: TableDefinition<&str, &[u8]> = TableDefinition::new("test_media_inbox");

struct RecordingSink;

impl InboundSink for RecordingSink {
    fn record(&self, txn: &WriteTransaction, message: &ReceivedMessage) -> Result<(), String> {
        let mut table = txn.open_table(RECORDED).map_err(|e| e.to_string())?;
        let value: Vec<u8> = match (&message.media, &message.reaction) {
            (Some(m), _) => m.bytes.as_deref().unwrap_or(b"<no bytes>").to_vec(),
            (None, Some(r)) => format!("reaction:{}:{}", r.target_id, r.emoji).into_bytes(),
            (None, None) => message.text.clone().unwrap_or_default().into_bytes(),
        };
        table
            .insert(message.id.as_str(), value.as_slice())
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// What the sink recorded for message `id`.
fn recorded(db: &TempDb, id: &str) -> Option<Vec<u8>> {
    let txn = db.db.begin_read().unwrap();
    let table = txn.open_table(RECORDED).ok()?;
    let value = table.get(id).unwrap();
    value.map(|v| v.value().to_vec())
}

async fn get_bytes(url: String) -> (u16, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let response = match ureq::get(&url).timeout(PATIENCE).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        let status = response.status();
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).unwrap();
        (status, body)
    })
    .await
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A messaging engine for a new `phone`, paired by QR with prekeys uploaded; `max_bytes` overrides
/// the engine's media size cap.
async fn media_engine(
    sim: &SimulatorHandle,
    phone: &str,
    db: &TempDb,
    max_bytes: Option<u64>,
) -> EngineHandle {
    create_unnamed_phone(sim, phone).await;
    let signal_db: Arc<dyn SignalDb> = db.db.clone();
    let mut config = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
    if let Some(max) = max_bytes {
        config.media_max_bytes = max;
    }
    let engine = engine::start_messaging(
        config,
        Arc::new(MemoryCredentialStore::new()),
        Arc::new(RedbPreKeys::new(signal_db.clone(), phone)),
        MessagingSetup {
            db: signal_db,
            namespace: phone.into(),
            sink: Arc::new(RecordingSink),
        },
    );
    pair(sim, phone, &engine).await;
    engine
}

/// A file of `len` bytes that differs per kind (not a multiple of the AES block, to test padding).
fn sample(kind: MediaKind, len: usize) -> OutgoingMedia {
    let seed = kind.name().len() as u32 * 31;
    let (mimetype, filename, caption) = match kind {
        MediaKind::Image => ("image/jpeg", None, Some("a picture")),
        MediaKind::Video => ("video/mp4", None, Some("a film")),
        MediaKind::Audio => ("audio/ogg; codecs=opus", None, None),
        MediaKind::Document => ("application/pdf", Some("report.pdf"), Some("the report")),
        MediaKind::Sticker => ("image/webp", None, None),
    };
    OutgoingMedia {
        kind,
        bytes: (0..len as u32).map(|i| (i * 13 + seed) as u8).collect(),
        mimetype: mimetype.into(),
        filename: filename.map(str::to_string),
        caption: caption.map(str::to_string),
    }
}

/// Polls the phone's received list until message `id` is there with its media downloaded.
async fn phone_media_row(sim: &SimulatorHandle, phone: &str, id: &str) -> Value {
    for _ in 0..200 {
        let (_, body) = call(
            "GET",
            format!("{}/sim/phones/{phone}/messages", sim.http_base()),
            None,
        )
        .await;
        let row = body["received"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == id))
            .cloned();
        if let Some(row) = row.filter(|r| !r["media"].is_null()) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{phone} never received media message {id}");
}

fn assert_media(got: &ReceivedMedia, sent: &OutgoingMedia) {
    assert_eq!(got.kind, sent.kind);
    assert_eq!(got.mimetype, sent.mimetype);
    assert_eq!(got.error, None);
    assert_eq!(got.bytes.as_deref(), Some(sent.bytes.as_slice()));
    assert_eq!(got.size, sent.bytes.len() as u64);
    if matches!(
        sent.kind,
        MediaKind::Image | MediaKind::Video | MediaKind::Document
    ) {
        assert_eq!(got.caption, sent.caption, "{}", sent.kind);
    }
    if sent.kind == MediaKind::Document {
        assert_eq!(got.filename, sent.filename);
    }
}

#[tokio::test]
async fn every_kind_both_ways_between_the_engine_and_a_phone() {
    let sim = simulator().await;
    let db = TempDb::new("phone");
    let engine = media_engine(&sim, "15550008001", &db, None).await;
    create_unnamed_phone(&sim, "15550008002").await;
    let friend = Jid::phone("15550008002");
    let mut events = engine.events().unwrap();

    for (i, kind) in MediaKind::ALL.into_iter().enumerate() {
        // Engine → phone: the phone downloads, verifies and decrypts the same bytes.
        let media = sample(kind, 3000 + i * 1111);
        let sent = engine.send_media(&friend, media.clone()).await.unwrap();
        let row = phone_media_row(&sim, "15550008002", &sent.id).await;
        assert_eq!(row["media"]["type"], kind.name(), "{row}");
        assert_eq!(row["media"]["error"], Value::Null, "{row}");
        assert_eq!(row["media"]["sha256"], hex(&sha256(&media.bytes)), "{row}");
        assert_eq!(row["media"]["size"], media.bytes.len(), "{row}");
        assert_eq!(row["media"]["mimetype"], media.mimetype.as_str(), "{row}");
        let (status, bytes) = get_bytes(format!(
            "{}/sim/phones/15550008002/media/{}",
            sim.http_base(),
            sent.id
        ))
        .await;
        assert_eq!((status, bytes.len()), (200, media.bytes.len()));
        assert!(
            bytes == media.bytes,
            "{kind}: the phone decrypted other bytes"
        );

        // Phone → engine: downloaded and verified before the message was recorded.
        let back = sample(kind, 2000 + i * 777);
        let (status, answer) = call(
            "POST",
            format!("{}/sim/phones/15550008002/messages", sim.http_base()),
            Some(json!({
                "to": "15550008001",
                "mediaType": kind.name(),
                "mediaBase64": base64::engine::general_purpose::STANDARD.encode(&back.bytes),
                "mimetype": back.mimetype,
                "filename": back.filename,
                "caption": back.caption,
            })),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        let id = answer["id"].as_str().unwrap();
        let received = received_by_engine(&mut events, id).await;
        let got = received.media.as_ref().expect("media described");
        assert_media(got, &back);
        assert_eq!(received.chat, friend);
        assert_eq!(recorded(&db, id), Some(back.bytes.clone()), "{kind}");
    }

    // The phone reacts to a message the engine sent it: the reaction names that message.
    let target = engine.send_text(&friend, "react to me").await.unwrap();
    let (status, answer) = call(
        "POST",
        format!("{}/sim/phones/15550008002/reactions", sim.http_base()),
        Some(json!({"to": "15550008001", "id": target.id, "emoji": "❤️"})),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let received = received_by_engine(&mut events, answer["id"].as_str().unwrap()).await;
    let reaction = received.reaction.expect("a reaction");
    assert_eq!(
        (reaction.target_id.as_str(), reaction.emoji.as_str()),
        (target.id.as_str(), "❤️")
    );
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn files_over_the_cap_are_described_without_bytes_and_not_sent() {
    let sim = simulator().await;
    let db = TempDb::new("cap");
    let engine = media_engine(&sim, "15550008101", &db, Some(4096)).await;
    create_unnamed_phone(&sim, "15550008102").await;
    let mut events = engine.events().unwrap();

    let big = sample(MediaKind::Image, 10_000);
    let (status, answer) = call(
        "POST",
        format!("{}/sim/phones/15550008102/messages", sim.http_base()),
        Some(json!({
            "to": "15550008101",
            "mediaType": "image",
            "mediaBase64": base64::engine::general_purpose::STANDARD.encode(&big.bytes),
            "mimetype": "image/jpeg",
            "caption": "too big for you",
        })),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let received = received_by_engine(&mut events, id).await;
    let media = received.media.expect("still described");
    assert_eq!(media.kind, MediaKind::Image);
    assert_eq!(media.caption.as_deref(), Some("too big for you"));
    assert_eq!(media.size, 10_000);
    assert!(media.bytes.is_none());
    assert!(media.error.is_some_and(|e| e.contains("limit")));
    assert_eq!(recorded(&db, id), Some(b"<no bytes>".to_vec()));

    let refused = engine
        .send_media(&Jid::phone("15550008102"), big.clone())
        .await;
    assert!(matches!(refused, Err(SendError::Media(_))), "{refused:?}");
    let empty = OutgoingMedia {
        bytes: Vec::new(),
        ..big
    };
    let refused = engine.send_media(&Jid::phone("15550008102"), empty).await;
    assert!(matches!(refused, Err(SendError::Media(_))), "{refused:?}");
    // Small files still go.
    let small = sample(MediaKind::Sticker, 1000);
    let sent = engine
        .send_media(&Jid::phone("15550008102"), small)
        .await
        .unwrap();
    phone_media_row(&sim, "15550008102", &sent.id).await;
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn two_engines_exchange_media_and_reactions() {
    let sim = simulator().await;
    let (db_a, db_b) = (TempDb::new("pair-a"), TempDb::new("pair-b"));
    let a = media_engine(&sim, "15550008201", &db_a, None).await;
    let b = media_engine(&sim, "15550008202", &db_b, None).await;
    let (jid_a, jid_b) = (Jid::phone("15550008201"), Jid::phone("15550008202"));
    let (mut events_a, mut events_b) = (a.events().unwrap(), b.events().unwrap());

    // Every kind, both ways.
    for (i, kind) in MediaKind::ALL.into_iter().enumerate() {
        let file = sample(kind, 3000 + 777 * i);
        let there = a.send_media(&jid_b, file.clone()).await.unwrap();
        let got = received_by_engine(&mut events_b, &there.id).await;
        assert_media(got.media.as_ref().unwrap(), &file);
        assert_eq!(got.chat, jid_a);
        assert_eq!(recorded(&db_b, &there.id), Some(file.bytes.clone()));
        let back = b.send_media(&jid_a, file.clone()).await.unwrap();
        let got = received_by_engine(&mut events_a, &back.id).await;
        assert_media(got.media.as_ref().unwrap(), &file);
        assert_eq!(got.chat, jid_b);
        assert_eq!(recorded(&db_a, &back.id), Some(file.bytes.clone()));
    }

    let document = sample(MediaKind::Document, 5000);
    let sent = a.send_media(&jid_b, document.clone()).await.unwrap();
    received_by_engine(&mut events_b, &sent.id).await;

    // B reacts to A's document: A reads a reaction to its own message.
    let reaction = b
        .send_reaction(&jid_a, &sent.id, false, "👍")
        .await
        .unwrap();
    let got = received_by_engine(&mut events_a, &reaction.id).await;
    let r = got.reaction.expect("a reaction");
    assert_eq!(
        (r.target_id.as_str(), r.emoji.as_str()),
        (sent.id.as_str(), "👍")
    );
    assert!(got.media.is_none() && got.text.is_none());
    let expected = format!("reaction:{}:👍", sent.id).into_bytes();
    assert_eq!(recorded(&db_a, &reaction.id), Some(expected));
    a.shutdown().await;
    b.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn group_media_goes_out_with_the_sender_key() {
    let sim = simulator().await;
    let (db_a, db_b) = (TempDb::new("group-a"), TempDb::new("group-b"));
    let a = media_engine(&sim, "15550008301", &db_a, None).await;
    let b = media_engine(&sim, "15550008302", &db_b, None).await;
    create_unnamed_phone(&sim, "15550008303").await;
    let (status, created) = call(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({
            "creator": "15550008303",
            "subject": "Media group",
            "participants": ["15550008301", "15550008302"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let group = Jid::parse(created["id"].as_str().unwrap()).unwrap();
    let mut events_b = b.events().unwrap();

    let image = sample(MediaKind::Image, 4321);
    let sent = a.send_group_media(&group, image.clone()).await.unwrap();
    let got = received_by_engine(&mut events_b, &sent.id).await;
    assert_eq!(got.chat, group.to_non_ad());
    assert_media(got.media.as_ref().unwrap(), &image);
    assert_eq!(recorded(&db_b, &sent.id), Some(image.bytes.clone()));
    // The phone in the group decrypted the skmsg too (it shows the caption).
    let mut seen = Value::Null;
    for _ in 0..200 {
        let (_, inbox) = call(
            "GET",
            format!(
                "{}/sim/groups/{}/inbox/15550008303",
                sim.http_base(),
                group.user
            ),
            None,
        )
        .await;
        if let Some(m) = inbox["messages"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == sent.id.as_str()))
        {
            seen = m.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen["text"], "a picture", "{seen}");

    // A phone's media to the group reaches the engines with the sender key, bytes intact.
    let mut events_a = a.events().unwrap();
    let document: Vec<u8> = (0..9000u32).map(|i| (i % 239) as u8).collect();
    let (status, posted) = call(
        "POST",
        format!("{}/sim/phones/15550008303/messages", sim.http_base()),
        Some(json!({
            "to": group.to_string(),
            "mediaType": "document",
            "mimetype": "application/pdf",
            "filename": "minutes.pdf",
            "mediaBase64": base64::engine::general_purpose::STANDARD.encode(&document),
        })),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    let id = posted["id"].as_str().unwrap();
    let got = received_by_engine(&mut events_a, id).await;
    assert_eq!(got.chat, group.to_non_ad());
    let media = got.media.as_ref().unwrap();
    assert_eq!(media.kind, MediaKind::Document);
    assert_eq!(media.filename.as_deref(), Some("minutes.pdf"));
    assert_eq!(recorded(&db_a, id), Some(document));
    a.shutdown().await;
    b.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn channel_media_is_posted_by_owners_only() {
    let sim = simulator().await;
    let db = TempDb::new("channel");
    let engine = media_engine(&sim, "15550008401", &db, None).await;
    create_unnamed_phone(&sim, "15550008402").await;
    let mut ids = Vec::new();
    for owner in ["15550008401", "15550008402"] {
        let (status, created) = call(
            "POST",
            format!("{}/sim/channels", sim.http_base()),
            Some(json!({
                "owner": owner,
                "name": format!("channel of {owner}"),
                "subscribers": ["15550008401", "15550008402"],
            })),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        ids.push(Jid::parse(created["id"].as_str().unwrap()).unwrap());
    }
    let image = sample(MediaKind::Image, 2500);
    let sent = engine
        .send_channel_media(&ids[0], image.clone())
        .await
        .unwrap();
    let (_, channel) = call(
        "GET",
        format!("{}/sim/channels/{}", sim.http_base(), ids[0]),
        None,
    )
    .await;
    let post = channel["posts"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == sent.id.as_str()))
        .unwrap_or_else(|| panic!("no post {} in {channel}", sent.id))
        .clone();
    assert_eq!(post["text"], "a picture", "{post}");
    let refused = engine.send_channel_media(&ids[1], image).await;
    assert_eq!(refused.unwrap_err(), ChannelError::ReadOnly);
    engine.shutdown().await;
    sim.shutdown().await;
}
