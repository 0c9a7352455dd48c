//! History sync through the whole server (`chattu serve --sandbox`): a phone that already chatted
//! links a Chattu client; the client's chat list (`/api/chats`) shows the phone's chats with their
//! last message, unread count, pin and mute right away, the received-message history stays empty
//! (history is not new mail: no `message_received`), and marking the chat read sends the phone's
//! peer a read receipt for the unread history messages.

mod api_engine_support;

use api_engine_support::{create_phone, wait_for, Chattu};
use serde_json::json;

const OWN: &str = "15550040001";
const PEER: &str = "15550040002";
const QUIET: &str = "15550040003";

#[test]
fn a_linked_client_starts_with_the_phones_chats() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    create_phone(&http, OWN, "Desk");
    create_phone(&http, PEER, "Ruth");
    create_phone(&http, QUIET, "Quinn");
    // Before Chattu is linked: Ruth writes twice (unread), the phone answers Quinn.
    let mut unread = Vec::new();
    for text in ["old one", "old two"] {
        let res = http.post(
            &format!("/sim/phones/{PEER}/messages"),
            json!({"to": OWN, "text": text}),
        );
        assert_eq!(res.status, 201, "{}", res.text());
        unread.push(res.json()["id"].as_str().expect("id").to_string());
    }
    let res = http.post(
        &format!("/sim/phones/{OWN}/messages"),
        json!({"to": QUIET, "text": "hello Quinn"}),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let res = http.post(
        &format!("/sim/phones/{OWN}/chats/{PEER}"),
        json!({"pinned": true, "muteEndTime": 4_000_000_000u64}),
    );
    assert_eq!(res.status, 200, "{}", res.text());

    chattu.link_client(&key, "desk", OWN);

    let chats = wait_for("the seeded chat list", || {
        let res = http.send("GET", "/api/chats/desk", &[("cookie", &cookie)], None);
        let chats = res.json()["chats"].as_array().cloned().unwrap_or_default();
        (chats.len() == 2).then_some(chats)
    });
    let chat = |number: &str| {
        chats
            .iter()
            .find(|c| c["id"]["_serialized"] == format!("{number}@c.us"))
            .cloned()
            .unwrap_or_else(|| panic!("no chat with {number}: {chats:?}"))
    };
    let ruth = chat(PEER);
    assert_eq!(ruth["name"], "Ruth");
    assert_eq!(ruth["unreadCount"], 2);
    assert_eq!(ruth["pinned"], true);
    assert_eq!(ruth["isMuted"], true);
    assert_eq!(ruth["lastMessage"]["body"], "old two");
    assert_eq!(ruth["lastMessage"]["fromMe"], false);
    let quinn = chat(QUIET);
    assert_eq!(quinn["unreadCount"], 0);
    assert_eq!(quinn["pinned"], false);
    assert_eq!(quinn["lastMessage"]["body"], "hello Quinn");
    assert_eq!(quinn["lastMessage"]["fromMe"], true);

    // History is not new mail: nothing in the received history (so no message_received).
    let received = http.get_ok(&key, "/api/received-messages/desk");
    assert_eq!(
        received["messages"].as_array().map(Vec::len),
        Some(0),
        "{received}"
    );

    // Reading the chat reaches Ruth's phone for the history messages too.
    let read = http.send(
        "POST",
        &format!("/api/chats/desk/{PEER}@c.us/read"),
        &[("cookie", &cookie)],
        Some(json!({})),
    );
    assert_eq!(read.status, 200, "{}", read.text());
    wait_for("Ruth sees both messages read", || {
        let sent = http.get(&format!("/sim/phones/{PEER}/messages")).json()["sent"].clone();
        let all_read = unread.iter().all(|id| {
            sent.as_array().is_some_and(|s| {
                s.iter()
                    .any(|m| m["id"] == id.as_str() && m["status"] == "read")
            })
        });
        all_read.then_some(())
    });
}
