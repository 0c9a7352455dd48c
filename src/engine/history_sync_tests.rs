use super::*;
use crate::protocol::proto::generated::message::ProtocolMessage;
use crate::protocol::proto::generated::{
    HistorySyncMsg, MessageKey, PhoneNumberToLidMapping, Pushname,
};
use crate::store::test_dir::TempDir;
use std::io::Write;

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn info(chat: &str, id: &str, from_me: bool, text: &str, ts: u64) -> HistorySyncMsg {
    HistorySyncMsg {
        message: Some(WebMessageInfo {
            key: Some(MessageKey {
                remote_jid: Some(chat.into()),
                from_me: Some(from_me),
                id: Some(id.into()),
                participant: None,
            }),
            message: Some(Message {
                conversation: Some(text.into()),
                ..Default::default()
            }),
            message_timestamp: Some(ts),
            status: Some(Status::Read as i32),
            ..Default::default()
        }),
        msg_order_id: None,
    }
}

fn notification_message(payload: Vec<u8>) -> Message {
    Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(ProtocolType::HistorySyncNotification as i32),
            history_sync_notification: Some(HistorySyncNotification {
                initial_hist_bootstrap_inline_payload: Some(payload),
                ..Default::default()
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[test]
fn a_zip_bomb_is_refused() {
    let bomb = zlib(&vec![0u8; (MAX_INFLATED_BYTES + 1024) as usize]);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    assert_eq!(
        inflate_capped(&bomb, MAX_INFLATED_BYTES),
        Err(HistoryError::TooLarge)
    );
    assert_eq!(inflate_capped(&zlib(b"abc"), 3).unwrap(), b"abc");
    assert!(matches!(
        inflate_capped(b"not zlib", 10),
        Err(HistoryError::Corrupt(_))
    ));
    let message = notification_message(bomb);
    assert_eq!(
        decode_inline(notification(&message).unwrap()),
        Err(HistoryError::TooLarge)
    );
}

#[test]
fn only_history_notifications_are_recognised() {
    let text = Message {
        conversation: Some("hi".into()),
        ..Default::default()
    };
    assert!(notification(&text).is_none());
    let mut other = notification_message(Vec::new());
    if let Some(p) = other.protocol_message.as_mut() {
        p.r#type = Some(ProtocolType::Revoke as i32);
    }
    assert!(notification(&other).is_none());
    let announced = Message {
        protocol_message: Some(Box::new(ProtocolMessage {
            r#type: Some(ProtocolType::HistorySyncNotification as i32),
            history_sync_notification: Some(HistorySyncNotification::default()),
            ..Default::default()
        })),
        ..Default::default()
    };
    assert_eq!(
        decode_inline(notification(&announced).unwrap()),
        Err(HistoryError::NotInline)
    );
}

#[test]
fn seeding_chats_from_a_history_sync() {
    let dir = TempDir::new();
    let store = Store::open(dir.path()).unwrap();
    let now = 1_700_000_000;
    let dana = "15550001111@s.whatsapp.net";
    let sync = HistorySync {
        conversations: vec![
            Conversation {
                id: Some(dana.into()),
                messages: vec![
                    info(dana, "D1", false, "first", 100),
                    info(dana, "D2", true, "mine", 200),
                    info(dana, "D3", false, "unread one", 300),
                    info(dana, "D4", false, "unread two", 400),
                ],
                unread_count: Some(2),
                pinned: Some(1_690_000_000),
                mute_end_time: Some(now + 3600),
                pn_jid: Some(dana.into()),
                lid_jid: Some("101@lid".into()),
                ..Default::default()
            },
            // Known only by LID: the mapping names its number.
            Conversation {
                id: Some("202@lid".into()),
                messages: vec![info("202@lid", "E1", false, "via lid", 50)],
                mute_end_time: Some(now - 1),
                ..Default::default()
            },
            Conversation {
                id: Some("120363000000000001@g.us".into()),
                messages: vec![info("120363000000000001@g.us", "G1", false, "group", 10)],
                ..Default::default()
            },
        ],
        pushnames: vec![Pushname {
            id: Some("15550002222@s.whatsapp.net".into()),
            pushname: Some("Eli".into()),
        }],
        phone_number_to_lid_mappings: vec![PhoneNumberToLidMapping {
            pn_jid: Some("15550002222@s.whatsapp.net".into()),
            lid_jid: Some("202@lid".into()),
        }],
        ..Default::default()
    };
    let message = notification_message(zlib(&sync.encode_to_vec()));
    let txn = store.database().begin_write().unwrap();
    let summary = apply_in(&txn, "c1", &message, now, None).unwrap().unwrap();
    txn.commit().unwrap();
    assert_eq!(
        summary,
        HistorySummary {
            chats: 2,
            messages: 5,
            mappings: 2,
            skipped: None
        }
    );
    assert_eq!(
        lid_map::lid_of(store.database(), "c1", "15550001111")
            .unwrap()
            .as_deref(),
        Some("101")
    );
    let chats = store.chats_of("c1").unwrap();
    assert_eq!(chats.len(), 2, "{chats:?}");
    let dana = &chats[0];
    assert_eq!(dana.chat, "15550001111");
    assert_eq!(dana.unread_count, 2);
    assert!(dana.muted && dana.pinned);
    assert_eq!(dana.last_message.as_ref().unwrap().body, "unread two");
    let eli = &chats[1];
    assert_eq!(eli.chat, "15550002222");
    assert_eq!(eli.name.as_deref(), Some("Eli"));
    assert!(!eli.muted && !eli.pinned);
    assert_eq!(eli.unread_count, 0);
    let unread = store.unread_chat_message_ids("c1", "15550001111").unwrap();
    assert_eq!(unread, ["D3", "D4"]);
    let messages = store.chat_messages("c1", "15550001111", 10).unwrap();
    let mine = messages.iter().find(|m| m.id == "D2").unwrap();
    assert!(mine.from_me);
    assert_eq!(mine.ack, "read");

    // The same history again (a second chunk repeating chats) adds nothing.
    let txn = store.database().begin_write().unwrap();
    let again = apply_in(&txn, "c1", &message, now, None).unwrap().unwrap();
    txn.commit().unwrap();
    assert_eq!((again.messages, again.mappings), (0, 0));
    assert_eq!(store.chats_of("c1").unwrap()[0].unread_count, 2);
}

#[test]
fn receipts_name_the_phone() {
    let from = Jid::phone("15550001111");
    let peer = peer_receipt("ID", &from);
    assert_eq!(peer.attr("type"), Some("peer_msg"));
    let done = hist_sync_receipt("ID", "15550001111");
    assert_eq!(done.attr("type"), Some("hist_sync"));
    assert_eq!(
        done.attr_text("to").as_deref(),
        Some("15550001111@s.whatsapp.net")
    );
}
