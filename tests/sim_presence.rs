//! Presence and chat state on the simulator over real sockets: a companion subscribes to another
//! account and hears its presence change (and its going away when its connection ends, with
//! `last`); typing reaches the peer's companions with `from` rewritten to the sender; the simulated
//! phones announce, subscribe and type through the control API and list what reached them.

mod companion_support;
mod sim_raw;

use chattu::protocol::binary::Node;
use chattu::protocol::jid::Jid;
use companion_support::{call, paired_creds, simulator};
use serde_json::json;
use sim_raw::{login, next_tagged};

fn presence(kind: &str) -> Node {
    Node::new("presence").with_attr("type", kind)
}

fn chatstate(to: &str, state: &str) -> Node {
    Node::new("chatstate")
        .with_attr("to", Jid::phone(to))
        .with_child(Node::new(state))
}

#[tokio::test]
async fn presence_and_chat_states_reach_subscribers_and_peers() {
    let sim = simulator().await;
    let base = sim.http_base();
    let (a, b) = ("15550008001", "15550008002");
    let (ca, cb) = (paired_creds(&sim, a).await, paired_creds(&sim, b).await);
    let (mut alice, _) = login(&sim.ws_url(), sim.trusted_root(), &ca).await;
    let (mut bob, _) = login(&sim.ws_url(), sim.trusted_root(), &cb).await;

    // Bob subscribes: he is told Alice's presence at once, then each change.
    bob.send(&presence("subscribe").with_attr("to", Jid::phone(a)))
        .await
        .unwrap();
    let now = next_tagged(&mut bob, "presence").await;
    assert_eq!(now.attr_jid("from"), Some(Jid::phone(a)));
    assert_eq!(now.attr("type"), Some("unavailable"));
    alice
        .send(&presence("available").with_attr("name", "Alice"))
        .await
        .unwrap();
    let seen = next_tagged(&mut bob, "presence").await;
    assert_eq!(seen.attr("type"), Some("available"));

    // Typing reaches the peer with the sender in `from`.
    for state in ["composing", "paused"] {
        alice.send(&chatstate(b, state)).await.unwrap();
        let typing = next_tagged(&mut bob, "chatstate").await;
        assert_eq!(typing.attr_jid("from"), Some(Jid::phone(a)));
        assert!(!typing.has_attr("to"));
        assert_eq!(
            typing.children().first().map(|c| c.tag.as_str()),
            Some(state)
        );
    }

    // Bob's phone subscribes too, and types back through the control API.
    let (status, _) = call(
        "POST",
        format!("{base}/sim/phones/{b}/presence/subscribe"),
        Some(json!({ "to": a })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        "POST",
        format!("{base}/sim/phones/{b}/chatstate"),
        Some(json!({ "to": a, "state": "recording" })),
    )
    .await;
    assert_eq!(status, 200);
    let typing = next_tagged(&mut alice, "chatstate").await;
    assert_eq!(typing.attr_jid("from"), Some(Jid::phone(b)));
    let child = typing.children().first().unwrap();
    assert_eq!(
        (child.tag.as_str(), child.attr("media")),
        ("composing", Some("audio"))
    );
    let (_, alice_phone) = call("GET", format!("{base}/sim/phones/{a}/presence"), None).await;
    assert_eq!(
        alice_phone["received"],
        json!([{ "kind": "chatstate", "from": b, "state": "recording", "at": alice_phone["received"][0]["at"] }])
    );

    // Alice's connection ends: subscribers hear she is gone, with when.
    alice.close().await;
    let gone = next_tagged(&mut bob, "presence").await;
    assert_eq!(gone.attr("type"), Some("unavailable"));
    assert!(gone.attr_parse::<u64>("last").is_some_and(|t| t > 0));
    let (_, bob_phone) = call("GET", format!("{base}/sim/phones/{b}/presence"), None).await;
    let states: Vec<&str> = bob_phone["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    // The phone saw Alice type too (it is one of Bob's devices), then her presence.
    assert_eq!(
        states,
        vec!["composing", "paused", "available", "unavailable"]
    );
    assert_eq!(bob_phone["available"], false);

    // Bob's phone announces itself; Alice's companion, subscribed afresh, sees it.
    let (mut alice, _) = login(&sim.ws_url(), sim.trusted_root(), &ca).await;
    alice
        .send(&presence("subscribe").with_attr("to", Jid::phone(b)))
        .await
        .unwrap();
    assert_eq!(
        next_tagged(&mut alice, "presence").await.attr("type"),
        Some("unavailable")
    );
    let (status, _) = call(
        "POST",
        format!("{base}/sim/phones/{b}/presence"),
        Some(json!({ "type": "available" })),
    )
    .await;
    assert_eq!(status, 200);
    let seen = next_tagged(&mut alice, "presence").await;
    assert_eq!(
        (seen.attr_jid("from"), seen.attr("type")),
        (Some(Jid::phone(b)), Some("available"))
    );
    let (status, refused) = call(
        "POST",
        format!("{base}/sim/phones/{b}/chatstate"),
        Some(json!({ "to": a, "state": "dancing" })),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    sim.shutdown().await;
}
