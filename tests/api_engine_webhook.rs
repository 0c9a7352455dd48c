//! Engine status changes reach the client's webhook: linking a client in the sandbox delivers a
//! signed `client_status` event with `Authenticated` and the connected number.

mod api_engine_support;

use api_engine_support::{create_phone, webhook_receiver as receiver, Chattu};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn linking_a_client_delivers_a_client_status_webhook() {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true")],
    );
    let http = chattu.http();
    let (_, key) = chattu.admin();
    let (url, deliveries) = receiver();
    create_phone(&http, "15550008881", "Tal");

    let added = http.add_number(
        &key,
        json!({"clientId": "hooked", "phoneNumber": "15550008881"}),
    );
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    let set = http.send(
        "POST",
        "/api/update-webhook",
        &[("x-api-key", &key)],
        Some(json!({"clientId": "hooked", "webhookUrl": url})),
    );
    assert_eq!(set.status, 200, "{}", set.text());
    let scan = http.post("/sim/phones/15550008881/scan", json!({"qr": qr}));
    assert_eq!(scan.status, 200, "{}", scan.text());

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = deliveries
            .recv_timeout(left)
            .expect("a client_status event with Authenticated");
        if delivery.event != "client_status" {
            continue;
        }
        assert_eq!(delivery.body["event"], "client_status");
        let data = &delivery.body["data"];
        assert_eq!(data["clientId"], "hooked");
        if data["status"] == "Authenticated" {
            assert_eq!(data["connectedNumber"], "15550008881@c.us");
            break;
        }
    }
}
