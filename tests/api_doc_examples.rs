//! Conformance with the public API document (chattu-api.md): every endpoint whose section shows a
//! JSON response example is called for real on `chattu serve --sandbox` (a client linked to a
//! simulated phone, real messages, calls, groups and channels), and the answer must have the
//! example's shape: each key the example shows is present with the same JSON type, recursively
//! into objects and the first element of arrays. A `null` in the example allows anything; keys the
//! document's field list calls "| null" may also be null in the answer.

mod api_engine_support;

use api_engine_support::{create_phone, decode_png, wait_for, Chattu, Http, Res, ADMIN_PASSWORD};
use serde_json::{json, Value};

/// Checks that `actual` has the shape of the doc's `example` (see the module comment).
/// `nullable` names keys the document lists as "type | null".
fn assert_shape(example: &Value, actual: &Value, path: &str, nullable: &[&str]) {
    let key = path.rsplit('.').next().unwrap_or(path);
    if example.is_null() || (actual.is_null() && nullable.contains(&key)) {
        return;
    }
    match (example, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (k, v) in want {
                let inner = format!("{path}.{k}");
                let Some(found) = got.get(k) else {
                    panic!("{inner} is missing; the answer was {actual}");
                };
                assert_shape(v, found, &inner, nullable);
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            if let Some(first) = want.first() {
                assert!(!got.is_empty(), "{path} is empty; the test must fill it");
                assert_shape(first, &got[0], &format!("{path}[0]"), nullable);
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{path}: the doc shows {example}, the answer has {actual}"),
    }
}

/// Parses a doc example copied into the test.
fn doc(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("doc example is not JSON ({e}): {text}"))
}

/// Asserts a 200 JSON answer with the doc example's shape; returns the body.
fn conforms(res: &Res, example: &str, what: &str, nullable: &[&str]) -> Value {
    assert_eq!(res.status, 200, "{what}: {}", res.text());
    let body = res.json();
    assert_shape(&doc(example), &body, what, nullable);
    body
}

/// A sandbox server with generous limits and no group delay; (server, session cookie, key).
fn server() -> (Chattu, String, String) {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[
            ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MIN_MS", "0"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MAX_MS", "0"),
            ("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true"),
        ],
    );
    let (cookie, key) = chattu.admin();
    (chattu, cookie, key)
}

/// Adds client `desk` on phone `own` and links it by scanning its QR code.
fn link_desk(chattu: &Chattu, key: &str, own: &str) {
    let http = chattu.http();
    let added = http.add_number(key, json!({"clientId": "desk", "phoneNumber": own}));
    assert_eq!(added.status, 200, "{}", added.text());
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    create_phone(&http, own, "Desk");
    let scan = http.post(&format!("/sim/phones/{own}/scan"), json!({"qr": qr}));
    assert_eq!(scan.status, 200, "scan: {}", scan.text());
    chattu.wait_status(key, "desk", "Authenticated");
    wait_for("prekeys uploaded", || {
        let phone = http.get(&format!("/sim/phones/{own}")).json();
        (phone["devices"][0]["prekeys"].as_u64() >= Some(800)).then_some(())
    });
}

fn with_key(http: &Http, key: &str, method: &str, path: &str, body: Option<Value>) -> Res {
    http.send(method, path, &[("x-api-key", key)], body)
}

fn with_cookie(http: &Http, cookie: &str, method: &str, path: &str, body: Option<Value>) -> Res {
    http.send(method, path, &[("cookie", cookie)], body)
}

#[test]
fn account_client_and_schedule_endpoints_answer_as_documented() {
    let (chattu, cookie, key) = server();
    let http = chattu.http();

    let profile = with_key(&http, &key, "GET", "/api/profile", None);
    conforms(
        &profile,
        r#"{"username": "admin", "role": "admin", "apiKey": "1f92bf99680b32fedeb1", "clientCount": 5}"#,
        "profile",
        &[],
    );

    let added = http.add_number(
        &key,
        json!({"clientId": "waiting", "phoneNumber": "15550040009"}),
    );
    let added = conforms(
        &added,
        r#"{"status": "pending_auth", "message": "QR Code generated for authentication",
            "qrCode": "data:image/png;base64,iVBORw0KGgoAAAANS...", "apiKey": "client-api-key-here"}"#,
        "add-number",
        &["qrCode"],
    );
    assert_eq!(added["status"], "pending_auth", "{added}");

    let clients = with_key(&http, &key, "GET", "/api/clients", None);
    let clients = conforms(
        &clients,
        r#"[{"clientId": "client-id", "phoneNumber": "9721234567", "apiKey": "client-api-key",
             "connectedNumber": "9721234567@c.us", "status": "Authenticated"}]"#,
        "clients",
        &[],
    );
    assert_eq!(
        (
            &clients[0]["clientId"],
            &clients[0]["connectedNumber"],
            &clients[0]["status"]
        ),
        (
            &json!("waiting"),
            &json!("Not Connected"),
            &json!("Pending Authentication")
        ),
        "{clients}"
    );

    // The QR code is a PNG image while the client waits for authentication.
    let qr = with_key(&http, &key, "GET", "/api/qr/waiting", None);
    assert_eq!(qr.status, 200, "qr: {}", qr.text());
    assert_eq!(qr.header("content-type").as_deref(), Some("image/png"));
    decode_png(&qr.body);

    // update-webhook shows no response example: it must succeed. The receiver is a loopback
    // listener that is never read (no traffic leaves the machine).
    let receiver = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let hook_url = format!(
        "http://{}/webhook.php",
        receiver.local_addr().expect("addr")
    );
    let hook = with_key(
        &http,
        &key,
        "POST",
        "/api/update-webhook",
        Some(json!({"clientId": "waiting", "webhookUrl": hook_url})),
    );
    assert_eq!(hook.status, 200, "update-webhook: {}", hook.text());

    // schedule-message shows no response example; the list and the cancel do.
    let scheduled = with_cookie(
        &http,
        &cookie,
        "POST",
        "/schedule-message",
        Some(json!({"clientId": "waiting", "number": "9721234567",
                    "message": "Scheduled hello", "scheduleTime": "2099-10-06T18:30:00Z"})),
    );
    assert!(
        scheduled.status == 200 || scheduled.status == 201,
        "schedule-message: {}",
        scheduled.text()
    );
    let list = with_cookie(&http, &cookie, "GET", "/scheduled-messages", None);
    let list = conforms(
        &list,
        r#"[{"id": 1, "clientId": "client-id", "recipient": "+9721234567",
             "message": "Scheduled hello", "scheduleTime": "2025-10-06T18:30:00Z",
             "status": "pending", "createdAt": "2025-10-06T17:30:00Z", "sentTime": null}]"#,
        "scheduled-messages",
        &[],
    );
    let id = list[0]["id"].as_u64().expect("numeric id");
    let cancelled = with_cookie(
        &http,
        &cookie,
        "DELETE",
        &format!("/scheduled-messages/{id}"),
        None,
    );
    conforms(
        &cancelled,
        r#"{"message": "Schedule cancelled."}"#,
        "delete scheduled",
        &[],
    );

    let deleted = with_cookie(
        &http,
        &cookie,
        "DELETE",
        "/clients/waiting",
        Some(json!({"password": ADMIN_PASSWORD})),
    );
    conforms(
        &deleted,
        r#"{"message": "Client deleted successfully."}"#,
        "delete client",
        &[],
    );

    let reset = http.post(
        "/api/reset-api-key",
        json!({"username": "admin", "currentApiKey": key}),
    );
    let reset = conforms(
        &reset,
        r#"{"message": "API key reset successfully.", "newApiKey": "a1b2c3d4e5f6g7h8i9j0"}"#,
        "reset-api-key",
        &[],
    );
    assert_ne!(reset["newApiKey"], key.as_str());
}

#[test]
fn messaging_history_and_chat_endpoints_answer_as_documented() {
    const OWN: &str = "15550040001";
    const PEER: &str = "15550040002";
    let (chattu, cookie, key) = server();
    let http = chattu.http();
    link_desk(&chattu, &key, OWN);
    create_phone(&http, PEER, "Ruth");

    // Once linked: add-number says "connected" with a null qrCode, and the client lists its JID.
    let again = http.add_number(&key, json!({"clientId": "desk", "phoneNumber": OWN}));
    let again = conforms(
        &again,
        r#"{"status": "pending_auth", "message": "QR Code generated for authentication",
            "qrCode": "data:image/png;base64,iVBORw0KGgoAAAANS...", "apiKey": "client-api-key-here"}"#,
        "add-number (linked)",
        &["qrCode"],
    );
    assert_eq!(
        (&again["status"], &again["qrCode"]),
        (&json!("connected"), &Value::Null),
        "{again}"
    );
    let clients = with_key(&http, &key, "GET", "/api/clients", None);
    let clients = conforms(
        &clients,
        r#"[{"clientId": "client-id", "phoneNumber": "9721234567", "apiKey": "client-api-key",
             "connectedNumber": "9721234567@c.us", "status": "Authenticated"}]"#,
        "clients (linked)",
        &[],
    );
    assert_eq!(
        clients[0]["connectedNumber"],
        format!("{OWN}@c.us"),
        "{clients}"
    );

    // send-message shows no response example: it must succeed.
    let sent = with_key(
        &http,
        &key,
        "POST",
        "/api/send-message",
        Some(json!({"clientId": "desk", "number": PEER, "message": "Hey! Its a test message"})),
    );
    assert_eq!(sent.status, 200, "send-message: {}", sent.text());
    let sent = with_key(&http, &key, "GET", "/api/sent-messages", None);
    conforms(
        &sent,
        r#"[{"id": 1, "clientId": "client-id", "senderNumber": "9721234567",
             "recipient": "1234567890", "message": "Hello from WhatsApp!", "status": "sent",
             "sentAt": "2025-11-01T12:00:00Z"}]"#,
        "sent-messages",
        &[],
    );

    let wrote = http.post(
        &format!("/sim/phones/{PEER}/messages"),
        json!({"to": OWN, "text": "Hello!"}),
    );
    assert_eq!(wrote.status, 201, "{}", wrote.text());
    let received = wait_for("the peer's message received", || {
        let res = with_key(&http, &key, "GET", "/api/received-messages/desk", None);
        let filled = res.json()["messages"]
            .as_array()
            .is_some_and(|m| !m.is_empty());
        filled.then_some(res)
    });
    conforms(
        &received,
        r#"{"status": "success", "messages": [{"id": 1, "client_id": "client-id",
            "sender": "1234567890", "message": "Hello!", "received_at": "2025-11-01T12:00:00Z"}]}"#,
        "received-messages",
        &[],
    );

    let chats = with_cookie(&http, &cookie, "GET", "/api/chats/desk", None);
    conforms(
        &chats,
        r#"{"chats": [{"id": {"_serialized": "9721234567@c.us"}, "name": "John Doe",
            "profilePic": "https://example.com/profile.jpg",
            "lastMessage": {"body": "Hello!", "timestamp": 1699123456, "fromMe": false},
            "timestamp": 1699123456, "unreadCount": 2, "isMuted": false, "pinned": false}]}"#,
        "chats",
        &["profilePic"],
    );
    let chat = format!("{PEER}@c.us");
    // The peer reacts to the chat's first message, so it carries a reaction.
    let first = with_cookie(
        &http,
        &cookie,
        "GET",
        &format!("/api/chats/desk/{chat}/messages?limit=50"),
        None,
    )
    .json()["messages"][0]
        .clone();
    let first_id = first["id"]["_serialized"].as_str().unwrap().to_string();
    let peer_sent_it = first["fromMe"] == false;
    let reacted = http.post(
        &format!("/sim/phones/{PEER}/reactions"),
        json!({"to": OWN, "id": first_id, "emoji": "👍", "fromMe": peer_sent_it}),
    );
    assert_eq!(reacted.status, 201, "{}", reacted.text());
    let messages = wait_for("the peer's reaction recorded", || {
        let res = with_cookie(
            &http,
            &cookie,
            "GET",
            &format!("/api/chats/desk/{chat}/messages?limit=50"),
            None,
        );
        let reacted = res.json()["messages"][0]["reactions"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
        reacted.then_some(res)
    });
    conforms(
        &messages,
        r#"{"messages": [{"id": {"_serialized": "3EB0C767F26AFC1F8B"}, "body": "Hello!",
            "fromMe": false, "timestamp": 1699123456, "type": "chat", "hasMedia": false,
            "hasReaction": true, "reactions": [{"reaction": "👍", "senderId": "9721234567@c.us"}],
            "ack": 3, "filename": null}]}"#,
        "chat messages",
        &[],
    );
    let answered = with_cookie(
        &http,
        &cookie,
        "POST",
        &format!("/api/chats/desk/{chat}/send"),
        Some(json!({"message": "Hello! How can I help you?"})),
    );
    conforms(
        &answered,
        r#"{"success": true, "message": {"id": {"_serialized": "3EB0C767F26AFC1F8B"},
            "body": "Hello! How can I help you?", "timestamp": 1699123456}}"#,
        "chat send",
        &[],
    );
    let read = with_cookie(
        &http,
        &cookie,
        "POST",
        &format!("/api/chats/desk/{chat}/read"),
        None,
    );
    conforms(&read, r#"{"success": true}"#, "chat read", &[]);

    // A call from the peer is rejected and recorded.
    let call = http.post(&format!("/sim/phones/{PEER}/calls"), json!({"to": OWN}));
    assert_eq!(call.status, 201, "{}", call.text());
    let calls = wait_for("the call recorded", || {
        let res = with_key(&http, &key, "GET", "/api/incoming-calls/desk", None);
        let filled = res.json()["calls"]
            .as_array()
            .is_some_and(|c| !c.is_empty());
        filled.then_some(res)
    });
    conforms(
        &calls,
        r#"{"status": "success", "calls": [{"id": 1, "client_id": "client-id",
            "call_from": "1234567890@c.us", "is_video": false,
            "start_time": "2025-11-01T12:00:00Z", "end_time": null, "duration": null,
            "created_at": "2025-11-01T12:00:00Z"}]}"#,
        "incoming-calls",
        &[],
    );
    // call-logs and logs show no response example: they answer JSON.
    for path in ["/api/call-logs", "/api/logs"] {
        let res = with_key(&http, &key, "GET", path, None);
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        res.json();
    }
}

#[test]
fn group_and_channel_endpoints_answer_as_documented() {
    const OWN: &str = "15550040011";
    const RUTH: &str = "15550040012";
    let (chattu, cookie, key) = server();
    let http = chattu.http();
    link_desk(&chattu, &key, OWN);
    create_phone(&http, RUTH, "Ruth");
    let created = http.post(
        "/sim/groups",
        json!({"creator": RUTH, "subject": "קבוצת עבודה", "description": "קבוצה לעבודה משותפת", "participants": [OWN]}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let group = created.json()["id"].as_str().expect("id").to_string();
    let channel = http.post(
        "/sim/channels",
        json!({"owner": OWN, "name": "ערוץ חדשות", "description": "ערוץ לחדשות"}),
    );
    assert_eq!(channel.status, 201, "{}", channel.text());
    let channel = channel.json()["id"].as_str().expect("id").to_string();
    let posted = http.post(
        &format!("/sim/groups/{group}/send"),
        json!({"from": RUTH, "text": "הודעה אחרונה"}),
    );
    assert_eq!(posted.status, 200, "{}", posted.text());

    let sent = with_key(
        &http,
        &key,
        "POST",
        "/api/send-group-message",
        Some(
            json!({"clientId": "desk", "groupId": group, "message": "שלום לכולם! זה הודעה בעברית"}),
        ),
    );
    conforms(
        &sent,
        r#"{"success": true, "message": {"id": {"_serialized": "3EB0C767F26AFC1F8B"},
            "body": "שלום לכולם! זה הודעה בעברית", "timestamp": 1699123456, "type": "chat"},
            "groupId": "120363123456789012@g.us", "groupName": "קבוצת עבודה"}"#,
        "send-group-message",
        &[],
    );
    let sent = with_cookie(
        &http,
        &cookie,
        "POST",
        &format!("/api/groups/desk/{group}/send"),
        Some(json!({"message": "שלום לכולם! זה הודעה בעברית"})),
    );
    conforms(
        &sent,
        r#"{"success": true, "message": {"id": {"_serialized": "3EB0C767F26AFC1F8B"},
            "body": "שלום לכולם! זה הודעה בעברית", "timestamp": 1699123456, "type": "chat"}}"#,
        "groups send",
        &[],
    );
    // A post to our own channel gives the channel a last message too.
    let post = with_key(
        &http,
        &key,
        "POST",
        "/api/send-group-message",
        Some(json!({"clientId": "desk", "groupId": channel, "message": "חדשות היום"})),
    );
    assert_eq!(post.status, 200, "channel post: {}", post.text());

    let listed = wait_for(
        "the group and the channel listed with last messages",
        || {
            let res = with_key(&http, &key, "GET", "/api/groups/desk", None);
            let body = res.json();
            let last = |k: &str| body[k][0]["lastMessage"].is_object();
            (last("groups") && last("channels")).then_some(res)
        },
    );
    // Neither the simulator nor the engine has profile pictures, so those may be null.
    conforms(
        &listed,
        r#"{"groups": [{"id": "120363123456789012@g.us", "name": "קבוצת עבודה",
            "description": "קבוצה לעבודה משותפת", "profilePic": "https://example.com/group-pic.jpg",
            "participants": 15, "owner": "972501234567@c.us", "createdAt": 1699123456,
            "lastMessage": {"body": "הודעה אחרונה", "timestamp": 1699123456, "fromMe": false},
            "timestamp": 1699123456, "unreadCount": 2, "isMuted": false, "pinned": false,
            "isReadOnly": false, "type": "group"}],
          "channels": [{"id": "120363123456789013@c.us", "name": "ערוץ חדשות",
            "description": "ערוץ לחדשות", "profilePic": "https://example.com/channel-pic.jpg",
            "lastMessage": {"body": "חדשות היום", "timestamp": 1699123456, "fromMe": false},
            "timestamp": 1699123456, "unreadCount": 0, "isMuted": false, "pinned": false,
            "isReadOnly": false, "type": "channel"}],
          "total": 2}"#,
        "groups",
        &["profilePic"],
    );
}

#[test]
#[should_panic(expected = "missing")]
fn shape_check_catches_a_missing_key() {
    assert_shape(&json!({"a": {"b": 1}}), &json!({"a": {}}), "x", &[]);
}

#[test]
#[should_panic(expected = "the doc shows")]
fn shape_check_catches_another_type_in_an_array() {
    assert_shape(&json!([{"n": 1}]), &json!([{"n": "1"}]), "x", &[]);
}

#[test]
#[should_panic(expected = "the doc shows")]
fn shape_check_allows_null_only_where_the_doc_does() {
    assert_shape(
        &json!({"a": {"b": 1}}),
        &json!({"a": {"b": null}}),
        "x",
        &["a"],
    );
}
