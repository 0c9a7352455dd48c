//! The chat interface on real traffic: `chattu serve --sandbox`, a client linked to a simulated
//! phone, another phone writing to it; the chat list, the chat's messages, sending from the API,
//! ack levels from the phone's receipts, marking the chat read, and who may call these routes.

mod api_engine_support;

use api_engine_support::{create_phone, wait_for, Chattu, Http, Res};
use chattu::store::chats::{ChatMessageRecord, MediaInfo};
use chattu::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const OWN: &str = "15550030001";
const PEER: &str = "15550030002";

fn login(http: &Http, username: &str, password: &str) -> String {
    let res = http.send(
        "POST",
        "/login",
        &[],
        Some(json!({"username": username, "password": password})),
    );
    assert_eq!(res.status, 200, "login {username}: {}", res.text());
    res.header("set-cookie")
        .and_then(|c| c.split(';').next().map(str::to_string))
        .expect("session cookie")
}

fn get(http: &Http, cookie: &str, path: &str) -> Res {
    http.send("GET", path, &[("cookie", cookie)], None)
}

fn post(http: &Http, cookie: &str, path: &str, body: Value) -> Res {
    http.send("POST", path, &[("cookie", cookie)], Some(body))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// A sandbox server with client `desk` linked to phone OWN, and phone PEER ready to write.
fn linked_desk() -> (Chattu, String, String) {
    // The test polls the API; the default 100 requests per 15 minutes would be too few.
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    create_phone(&http, OWN, "Desk");
    create_phone(&http, PEER, "Ruth");
    chattu.link_client(&key, "desk", OWN);
    // Messages to the client need its one-time prekeys on the server.
    wait_for("prekeys uploaded", || {
        let phone = http.get(&format!("/sim/phones/{OWN}")).json();
        (phone["devices"][0]["prekeys"].as_u64() >= Some(800)).then_some(())
    });
    (chattu, cookie, key)
}

fn phone_messages(http: &Http, phone: &str) -> Value {
    let res = http.get(&format!("/sim/phones/{phone}/messages"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

#[test]
fn chats_follow_real_traffic_in_both_directions() {
    let (mut chattu, cookie, key) = linked_desk();
    let http = chattu.http();

    // The peer writes twice.
    let mut peer_ids = Vec::new();
    for text in ["first from Ruth", "second from Ruth"] {
        let res = http.post(
            &format!("/sim/phones/{PEER}/messages"),
            json!({"to": OWN, "text": text}),
        );
        assert_eq!(res.status, 201, "{}", res.text());
        peer_ids.push(res.json()["id"].as_str().expect("id").to_string());
    }
    let chats = wait_for("two unread messages", || {
        let chats = get(&http, &cookie, "/api/chats/desk").json()["chats"].clone();
        (chats[0]["unreadCount"] == 2).then_some(chats)
    });
    assert_eq!(chats.as_array().map(Vec::len), Some(1), "{chats}");
    let chat = &chats[0];
    assert_eq!(
        keys(chat),
        set(&[
            "id",
            "name",
            "profilePic",
            "lastMessage",
            "timestamp",
            "unreadCount",
            "isMuted",
            "pinned"
        ])
    );
    assert_eq!(chat["id"], json!({"_serialized": format!("{PEER}@c.us")}));
    assert_eq!(chat["name"], "Ruth", "the peer's push name");
    assert!(chat["profilePic"].is_null());
    assert_eq!(chat["isMuted"], false);
    assert_eq!(chat["pinned"], false);
    assert_eq!(
        keys(&chat["lastMessage"]),
        set(&["body", "timestamp", "fromMe"])
    );
    assert_eq!(chat["lastMessage"]["body"], "second from Ruth");
    assert_eq!(chat["lastMessage"]["fromMe"], false);
    let ts = chat["timestamp"].as_u64().expect("timestamp");
    assert_eq!(chat["lastMessage"]["timestamp"].as_u64(), Some(ts));
    // Unix seconds, not milliseconds.
    assert!((1_600_000_000..10_000_000_000).contains(&ts), "{ts}");

    // The messages, oldest first, in every accepted chat id form.
    let path = |chat: &str| format!("/api/chats/desk/{chat}/messages");
    let listed = get(&http, &cookie, &path(&format!("{PEER}@c.us")));
    assert_eq!(listed.status, 200, "{}", listed.text());
    let messages = listed.json()["messages"].clone();
    let bodies: Vec<&str> = messages
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["first from Ruth", "second from Ruth"]);
    for (m, id) in messages.as_array().into_iter().flatten().zip(&peer_ids) {
        assert_eq!(
            keys(m),
            set(&[
                "id",
                "body",
                "fromMe",
                "timestamp",
                "type",
                "hasMedia",
                "hasReaction",
                "reactions",
                "ack",
                "filename"
            ])
        );
        assert_eq!(m["id"]["_serialized"], id.as_str());
        assert_eq!(m["fromMe"], false);
        assert_eq!(m["type"], "chat");
        assert_eq!(m["hasMedia"], false);
        assert_eq!(m["hasReaction"], false);
        assert!(m["reactions"].is_null());
        assert!(m["filename"].is_null());
        assert_eq!(m["ack"], 2, "incoming, not read yet");
    }
    for form in [format!("{PEER}@s.whatsapp.net"), PEER.to_string()] {
        let again = get(&http, &cookie, &path(&form));
        assert_eq!(again.json()["messages"], messages, "{form}");
    }
    let newest = get(&http, &cookie, &format!("{}?limit=1", path(PEER)));
    assert_eq!(newest.json()["messages"][0]["body"], "second from Ruth");
    assert_eq!(newest.json()["messages"].as_array().map(Vec::len), Some(1));
    for bad in ["0", "abc", "-3", "1.5", ""] {
        let res = get(&http, &cookie, &format!("{}?limit={bad}", path(PEER)));
        assert_eq!(res.status, 400, "limit={bad}: {}", res.text());
        assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    }
    let group = get(&http, &cookie, &path("120363025@g.us"));
    assert_eq!(group.status, 400, "{}", group.text());

    // Received history was written with the chat (same transaction).
    let received = http.send(
        "GET",
        "/api/received-messages/desk",
        &[("x-api-key", &key)],
        None,
    );
    assert_eq!(
        received.json()["messages"].as_array().map(Vec::len),
        Some(2)
    );

    // Send from the API: the phone receives it, the chat shows it, the ack follows the receipts.
    let sent = post(
        &http,
        &cookie,
        &format!("/api/chats/desk/{PEER}@s.whatsapp.net/send"),
        json!({"message": "hello Ruth"}),
    );
    assert_eq!(sent.status, 200, "{}", sent.text());
    let sent = sent.json();
    assert_eq!(sent["success"], true);
    assert_eq!(keys(&sent["message"]), set(&["id", "body", "timestamp"]));
    assert_eq!(sent["message"]["body"], "hello Ruth");
    assert!(sent["message"]["timestamp"].as_u64() > Some(1_600_000_000));
    let sent_id = sent["message"]["id"]["_serialized"]
        .as_str()
        .expect("id")
        .to_string();
    let inbox = wait_for("the phone receives the text", || {
        let inbox = phone_messages(&http, PEER);
        let got = inbox["received"]
            .as_array()
            .is_some_and(|r| r.iter().any(|m| m["text"] == "hello Ruth"));
        got.then_some(inbox)
    });
    let on_phone = inbox["received"]
        .as_array()
        .and_then(|r| r.iter().find(|m| m["text"] == "hello Ruth"))
        .expect("received");
    assert_eq!(on_phone["id"], sent_id.as_str());
    let chats = get(&http, &cookie, "/api/chats/desk").json()["chats"].clone();
    assert_eq!(chats[0]["lastMessage"]["body"], "hello Ruth");
    assert_eq!(chats[0]["lastMessage"]["fromMe"], true);
    assert_eq!(chats[0]["unreadCount"], 2, "our own message is not unread");
    let ack_of = |id: &str| {
        let messages = get(&http, &cookie, &path(PEER)).json()["messages"].clone();
        messages
            .as_array()
            .and_then(|l| l.iter().find(|m| m["id"]["_serialized"] == id).cloned())
            .map(|m| m["ack"].as_i64().unwrap_or(-9))
    };
    wait_for("delivered (2)", || {
        (ack_of(&sent_id) >= Some(2)).then_some(())
    });
    let read = http.post(&format!("/sim/phones/{PEER}/read"), json!({"id": sent_id}));
    assert_eq!(read.status, 200, "{}", read.text());
    wait_for("read (3)", || (ack_of(&sent_id) == Some(3)).then_some(()));
    let last = get(&http, &cookie, &path(PEER)).json()["messages"][2].clone();
    assert_eq!(last["fromMe"], true);
    assert_eq!(last["body"], "hello Ruth");

    // Mark read: unread count 0, and the peer's phone sees its messages read.
    let marked = post(
        &http,
        &cookie,
        &format!("/api/chats/desk/{PEER}@c.us/read"),
        json!({}),
    );
    assert_eq!(marked.status, 200, "{}", marked.text());
    assert_eq!(marked.json(), json!({"success": true}));
    let chats = get(&http, &cookie, "/api/chats/desk").json()["chats"].clone();
    assert_eq!(chats[0]["unreadCount"], 0);
    assert_eq!(ack_of(&peer_ids[0]), Some(3));
    wait_for("the peer's messages read on its phone", || {
        let outbox = phone_messages(&http, PEER)["sent"].clone();
        let all_read = peer_ids.iter().all(|id| {
            outbox
                .as_array()
                .and_then(|l| l.iter().find(|m| m["id"] == id.as_str()))
                .is_some_and(|m| m["status"] == "read")
        });
        all_read.then_some(())
    });

    // Nothing stored as media for a text.
    let media = get(
        &http,
        &cookie,
        &format!("/api/chats/desk/media/{}", peer_ids[0]),
    );
    assert_eq!(media.status, 404, "{}", media.text());
    assert_eq!(media.json()["code"], "MEDIA_NOT_FOUND");

    // The chat state is durable: after a restart the list and messages are unchanged.
    let before = get(&http, &cookie, &path(PEER)).json();
    chattu.restart();
    let http = chattu.http();
    let (cookie, _) = chattu.admin();
    let chats = get(&http, &cookie, "/api/chats/desk").json()["chats"].clone();
    assert_eq!(chats[0]["lastMessage"]["body"], "hello Ruth");
    assert_eq!(chats[0]["unreadCount"], 0);
    assert_eq!(get(&http, &cookie, &path(PEER)).json(), before);
}

#[test]
fn chat_routes_need_the_owners_session() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let added = http.add_number(&key, json!({"clientId": "desk", "phoneNumber": OWN}));
    assert_eq!(added.status, 200, "{}", added.text());
    let created = post(
        &http,
        &cookie,
        "/api/admin/users",
        json!({"username": "eve", "password": "eve-password-1"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let eve = login(&http, "eve", "eve-password-1");

    let routes: [(&str, String); 5] = [
        ("GET", "/api/chats/desk".into()),
        ("GET", format!("/api/chats/desk/{PEER}@c.us/messages")),
        ("POST", format!("/api/chats/desk/{PEER}@c.us/send")),
        ("POST", format!("/api/chats/desk/{PEER}@c.us/read")),
        ("GET", "/api/chats/desk/media/3EB0C767F26AFC1F8B".into()),
    ];
    let body = |method: &str| (method == "POST").then(|| json!({"message": "hi"}));
    for (method, path) in &routes {
        let none = http.send(method, path, &[], body(method));
        assert_eq!(
            none.status,
            401,
            "{method} {path} without a session: {}",
            none.text()
        );
        let with_key = http.send(method, path, &[("x-api-key", &key)], body(method));
        assert_eq!(
            with_key.status,
            401,
            "{method} {path} with a key: {}",
            with_key.text()
        );
        let other = http.send(method, path, &[("cookie", &eve)], body(method));
        assert_eq!(
            other.status,
            403,
            "{method} {path} as eve: {}",
            other.text()
        );
        assert_eq!(other.json()["code"], "ACCESS_DENIED");
        let missing = path.replace("/desk", "/nobody");
        let res = http.send(method, &missing, &[("cookie", &cookie)], body(method));
        assert_eq!(res.status, 404, "{method} {missing}: {}", res.text());
        assert_eq!(res.json()["code"], "CLIENT_NOT_FOUND");
    }

    // The owner's view of a client that never linked: no chats; sending needs the connection.
    let list = get(&http, &cookie, "/api/chats/desk");
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.json(), json!({"chats": []}));
    let send = post(
        &http,
        &cookie,
        &format!("/api/chats/desk/{PEER}@c.us/send"),
        json!({"message": "hi"}),
    );
    assert_eq!(send.status, 409, "{}", send.text());
    assert_eq!(send.json()["code"], "CLIENT_NOT_CONNECTED");
    let empty = post(
        &http,
        &cookie,
        &format!("/api/chats/desk/{PEER}@c.us/send"),
        json!({"message": "  "}),
    );
    assert_eq!(empty.status, 400, "{}", empty.text());
    let group = post(
        &http,
        &cookie,
        "/api/chats/desk/120363025@g.us/send",
        json!({"message": "hi"}),
    );
    assert_eq!(group.status, 400, "{}", group.text());
    // Nothing unread: marking read needs no connection.
    let read = post(
        &http,
        &cookie,
        &format!("/api/chats/desk/{PEER}@c.us/read"),
        json!({}),
    );
    assert_eq!(read.status, 200, "{}", read.text());
}

#[test]
fn sending_and_marking_read_share_the_chat_limiter() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_RATE_LIMITS_CHAT_PER_MINUTE", "3")],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let added = http.add_number(&key, json!({"clientId": "desk", "phoneNumber": OWN}));
    assert_eq!(added.status, 200, "{}", added.text());
    let read = format!("/api/chats/desk/{PEER}@c.us/read");
    for _ in 0..2 {
        assert_eq!(post(&http, &cookie, &read, json!({})).status, 200);
    }
    let send = format!("/api/chats/desk/{PEER}@c.us/send");
    let res = post(&http, &cookie, &send, json!({"message": "hi"}));
    assert_eq!(res.status, 409, "not linked: {}", res.text());
    for path in [&read, &send] {
        let res = post(&http, &cookie, path, json!({"message": "hi"}));
        assert_eq!(res.status, 429, "{path}: {}", res.text());
        assert!(res.header("retry-after").is_some());
    }
    // Reading the chat list is not a chat action.
    assert_eq!(get(&http, &cookie, "/api/chats/desk").status, 200);
}

#[test]
fn stored_media_is_served_with_its_type_and_name() {
    let mut chattu = Chattu::sandbox();
    let (_, key) = chattu.admin();
    let added = chattu
        .http()
        .add_number(&key, json!({"clientId": "desk", "phoneNumber": OWN}));
    assert_eq!(added.status, 200, "{}", added.text());
    // The engine does not download media yet: put an image message in the store while the
    // server is stopped, as the receive path will.
    chattu.stop();
    let bytes: &[u8] = b"\x89PNG\r\n\x1a\n not really an image";
    {
        let store = Store::open(&chattu.data.0).expect("open the stopped server's store");
        let message = ChatMessageRecord {
            id: "3EB0MEDIA01".into(),
            from_me: false,
            body: "look".into(),
            timestamp: 1_700_000_000,
            kind: "image".into(),
            ack: "delivered".into(),
            media: Some(MediaInfo {
                mimetype: "image/png".into(),
                filename: Some("photo \"1\".png".into()),
            }),
            reactions: Vec::new(),
            read: false,
            sent_row: None,
        };
        let txn = store.database().begin_write().expect("write");
        Store::record_chat_message_in(&txn, "desk", PEER, Some("Ruth"), &message).expect("record");
        Store::put_chat_media_in(&txn, "desk", "3EB0MEDIA01", bytes).expect("media");
        txn.commit().expect("commit");
    }
    chattu.start_again();
    let http = chattu.http();
    let (cookie, _) = chattu.admin();

    let listed = get(
        &http,
        &cookie,
        &format!("/api/chats/desk/{PEER}@c.us/messages"),
    );
    let m = listed.json()["messages"][0].clone();
    assert_eq!(m["type"], "image");
    assert_eq!(m["hasMedia"], true);
    assert_eq!(m["filename"], "photo \"1\".png");
    for id in [
        "3EB0MEDIA01".to_string(),
        format!("false_{PEER}@c.us_3EB0MEDIA01"),
    ] {
        let media = get(&http, &cookie, &format!("/api/chats/desk/media/{id}"));
        assert_eq!(media.status, 200, "{id}: {}", media.text());
        assert_eq!(media.header("content-type").as_deref(), Some("image/png"));
        assert_eq!(
            media.header("content-disposition").as_deref(),
            Some("inline; filename=\"photo _1_.png\"")
        );
        assert_eq!(media.body, bytes);
    }
    let other = get(&http, &cookie, "/api/chats/desk/media/3EB0OTHER");
    assert_eq!(other.status, 404);
    assert_eq!(other.json()["code"], "MEDIA_NOT_FOUND");
}
