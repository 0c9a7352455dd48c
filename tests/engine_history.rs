//! History sync end to end over real sockets: a phone that already chatted with two other phones
//! pairs a messaging engine; right after the engine's keys are on the server the phone sends its
//! history (a peer protocol message, zlib inline payload). The engine seeds the chat list (last
//! message, unread count, mute, pin, names, messages) in the store without a single message event
//! or sink record, learns the peers' LIDs, and answers with a `hist_sync` receipt the phone sees.
//! A live message afterwards carries both the sender's phone number and LID.

mod companion_support;

use chattu::engine::messaging::{EngineEvent, InboundSink, ReceivedMessage};
use chattu::engine::MemoryCredentialStore;
use chattu::protocol::jid::Jid;
use chattu::simulator::Simulator;
use companion_support::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Counts what the engine hands its owner to record (history must not go through it).
#[derive(Default)]
struct CountingSink(AtomicUsize);

impl InboundSink for CountingSink {
    fn record(&self, _: &redb::WriteTransaction, _: &ReceivedMessage) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn a_new_companion_gets_the_phones_chats() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let (avi, bea, cal) = ("15550301001", "15550301002", "15550301003");
    create_phone(&sim, avi, "Avi").await;
    create_phone(&sim, bea, "Bea").await;
    create_phone(&sim, cal, "Cal").await;

    // The phone's life before the companion: a read chat with Bea, two unread from Cal.
    let from_bea = phone_sends(&sim, bea, avi, "hello from Bea").await;
    phone_sends(&sim, avi, bea, "hi Bea").await;
    phone_sends(&sim, cal, avi, "one").await;
    phone_sends(&sim, cal, avi, "two").await;
    let base = sim.http_base();
    let (status, _) = http(
        "POST",
        format!("{base}/sim/phones/{avi}/read"),
        Some(json!({ "id": from_bea })),
    )
    .await;
    assert_eq!(status, 200);
    let muted_until = chattu::simulator::registry::unix_now() + 3600;
    let (status, _) = http(
        "POST",
        format!("{base}/sim/phones/{avi}/chats/{bea}"),
        Some(json!({ "pinned": true })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(
        "POST",
        format!("{base}/sim/phones/{avi}/chats/{cal}"),
        Some(json!({ "muteEndTime": muted_until })),
    )
    .await;
    assert_eq!(status, 200);

    let store = TempStore::new("history");
    let creds = Arc::new(MemoryCredentialStore::new());
    let sink = Arc::new(CountingSink::default());
    let engine = messaging_engine(&sim, &creds, &store, "hist", sink.clone());
    let mut events = engine.events().unwrap();
    pair(&sim, avi, &engine).await;

    let summary = match next_event(&mut events, |e| {
        assert!(
            !matches!(e, EngineEvent::MessageReceived(_)),
            "history must not announce messages: {e:?}"
        );
        matches!(e, EngineEvent::HistorySynced(_))
    })
    .await
    {
        EngineEvent::HistorySynced(summary) => summary,
        _ => unreachable!(),
    };
    assert_eq!(summary.chats, 2, "{summary:?}");
    assert_eq!(summary.messages, 4, "{summary:?}");
    assert!(summary.mappings >= 2, "{summary:?}");
    assert_eq!(summary.skipped, None);
    assert_eq!(sink.0.load(Ordering::SeqCst), 0);

    let chats = store.store.chats_of("hist").unwrap();
    assert_eq!(chats.len(), 2, "{chats:?}");
    let chat = |number: &str| chats.iter().find(|c| c.chat == number).cloned().unwrap();
    let bea_chat = chat(bea);
    assert_eq!(bea_chat.name.as_deref(), Some("Bea"));
    assert!(bea_chat.pinned && !bea_chat.muted);
    assert_eq!(bea_chat.unread_count, 0);
    let last = bea_chat.last_message.unwrap();
    assert_eq!((last.body.as_str(), last.from_me), ("hi Bea", true));
    let cal_chat = chat(cal);
    assert_eq!(cal_chat.name.as_deref(), Some("Cal"));
    assert!(cal_chat.muted && !cal_chat.pinned);
    assert_eq!(cal_chat.unread_count, 2);
    assert_eq!(cal_chat.last_message.unwrap().body, "two");
    let cal_messages = store.store.chat_messages("hist", cal, 10).unwrap();
    let bodies: Vec<&str> = cal_messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["one", "two"]);
    assert_eq!(
        store
            .store
            .unread_chat_message_ids("hist", cal)
            .unwrap()
            .len(),
        2
    );

    // The mappings came with the history.
    let bea_lid = lid_of(&sim, bea).await;
    assert_eq!(engine.lid_of_phone(bea), Some(bea_lid.clone()));
    assert_eq!(engine.phone_of_lid(&bea_lid).as_deref(), Some(bea));

    // The phone saw the hist_sync receipt.
    let synced = eventually("the hist_sync receipt", || async {
        let (_, body) = http("GET", format!("{base}/sim/phones/{avi}/history-sync"), None).await;
        let sent = body["sent"].as_array().cloned().unwrap_or_default();
        (sent.len() == 1 && sent[0]["acknowledged"] == true).then_some(sent)
    })
    .await;
    assert_eq!(synced[0]["chats"], 2);
    assert_eq!(synced[0]["device"], 1);

    // A live message afterwards: stored and announced, with both identities of its sender.
    let live = phone_sends(&sim, bea, avi, "live one").await;
    let received = match next_event(
        &mut events,
        |e| matches!(e, EngineEvent::MessageReceived(m) if m.id == live),
    )
    .await
    {
        EngineEvent::MessageReceived(m) => m,
        _ => unreachable!(),
    };
    assert_eq!(received.sender_pn, Some(Jid::phone(bea)));
    assert_eq!(received.sender_lid, Some(Jid::lid(bea_lid)));
    assert_eq!(sink.0.load(Ordering::SeqCst), 1);

    // A restart logs in again without a second history sync.
    engine.shutdown().await;
    let engine = messaging_engine(&sim, &creds, &store, "hist", sink.clone());
    connected(&engine).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, body) = http("GET", format!("{base}/sim/phones/{avi}/history-sync"), None).await;
    assert_eq!(body["sent"].as_array().map(Vec::len), Some(1), "{body}");
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn history_can_be_sent_again_and_lists_only_phone_chats() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let (dan, eve) = ("15550301101", "15550301102");
    let store = TempStore::new("history-again");
    let (engine, _creds) = paired_engine(&sim, dan, "Dan", &store, "again").await;
    create_phone(&sim, eve, "Eve").await;
    let mut events = engine.events().unwrap();
    // The first sync (after pairing) had no chats; Eve writes to the phone's account now.
    let first = phone_sends(&sim, eve, dan, "from Eve").await;
    next_event(
        &mut events,
        |e| matches!(e, EngineEvent::MessageReceived(m) if m.id == first),
    )
    .await;
    let base = sim.http_base();
    let (status, body) = http(
        "POST",
        format!("{base}/sim/phones/{dan}/history-sync"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sent"].as_array().map(Vec::len), Some(1), "{body}");
    let summary =
        match next_event(&mut events, |e| matches!(e, EngineEvent::HistorySynced(_))).await {
            EngineEvent::HistorySynced(s) => s,
            _ => unreachable!(),
        };
    // This engine records live messages nowhere (NoSink): the history seeds Eve's chat.
    assert_eq!((summary.chats, summary.messages), (1, 1), "{summary:?}");
    let chats = store.store.chats_of("again").unwrap();
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0].chat, eve);
    assert_eq!(chats[0].unread_count, 1);
    let messages = store.store.chat_messages("again", eve, 10).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, first);
    assert!(!messages[0].read);
    // Sent again, this time as a media blob ("WhatsApp History Keys") as real phones send most
    // chunks: it is downloaded and read, and the same messages are not stored twice.
    http(
        "POST",
        format!("{base}/sim/phones/{dan}/history-sync"),
        Some(json!({"external": true})),
    )
    .await;
    let again = match next_event(&mut events, |e| matches!(e, EngineEvent::HistorySynced(_))).await
    {
        EngineEvent::HistorySynced(s) => s,
        _ => unreachable!(),
    };
    assert!(again.skipped.is_none(), "{again:?}");
    assert_eq!((again.chats, again.messages), (1, 0), "{again:?}");
    assert_eq!(store.store.chats_of("again").unwrap()[0].unread_count, 1);
    engine.shutdown().await;
    sim.shutdown().await;
}
