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

use chattu::simulator::Simulator;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const INSTALL_HINT: &str = "install Node.js 20+ and run `npm ci --prefix tests/baileys`, or set \
     CHATTU_SKIP_NODE_TESTS=1 to skip the Node interop tests";
/// Upper bound on the driver run; it bounds each of its own waits (30 s) well below this.
const DRIVER_LIMIT: Duration = Duration::from_secs(240);
/// One Node client at a time (each loads Baileys, CPU-heavy; a starved client is likelier to lose
/// the first-stanza race described in docs/interop.md).
static ONE_CLIENT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

fn baileys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("baileys")
}

const PRESENCE_STEPS: [&str; 6] = [
    "subscribe",
    "peer-online",
    "peer-typing",
    "peer-recording",
    "peer-offline",
    "baileys-typing",
];

/// Runs `script` to its end (blocking); returns its JSON lines and the whole transcript.
fn run_driver(script: &str, ws_url: &str, control_url: &str) -> (Vec<Value>, String) {
    let mut child = Command::new("node")
        .arg(baileys_dir().join(script))
        .arg(ws_url)
        .arg(control_url)
        .current_dir(baileys_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start node: {e}: {INSTALL_HINT}"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + DRIVER_LIMIT;
    let finished = loop {
        match child.try_wait() {
            Ok(Some(_)) => break true,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let tail: String = {
        let chars: Vec<char> = stderr.chars().collect();
        chars
            .get(chars.len().saturating_sub(4000)..)
            .unwrap_or_default()
            .iter()
            .collect()
    };
    let transcript = format!("--- stdout ---\n{stdout}--- stderr (tail) ---\n{tail}");
    assert!(finished, "the driver did not finish in time\n{transcript}");
    let steps = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect();
    (steps, transcript)
}

/// False (with a message) when skipped; panics with the install hint when tools are missing.
fn node_available() -> bool {
    if std::env::var("CHATTU_SKIP_NODE_TESTS").is_ok_and(|v| v == "1") {
        println!("skipped because CHATTU_SKIP_NODE_TESTS=1");
        return false;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: {INSTALL_HINT}"
    );
    assert!(
        baileys_dir()
            .join("node_modules/@whiskeysockets/baileys")
            .exists(),
        "Baileys is missing: {INSTALL_HINT}"
    );
    true
}

/// Runs `script` against `sim` and checks that `steps` (after the pairing ones) and `done` passed.
async fn drive(
    sim: &chattu::simulator::SimulatorHandle,
    script: &'static str,
    steps: &[&str],
) -> Vec<Value> {
    let (ws, control) = (sim.ws_url(), sim.http_base());
    let _turn = ONE_CLIENT_AT_A_TIME.lock().await;
    let (lines, transcript) =
        tokio::task::spawn_blocking(move || run_driver(script, &ws, &control))
            .await
            .unwrap();
    for name in PAIRING.iter().chain(steps).chain(std::iter::once(&"done")) {
        match lines.iter().find(|s| s["step"] == *name) {
            Some(line) if line["ok"] == true => {}
            Some(line) => panic!(
                "{script}: step `{name}` failed: {}\n{transcript}",
                line["error"]
            ),
            None => panic!("{script}: step `{name}` never ran\n{transcript}"),
        }
    }
    lines
}

async fn get(url: String) -> Value {
    tokio::task::spawn_blocking(move || ureq::get(&url).call().unwrap().into_json().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn baileys_manages_a_group_over_w_g2() {
    if !node_available() {
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
    if !node_available() {
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
