//! Client status follows each engine on its own: a phone unlinking the companion logs the client
//! out (a new QR links it again), a failure on one client's connection leaves the others alone, and
//! a sandbox restart (whose simulator forgets its phones) logs linked clients out.

mod api_engine_support;

use api_engine_support::{create_phone, phone_devices, Chattu, Http};
use serde_json::json;

/// Adds `client` for `phone` and links it by scanning the sandbox QR text; returns the device id.
fn link(chattu: &Chattu, http: &Http, key: &str, client: &str, phone: &str) -> u64 {
    let added = http.add_number(key, json!({"clientId": client, "phoneNumber": phone}));
    assert_eq!(added.status, 200, "{}", added.text());
    let body = added.json();
    assert_eq!(body["status"], "pending_auth", "{body}");
    let qr = body["qrText"].as_str().expect("qrText");
    let scan = http.post(&format!("/sim/phones/{phone}/scan"), json!({"qr": qr}));
    assert_eq!(scan.status, 200, "scan: {}", scan.text());
    chattu.wait_status(key, client, "Authenticated");
    scan.json()["device"].as_u64().expect("device id")
}

#[test]
fn a_phone_unlinking_the_device_logs_the_client_out_and_a_new_qr_links_it_again() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (_, key) = chattu.admin();
    create_phone(&http, "15550005551", "Gil");
    let device = link(&chattu, &http, &key, "unlinked", "15550005551");

    let res = http.send(
        "DELETE",
        &format!("/sim/phones/15550005551/devices/{device}"),
        &[],
        None,
    );
    assert_eq!(res.status, 200, "{}", res.text());
    let client = chattu.wait_status(&key, "unlinked", "Logged Out");
    assert_eq!(client["connectedNumber"], "Not Connected");

    // Asking for the QR code starts a fresh session: a new code, for a new link.
    let qr = http.send("GET", "/api/qr/unlinked", &[("x-api-key", &key)], None);
    assert_eq!(qr.status, 200, "{}", qr.text());
    assert_eq!(qr.header("content-type").as_deref(), Some("image/png"));
    chattu.wait_status(&key, "unlinked", "Pending Authentication");
    // Adding the number again answers that session's QR code; scanning it links the client again.
    link(&chattu, &http, &key, "unlinked", "15550005551");
    assert_eq!(phone_devices(&http, "15550005551").len(), 1);
}

#[test]
fn one_clients_failure_leaves_the_other_clients_connected() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (_, key) = chattu.admin();
    create_phone(&http, "15550006661", "Hila");
    create_phone(&http, "15550006662", "Ido");
    let banned_device = link(&chattu, &http, &key, "banned", "15550006661");
    link(&chattu, &http, &key, "healthy", "15550006662");

    // WhatsApp bans the first number temporarily (failure 402): that engine stops for good.
    let res = http.post(
        &format!("/sim/phones/15550006661/devices/{banned_device}/failure"),
        json!({"reason": 402, "code": "101", "expire": 3600}),
    );
    assert_eq!(res.status, 200, "{}", res.text());
    chattu.wait_status(&key, "banned", "Disconnected");

    let healthy = chattu.wait_status(&key, "healthy", "Authenticated");
    assert_eq!(healthy["connectedNumber"], "15550006662@c.us");
    assert_eq!(phone_devices(&http, "15550006662")[0]["connected"], true);
}

#[test]
fn a_sandbox_restart_forgets_simulated_phones_and_logs_linked_clients_out() {
    let mut chattu = Chattu::sandbox();
    let http = chattu.http();
    let (_, key) = chattu.admin();
    create_phone(&http, "15550007771", "Yael");
    link(&chattu, &http, &key, "ephemeral", "15550007771");

    chattu.restart();
    chattu.wait_status(&key, "ephemeral", "Logged Out");
    let http = chattu.http();
    assert_eq!(http.get("/sim/phones/15550007771").status, 404);
}
