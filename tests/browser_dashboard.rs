//! The dashboard in real Chromium (Debian's `chromium`, driven by playwright-core from tests/browser).
//!
//! - `dashboard_against_the_real_server`: starts `chattu serve` on an ephemeral port with a fresh data dir
//!   and runs tests/browser/dashboard.test.mjs against it (login, every page, add a number, schedule in
//!   Asia/Jerusalem, API docs search, screenshots under target/screenshots/).
//! - `live_dashboard_against_the_sandbox`: the same against `chattu serve --sandbox`
//!   (tests/browser/sandbox.test.mjs): a simulated phone scans the QR code the UI shows, the status turns
//!   connected over /ws, a chat with a second simulated phone runs both ways live, scheduling in
//!   Asia/Jerusalem.
//! - `dashboard_views_against_the_mock_server`: the chat, groups and webhook views with data the real
//!   server only has once the engine exists (tests/browser/mock.test.mjs).
//! - `time_zone_conversion`: the wall-time-to-UTC rules of assets/js/tz.js under Node's test runner.
//! - `api_docs_match_the_contract`: assets/api-docs.json is the generator's output for the contract.
//!
//! Missing chromium, node or node_modules fail the tests with the install command, unless
//! CHATTU_SKIP_BROWSER=1 is set.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const INSTALL_HINT: &str =
    "run the install step of .ci/run: `apt-get install -y chromium nodejs npm` and \
     `npm ci --prefix tests/browser` (or set CHATTU_SKIP_BROWSER=1 to skip the browser tests)";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn browser_dir() -> PathBuf {
    repo().join("tests").join("browser")
}

/// Whether to run: false (with a message) when skipped; panics with the install hint when tools are missing.
fn browser_available(test: &str) -> bool {
    if std::env::var("CHATTU_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        println!("{test}: skipped because CHATTU_SKIP_BROWSER=1");
        return false;
    }
    let chromium = std::env::var("CHATTU_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: {INSTALL_HINT}"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: {INSTALL_HINT}"
    );
    let playwright = browser_dir().join("node_modules").join("playwright-core");
    assert!(
        playwright.exists(),
        "{} is missing: {INSTALL_HINT}",
        playwright.display()
    );
    true
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos:x}", std::process::id())
}

/// A temporary data directory, removed when the test ends (also on failure).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("chattu-browser-{}", unique_suffix()));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server process, killed when the test ends.
struct Server {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_lines(stream: impl Read + Send + 'static, sender: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
}

/// Starts `chattu serve` (with `extra_args`, such as `--sandbox`) and returns it with the address from its
/// `listening on <addr>` line.
fn start_server(data_dir: &Path, password: &str, extra_args: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chattu"))
        .arg("serve")
        .args(extra_args)
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("CHATTU_ADMIN_PASSWORD", password)
        // The suite loads every page several times from one IP; the default 100 API requests per
        // 15 minutes is about the dashboard's limit behaviour, not what this test checks.
        .env("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")
        // The webhook form is tested with a loopback URL (nothing is delivered during the test).
        .env("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true")
        .env_remove("CHATTU_CONFIG")
        .env_remove("CHATTU_LISTEN")
        .env_remove("CHATTU_DATA_DIR")
        .current_dir(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start chattu: {e}"));
    let (sender, log) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        forward_lines(out, sender.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward_lines(err, sender);
    }
    let server = Server { child, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match server.log.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let addr = addr
                        .trim_start_matches("http://")
                        .trim_end_matches('/')
                        .to_string();
                    return (server, addr);
                }
                seen.push(line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!(
        "chattu serve never logged `listening on <addr>`; its output:\n{}",
        seen.join("\n")
    );
}

/// Runs a node script from tests/browser and fails the test with its output when it fails.
fn run_node(args: &[&str], envs: &[(&str, &str)]) {
    let mut command = Command::new("node");
    command
        .args(args)
        .current_dir(browser_dir())
        .stdin(Stdio::null());
    for (key, value) in envs {
        command.env(key, value);
    }
    let output = command.output().unwrap_or_else(|e| panic!("run node: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "node {} failed:\n{stdout}\n{stderr}",
        args.join(" ")
    );
}

#[test]
fn dashboard_against_the_real_server() {
    if !browser_available("dashboard_against_the_real_server") {
        return;
    }
    let data = TempDir::new();
    let password = format!("browser-test-{}", unique_suffix());
    let (server, addr) = start_server(&data.0, &password, &[]);
    let screenshots = repo().join("target").join("screenshots");
    let screenshots = screenshots.to_string_lossy();
    run_node(
        &["dashboard.test.mjs", &format!("http://{addr}")],
        &[
            ("CHATTU_ADMIN_PASSWORD", &password),
            ("CHATTU_SCREENSHOTS", &screenshots),
        ],
    );
    drop(server);
}

#[test]
fn live_dashboard_against_the_sandbox() {
    if !browser_available("live_dashboard_against_the_sandbox") {
        return;
    }
    let data = TempDir::new();
    let password = format!("browser-test-{}", unique_suffix());
    let (server, addr) = start_server(&data.0, &password, &["--sandbox"]);
    let screenshots = repo().join("target").join("screenshots");
    run_node(
        &["sandbox.test.mjs", &format!("http://{addr}")],
        &[
            ("CHATTU_ADMIN_PASSWORD", &password),
            ("CHATTU_SCREENSHOTS", &screenshots.to_string_lossy()),
        ],
    );
    drop(server);
}

#[test]
fn dashboard_views_against_the_mock_server() {
    if !browser_available("dashboard_views_against_the_mock_server") {
        return;
    }
    let screenshots = repo().join("target").join("screenshots");
    run_node(
        &["mock.test.mjs"],
        &[("CHATTU_SCREENSHOTS", &screenshots.to_string_lossy())],
    );
}

#[test]
fn time_zone_conversion() {
    if std::env::var("CHATTU_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        println!("time_zone_conversion: skipped because CHATTU_SKIP_BROWSER=1");
        return;
    }
    assert!(
        Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "node is missing: {INSTALL_HINT}"
    );
    run_node(&["--test", "tz.test.mjs"], &[]);
}

#[test]
fn api_docs_match_the_contract() {
    let contract = repo()
        .join("..")
        .join("shared")
        .join("seed")
        .join("chattu-api.md");
    if !contract.exists() {
        println!(
            "api_docs_match_the_contract: skipped, {} is not beside this checkout",
            contract.display()
        );
        return;
    }
    if Command::new("node").arg("--version").output().is_err() {
        println!("api_docs_match_the_contract: skipped, node is not installed");
        return;
    }
    run_node(
        &["gen-api-docs.mjs", "--check", &contract.to_string_lossy()],
        &[],
    );
}
