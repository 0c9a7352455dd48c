//! `POST /api/send-message` end to end through `chattu serve --sandbox`: a linked client sends a text
//! that a simulated phone receives decrypted; the sent history follows the phone's delivery and read
//! receipts; a WhatsApp refusal (463) is answered as an error and recorded as failed; media and empty
//! texts are refused before anything is sent.

mod api_engine_support;

use api_engine_support::{create_phone, phone_devices, wait_for, Chattu, Http};
use serde_json::{json, Value};

const CLIENT_PHONE: &str = "15550011111";
const FRIEND: &str = "15550011112";

fn send(http: &Http, key: &str, body: Value) -> (u16, Value) {
    let res = http.send(
        "POST",
        "/api/send-message",
        &[("x-api-key", key)],
        Some(body),
    );
    (res.status, res.json())
}

fn sent_status(http: &Http, key: &str, text: &str) -> Option<String> {
    let res = http.send("GET", "/api/sent-messages", &[("x-api-key", key)], None);
    assert_eq!(res.status, 200, "{}", res.text());
    res.json().as_array().and_then(|rows| {
        rows.iter()
            .find(|r| r["message"] == text)
            .and_then(|r| r["status"].as_str().map(str::to_string))
    })
}

#[test]
fn send_message_reaches_the_phone_and_history_follows_the_receipts() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let added = http.add_number(
        &key,
        json!({"clientId": "shop", "phoneNumber": CLIENT_PHONE}),
    );
    assert_eq!(added.status, 200, "{}", added.text());
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    create_phone(&http, CLIENT_PHONE, "Shop");
    create_phone(&http, FRIEND, "Friend");
    let scan = http.post(
        &format!("/sim/phones/{CLIENT_PHONE}/scan"),
        json!({"qr": qr}),
    );
    assert_eq!(scan.status, 200, "{}", scan.text());
    chattu.wait_status(&key, "shop", "Authenticated");
    wait_for("prekeys", || {
        (phone_devices(&http, CLIENT_PHONE)[0]["prekeys"].as_u64() > Some(0)).then_some(())
    });

    // Refused before anything is sent.
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": FRIEND, "message": "pic", "mediaUrl": "https://example.com/a.exe"}),
    );
    assert_eq!((status, body["code"].as_str()), (400, Some("MEDIA_ERROR")));
    let (status, body) = send(&http, &key, json!({"clientId": "shop", "number": FRIEND}));
    assert_eq!((status, body["field"].as_str()), (400, Some("message")));
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": "not a number", "message": "x"}),
    );
    assert_eq!((status, body["field"].as_str()), (400, Some("number")));

    // A text: the phone receives it decrypted; the history goes server → delivered → read.
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": "+1 555 001 1112", "message": "hello from the API"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    // The answer carries the level reached when it is written: the server ack at least, and the
    // phone's delivery receipt may already have raised it.
    let ack = body["ack"].as_str().unwrap_or_default();
    assert!(["server", "delivered"].contains(&ack), "{body}");
    let id = body["messageId"].as_str().expect("messageId").to_string();
    assert!(id.starts_with("3EB0"), "{id}");
    let received = wait_for("the phone to receive the text", || {
        let inbox = http.get(&format!("/sim/phones/{FRIEND}/messages")).json();
        inbox["received"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == id.as_str()).cloned())
    });
    assert_eq!(received["text"], "hello from the API");
    assert_eq!(received["chat"], format!("{CLIENT_PHONE}@s.whatsapp.net"));
    wait_for("delivered in history", || {
        (sent_status(&http, &key, "hello from the API").as_deref() == Some("delivered"))
            .then_some(())
    });
    let read = http.post(&format!("/sim/phones/{FRIEND}/read"), json!({"id": id}));
    assert_eq!(read.status, 200, "{}", read.text());
    wait_for("read in history", || {
        (sent_status(&http, &key, "hello from the API").as_deref() == Some("read")).then_some(())
    });
    // The API send is part of the friend's chat, as a send from the chat view would be.
    let chats = http
        .send("GET", "/api/chats/shop", &[("cookie", &cookie)], None)
        .json();
    let chat = chats["chats"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|c| c["id"]["_serialized"] == format!("{FRIEND}@c.us").as_str())
        })
        .cloned()
        .unwrap_or_else(|| panic!("no chat with {FRIEND}: {chats}"));
    assert_eq!(chat["lastMessage"]["body"], "hello from the API");
    assert_eq!(chat["lastMessage"]["fromMe"], true);
    let messages = http
        .send(
            "GET",
            &format!("/api/chats/shop/{FRIEND}@c.us/messages"),
            &[("cookie", &cookie)],
            None,
        )
        .json();
    let sent = messages["messages"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|m| m["id"]["_serialized"] == id.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("message {id} not in the chat: {messages}"));
    assert_eq!(sent["ack"], 3, "read is ack 3: {sent}");

    // WhatsApp refuses the next send: an error answer, a failed row, nothing at the phone.
    let refuse = http.post(
        &format!("/sim/phones/{CLIENT_PHONE}/devices/1/refuse-send"),
        json!({"code": 463}),
    );
    assert_eq!(refuse.status, 200);
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": FRIEND, "message": "refused one"}),
    );
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["code"], "WHATSAPP_ERROR");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("463")),
        "{body}"
    );
    assert_eq!(
        sent_status(&http, &key, "refused one").as_deref(),
        Some("failed")
    );
    let inbox = http.get(&format!("/sim/phones/{FRIEND}/messages")).json();
    assert!(inbox["received"]
        .as_array()
        .is_some_and(|all| all.iter().all(|m| m["text"] != "refused one")));
}
