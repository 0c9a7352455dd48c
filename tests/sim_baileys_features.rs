//! Groups and presence with a third-party client: a real, unmodified Baileys 6.7.24 (tests/baileys)
//! pairs with the simulator and then
//! - (`tests/baileys/groups.mjs`) creates a group over `w:g2`, adds a participant, renames it, sets its
//!   description, sends a sender-key text both phones decrypt, sees the `w:gp2` promote notification
//!   the control API caused as `group-participants.update`, decrypts a phone's group text and leaves;
//! - (`tests/baileys/presence.mjs`) subscribes to a phone's presence and reports it coming online,
//!   typing, recording and going offline (`presence.update`), and types to it (the phone logs it).
//!
//! Each driver prints one JSON line per step; every step must pass, and the simulator's own view must
//! agree. Needs Node 20+ and `npm ci --prefix tests/baileys` (as tests/sim_baileys.rs);
//! CHATTU_SKIP_NODE_TESTS=1 skips them.

mod baileys_support;

use baileys_support::node_available;
use chattu::simulator::Simulator;
use serde_json::Value;
use tokio::net::TcpListener;

/// Steps every driver starts with (harness.mjs).
const PAIRING: [&str; 4] = ["phones", "scan", "restart", "login"];
const GROUP_STEPS: [&str; 8] = [
    "create",
    "add",
    "subject",
    "description",
    "send",
    "notification",
    "receive",
    "leave",
];

const PRESENCE_STEPS: [&str; 6] = [
    "subscribe",
    "peer-online",
    "peer-typing",
    "peer-recording",
    "peer-offline",
    "baileys-typing",
];

/// Runs `script` against `sim` and checks that the pairing steps, `steps` and `done` passed.
async fn drive(
    sim: &chattu::simulator::SimulatorHandle,
    script: &'static str,
    steps: &[&str],
) -> Vec<Value> {
    let run = baileys_support::drive(sim, script, &[]).await;
    for name in PAIRING.iter().chain(steps).chain(std::iter::once(&"done")) {
        run.passed(name);
    }
    run.steps
}

async fn get(url: String) -> Value {
    tokio::task::spawn_blocking(move || ureq::get(&url).call().unwrap().into_json().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn baileys_manages_a_group_over_w_g2() {
    if !node_available("baileys_manages_a_group_over_w_g2") {
        return;
    }
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let steps = drive(&sim, "groups.mjs", &GROUP_STEPS).await;
    // The simulator agrees: the group Baileys made, renamed, described and left.
    let id = steps
        .iter()
        .find(|s| s["step"] == "create")
        .and_then(|s| s["id"].as_str())
        .expect("create step without id")
        .to_string();
    let view = get(format!("{}/sim/groups/{id}", sim.http_base())).await;
    assert_eq!(view["subject"], "Renamed by Baileys");
    assert_eq!(view["description"], "Set by Baileys");
    assert_eq!(view["creator"], "15550001111");
    let members: Vec<(&str, bool)> = view["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["phone"].as_str().unwrap(), p["admin"] == true))
        .collect();
    assert_eq!(members, vec![("15550002222", true), ("15550003333", false)]);
    sim.shutdown().await;
}

#[tokio::test]
async fn baileys_follows_presence_and_typing() {
    if !node_available("baileys_follows_presence_and_typing") {
        return;
    }
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    drive(&sim, "presence.mjs", &PRESENCE_STEPS).await;
    // The phone's own log agrees: it went offline (with when) and saw Baileys type.
    let log = get(format!(
        "{}/sim/phones/15550002222/presence",
        sim.http_base()
    ))
    .await;
    assert_eq!(log["available"], false);
    assert!(log["lastSeen"].as_u64().is_some_and(|t| t > 0), "{log}");
    let typing: Vec<&Value> = log["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "chatstate" && e["from"] == "15550001111")
        .collect();
    assert_eq!(typing.len(), 1, "{log}");
    assert_eq!(typing[0]["state"], "composing");
    sim.shutdown().await;
}
