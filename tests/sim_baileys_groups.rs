//! Groups with a third-party client: a real, unmodified Baileys 6.7.24 (tests/baileys) pairs with the
//! simulator, creates a group over `w:g2`, adds a participant, renames it, sets its description,
//! sends a sender-key text both phones decrypt, sees the `w:gp2` promote notification the control API
//! caused as `group-participants.update`, decrypts a phone's group text and leaves. The driver
//! `tests/baileys/groups.mjs` prints one JSON line per step; every step must pass, and the
//! simulator's own view must agree at the end.
//!
//! Needs Node 20+ and `npm ci --prefix tests/baileys` (as tests/sim_baileys.rs);
//! CHATTU_SKIP_NODE_TESTS=1 skips it.

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
const STEPS: [&str; 12] = [
    "phones",
    "scan",
    "restart",
    "login",
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

/// Runs the driver to its end (blocking); returns its JSON lines and the whole transcript.
fn run_driver(ws_url: &str, control_url: &str) -> (Vec<Value>, String) {
    let mut child = Command::new("node")
        .arg(baileys_dir().join("groups.mjs"))
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

#[tokio::test]
async fn baileys_manages_a_group_over_w_g2() {
    if std::env::var("CHATTU_SKIP_NODE_TESTS").is_ok_and(|v| v == "1") {
        println!("skipped because CHATTU_SKIP_NODE_TESTS=1");
        return;
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
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let (ws, control) = (sim.ws_url(), sim.http_base());
    let (steps, transcript) = tokio::task::spawn_blocking(move || run_driver(&ws, &control))
        .await
        .unwrap();
    for name in STEPS.iter().chain(std::iter::once(&"done")) {
        let line = steps.iter().find(|s| s["step"] == *name);
        match line {
            Some(line) if line["ok"] == true => {}
            Some(line) => panic!("step `{name}` failed: {}\n{transcript}", line["error"]),
            None => panic!("step `{name}` never ran\n{transcript}"),
        }
    }
    // The simulator agrees: the group Baileys made, renamed, described and left.
    let id = steps
        .iter()
        .find(|s| s["step"] == "create")
        .and_then(|s| s["id"].as_str())
        .expect("create step without id")
        .to_string();
    let url = format!("{}/sim/groups/{id}", sim.http_base());
    let view: Value =
        tokio::task::spawn_blocking(move || ureq::get(&url).call().unwrap().into_json())
            .await
            .unwrap()
            .unwrap();
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
