//! Group changes on the simulator over real sockets: `w:g2` create / add / remove / promote /
//! subject / description / leave iqs from raw companions, and the control API's group routes, each
//! told to the members' companions as `<notification type="w:gp2" from=GROUP participant=ACTOR>`;
//! non-admins are refused; a removed member gets nothing the group says afterwards, while the
//! phones that stay rotate their sender keys and still decrypt each other.

mod companion_support;
mod sim_raw;

use chattu::engine::wire::ClientConn;
use chattu::protocol::binary::Node;
use chattu::protocol::jid::Jid;
use chattu::simulator::SimulatorHandle;
use companion_support::{call, paired_creds, simulator};
use serde_json::{json, Value};
use sim_raw::{ask, login, next_where};

fn g2_set(id: &str, to: Jid, child: Node) -> Node {
    Node::new("iq")
        .with_attr("xmlns", "w:g2")
        .with_attr("type", "set")
        .with_attr("id", id)
        .with_attr("to", to)
        .with_child(child)
}

fn participants(tag: &str, phones: &[&str]) -> Node {
    Node::new(tag).with_children(
        phones
            .iter()
            .map(|p| Node::new("participant").with_attr("jid", Jid::phone(*p))),
    )
}

/// The next `w:gp2` notification; returns it with its one child.
async fn gp2(conn: &mut ClientConn) -> (Node, Node) {
    let node = next_where(conn, |n| {
        n.tag == "notification" && n.attr("type") == Some("w:gp2")
    })
    .await;
    let child = node
        .children()
        .first()
        .cloned()
        .expect("empty notification");
    (node, child)
}

fn jids(node: &Node) -> Vec<String> {
    node.children_by_tag("participant")
        .filter_map(|p| p.attr_jid("jid"))
        .map(|j| j.user)
        .collect()
}

#[tokio::test]
async fn group_changes_over_iqs_reach_every_member() {
    let sim = simulator().await;
    let (a, b, c) = ("15550007001", "15550007002", "15550007003");
    let (ca, cb, cc) = (
        paired_creds(&sim, a).await,
        paired_creds(&sim, b).await,
        paired_creds(&sim, c).await,
    );
    let url = sim.ws_url();
    let (mut alice, _) = login(&url, sim.trusted_root(), &ca).await;
    let (mut bob, _) = login(&url, sim.trusted_root(), &cb).await;
    let (mut carol, _) = login(&url, sim.trusted_root(), &cc).await;

    // Create with one participant, announce-only.
    let create = participants("create", &[b])
        .with_attr("subject", "Team")
        .with_child(Node::new("announcement"));
    let answer = ask(&mut alice, g2_set("c1", Jid::group_server(), create)).await;
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
    let group_node = answer.child("group").expect("no <group>");
    let group = Jid::parse(&format!("{}@g.us", group_node.attr("id").unwrap())).unwrap();
    assert_eq!(group_node.attr("subject"), Some("Team"));
    assert!(group_node.child("announcement").is_some());
    let (note, child) = gp2(&mut bob).await;
    assert_eq!(child.tag, "create");
    assert_eq!(note.attr_jid("from"), Some(group.clone()));
    assert_eq!(note.attr_jid("participant"), Some(Jid::phone(a)));
    let created = child.child("group").expect("create without <group>");
    assert_eq!(jids(created), vec![a.to_string(), b.to_string()]);

    // A non-admin may not add; an admin may, and unknown numbers are refused one by one.
    let refused = ask(
        &mut bob,
        g2_set("b1", group.clone(), participants("add", &[c])),
    )
    .await;
    assert_eq!(refused.attr("type"), Some("error"));
    assert_eq!(
        refused
            .child("error")
            .and_then(|e| e.attr_parse::<u16>("code")),
        Some(401)
    );
    let added = ask(
        &mut alice,
        g2_set(
            "a1",
            group.clone(),
            participants("add", &[c, "15559990000"]),
        ),
    )
    .await;
    let results: Vec<(String, Option<u16>)> = added
        .child("add")
        .unwrap()
        .children_by_tag("participant")
        .map(|p| (p.attr_jid("jid").unwrap().user, p.attr_parse("error")))
        .collect();
    assert_eq!(
        results,
        vec![
            (c.to_string(), None),
            ("15559990000".to_string(), Some(403))
        ]
    );
    for conn in [&mut bob, &mut carol] {
        let (_, child) = gp2(conn).await;
        assert_eq!(child.tag, "add");
        assert_eq!(jids(&child), vec![c.to_string()]);
    }

    // Promote Bob; Bob renames the group; Alice sets a description.
    ask(
        &mut alice,
        g2_set("a2", group.clone(), participants("promote", &[b])),
    )
    .await;
    let (_, child) = gp2(&mut carol).await;
    assert_eq!(
        (child.tag.as_str(), jids(&child)),
        ("promote", vec![b.to_string()])
    );
    let subject = Node::new("subject").with_text("Renamed");
    let answer = ask(&mut bob, g2_set("b2", group.clone(), subject)).await;
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
    for conn in [&mut alice, &mut carol] {
        let (note, child) = gp2(conn).await;
        assert_eq!(note.attr_jid("participant"), Some(Jid::phone(b)));
        assert_eq!(child.tag, "subject");
        assert_eq!(child.attr("subject"), Some("Renamed"));
    }
    let description = Node::new("description")
        .with_attr("id", "desc1")
        .with_child(Node::new("body").with_text("About us"));
    ask(&mut alice, g2_set("a3", group.clone(), description)).await;
    let (_, child) = gp2(&mut carol).await;
    assert_eq!(child.tag, "description");
    let body = child.child("body").and_then(|b| b.content_text()).unwrap();
    assert_eq!(body, "About us");

    // Remove Carol: she hears of it, then nothing the group says reaches her device.
    ask(
        &mut alice,
        g2_set("a4", group.clone(), participants("remove", &[c])),
    )
    .await;
    let (_, child) = gp2(&mut carol).await;
    assert_eq!(
        (child.tag.as_str(), jids(&child)),
        ("remove", vec![c.to_string()])
    );
    carol.close().await;
    let base = sim.http_base();
    // Wait until the server knows Carol's device is gone, so group traffic for it would be queued.
    loop {
        let (_, phone) = call("GET", format!("{base}/sim/phones/{c}"), None).await;
        if phone["devices"][0]["connected"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, sent) = call(
        "POST",
        format!("{base}/sim/groups/{}/send", group.user),
        Some(json!({ "from": a, "text": "after Carol" })),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let message = next_where(&mut bob, |n| n.tag == "message").await;
    assert_eq!(message.attr_jid("from"), Some(group.clone()));
    assert_eq!(message.attr_text("id").as_deref(), sent["id"].as_str());
    let (_, queue) = call(
        "GET",
        format!("{base}/sim/phones/{c}/devices/1/queue"),
        None,
    )
    .await;
    assert_eq!(
        queue["queued"], 0,
        "a removed member's device got group traffic"
    );

    // Bob leaves: Alice sees a removal made by Bob himself.
    let leave = Node::new("leave").with_child(Node::new("group").with_attr("id", group.clone()));
    let answer = ask(&mut bob, g2_set("b3", Jid::group_server(), leave)).await;
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
    let (note, child) = gp2(&mut alice).await;
    assert_eq!(note.attr_jid("participant"), Some(Jid::phone(b)));
    assert_eq!(
        (child.tag.as_str(), jids(&child)),
        ("remove", vec![b.to_string()])
    );
    let (_, view) = call("GET", format!("{base}/sim/groups/{}", group.user), None).await;
    assert_eq!(view["subject"], "Renamed");
    assert_eq!(view["description"], "About us");
    assert_eq!(view["participants"], json!([{ "phone": a, "admin": true }]));
    sim.shutdown().await;
}

async fn inbox_texts(sim: &SimulatorHandle, group: &str, phone: &str) -> (Vec<String>, Value) {
    let (status, body) = call(
        "GET",
        format!("{}/sim/groups/{group}/inbox/{phone}", sim.http_base()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let texts = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_string))
        .collect();
    (texts, body["decryptFailures"].clone())
}

#[tokio::test]
async fn control_api_changes_notify_and_sender_keys_follow_membership() {
    let sim = simulator().await;
    let base = sim.http_base();
    let (a, b, c) = ("15550007101", "15550007102", "15550007103");
    let cb = paired_creds(&sim, b).await;
    for phone in [a, c] {
        let (status, _) = call(
            "POST",
            format!("{base}/sim/phones"),
            Some(json!({ "phone": phone })),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (mut bob, _) = login(&sim.ws_url(), sim.trusted_root(), &cb).await;
    let (status, created) = call(
        "POST",
        format!("{base}/sim/groups"),
        Some(json!({ "creator": a, "subject": "Club", "participants": [b, c] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let group = created["id"]
        .as_str()
        .unwrap()
        .trim_end_matches("@g.us")
        .to_string();
    let (_, child) = gp2(&mut bob).await;
    assert_eq!(child.tag, "create");

    let send = |text: &'static str| {
        call(
            "POST",
            format!("{base}/sim/groups/{group}/send"),
            Some(json!({ "from": a, "text": text })),
        )
    };
    assert_eq!(send("one").await.0, 200);
    let (status, removed) = call(
        "POST",
        format!("{base}/sim/groups/{group}/participants"),
        Some(json!({ "by": a, "action": "remove", "participants": [c] })),
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["results"], json!([{ "phone": c, "error": null }]));
    let (note, child) = gp2(&mut bob).await;
    assert_eq!(note.attr_jid("participant"), Some(Jid::phone(a)));
    assert_eq!(
        (child.tag.as_str(), jids(&child)),
        ("remove", vec![c.to_string()])
    );
    assert_eq!(send("two").await.0, 200);

    // Bob's phone decrypts both (the second under Alice's new sender key); Carol only the first.
    let (texts, failures) = inbox_texts(&sim, &group, b).await;
    assert_eq!(texts, vec!["one", "two"]);
    assert_eq!(failures, 0);
    let (texts, _) = inbox_texts(&sim, &group, c).await;
    assert_eq!(texts, vec!["one"]);

    // Settings are for admins; a setting change reaches the members too.
    let (status, refused) = call(
        "POST",
        format!("{base}/sim/groups/{group}/settings"),
        Some(json!({ "by": b, "locked": true })),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("NOT_AN_ADMIN"))
    );
    let (status, _) = call(
        "POST",
        format!("{base}/sim/groups/{group}/settings"),
        Some(json!({ "by": a, "announce": true })),
    )
    .await;
    assert_eq!(status, 200);
    let (_, child) = gp2(&mut bob).await;
    assert_eq!(child.tag, "announcement");
    let (status, _) = call(
        "POST",
        format!("{base}/sim/groups/{group}/subject"),
        Some(json!({ "by": a, "subject": "Club 2" })),
    )
    .await;
    assert_eq!(status, 200);
    let (_, child) = gp2(&mut bob).await;
    assert_eq!(child.attr("subject"), Some("Club 2"));

    let (status, left) = call(
        "POST",
        format!("{base}/sim/groups/{group}/leave"),
        Some(json!({ "phone": b })),
    )
    .await;
    assert_eq!(status, 200, "{left}");
    assert_eq!(
        left["group"]["participants"],
        json!([{ "phone": a, "admin": true }])
    );
    let (status, _) = call(
        "POST",
        format!("{base}/sim/groups/{group}/leave"),
        Some(json!({ "phone": b })),
    )
    .await;
    assert_eq!(status, 403, "leaving twice");
    sim.shutdown().await;
}

#[tokio::test]
async fn channel_posts_reach_online_and_offline_followers() {
    use chattu::engine::send::text_message;
    use chattu::protocol::proto::{Message, ProtoMessage};
    let sim = simulator().await;
    let base = sim.http_base();
    let (owner, online, offline) = ("15550007201", "15550007202", "15550007203");
    let (co, cn, cf) = (
        paired_creds(&sim, owner).await,
        paired_creds(&sim, online).await,
        paired_creds(&sim, offline).await,
    );
    let (status, created) = call(
        "POST",
        format!("{base}/sim/channels"),
        Some(json!({ "owner": owner, "name": "News", "subscribers": [online, offline] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let channel = Jid::parse(created["id"].as_str().unwrap()).unwrap();
    let (mut admin, _) = login(&sim.ws_url(), sim.trusted_root(), &co).await;
    let (mut follower, _) = login(&sim.ws_url(), sim.trusted_root(), &cn).await;

    let post = Node::new("message")
        .with_attr("to", channel.clone())
        .with_attr("id", "NL1")
        .with_attr("type", "text")
        .with_child(
            Node::new("plaintext").with_bytes(text_message("Hello followers").encode_to_vec()),
        );
    admin.send(&post).await.unwrap();
    let ack = next_where(&mut admin, |n| n.tag == "ack").await;
    assert!(!ack.has_attr("error"), "{ack}");
    let server_id: u64 = ack.attr_parse("server_id").unwrap();

    let check = |pushed: &Node| {
        assert_eq!(pushed.attr_jid("from"), Some(channel.clone()));
        assert_eq!(pushed.attr("type"), Some("text"));
        assert_eq!(pushed.attr_parse::<u64>("server_id"), Some(server_id));
        let bytes = pushed
            .child("plaintext")
            .and_then(Node::content_bytes)
            .unwrap();
        let message = Message::decode(bytes).unwrap();
        assert_eq!(message.text(), Some("Hello followers"));
    };
    check(&next_where(&mut follower, |n| n.tag == "message").await);
    // The follower that was away finds the post in its offline queue.
    let (_, replayed) = login(&sim.ws_url(), sim.trusted_root(), &cf).await;
    let queued: Vec<&Node> = replayed.iter().filter(|n| n.tag == "message").collect();
    assert_eq!(queued.len(), 1, "{replayed:?}");
    check(queued[0]);
    assert_eq!(queued[0].attr("offline"), Some("1"));
    sim.shutdown().await;
}

/// The next group change the engine reports.
async fn next_change(
    events: &mut tokio::sync::broadcast::Receiver<chattu::engine::messaging::EngineEvent>,
) -> chattu::engine::group_notifications::GroupChange {
    use chattu::engine::messaging::EngineEvent;
    loop {
        match tokio::time::timeout(sim_raw::PATIENCE, events.recv()).await {
            Ok(Ok(EngineEvent::GroupChanged(change))) => return change,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("no group change: {other:?}"),
        }
    }
}

/// Polls until `phone`'s group inbox holds `text`; returns every text it holds then.
async fn inbox_with(sim: &SimulatorHandle, group: &str, phone: &str, text: &str) -> Vec<String> {
    for _ in 0..400 {
        let (texts, _) = inbox_texts(sim, group, phone).await;
        if texts.iter().any(|t| t == text) {
            return texts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{phone} never got {text:?}");
}

#[tokio::test]
async fn the_engine_follows_membership_changes_it_is_told_of() {
    use chattu::engine::group_notifications::GroupAction;
    use chattu::engine::groups::GroupError;
    let sim = simulator().await;
    let base = sim.http_base();
    let (me, a, b, c) = ("15550007301", "15550007302", "15550007303", "15550007304");
    let db = companion_support::TempDb::new("gp2");
    let engine = companion_support::paired_engine_in_db(&sim, me, &db).await;
    let mut events = engine.events().expect("a messaging engine has events");
    for phone in [a, b, c] {
        let (status, _) = call(
            "POST",
            format!("{base}/sim/phones"),
            Some(json!({ "phone": phone })),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, created) = call(
        "POST",
        format!("{base}/sim/groups"),
        Some(json!({ "creator": a, "subject": "Ops", "participants": [me, b] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let group_jid = Jid::parse(created["id"].as_str().unwrap()).unwrap();
    let group = group_jid.user.clone();
    let change = next_change(&mut events).await;
    assert_eq!(change.group, group_jid);
    assert_eq!(
        change.action,
        GroupAction::Create {
            subject: Some("Ops".into())
        }
    );
    assert_eq!(change.participants.len(), 3);

    let change_members = |action: &'static str, phone: &'static str| {
        call(
            "POST",
            format!("{base}/sim/groups/{group}/participants"),
            Some(json!({ "by": a, "action": action, "participants": [phone] })),
        )
    };
    assert_eq!(change_members("add", c).await.0, 200);
    let change = next_change(&mut events).await;
    assert_eq!(
        (change.action, change.actor),
        (GroupAction::Add, Some(Jid::phone(a)))
    );
    assert_eq!(change.participants, vec![Jid::phone(c)]);
    engine
        .send_group_text(&group_jid, "hello all")
        .await
        .unwrap();
    inbox_with(&sim, &group, b, "hello all").await;
    inbox_with(&sim, &group, c, "hello all").await;

    // B is removed: the engine hears of it, and its next message (under a new sender key) reaches
    // C but not B.
    assert_eq!(change_members("remove", b).await.0, 200);
    let change = next_change(&mut events).await;
    assert_eq!(
        (change.action, change.participants),
        (GroupAction::Remove, vec![Jid::phone(b)])
    );
    engine
        .send_group_text(&group_jid, "without B")
        .await
        .unwrap();
    let texts = inbox_with(&sim, &group, c, "without B").await;
    assert_eq!(texts, vec!["hello all", "without B"]);
    let (texts, failures) = inbox_texts(&sim, &group, b).await;
    assert_eq!(texts, vec!["hello all"]);
    assert_eq!(failures, 0);

    // We are removed: the engine is told, and sending is refused.
    assert_eq!(change_members("remove", me).await.0, 200);
    let change = next_change(&mut events).await;
    assert!(change.removes(me));
    let refused = engine.send_group_text(&group_jid, "still here?").await;
    assert!(
        matches!(refused, Err(GroupError::NotParticipant)),
        "{refused:?}"
    );
    engine.shutdown().await;
    sim.shutdown().await;
}
