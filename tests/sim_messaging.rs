//! The simulator's message router over real sockets, driven by two raw protocol clients (companions
//! of two accounts): fan-out to the addressed device with the server ack (and its phash), the single
//! `<enc>` form, receipts forwarded to the sender and acknowledged, the offline queue replayed before
//! the `<ib><offline count>` marker, and an injected 463 refusal.

use chattu::engine::client_payload::login_payload;
use chattu::engine::message_id::participant_hash;
use chattu::engine::wire::{self, ClientConn};
use chattu::engine::DeviceCreds;
use chattu::protocol::binary::Node;
use chattu::protocol::jid::Jid;
use chattu::simulator::{Simulator, SimulatorHandle};
use serde_json::{json, Value};
use tokio::net::TcpListener;

mod companion_support;
use companion_support::{paired_creds, post, PATIENCE};

/// Logs in as the paired device; returns the connection and what came before the offline marker.
async fn login(sim: &SimulatorHandle, creds: &DeviceCreds) -> (ClientConn, Vec<Node>, u64) {
    let paired = creds.paired.as_ref().unwrap();
    let payload = login_payload(paired.phone.parse().unwrap(), paired.device, None);
    let mut conn = wire::connect(
        &sim.ws_url(),
        &creds.noise_key,
        sim.trusted_root(),
        &payload,
        PATIENCE,
    )
    .await
    .unwrap();
    assert_eq!(next(&mut conn).await.tag, "success");
    let mut before = Vec::new();
    loop {
        let node = next(&mut conn).await;
        if node.tag == "ib" {
            if let Some(offline) = node.child("offline") {
                let count = offline.attr_parse("count").unwrap();
                return (conn, before, count);
            }
        }
        before.push(node);
    }
}

async fn next(conn: &mut ClientConn) -> Node {
    tokio::time::timeout(PATIENCE, conn.recv())
        .await
        .expect("nothing arrived in time")
        .unwrap()
}

/// The next stanza with this tag (others, such as notifications, are skipped).
async fn next_tagged(conn: &mut ClientConn, tag: &str) -> Node {
    loop {
        let node = next(conn).await;
        if node.tag == tag {
            return node;
        }
    }
}

fn fan_out(id: &str, to_user: &str, targets: &[(Jid, &[u8])], phash: Option<&str>) -> Node {
    Node::new("message")
        .with_attr("id", id)
        .with_attr("to", Jid::phone(to_user))
        .with_attr("type", "text")
        .with_opt_attr("phash", phash.map(str::to_string))
        .with_child(
            Node::new("participants").with_children(targets.iter().map(|(jid, bytes)| {
                Node::new("to").with_attr("jid", jid.clone()).with_child(
                    Node::new("enc")
                        .with_attr("v", "2")
                        .with_attr("type", "msg")
                        .with_bytes(bytes.to_vec()),
                )
            })),
        )
}

struct Pair {
    sim: SimulatorHandle,
    alice: DeviceCreds,
    bob: DeviceCreds,
}

async fn two_accounts(a: &str, b: &str) -> Pair {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let alice = paired_creds(&sim, a).await;
    let bob = paired_creds(&sim, b).await;
    Pair { sim, alice, bob }
}

#[tokio::test]
async fn messages_fan_out_with_server_ack_and_receipts_come_back() {
    let p = two_accounts("15550004001", "15550004002").await;
    let (mut alice, _, _) = login(&p.sim, &p.alice).await;
    let (mut bob, _, _) = login(&p.sim, &p.bob).await;
    let bob_device = Jid::phone("15550004002").with_device(1);

    let phash = "2:AAAAAAAA";
    alice
        .send(&fan_out(
            "M1",
            "15550004002",
            &[(bob_device.clone(), b"cipher-1")],
            Some(phash),
        ))
        .await
        .unwrap();
    let ack = next_tagged(&mut alice, "ack").await;
    assert_eq!(ack.attr("class"), Some("message"));
    assert_eq!(ack.attr_text("id").as_deref(), Some("M1"));
    assert_eq!(ack.attr_jid("from"), Some(Jid::phone("15550004002")));
    assert!(!ack.has_attr("error"));
    // The server's phash covers the recipient's devices and the sender's other devices.
    let expected = participant_hash(&[
        Jid::phone("15550004002"),
        bob_device.clone(),
        Jid::phone("15550004001"),
    ]);
    assert_eq!(ack.attr_text("phash").as_deref(), Some(expected.as_str()));

    let got = next_tagged(&mut bob, "message").await;
    assert_eq!(got.attr_text("id").as_deref(), Some("M1"));
    assert_eq!(
        got.attr_jid("from"),
        Some(Jid::phone("15550004001").with_device(1))
    );
    assert_eq!(got.attr("type"), Some("text"));
    let enc = got.child("enc").unwrap();
    assert_eq!(enc.content_bytes(), Some(&b"cipher-1"[..]));
    assert!(!got.has_attr("offline"));

    // Delivery then read receipt: each acknowledged to bob, each forwarded to alice.
    for kind in [None, Some("read")] {
        let receipt = Node::new("receipt")
            .with_attr("id", "M1")
            .with_attr("to", Jid::phone("15550004001").with_device(1))
            .with_opt_attr("type", kind);
        bob.send(&receipt).await.unwrap();
        let ack = next_tagged(&mut bob, "ack").await;
        assert_eq!(ack.attr("class"), Some("receipt"));
        assert_eq!(ack.attr_text("id").as_deref(), Some("M1"));
        let forwarded = next_tagged(&mut alice, "receipt").await;
        assert_eq!(forwarded.attr_text("id").as_deref(), Some("M1"));
        assert_eq!(forwarded.attr_jid("from"), Some(bob_device.clone()));
        assert_eq!(forwarded.attr("type"), kind);
    }

    // The single-<enc> form goes to the device named in `to`.
    let single = Node::new("message")
        .with_attr("id", "M2")
        .with_attr("to", bob_device.clone())
        .with_attr("type", "text")
        .with_child(
            Node::new("enc")
                .with_attr("v", "2")
                .with_attr("type", "msg")
                .with_bytes(b"cipher-2".to_vec()),
        );
    alice.send(&single).await.unwrap();
    assert_eq!(
        next_tagged(&mut alice, "ack")
            .await
            .attr_text("id")
            .as_deref(),
        Some("M2")
    );
    let got = next_tagged(&mut bob, "message").await;
    assert_eq!(got.attr_text("id").as_deref(), Some("M2"));
    assert_eq!(
        got.child("enc").unwrap().content_bytes(),
        Some(&b"cipher-2"[..])
    );
    p.sim.shutdown().await;
}

#[tokio::test]
async fn offline_devices_get_their_queue_before_the_marker() {
    let p = two_accounts("15550004101", "15550004102").await;
    let (mut alice, _, _) = login(&p.sim, &p.alice).await;
    let bob_device = Jid::phone("15550004102").with_device(1);
    for (id, bytes) in [("Q1", &b"first"[..]), ("Q2", &b"second"[..])] {
        alice
            .send(&fan_out(
                id,
                "15550004102",
                &[(bob_device.clone(), bytes)],
                None,
            ))
            .await
            .unwrap();
        let ack = next_tagged(&mut alice, "ack").await;
        assert_eq!(ack.attr_text("id").as_deref(), Some(id));
        assert!(!ack.has_attr("error"));
    }
    let (bob, queued, count) = login(&p.sim, &p.bob).await;
    let messages: Vec<&Node> = queued.iter().filter(|n| n.tag == "message").collect();
    assert_eq!(count, 2);
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].attr_text("id").as_deref(), Some("Q1"));
    assert_eq!(messages[1].attr_text("id").as_deref(), Some("Q2"));
    assert!(messages.iter().all(|m| m.has_attr("offline")));
    assert_eq!(
        messages[1].child("enc").unwrap().content_bytes(),
        Some(&b"second"[..])
    );
    // Bob never confirmed them: the next login gets them again.
    drop(bob);
    let (mut bob, queued, count) = login(&p.sim, &p.bob).await;
    assert_eq!(count, 2);
    let ids: Vec<String> = queued
        .iter()
        .filter(|n| n.tag == "message")
        .filter_map(|n| n.attr_text("id").map(|i| i.into_owned()))
        .collect();
    assert_eq!(ids, ["Q1", "Q2"]);
    // A receipt for one and an ack for the other confirm both; the next login finds nothing.
    bob.send(
        &Node::new("receipt")
            .with_attr("id", "Q1")
            .with_attr("to", Jid::phone("15550004101").with_device(1)),
    )
    .await
    .unwrap();
    assert_eq!(
        next_tagged(&mut bob, "ack").await.attr("class"),
        Some("receipt")
    );
    bob.send(
        &Node::new("ack")
            .with_attr("id", "Q2")
            .with_attr("class", "message")
            .with_attr("to", Jid::phone("15550004101").with_device(1)),
    )
    .await
    .unwrap();
    // The ack has no answer; a ping round trip shows the server has read it.
    bob.send(
        &Node::new("iq")
            .with_attr("id", "p1")
            .with_attr("xmlns", "w:p")
            .with_attr("type", "get")
            .with_attr("to", Jid::server_jid()),
    )
    .await
    .unwrap();
    next_tagged(&mut bob, "iq").await;
    drop(bob);
    let (_bob, queued, count) = login(&p.sim, &p.bob).await;
    assert_eq!(count, 0);
    assert!(queued.iter().all(|n| n.tag != "message"));
    p.sim.shutdown().await;
}

#[tokio::test]
async fn an_injected_refusal_fails_one_send_with_its_code() {
    let p = two_accounts("15550004201", "15550004202").await;
    let (mut alice, _, _) = login(&p.sim, &p.alice).await;
    let (mut bob, _, _) = login(&p.sim, &p.bob).await;
    let (status, _) = post(
        format!(
            "{}/sim/phones/15550004201/devices/1/refuse-send",
            p.sim.http_base()
        ),
        json!({ "code": 463 }),
    )
    .await;
    assert_eq!(status, 200);
    let bob_device = Jid::phone("15550004202").with_device(1);
    alice
        .send(&fan_out(
            "R1",
            "15550004202",
            &[(bob_device.clone(), b"no")],
            None,
        ))
        .await
        .unwrap();
    let ack = next_tagged(&mut alice, "ack").await;
    assert_eq!(ack.attr_text("id").as_deref(), Some("R1"));
    assert_eq!(ack.attr_parse::<u16>("error"), Some(463));
    alice
        .send(&fan_out("R2", "15550004202", &[(bob_device, b"yes")], None))
        .await
        .unwrap();
    let ack = next_tagged(&mut alice, "ack").await;
    assert_eq!(ack.attr_text("id").as_deref(), Some("R2"));
    assert!(!ack.has_attr("error"));
    // Bob's first message is the second send: the refused one was never delivered.
    let got = next_tagged(&mut bob, "message").await;
    assert_eq!(got.attr_text("id").as_deref(), Some("R2"));
    p.sim.shutdown().await;
}

#[tokio::test]
async fn simulated_phones_message_each_other_with_receipts() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    for phone in ["15550004301", "15550004302"] {
        let (status, _) = post(
            format!("{}/sim/phones", sim.http_base()),
            json!({ "phone": phone }),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, sent) = post(
        format!("{}/sim/phones/15550004301/messages", sim.http_base()),
        json!({ "to": "+15550004302", "text": "phone to phone" }),
    )
    .await;
    assert_eq!(status, 201);
    let id = sent["id"].as_str().unwrap().to_string();
    let get = |phone: &'static str| {
        let url = format!("{}/sim/phones/{phone}/messages", sim.http_base());
        async move {
            tokio::task::spawn_blocking(move || {
                ureq::get(&url)
                    .call()
                    .unwrap()
                    .into_json::<Value>()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let inbox = get("15550004302").await;
    let received = &inbox["received"][0];
    assert_eq!(received["id"], id.as_str());
    assert_eq!(received["text"], "phone to phone");
    assert_eq!(received["chat"], "15550004301@s.whatsapp.net");
    // Delivery was immediate (same process); reading raises the sender's status.
    assert_eq!(get("15550004301").await["sent"][0]["status"], "delivered");
    let (status, _) = post(
        format!("{}/sim/phones/15550004302/read", sim.http_base()),
        json!({ "id": id }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(get("15550004301").await["sent"][0]["status"], "read");
    let (status, body) = post(
        format!("{}/sim/phones/15550004302/read", sim.http_base()),
        json!({ "id": "nope" }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("MESSAGE_NOT_FOUND"))
    );
    let (status, body) = post(
        format!("{}/sim/phones/15550004301/messages", sim.http_base()),
        json!({ "to": "15559999999", "text": "nobody" }),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("RECIPIENT_NOT_FOUND"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn only_the_recipients_and_own_devices_are_reachable() {
    let p = two_accounts("15550004401", "15550004402").await;
    let carol = paired_creds(&p.sim, "15550004403").await;
    let carol_device = Jid::phone("15550004403").with_device(carol.paired.unwrap().device);
    let (mut alice, _, _) = login(&p.sim, &p.alice).await;
    let bob_device = Jid::phone("15550004402").with_device(1);

    // Unknown recipient: refused with 404, nothing routed.
    alice
        .send(&fan_out(
            "U1",
            "15559999999",
            &[(bob_device.clone(), b"x")],
            None,
        ))
        .await
        .unwrap();
    let ack = next_tagged(&mut alice, "ack").await;
    assert_eq!(ack.attr_parse::<u16>("error"), Some(404));

    // A message to bob that also names carol's device: bob's copy is queued, carol gets nothing.
    alice
        .send(&fan_out(
            "U2",
            "15550004402",
            &[
                (bob_device, b"for bob"),
                (carol_device.clone(), b"smuggled"),
            ],
            None,
        ))
        .await
        .unwrap();
    assert!(!next_tagged(&mut alice, "ack").await.has_attr("error"));
    let queue = |phone: &str, device: u16| {
        let url = format!(
            "{}/sim/phones/{phone}/devices/{device}/queue",
            p.sim.http_base()
        );
        async move {
            tokio::task::spawn_blocking(move || {
                ureq::get(&url)
                    .call()
                    .unwrap()
                    .into_json::<Value>()
                    .unwrap()["queued"]
                    .as_u64()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(queue("15550004402", 1).await, 1);
    assert_eq!(queue("15550004403", carol_device.device).await, 0);
    p.sim.shutdown().await;
}
