//! What sandbox mode changes, and what exists without it: `/sim/` only with `--sandbox`, the
//! sandbox flag and header, and `chattu sim` on its own.

mod api_engine_support;

use api_engine_support::{Chattu, Process, Sim, TempDir};
use serde_json::json;

#[test]
fn without_sandbox_there_is_no_sim_api_and_no_sandbox_flag() {
    // An empty data directory: no client, so no engine dials out.
    let mut chattu = Chattu::start(&[], &[]);
    let http = chattu.http();
    for path in ["/sim/info", "/sim/phones", "/sim/", "/sim"] {
        let res = http.get(path);
        assert_eq!(res.status, 404, "GET {path}: {}", res.text());
        assert_eq!(res.json()["code"], "ROUTE_NOT_FOUND");
    }
    let res = http.post("/sim/phones", json!({"phone": "15550009999"}));
    assert_eq!(res.status, 404);
    let health = http.get("/healthz");
    assert_eq!(health.json()["sandbox"], false);
    assert_eq!(health.header("x-chattu-sandbox"), None);
    let log = chattu.process.output();
    assert!(
        log.contains("web.whatsapp.com"),
        "engines target WhatsApp: {log}"
    );
    assert!(!log.contains("SANDBOX"), "{log}");
}

#[test]
fn the_sandbox_serves_the_simulator_control_api_on_chattus_listener() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let info = http.get("/sim/info");
    assert_eq!(info.status, 200, "{}", info.text());
    assert_eq!(info.header("x-chattu-sandbox").as_deref(), Some("1"));
    assert_eq!(
        info.json()["rootPublicKey"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(info.json()["wsPath"], "/ws/chat");
    // The control API's own errors come through unchanged.
    let missing = http.get("/sim/phones/15550000000");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "PHONE_NOT_FOUND");
    let created = http.post(
        "/sim/phones",
        json!({"phone": "15550000001", "name": "Noa"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let listed = http.get("/sim/phones");
    assert_eq!(listed.json()[0]["phone"], "15550000001");
    // Every answer carries the sandbox header, API routes included.
    assert_eq!(
        http.get("/openapi.json")
            .header("x-chattu-sandbox")
            .as_deref(),
        Some("1")
    );
}

#[test]
fn chattu_sim_runs_alone_and_prints_its_root_key() {
    let sim = Sim::start();
    let info = sim.http().get("/sim/info");
    assert_eq!(info.json()["rootPublicKey"], sim.root_hex.as_str());

    // A seed gives the same root on every start; no seed, a fresh one.
    let seeded = Sim::start_with(&["--seed", "demo"]);
    let again = Sim::start_with(&["--seed", "demo"]);
    let other = Sim::start_with(&["--seed", "other"]);
    assert_eq!(seeded.root_hex, again.root_hex);
    assert_ne!(seeded.root_hex, other.root_hex);
    assert_ne!(seeded.root_hex, sim.root_hex);

    let dir = TempDir::new("help");
    let mut help = Process::spawn(&["sim", "--help"], &[], &dir.0);
    let line = help.wait_line("Usage: chattu sim");
    assert!(line.contains("--listen"), "{line}");
}

#[test]
fn an_unreachable_whatsapp_leaves_new_clients_pending_without_a_qr() {
    // A loopback port nobody listens on: every connection attempt is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws/chat");
    let chattu = Chattu::start(&[], &[("CHATTU_WHATSAPP_URL", url.as_str())]);
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let added = http.add_number(
        &key,
        json!({"clientId": "offline", "phoneNumber": "15550011111"}),
    );
    assert_eq!(added.status, 200, "{}", added.text());
    let body = added.json();
    assert_eq!(body["status"], "pending_auth");
    assert!(body["qrCode"].is_null(), "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/qr/offline")),
        "{body}"
    );
    // Unpaired, so still waiting for authentication whatever the connection does.
    chattu.wait_status(&key, "offline", "Pending Authentication");
    let qr = http.send("GET", "/api/qr/offline", &[("x-api-key", &key)], None);
    assert_eq!(qr.status, 409, "{}", qr.text());
    assert_eq!(qr.json()["code"], "NOT_PENDING_AUTH");
    // A pairing code needs a live connection too.
    let code = http.add_number(
        &key,
        json!({"clientId": "offline", "phoneNumber": "15550011111", "pairingMethod": "code"}),
    );
    assert_eq!(code.status, 409, "{}", code.text());
    // Deleting a client whose engine never got online stops it without a logout round trip.
    let deleted = http.send(
        "DELETE",
        "/clients/offline",
        &[("cookie", &cookie)],
        Some(json!({"password": api_engine_support::ADMIN_PASSWORD})),
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let list = http.send("GET", "/api/clients", &[("x-api-key", &key)], None);
    assert_eq!(list.json(), json!([]));
}
