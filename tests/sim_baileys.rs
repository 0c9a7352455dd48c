//! A third-party client must accept the simulator (issue 5): a real, unmodified Baileys
//! (`@whiskeysockets/baileys` 6.7.24 from tests/baileys, `libsignal` 6.0.0 from npm) pairs by QR through
//! the control API, logs in after the 515 restart, and exchanges text with a simulated phone.
//!
//! Each test starts an in-process simulator on 127.0.0.1:0 and runs
//! `node tests/baileys/interop.mjs <ws url> <control url>`, which prints one JSON line per step
//! (`{"step", "ok", ...}`); the assertions below check those lines against what the simulator itself
//! reports through its control API. See docs/interop.md.
//!
//! Missing node or tests/baileys/node_modules fail the tests with the install command, unless
//! CHATTU_SKIP_NODE_TESTS=1 is set.

mod baileys_support;

use baileys_support::{node_available, DriverRun};
use chattu::simulator::{Simulator, SimulatorHandle};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpListener;

/// The phones the driver creates (interop.mjs `ACCOUNT_PHONE`, `PEER_PHONE`).
const ACCOUNT_PHONE: &str = "15550001111";
const PEER_PHONE: &str = "15550002222";

async fn simulator() -> SimulatorHandle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    Simulator::start(listener).expect("start the simulator")
}

async fn drive(sim: &SimulatorHandle, extra: &'static [&'static str]) -> DriverRun {
    baileys_support::drive(sim, "interop.mjs", extra).await
}

/// `GET /sim/phones/{phone}` over HTTP, as any client of the control API sees it.
async fn phone_record(sim: &SimulatorHandle, phone: &str) -> Value {
    let url = format!("{}/sim/phones/{phone}", sim.http_base());
    tokio::task::spawn_blocking(move || {
        let response = ureq::get(&url)
            .timeout(Duration::from_secs(20))
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        response
            .into_json::<Value>()
            .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    })
    .await
    .expect("control API call")
}

/// How the companion was linked: the driver step that linked it.
#[derive(Clone, Copy)]
enum Linking {
    /// The phone scanned the QR (`scan`).
    Qr,
    /// The phone typed the companion's pairing code (`link`).
    Code,
}

/// Checks the pairing and login steps of a run against the simulator's own records; returns the
/// companion's device JID.
async fn assert_paired_and_logged_in(
    sim: &SimulatorHandle,
    run: &DriverRun,
    linking: Linking,
) -> String {
    run.passed("phones");

    // The QR is Baileys' own four-field text; the driver checked that fields 2-4 are its credentials.
    let qr = run.passed("qr");
    let qr_text = qr["qr"].as_str().unwrap_or_default();
    assert_eq!(qr_text.split(',').count(), 4, "QR text {qr_text}");
    assert_eq!(
        qr_text.split(',').next(),
        qr["ref"].as_str(),
        "the QR starts with the ref"
    );

    // The simulated phone accepted the QR (the ref is one the simulator handed to this connection), or
    // the code Baileys showed.
    let scan = match linking {
        Linking::Qr => run.passed("scan"),
        Linking::Code => {
            let code = run.passed("code")["code"].as_str().unwrap_or_default();
            assert_eq!(code.len(), 8, "pairing code {code}");
            run.passed("link")
        }
    };
    let device = scan["device"].as_u64().expect("scan names the device");
    let jid = format!("{ACCOUNT_PHONE}:{device}@s.whatsapp.net");
    assert_eq!(scan["jid"], jid.as_str());

    // Baileys accepted pair-success (ADV HMAC and account signature), countersigned, and was restarted.
    let restart = run.passed("restart");
    assert_eq!(restart["statusCode"], 515);
    assert_eq!(restart["me"]["id"], jid.as_str(), "creds.me after pairing");

    // After the restart Baileys logged in with the stored credentials.
    let login = run.passed("login");
    assert_eq!(login["me"]["id"], jid.as_str(), "creds.me after login");

    let record = phone_record(sim, ACCOUNT_PHONE).await;
    let lid = record["lid"].as_str().expect("the phone has a LID");
    assert_eq!(
        login["me"]["lid"],
        format!("{lid}:{device}@lid").as_str(),
        "the LID Baileys learnt from <success>"
    );
    let linked = record["devices"]
        .as_array()
        .and_then(|devices| devices.iter().find(|d| d["device"] == device))
        .unwrap_or_else(|| panic!("device {device} is not linked: {record}"));
    assert!(
        linked["registrationId"].as_u64().is_some(),
        "linked device {linked}"
    );

    // While Baileys was online the simulator saw it connected, holding the prekeys it uploaded.
    let online = run.passed("server-view");
    assert_eq!(online["device"], device);
    assert_eq!(online["lid"], lid);
    assert!(
        online["prekeys"].as_u64().is_some_and(|n| n > 0),
        "Baileys uploaded one-time prekeys: {online}"
    );
    jid
}

#[tokio::test(flavor = "multi_thread")]
async fn baileys_pairs_by_code_and_logs_in() {
    if !node_available("baileys_pairs_by_code_and_logs_in") {
        return;
    }
    let sim = simulator().await;
    let run = drive(&sim, &["--pairing-only", "--by-code"]).await;
    assert_paired_and_logged_in(&sim, &run, Linking::Code).await;
    run.passed("done");
    assert!(run.success, "driver exit status\n{}", run.transcript());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn baileys_pairs_by_qr_and_exchanges_text_with_a_simulated_phone() {
    if !node_available("baileys_pairs_by_qr_and_exchanges_text_with_a_simulated_phone") {
        return;
    }
    let sim = simulator().await;
    let run = drive(&sim, &[]).await;
    let companion = assert_paired_and_logged_in(&sim, &run, Linking::Qr).await;

    // Baileys → phone: the peer phone decrypted exactly the text Baileys sent, from Baileys' device.
    let sent = run.passed("send");
    let received = &run.passed("peer-received")["message"];
    assert_eq!(received["id"], sent["id"]);
    assert_eq!(received["text"], sent["text"]);
    assert_eq!(received["from"], companion.as_str());

    // Phone → Baileys: Baileys decrypted the phone's text, in the chat with the phone.
    let answer = run.passed("peer-send");
    let got = run.passed("baileys-received");
    assert_eq!(got["id"], answer["id"]);
    assert_eq!(got["from"], format!("{PEER_PHONE}@s.whatsapp.net").as_str());
    assert_eq!(got["fromMe"], false);

    // Baileys' delivery receipt reaches the phone.
    assert_eq!(run.passed("peer-delivered")["status"], "delivered");

    run.passed("done");
    assert!(run.success, "driver exit status\n{}", run.transcript());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn baileys_read_receipt_reaches_the_phone() {
    if !node_available("baileys_read_receipt_reaches_the_phone") {
        return;
    }
    let sim = simulator().await;
    let run = drive(&sim, &["--read-receipt"]).await;
    assert_paired_and_logged_in(&sim, &run, Linking::Qr).await;
    let got = run.passed("baileys-received");
    assert_eq!(run.passed("baileys-read")["id"], got["id"]);
    assert_eq!(run.passed("peer-read")["status"], "read");
    run.passed("done");
    assert!(run.success, "driver exit status\n{}", run.transcript());
    sim.shutdown().await;
}

/// App state sync both ways with Baileys: the phone's key share reaches Baileys, a mute and a pin the
/// phone writes as syncd patches come out of Baileys as one `chats.update` (Baileys checks the value,
/// index and patch MACs and the LT-hash), and an unpin Baileys writes itself is verified and kept by
/// the phone.
#[tokio::test(flavor = "multi_thread")]
async fn baileys_and_the_phone_exchange_app_state_patches() {
    if !node_available("baileys_and_the_phone_exchange_app_state_patches") {
        return;
    }
    let sim = simulator().await;
    let run = drive(&sim, &["--app-state"]).await;
    assert_paired_and_logged_in(&sim, &run, Linking::Qr).await;
    let key = run.passed("app-state-key");
    assert_eq!(key["keyId"].as_str().map(str::len), Some(12), "{key}");
    let change = run.passed("app-state-change");
    assert_eq!(change["versions"]["regular_high"], 1, "{change}");
    assert_eq!(change["versions"]["regular_low"], 1, "{change}");
    let update = run.passed("app-state-chats-update");
    assert_eq!(
        update["id"],
        format!("{PEER_PHONE}@s.whatsapp.net").as_str()
    );
    assert!(update["pinned"].as_u64().is_some_and(|t| t > 0), "{update}");
    // Baileys' own unpin patch was checked by the phone with the account key and kept.
    let upload = run.passed("app-state-upload");
    assert_eq!(upload["versions"]["regular_low"], 2, "{upload}");
    run.passed("done");
    assert!(run.success, "driver exit status\n{}", run.transcript());
    sim.shutdown().await;
}
