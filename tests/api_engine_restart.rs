//! Restarting `chattu serve`: every client with stored credentials logs in again with no QR code.
//! Chattu runs without --sandbox against a standalone `chattu sim` (which keeps its accounts across
//! Chattu's restart), configured through `[whatsapp] url` and `root_public_key`.

mod api_engine_support;

use api_engine_support::{create_phone, phone_devices, Chattu, Sim};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_restart_reconnects_every_paired_client_without_a_qr() {
    let sim = Sim::start();
    let sim_http = sim.http();
    let info = sim_http.get("/sim/info");
    assert_eq!(info.json()["rootPublicKey"], sim.root_hex.as_str());

    let mut chattu = Chattu::against(&sim);
    let http = chattu.http();
    let (_, key) = chattu.admin();
    // Not a sandbox: no /sim/ on Chattu's own listener.
    assert_eq!(http.get("/healthz").json()["sandbox"], false);
    assert_eq!(http.get("/sim/info").status, 404);

    for (client, phone) in [("one", "15550004441"), ("two", "15550004442")] {
        create_phone(&sim_http, phone, client);
        // Outside the sandbox the API gives the QR only as an image; pair by code instead.
        let added = http.add_number(
            &key,
            json!({"clientId": client, "phoneNumber": phone, "pairingMethod": "code"}),
        );
        let body = added.json();
        assert_eq!(body["status"], "pending_auth", "{body}");
        assert!(body.get("qrText").is_none(), "QR text only in sandbox mode");
        api_engine_support::decode_png_data_url(body["qrCode"].as_str().expect("qrCode"));
        let code = body["pairingCode"].as_str().expect("pairingCode");
        let linked = sim_http.post(
            &format!("/sim/phones/{phone}/link-code"),
            json!({"code": code}),
        );
        assert_eq!(linked.status, 200, "link-code: {}", linked.text());
        chattu.wait_status(&key, client, "Authenticated");
    }

    chattu.stop();
    // With Chattu down the simulator sees both devices offline (still linked).
    for phone in ["15550004441", "15550004442"] {
        wait_device_online(&sim_http, phone, false);
    }
    chattu.start_again();
    let http = chattu.http();
    for (client, phone) in [("one", "15550004441"), ("two", "15550004442")] {
        let view = chattu.wait_status(&key, client, "Authenticated");
        assert_eq!(view["connectedNumber"], format!("{phone}@c.us"));
        // Logged in with the stored credentials: the same single linked device is online again
        // (the old process's connection ended with it), and no QR is shown.
        wait_device_online(&sim_http, phone, true);
        let qr = http.send(
            "GET",
            &format!("/api/qr/{client}"),
            &[("x-api-key", &key)],
            None,
        );
        assert_eq!(qr.status, 409, "{}", qr.text());
    }
    let log = chattu.process.output();
    assert!(log.contains("started 2 WhatsApp engine(s)"), "{log}");
    assert!(chattu.process.stop());
}

/// Polls the simulated phone until its single linked device is (or is not) connected.
fn wait_device_online(sim: &api_engine_support::Http, phone: &str, online: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let devices = phone_devices(sim, phone);
        assert_eq!(devices.len(), 1, "{devices:?}");
        if devices[0]["connected"] == online {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{phone}: device never became connected={online}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
