//! A third-party client against the simulator: an unmodified Baileys (npm `@whiskeysockets/baileys`
//! 6.7.x with `libsignal@6.0.0` through an npm `overrides` entry) pairs by QR through the control API,
//! restarts after 515 and logs in.
//!
//! Needs Node and a directory where Baileys is installed, so it is ignored by default:
//! ```text
//! mkdir -p /tmp/baileys && cd /tmp/baileys && cat > package.json <<'JSON'
//! {"private": true,
//!  "dependencies": {"@whiskeysockets/baileys": "6.7.24", "libsignal": "6.0.0"},
//!  "overrides": {"libsignal": "$libsignal"}}
//! JSON
//! npm install --no-audit --no-fund --omit=optional
//! CHATTU_BAILEYS_DIR=/tmp/baileys cargo test --test sim_baileys -- --ignored
//! ```

use chattu::simulator::Simulator;
use std::process::Command;
use std::time::Duration;
use tokio::net::TcpListener;

/// The Node side: Baileys with in-memory auth state; scans its own QR through the control API and
/// reconnects once when the server asks for a restart (515).
const SCRIPT: &str = r#"
const { default: makeWASocket, initAuthCreds, DisconnectReason, Browsers } = require('@whiskeysockets/baileys');
const pino = require('pino');
const { SIM_WS: url, SIM_HTTP: base, SIM_PHONE: phone } = process.env;
const creds = initAuthCreds();
const keys = {};
const keyStore = {
  get: async (type, ids) => Object.fromEntries(ids.filter((id) => keys[`${type}-${id}`]).map((id) => [id, keys[`${type}-${id}`]])),
  set: async (data) => {
    for (const type in data) for (const id in data[type]) {
      const value = data[type][id];
      if (value) keys[`${type}-${id}`] = value; else delete keys[`${type}-${id}`];
    }
  },
};
const byCode = process.env.SIM_MODE === 'code';
let scanned = false;
// console.log to a pipe is asynchronous: flush before exiting.
const finish = (code, line) => process.stdout.write(`${line}\n`, () => process.exit(code));
function start() {
  const sock = makeWASocket({ waWebSocketUrl: url, auth: { creds, keys: keyStore }, logger: pino({ level: process.env.LOG_LEVEL || 'silent' }),
    printQRInTerminal: false, browser: Browsers.ubuntu('Chrome') });
  sock.ev.on('creds.update', (update) => Object.assign(creds, update));
  sock.ev.on('connection.update', async (update) => {
    if (update.qr && !scanned) {
      scanned = true;
      // Either the phone scans the QR, or the companion asks for a code and the phone types it.
      const [route, body] = byCode
        ? ['link-code', { code: await sock.requestPairingCode(phone) }]
        : ['scan', { qr: update.qr }];
      const response = await fetch(`${base}/sim/phones/${phone}/${route}`, { method: 'POST',
        headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      console.log('SCAN', response.status, await response.text());
    }
    if (update.connection === 'open') {
      finish(0, `OPEN ${sock.user && sock.user.id}`);
    }
    if (update.connection === 'close') {
      const code = update.lastDisconnect?.error?.output?.statusCode;
      console.log('CLOSE', code);
      if (code === DisconnectReason.restartRequired) start(); else finish(2, 'GAVE UP');
    }
  });
}
start();
setTimeout(() => finish(3, 'TIMEOUT'), 30000);
"#;

/// Runs the script in `mode` (`qr` or `code`) against a fresh simulator and checks Baileys got online.
async fn baileys_links(mode: &str) {
    let dir =
        std::env::var("CHATTU_BAILEYS_DIR").expect("CHATTU_BAILEYS_DIR names a Baileys install");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(listener).unwrap();
    sim.simulator()
        .registry()
        .create_phone("15550009090", "Dana")
        .unwrap();
    let (ws, http, mode) = (sim.ws_url(), sim.http_base(), mode.to_string());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("-e")
            .arg(SCRIPT)
            .current_dir(dir)
            .env("SIM_WS", ws)
            .env("SIM_HTTP", http)
            .env("SIM_PHONE", "15550009090")
            .env("SIM_MODE", mode)
            .env(
                "LOG_LEVEL",
                std::env::var("LOG_LEVEL").unwrap_or_else(|_| "silent".into()),
            )
            .output()
            .expect("node runs")
    });
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("Baileys finished")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "Baileys did not reach 'open'");
    assert!(stdout.contains("SCAN 200"), "{stdout}");
    assert!(stdout.contains("CLOSE 515"), "{stdout}");
    assert!(
        stdout.contains("OPEN 15550009090:1@s.whatsapp.net"),
        "{stdout}"
    );
    let phone = sim.simulator().registry().phone("15550009090").unwrap();
    assert_eq!(phone.devices.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
#[ignore = "needs Node and Baileys installed; set CHATTU_BAILEYS_DIR (see the file header)"]
async fn baileys_pairs_by_qr_and_logs_in() {
    baileys_links("qr").await;
}

#[tokio::test]
#[ignore = "needs Node and Baileys installed; set CHATTU_BAILEYS_DIR (see the file header)"]
async fn baileys_pairs_by_code_and_logs_in() {
    baileys_links("code").await;
}
