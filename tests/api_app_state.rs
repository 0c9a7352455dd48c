//! App state sync seen through the public API: `chattu serve --sandbox`, a client linked to a
//! simulated phone; when the phone mutes, pins and reads a chat (syncd patches), `GET /api/chats`
//! shows `isMuted`, `pinned` and the unread count as the phone set them, and `GET /api/groups`
//! shows a group's `isMuted` and `pinned`.

mod api_engine_support;

use api_engine_support::{create_phone, wait_for, Chattu, Http};
use serde_json::{json, Value};

const OWN: &str = "15550040001";
const PEER: &str = "15550040002";
const GROUP_OWN: &str = "15550040011";
const GROUP_PEER: &str = "15550040012";

/// The chat with PEER as `GET /api/chats/desk` shows it.
fn peer_chat(http: &Http, cookie: &str) -> Option<Value> {
    let res = http.send("GET", "/api/chats/desk", &[("cookie", cookie)], None);
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["chats"]
        .as_array()?
        .iter()
        .find(|c| c["id"]["_serialized"] == format!("{PEER}@c.us").as_str())
        .cloned()
}

/// `chattu serve --sandbox` with client `desk` linked to phone `own` (named Desk), a second phone
/// `peer` (Ruth), and the phone's app state key already at the client. Answers the server, the
/// admin's session cookie and API key.
fn desk_with_app_state(own: &str, peer: &str) -> (Chattu, String, String) {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    create_phone(&http, own, "Desk");
    create_phone(&http, peer, "Ruth");
    chattu.link_client(&key, "desk", own);
    wait_for("the app state key at the client", || {
        let view = http.get(&format!("/sim/phones/{own}/app-state")).json();
        (view["keySharedWith"].as_array().map_or(0, Vec::len) == 1).then_some(())
    });
    (chattu, cookie, key)
}

fn phone_changes_chat(http: &Http, change: Value) {
    let res = http.post(&format!("/sim/phones/{OWN}/app-state/chats/{PEER}"), change);
    assert_eq!(res.status, 200, "{}", res.text());
}

#[test]
fn the_chat_list_shows_mute_pin_and_read_set_on_the_phone() {
    let (chattu, cookie, _) = desk_with_app_state(OWN, PEER);
    let http = chattu.http();
    wait_for("prekeys uploaded", || {
        let phone = http.get(&format!("/sim/phones/{OWN}")).json();
        (phone["devices"][0]["prekeys"].as_u64() >= Some(800)).then_some(())
    });

    let res = http.post(
        &format!("/sim/phones/{PEER}/messages"),
        json!({"to": OWN, "text": "hello from Ruth"}),
    );
    assert_eq!(res.status, 201, "{}", res.text());
    let chat = wait_for("an unread chat", || {
        peer_chat(&http, &cookie).filter(|c| c["unreadCount"] == 1)
    });
    assert_eq!(chat["isMuted"], false);
    assert_eq!(chat["pinned"], false);

    phone_changes_chat(&http, json!({"mute": -1, "pin": true}));
    wait_for("muted and pinned", || {
        peer_chat(&http, &cookie).filter(|c| c["isMuted"] == true && c["pinned"] == true)
    });
    phone_changes_chat(&http, json!({"read": true}));
    let chat = wait_for("read on the phone", || {
        peer_chat(&http, &cookie).filter(|c| c["unreadCount"] == 0)
    });
    assert_eq!(chat["isMuted"], true, "{chat}");
    phone_changes_chat(&http, json!({"mute": 0, "pin": false}));
    wait_for("unmuted and unpinned", || {
        peer_chat(&http, &cookie).filter(|c| c["isMuted"] == false && c["pinned"] == false)
    });
}

#[test]
fn the_group_list_shows_mute_and_pin_set_on_the_phone() {
    let (chattu, _, key) = desk_with_app_state(GROUP_OWN, GROUP_PEER);
    let http = chattu.http();
    let mut ids = Vec::new();
    for subject in ["Changed", "Untouched"] {
        let created = http.post(
            "/sim/groups",
            json!({"creator": GROUP_PEER, "subject": subject, "participants": [GROUP_OWN]}),
        );
        assert_eq!(created.status, 201, "{}", created.text());
        ids.push(created.json()["id"].as_str().expect("id").to_string());
    }
    let (changed, untouched) = (ids[0].clone(), ids[1].clone());
    let entry = |id: &str| {
        http.groups(&key, "desk")
            .into_iter()
            .find(|g| g["id"] == id)
    };
    let group = wait_for("the group listed", || entry(&changed));
    assert_eq!(
        (&group["isMuted"], &group["pinned"]),
        (&json!(false), &json!(false))
    );

    let change = |body: Value| {
        let res = http.post(
            &format!("/sim/phones/{GROUP_OWN}/app-state/chats/{changed}"),
            body,
        );
        assert_eq!(res.status, 200, "{}", res.text());
    };
    // Muted for an hour: still ahead, so muted.
    change(json!({"mute": 3600, "pin": true}));
    wait_for("muted and pinned", || {
        entry(&changed).filter(|g| g["isMuted"] == true && g["pinned"] == true)
    });
    let other = entry(&untouched).expect("the other group");
    assert_eq!(
        (&other["isMuted"], &other["pinned"]),
        (&json!(false), &json!(false))
    );

    change(json!({"mute": 0, "pin": false}));
    wait_for("unmuted and unpinned", || {
        entry(&changed).filter(|g| g["isMuted"] == false && g["pinned"] == false)
    });
}
