//! `GET /api/groups/:clientId` fills `lastMessage`, `timestamp` and `unreadCount` from real
//! traffic (`chattu serve --sandbox`): a phone's group message is the last message and unread;
//! the client's own send to the group becomes the last message and clears the unread count; the
//! group with the newest activity is listed first.

mod api_engine_support;

use api_engine_support::{create_phone, wait_for, Chattu};
use serde_json::{json, Value};

const OWN: &str = "15550032001";
const RUTH: &str = "15550032002";
const SAM: &str = "15550032003";

#[test]
fn group_entries_carry_their_last_message_and_unread_count() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[
            ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MIN_MS", "0"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MAX_MS", "0"),
        ],
    );
    let http = chattu.http();
    let (_, key) = chattu.admin();
    for (phone, name) in [(OWN, "Desk"), (RUTH, "Ruth"), (SAM, "Sam")] {
        create_phone(&http, phone, name);
    }
    chattu.link_client(&key, "desk", OWN);
    wait_for("prekeys", || {
        let phone = http.get(&format!("/sim/phones/{OWN}")).json();
        (phone["devices"][0]["prekeys"].as_u64() > Some(0)).then_some(())
    });
    let mut ids = Vec::new();
    for subject in ["Quiet", "Busy"] {
        let created = http.post(
            "/sim/groups",
            json!({"creator": RUTH, "subject": subject, "participants": [OWN, SAM]}),
        );
        assert_eq!(created.status, 201, "{}", created.text());
        ids.push(created.json()["id"].as_str().expect("id").to_string());
    }
    let (quiet, busy) = (ids[0].clone(), ids[1].clone());
    let list = || http.groups(&key, "desk");
    let entry = |groups: &[Value], id: &str| {
        groups
            .iter()
            .find(|g| g["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {groups:?}"))
    };
    let before = list();
    assert_eq!(entry(&before, &busy)["lastMessage"], Value::Null);
    assert_eq!(entry(&before, &busy)["unreadCount"], 0);

    // Two messages from phones: the later one is the last message, both are unread.
    for (from, text) in [(SAM, "first from Sam"), (RUTH, "then Ruth")] {
        let posted = http.post(
            &format!("/sim/groups/{busy}/send"),
            json!({"from": from, "text": text}),
        );
        assert_eq!(posted.status, 200, "{}", posted.text());
        wait_for("the group message recorded", || {
            let g = entry(&list(), &busy);
            (g["lastMessage"]["body"] == text).then_some(())
        });
    }
    let groups = list();
    let g = entry(&groups, &busy);
    assert_eq!(g["unreadCount"], 2, "{g}");
    assert_eq!(g["lastMessage"]["fromMe"], false);
    let last_ts = g["lastMessage"]["timestamp"].as_u64().expect("timestamp");
    assert_eq!(g["timestamp"], last_ts);
    assert_eq!(
        groups[0]["id"],
        busy.as_str(),
        "newest activity first: {groups:?}"
    );
    assert_eq!(entry(&groups, &quiet)["lastMessage"], Value::Null);

    // Our own send to the quiet group: last message from us, and it moves to the top.
    let sent = http.send(
        "POST",
        "/api/send-group-message",
        &[("x-api-key", key.as_str())],
        Some(json!({"clientId": "desk", "groupId": quiet, "message": "hello quiet group"})),
    );
    assert_eq!(sent.status, 200, "{}", sent.text());
    let groups = list();
    let q = entry(&groups, &quiet);
    assert_eq!(q["lastMessage"]["body"], "hello quiet group");
    assert_eq!(q["lastMessage"]["fromMe"], true);
    assert_eq!(q["unreadCount"], 0);
    assert!(q["timestamp"].as_u64() >= Some(last_ts));
    // Answering the busy group clears its unread count.
    let answered = http.send(
        "POST",
        "/api/send-group-message",
        &[("x-api-key", key.as_str())],
        Some(json!({"clientId": "desk", "groupId": busy, "message": "got it"})),
    );
    assert_eq!(answered.status, 200, "{}", answered.text());
    let b = entry(&list(), &busy);
    assert_eq!(
        (b["unreadCount"].as_u64(), b["lastMessage"]["body"].as_str()),
        (Some(0), Some("got it"))
    );
}
