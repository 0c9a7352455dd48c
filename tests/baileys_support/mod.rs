//! Shared by the tests that run an unmodified Baileys (tests/baileys) against the simulator
//! (sim_baileys, sim_baileys_features): whether Node and Baileys are installed, and running one
//! driver script to its end, one at a time, collecting the JSON line it prints per step.
#![allow(dead_code)]

use chattu::simulator::SimulatorHandle;
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL_HINT: &str = "install Node.js 20+ and run `npm ci --prefix tests/baileys` \
     (the install step of .ci/run), or set CHATTU_SKIP_NODE_TESTS=1 to skip the Node interop tests";

/// Upper bound on one driver run; the driver bounds each of its own waits (30 s) well below this.
pub const DRIVER_LIMIT: Duration = Duration::from_secs(240);

/// One Baileys at a time: each Node start loads Baileys and protobufjs (CPU-heavy), and a starved
/// client is more likely to lose the first-stanza race described in docs/interop.md.
static ONE_CLIENT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn baileys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("baileys")
}

/// Whether to run: false (with a message) when skipped; panics with the install hint when tools are missing.
pub fn node_available(test: &str) -> bool {
    if std::env::var("CHATTU_SKIP_NODE_TESTS").is_ok_and(|v| v == "1") {
        println!("{test}: skipped because CHATTU_SKIP_NODE_TESTS=1");
        return false;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: {INSTALL_HINT}"
    );
    let baileys = baileys_dir()
        .join("node_modules")
        .join("@whiskeysockets")
        .join("baileys");
    assert!(
        baileys.exists(),
        "{} is missing: {INSTALL_HINT}",
        baileys.display()
    );
    true
}

/// What one driver run printed.
pub struct DriverRun {
    pub steps: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

impl DriverRun {
    /// The step's line; panics with the whole run when it is missing or failed.
    pub fn passed(&self, name: &str) -> &Value {
        let line = self.steps.iter().find(|s| s["step"] == name);
        match line {
            Some(line) if line["ok"] == true => line,
            Some(line) => panic!(
                "Baileys step `{name}` failed: {}\n{}",
                line["error"],
                self.transcript()
            ),
            None => panic!("Baileys never reached step `{name}`\n{}", self.transcript()),
        }
    }

    pub fn transcript(&self) -> String {
        let tail: String = {
            let chars: Vec<char> = self.stderr.chars().collect();
            let start = chars.len().saturating_sub(4000);
            chars.get(start..).unwrap_or_default().iter().collect()
        };
        format!(
            "--- driver stdout ---\n{}--- driver stderr (tail; BAILEYS_LOG=trace shows every stanza) ---\n{tail}",
            self.stdout
        )
    }
}

/// Runs `node tests/baileys/<script> <ws url> <control url> <extra…>` against `sim` to its end.
pub async fn drive(
    sim: &SimulatorHandle,
    script: &'static str,
    extra: &'static [&'static str],
) -> DriverRun {
    let (ws, control) = (sim.ws_url(), sim.http_base());
    let _turn = ONE_CLIENT_AT_A_TIME.lock().await;
    match tokio::task::spawn_blocking(move || run_driver(script, ws, control, extra)).await {
        Ok(run) => run,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Blocking: runs the driver, collecting its output; panics when it does not finish in time.
fn run_driver(script: &str, ws_url: String, control_url: String, extra: &[&str]) -> DriverRun {
    let mut child = Command::new("node")
        .arg(baileys_dir().join(script))
        .arg(&ws_url)
        .arg(&control_url)
        .args(extra)
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
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let steps = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect();
    let run = DriverRun {
        steps,
        stdout,
        stderr,
        success: status.is_some_and(|s| s.success()),
    };
    assert!(
        status.is_some(),
        "{script}: the driver did not finish within {DRIVER_LIMIT:?}\n{}",
        run.transcript()
    );
    run
}
