//! Group receipts, retries and the persisted sender-key holders, with two engines in one group
//! (plus a phone) over real sockets:
//! - a group text is acknowledged by the other engine with a delivery receipt naming the sender
//!   (`participant`), which raises the sender's ack level; a group read receipt raises it again;
//! - the server log shows the first send carrying SKDMs for every other device and, after the
//!   sender restarts, the next send carrying none (the holders were stored);
//! - a receiver that lost the sender key cannot decrypt the next skmsg, asks with a retry receipt
//!   (`participant`), and gets the message again pairwise with a fresh SKDM;
//! - removing a member makes the sender rotate: the next send distributes a new key to everyone
//!   left and nothing to the removed member.

mod companion_support;

use chattu::engine::messaging::EngineEvent;
use chattu::engine::receive::AckLevel;
use chattu::protocol::jid::Jid;
use chattu::protocol::signal::{ProtocolAddress, SenderKeyName, SenderKeyStore};
use chattu::simulator::{Simulator, SimulatorHandle};
use chattu::store::signal::with_signal_txn;
use companion_support::*;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Devices the stanzas of group message `id` carried a pairwise enc for, per stanza.
async fn stanzas(sim: &SimulatorHandle, group: &Jid, id: &str) -> Vec<Value> {
    let (status, body) = http(
        "GET",
        format!(
            "{}/sim/groups/{}/messages/{id}",
            sim.http_base(),
            group.user
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["stanzas"].as_array().cloned().unwrap_or_default()
}

fn skdm_targets(stanza: &Value) -> Vec<String> {
    let mut targets: Vec<String> = stanza["skdmTo"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    targets.sort();
    targets
}

fn sorted(devices: &[Jid]) -> Vec<String> {
    let mut out: Vec<String> = devices.iter().map(Jid::to_string).collect();
    out.sort();
    out
}

#[tokio::test]
async fn group_receipts_retries_and_stored_sender_key_holders() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let (amy, bob, cat) = ("15550303001", "15550303002", "15550303003");
    let (store_a, store_b) = (TempStore::new("group-a"), TempStore::new("group-b"));
    let (engine_a, creds_a) = paired_engine(&sim, amy, "Amy", &store_a, "ga").await;
    let (engine_b, _creds_b) = paired_engine(&sim, bob, "Bob", &store_b, "gb").await;
    create_phone(&sim, cat, "Cat").await;
    let (status, created) = http(
        "POST",
        format!("{}/sim/groups", sim.http_base()),
        Some(json!({ "creator": amy, "subject": "receipts", "participants": [bob, cat] })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let group = Jid::parse(created["id"].as_str().unwrap()).unwrap();
    let amy_device = Jid::phone(amy).with_device(1);
    let bob_device = Jid::phone(bob).with_device(1);
    let mut events_a = engine_a.events().unwrap();
    let mut events_b = engine_b.events().unwrap();

    // First send: SKDMs for every other device; Bob's engine reads it and acknowledges it with
    // a receipt naming Amy's device, which the server routes back to her.
    let first = engine_a.send_group_text(&group, "first").await.unwrap();
    let got = received_by_engine(&mut events_b, &first.id).await;
    assert_eq!(got.text.as_deref(), Some("first"));
    assert_eq!(got.chat, group);
    assert_eq!(got.from, amy_device);
    ack_reached(&mut events_a, &first.id, AckLevel::Delivered).await;
    let logged = stanzas(&sim, &group, &first.id).await;
    assert_eq!(logged.len(), 1);
    assert_eq!(
        skdm_targets(&logged[0]),
        sorted(&[
            Jid::phone(amy),
            Jid::phone(bob),
            bob_device.clone(),
            Jid::phone(cat)
        ])
    );
    let mut holders = engine_a.sender_key_holders(&group);
    holders.sort();
    assert_eq!(holders, skdm_targets(&logged[0]));

    // Bob reads it: a group read receipt, again naming Amy's device.
    engine_b
        .send_group_read_receipt(&group, &got.from, std::slice::from_ref(&first.id))
        .unwrap();
    ack_reached(&mut events_a, &first.id, AckLevel::Read).await;

    // Amy's engine restarts: the holders were stored, so the next send carries no SKDM.
    engine_a.shutdown().await;
    let engine_a = messaging_engine(
        &sim,
        &creds_a,
        &store_a,
        "ga",
        Arc::new(chattu::engine::messaging::NoSink),
    );
    connected(&engine_a).await;
    let mut events_a = engine_a.events().unwrap();
    let second = engine_a
        .send_group_text(&group, "after restart")
        .await
        .unwrap();
    let got = received_by_engine(&mut events_b, &second.id).await;
    assert_eq!(got.text.as_deref(), Some("after restart"));
    let logged = stanzas(&sim, &group, &second.id).await;
    assert_eq!(skdm_targets(&logged[0]), Vec::<String>::new(), "{logged:?}");

    // Bob's engine loses Amy's sender key: the next skmsg is unreadable, Bob asks again with a
    // retry receipt, Amy answers pairwise with a fresh SKDM, and Bob reads it after all.
    let lost = with_signal_txn(store_b.store.database(), "gb", |txn| {
        let name = SenderKeyName::new(group.to_string(), ProtocolAddress::from_jid(&amy_device));
        txn.delete_sender_key(&name)
    });
    lost.unwrap();
    let third = engine_a
        .send_group_text(&group, "after loss")
        .await
        .unwrap();
    next_event(
        &mut events_b,
        |e| matches!(e, EngineEvent::UndecryptableMessage { id, .. } if *id == third.id),
    )
    .await;
    let got = received_by_engine(&mut events_b, &third.id).await;
    assert_eq!(got.text.as_deref(), Some("after loss"));
    assert_eq!(got.from, amy_device);
    let logged = stanzas(&sim, &group, &third.id).await;
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged[1]["directTo"], bob_device.to_string());
    // The answer was acknowledged like any group message.
    ack_reached(&mut events_a, &third.id, AckLevel::Delivered).await;
    // And Bob holds the new state: the following skmsg decrypts without another retry.
    let fourth = engine_a.send_group_text(&group, "fourth").await.unwrap();
    let got = received_by_engine(&mut events_b, &fourth.id).await;
    assert_eq!(got.text.as_deref(), Some("fourth"));
    assert_eq!(stanzas(&sim, &group, &fourth.id).await.len(), 1);

    // Cat is removed: Amy's next send rotates the key for everyone left, nothing for Cat.
    let (status, body) = http(
        "POST",
        format!("{}/sim/groups/{}/participants", sim.http_base(), group.user),
        Some(json!({ "by": amy, "action": "remove", "participants": [cat] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let fifth = engine_a
        .send_group_text(&group, "without Cat")
        .await
        .unwrap();
    let got = received_by_engine(&mut events_b, &fifth.id).await;
    assert_eq!(got.text.as_deref(), Some("without Cat"));
    let logged = stanzas(&sim, &group, &fifth.id).await;
    assert_eq!(
        skdm_targets(&logged[0]),
        sorted(&[Jid::phone(amy), Jid::phone(bob), bob_device.clone()])
    );
    engine_a.shutdown().await;
    engine_b.shutdown().await;
    sim.shutdown().await;
}
