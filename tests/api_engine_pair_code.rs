//! Pairing by phone code through the API: add-number with `"pairingMethod": "code"` answers an
//! 8-character code which the simulated phone types; the client becomes authenticated.

mod api_engine_support;

use api_engine_support::{create_phone, phone_devices, Chattu};
use serde_json::json;

fn is_pairing_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            p.len() == 4
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

#[test]
fn pairing_code_links_the_client() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (_, key) = chattu.admin();
    create_phone(&http, "15550002222", "Eli");

    let added = http.add_number(
        &key,
        json!({"clientId": "coded", "phoneNumber": "15550002222", "pairingMethod": "code"}),
    );
    assert_eq!(added.status, 200, "{}", added.text());
    let body = added.json();
    assert_eq!(body["status"], "pending_auth");
    let code = body["pairingCode"]
        .as_str()
        .expect("pairingCode")
        .to_string();
    assert!(is_pairing_code(&code), "{code}");

    // A wrong code does not link anything (the companion's key bundle does not decrypt).
    let wrong = if code.starts_with('A') {
        "BBBB-BBBB"
    } else {
        "AAAA-AAAA"
    };
    let refused = http.post("/sim/phones/15550002222/link-code", json!({"code": wrong}));
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(refused.json()["code"], "LINK_FAILED");
    assert!(phone_devices(&http, "15550002222").is_empty());

    // Asking again (the add-number call is idempotent for its owner) gives a code to type.
    let again = http.add_number(
        &key,
        json!({"clientId": "coded", "phoneNumber": "15550002222", "pairingMethod": "code"}),
    );
    assert_eq!(again.status, 200, "{}", again.text());
    let code = again.json()["pairingCode"]
        .as_str()
        .expect("pairingCode")
        .to_string();
    assert!(is_pairing_code(&code), "{code}");
    let linked = http.post("/sim/phones/15550002222/link-code", json!({"code": code}));
    assert_eq!(linked.status, 200, "link-code: {}", linked.text());

    let client = chattu.wait_status(&key, "coded", "Authenticated");
    assert_eq!(client["connectedNumber"], "15550002222@c.us");
    assert_eq!(phone_devices(&http, "15550002222").len(), 1);
}

#[test]
fn pairing_method_is_validated_before_anything_is_created() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (_, key) = chattu.admin();
    let res = http.add_number(
        &key,
        json!({"clientId": "x", "phoneNumber": "15550003333", "pairingMethod": "sms"}),
    );
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["field"], "pairingMethod");
    let list = http.send("GET", "/api/clients", &[("x-api-key", &key)], None);
    assert_eq!(list.json(), json!([]));
}

#[test]
fn a_code_for_a_number_whatsapp_does_not_know_is_a_whatsapp_error() {
    let chattu = Chattu::sandbox();
    let http = chattu.http();
    let (_, key) = chattu.admin();
    // No simulated phone has this number.
    let res = http.add_number(
        &key,
        json!({"clientId": "ghost", "phoneNumber": "15550012345", "pairingMethod": "code"}),
    );
    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.json()["code"], "WHATSAPP_ERROR");
    // The client exists and still offers its QR code.
    chattu.wait_status(&key, "ghost", "Pending Authentication");
    let qr = http.send("GET", "/api/qr/ghost", &[("x-api-key", &key)], None);
    assert_eq!(qr.status, 200, "{}", qr.text());
}
