//! `chattu serve --sandbox` end to end over HTTP: add a number, get its QR code, let a simulated
//! phone scan it, see the client authenticated, then delete it and see the phone unlinked.

mod api_engine_support;

use api_engine_support::{create_phone, decode_png, decode_png_data_url, phone_devices, Chattu};
use serde_json::json;

#[test]
fn qr_pairing_through_the_sandbox_then_delete_unlinks_the_phone() {
    let mut chattu = Chattu::sandbox();
    let http = chattu.http();
    let (cookie, key) = chattu.admin();

    // Sandbox mode says so.
    let health = http.get("/healthz");
    assert_eq!(health.json()["sandbox"], true);
    assert_eq!(health.header("x-chattu-sandbox").as_deref(), Some("1"));
    chattu.process.wait_line("SANDBOX MODE");

    let added = http.add_number(
        &key,
        json!({"clientId": "shop", "phoneNumber": "15550001111"}),
    );
    assert_eq!(added.status, 200, "{}", added.text());
    let body = added.json();
    assert_eq!(body["status"], "pending_auth");
    assert_eq!(body["message"], "QR Code generated for authentication");
    assert!(body["apiKey"].as_str().is_some_and(|k| k.len() >= 32));
    decode_png_data_url(body["qrCode"].as_str().expect("qrCode"));
    let qr_text = body["qrText"].as_str().expect("sandbox qrText").to_string();
    assert!(qr_text.starts_with("2@"), "{qr_text}");
    chattu.wait_status(&key, "shop", "Pending Authentication");

    // The QR route serves the same code as an image, with its text in the sandbox header.
    let png = http.send("GET", "/api/qr/shop", &[("x-api-key", &key)], None);
    assert_eq!(png.status, 200, "{}", png.text());
    assert_eq!(png.header("content-type").as_deref(), Some("image/png"));
    decode_png(&png.body);
    let header_text = png.header("x-chattu-qr-text").expect("QR text header");
    assert!(header_text.starts_with("2@"));

    create_phone(&http, "15550001111", "Dana");
    let scan = http.post("/sim/phones/15550001111/scan", json!({"qr": header_text}));
    assert_eq!(scan.status, 200, "scan: {}", scan.text());

    let client = chattu.wait_status(&key, "shop", "Authenticated");
    assert_eq!(client["connectedNumber"], "15550001111@c.us");
    assert_eq!(phone_devices(&http, "15550001111").len(), 1);
    // After login the engine uploads one-time prekeys (kept in Chattu's Signal store).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while phone_devices(&http, "15550001111")[0]["prekeys"].as_u64() < Some(800) {
        assert!(std::time::Instant::now() < deadline, "no prekeys uploaded");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Connected: no QR any more, and adding the number again says so.
    let qr = http.send("GET", "/api/qr/shop", &[("x-api-key", &key)], None);
    assert_eq!(qr.status, 409, "{}", qr.text());
    assert_eq!(qr.json()["code"], "NOT_PENDING_AUTH");
    let again = http.add_number(
        &key,
        json!({"clientId": "shop", "phoneNumber": "15550001111"}),
    );
    assert_eq!(again.json()["status"], "connected");
    assert!(again.json()["qrCode"].is_null());

    // Another account's key cannot read this client's QR.
    let unknown = http.send("GET", "/api/qr/nobody", &[("x-api-key", &key)], None);
    assert_eq!(unknown.status, 404);

    // Deleting the client unlinks the companion on the phone.
    let deleted = http.send(
        "DELETE",
        "/clients/shop",
        &[("cookie", &cookie)],
        Some(json!({"password": api_engine_support::ADMIN_PASSWORD})),
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert!(
        phone_devices(&http, "15550001111").is_empty(),
        "device unlinked"
    );
    let list = http.send("GET", "/api/clients", &[("x-api-key", &key)], None);
    assert_eq!(list.json(), json!([]));
}
