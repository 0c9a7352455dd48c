//! Groups over real sockets. On the simulator: a group created through `/sim/groups` is described by
//! the control API, a phone's group message (SKDM pairwise, then one skmsg) is decrypted by every
//! other participant and by nobody outside the group, announce-only groups refuse non-admins, and
//! unknown phones or groups are refused. With the engine: the participating list over `w:g2`, a
//! group text the phones decrypt (first with, then without SKDMs), a phone's group text received
//! by the engine, and READ_ONLY / not-found refusals. Through the API (`serve --sandbox`): the
//! group list with its Hebrew name, send-group-message reaching both phones, a phone's group
//! message in the received history, and the READ_ONLY_CHAT / INVALID_CHAT_TYPE / GROUP_NOT_FOUND
//! refusals.

mod api_engine_support;
mod companion_support;

use chattu::engine::groups::GroupError;
use chattu::engine::messaging::EngineEvent;
use chattu::protocol::jid::Jid;
use chattu::simulator::SimulatorHandle;
use companion_support::{
    create_unnamed_phone, http, paired_engine_in_db, simulator, TempDb, PATIENCE,
};
use serde_json::{json, Value};
use std::time::Duration;

async fn inbox(sim: &SimulatorHandle, group: &str, phone: &str) -> Vec<Value> {
    let (status, body) = http(
        "GET",
        format!("{}/sim/groups/{group}/inbox/{phone}", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn phone_group_messages_reach_every_other_participant_decrypted() {
    let sim = simulator().await;
    for phone in ["15550101001", "15550101002", "15550101003", "15550101004"] {
        create_unnamed_phone(&sim, phone).await;
    }
    let (status, created) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({
            "creator": "15550101001",
            "subject": "קבוצת בדיקה",
            "participants": ["15550101002", "15550101003"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.ends_with("@g.us"), "{id}");

    let (status, meta) = http("GET", format!("{}/sim/groups/{id}", sim.http_base()), None).await;
    assert_eq!(status, 200);
    assert_eq!(meta["subject"], "קבוצת בדיקה");
    assert_eq!(meta["participants"].as_array().unwrap().len(), 3);

    for (from, text) in [
        ("15550101002", "שלום לכולם"),
        ("15550101002", "second"),
        ("15550101001", "from the creator"),
    ] {
        let (status, sent) = http(
            "POST",
            format!("{}/sim/groups/{id}/send", sim.http_base()),
            Some(json!({ "from": from, "text": text })),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
    }
    let texts = |messages: Vec<Value>| -> Vec<String> {
        messages
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(
        texts(inbox(&sim, &id, "15550101001").await),
        ["שלום לכולם", "second"]
    );
    assert_eq!(
        texts(inbox(&sim, &id, "15550101003").await),
        ["שלום לכולם", "second", "from the creator"]
    );
    assert_eq!(
        texts(inbox(&sim, &id, "15550101002").await),
        ["from the creator"]
    );
    assert!(inbox(&sim, &id, "15550101004").await.is_empty());

    // Someone outside the group cannot post to it.
    let (status, body) = http(
        "POST",
        format!("{}/sim/groups/{id}/send", sim.http_base()),
        Some(json!({ "from": "15550101004", "text": "intruder" })),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn announce_groups_and_unknown_ids_are_refused() {
    let sim = simulator().await;
    for phone in ["15550102001", "15550102002"] {
        create_unnamed_phone(&sim, phone).await;
    }
    let (status, body) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({ "creator": "15550102001", "subject": "x", "participants": ["15550109999"] })),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("PHONE_NOT_FOUND"))
    );
    let (status, created) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({
            "creator": "15550102001",
            "subject": "Announcements",
            "participants": ["15550102002"],
            "announce": true,
        })),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    let send = |from: &'static str| {
        http(
            "POST",
            format!("{}/sim/groups/{id}/send", sim.http_base()),
            Some(json!({ "from": from, "text": "hi" })),
        )
    };
    let (status, body) = send("15550102002").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("READ_ONLY_CHAT"))
    );
    let (status, _) = send("15550102001").await;
    assert_eq!(status, 200);
    assert_eq!(inbox(&sim, &id, "15550102002").await.len(), 1);
    let (status, body) = http(
        "GET",
        format!("{}/sim/groups/1203630000@g.us", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("GROUP_NOT_FOUND"))
    );
    sim.shutdown().await;
}

/// Polls until `phone`'s inbox in `group` holds `count` messages.
async fn inbox_reaches(
    sim: &SimulatorHandle,
    group: &str,
    phone: &str,
    count: usize,
) -> Vec<String> {
    for _ in 0..200 {
        let messages = inbox(sim, group, phone).await;
        if messages.len() >= count {
            return messages
                .iter()
                .map(|m| m["text"].as_str().unwrap_or_default().to_string())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{phone} never got {count} messages in {group}");
}

async fn new_group(sim: &SimulatorHandle, body: Value) -> String {
    let (status, created) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn engine_lists_sends_to_and_receives_from_groups() {
    let sim = simulator().await;
    let db = TempDb::new("engine");
    let (me, bob, carol) = ("15550103001", "15550103002", "15550103003");
    let engine = paired_engine_in_db(&sim, me, &db).await;
    create_unnamed_phone(&sim, bob).await;
    create_unnamed_phone(&sim, carol).await;
    let id = new_group(
        &sim,
        json!({ "creator": me, "subject": "משפחה 👪", "participants": [bob, carol], "description": "תיאור" }),
    )
    .await;
    let group = Jid::parse(&id).unwrap();

    let groups = engine.groups().await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].id, group);
    assert_eq!(groups[0].subject, "משפחה 👪");
    assert_eq!(groups[0].description.as_deref(), Some("תיאור"));
    assert_eq!(groups[0].participants.len(), 3);
    assert!(groups[0].is_admin(me) && !groups[0].is_admin(bob));
    assert!(!groups[0].announce);

    let sent = engine.send_group_text(&group, "שלום קבוצה").await.unwrap();
    assert_eq!(sent.to, group);
    assert_eq!(inbox_reaches(&sim, &id, bob, 1).await, ["שלום קבוצה"]);
    assert_eq!(inbox_reaches(&sim, &id, carol, 1).await, ["שלום קבוצה"]);
    // The second send carries no SKDM: the phones hold the sender key already.
    engine.send_group_text(&group, "again").await.unwrap();
    assert_eq!(
        inbox_reaches(&sim, &id, bob, 2).await,
        ["שלום קבוצה", "again"]
    );

    let mut events = engine.events().unwrap();
    let (status, posted) = http(
        "POST",
        format!("{}/sim/groups/{id}/send", sim.http_base()),
        Some(json!({ "from": bob, "text": "reply from bob" })),
    )
    .await;
    assert_eq!(status, 200, "{posted}");
    let received = tokio::time::timeout(PATIENCE, async {
        loop {
            match events.recv().await {
                Ok(EngineEvent::MessageReceived(m)) => return m,
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(received.chat, group);
    assert_eq!(received.from.user, bob);
    assert_eq!(received.id, posted["id"].as_str().unwrap());
    assert_eq!(received.text.as_deref(), Some("reply from bob"));

    let announce = new_group(
        &sim,
        json!({ "creator": bob, "subject": "news", "participants": [me], "announce": true }),
    )
    .await;
    let announce = Jid::parse(&announce).unwrap();
    assert_eq!(
        engine.send_group_text(&announce, "hi").await,
        Err(GroupError::ReadOnly)
    );
    assert_eq!(engine.groups().await.unwrap().len(), 2);
    let unknown = Jid::parse("120363999999999@g.us").unwrap();
    assert_eq!(engine.group_info(&unknown).await, Err(GroupError::NotFound));
    engine.shutdown().await;
    sim.shutdown().await;
}

/// Polls `probe` until it returns Some (at most 30 s), blocking.
fn poll<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn groups_api_lists_sends_and_refuses() {
    use api_engine_support::{create_phone, Chattu};
    let (own, ruth, sam) = ("15550104001", "15550104002", "15550104003");
    let chattu = Chattu::start(
        &["--sandbox"],
        &[
            ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MIN_MS", "0"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MAX_MS", "0"),
        ],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let added = http.add_number(&key, json!({"clientId": "desk", "phoneNumber": own}));
    assert_eq!(added.status, 200, "{}", added.text());
    let qr = added.json()["qrText"]
        .as_str()
        .expect("sandbox qrText")
        .to_string();
    create_phone(&http, own, "Desk");
    create_phone(&http, ruth, "Ruth");
    create_phone(&http, sam, "Sam");
    let scan = http.post(&format!("/sim/phones/{own}/scan"), json!({"qr": qr}));
    assert_eq!(scan.status, 200, "scan: {}", scan.text());
    chattu.wait_status(&key, "desk", "Authenticated");
    poll("prekeys uploaded", || {
        let phone = http.get(&format!("/sim/phones/{own}")).json();
        (phone["devices"][0]["prekeys"].as_u64() >= Some(800)).then_some(())
    });
    let created = http.post(
        "/sim/groups",
        json!({"creator": ruth, "subject": "קבוצת עבודה", "participants": [own, sam]}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let group = created.json()["id"].as_str().expect("id").to_string();
    let announce = http.post(
        "/sim/groups",
        json!({"creator": ruth, "subject": "הודעות", "participants": [own], "announce": true}),
    );
    let announce = announce.json()["id"].as_str().expect("id").to_string();

    let keyed = |method: &str, path: &str, body: Option<Value>| {
        http.send(method, path, &[("x-api-key", key.as_str())], body)
    };
    let listed = keyed("GET", "/api/groups/desk", None);
    assert_eq!(listed.status, 200, "{}", listed.text());
    let listed = listed.json();
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["channels"], json!([]));
    let work = listed["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["id"] == group.as_str()))
        .cloned()
        .expect("the work group is listed");
    assert_eq!(work["name"], "קבוצת עבודה");
    assert_eq!(work["participants"], 3);
    assert_eq!(work["owner"], format!("{ruth}@c.us"));
    assert_eq!(work["type"], "group");
    assert_eq!(work["isReadOnly"], false);
    assert!(work["createdAt"].as_u64() > Some(1_600_000_000));
    let news = listed["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["id"] == announce.as_str()))
        .cloned()
        .expect("the announcement group is listed");
    assert_eq!(news["isReadOnly"], true);
    let by_session = http.send(
        "GET",
        "/api/groups/desk",
        &[("cookie", cookie.as_str())],
        None,
    );
    assert_eq!(by_session.status, 200);

    let send = |group_id: &str, text: &str| {
        keyed(
            "POST",
            "/api/send-group-message",
            Some(json!({"clientId": "desk", "groupId": group_id, "message": text})),
        )
    };
    let sent = send(&group, "שלום לכולם! זה הודעה בעברית");
    assert_eq!(sent.status, 200, "{}", sent.text());
    let sent = sent.json();
    assert_eq!(sent["success"], true);
    assert_eq!(sent["groupId"], group.as_str());
    assert_eq!(sent["groupName"], "קבוצת עבודה");
    assert_eq!(sent["message"]["body"], "שלום לכולם! זה הודעה בעברית");
    assert_eq!(sent["message"]["type"], "chat");
    for phone in [ruth, sam] {
        poll("the phone decrypts the group text", || {
            let inbox = http
                .get(&format!("/sim/groups/{group}/inbox/{phone}"))
                .json();
            inbox["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["text"] == "שלום לכולם! זה הודעה בעברית"))
                .then_some(())
        });
    }
    let dashboard = http.send(
        "POST",
        &format!("/api/groups/desk/{group}/send"),
        &[("cookie", cookie.as_str())],
        Some(json!({"message": "from the dashboard"})),
    );
    assert_eq!(dashboard.status, 200, "{}", dashboard.text());
    assert_eq!(dashboard.json()["groupName"], "קבוצת עבודה");
    poll("the dashboard text arrives", || {
        let inbox = http.get(&format!("/sim/groups/{group}/inbox/{sam}")).json();
        (inbox["messages"].as_array().map(Vec::len) == Some(2)).then_some(())
    });

    // A phone's group message reaches Chattu's received history.
    let posted = http.post(
        &format!("/sim/groups/{group}/send"),
        json!({"from": sam, "text": "Sam writes to the group"}),
    );
    assert_eq!(posted.status, 200, "{}", posted.text());
    poll("the group message is received", || {
        let received = keyed("GET", "/api/received-messages/desk", None).json();
        received["messages"]
            .as_array()
            .is_some_and(|m| {
                m.iter()
                    .any(|m| m.to_string().contains("Sam writes to the group"))
            })
            .then_some(())
    });

    // Channels: ours takes posts, a followed one is read-only.
    let ours = http.post(
        "/sim/channels",
        json!({"owner": own, "name": "ערוץ חדשות", "description": "חדשות", "subscribers": [sam]}),
    );
    assert_eq!(ours.status, 201, "{}", ours.text());
    let ours = ours.json()["id"].as_str().expect("id").to_string();
    let theirs = http.post(
        "/sim/channels",
        json!({"owner": ruth, "name": "Ruth's channel", "subscribers": [own]}),
    );
    let theirs = theirs.json()["id"].as_str().expect("id").to_string();
    let listed = keyed("GET", "/api/groups/desk", None).json();
    assert_eq!(listed["total"], 4, "{listed}");
    let channels = listed["channels"].as_array().cloned().unwrap_or_default();
    let find = |id: &str| {
        channels
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(find(&ours)["name"], "ערוץ חדשות");
    assert_eq!(find(&ours)["description"], "חדשות");
    assert_eq!(find(&ours)["type"], "channel");
    assert_eq!(find(&ours)["isReadOnly"], false);
    assert_eq!(find(&theirs)["isReadOnly"], true);
    let posted = send(&ours, "מבזק");
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert_eq!(posted.json()["groupName"], "ערוץ חדשות");
    let feed = http.get(&format!("/sim/channels/{ours}")).json();
    assert_eq!(feed["posts"][0]["text"], "מבזק", "{feed}");
    assert_eq!(feed["posts"][0]["from"], own);
    let refused = send(&theirs, "hi");
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.json()["code"], "READ_ONLY_CHAT");
    assert_eq!(
        http.get(&format!("/sim/channels/{theirs}")).json()["posts"],
        json!([])
    );

    let refused = send(&announce, "hi");
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.json()["code"], "READ_ONLY_CHAT");
    let refused = send(&format!("{ruth}@c.us"), "hi");
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["code"], "INVALID_CHAT_TYPE");
    let refused = send("120363999999999999@g.us", "hi");
    assert_eq!(refused.status, 404, "{}", refused.text());
    assert_eq!(refused.json()["code"], "GROUP_NOT_FOUND");
    let too_long = send(&group, &"x".repeat(4097));
    assert_eq!(too_long.status, 400, "{}", too_long.text());
}
