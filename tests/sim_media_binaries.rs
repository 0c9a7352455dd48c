//! The media host and the phones' media in the shipped binary: `chattu sim` serves the upload and
//! download routes on its listener, and its phones (and those of `chattu serve --sandbox`, through
//! `/sim/` on Chattu's own listener) send and decrypt images.

mod api_engine_support;

use api_engine_support::{Chattu, Http, Sim};
use base64::Engine as _;
use chattu::protocol::crypto::sha256;
use serde_json::json;

/// Two phones; the first sends the second an image; the second lists and returns it decrypted.
fn phone_to_phone_image(http: &Http, alice: &str, bob: &str) {
    for phone in [alice, bob] {
        let created = http.post("/sim/phones", json!({ "phone": phone }));
        assert_eq!(created.status, 201, "{}", created.text());
    }
    let image: Vec<u8> = (0..30_000u32).map(|i| (i % 253) as u8).collect();
    let sent = http.post(
        &format!("/sim/phones/{alice}/messages"),
        json!({
            "to": bob,
            "mediaType": "image",
            "caption": "from the binary",
            "mediaBase64": base64::engine::general_purpose::STANDARD.encode(&image),
        }),
    );
    assert_eq!(sent.status, 201, "{}", sent.text());
    let id = sent.json()["id"].as_str().unwrap().to_string();
    let inbox = http.get(&format!("/sim/phones/{bob}/messages")).json();
    let media = &inbox["received"][0]["media"];
    let expected: String = sha256(&image).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(media["sha256"], expected.as_str(), "{inbox}");
    assert_eq!(media["mimetype"], "image/jpeg");
    let file = http.get(&format!("/sim/phones/{bob}/media/{id}"));
    assert_eq!(file.status, 200);
    assert_eq!(file.header("content-type").as_deref(), Some("image/jpeg"));
    assert_eq!(file.body, image);
}

#[test]
fn chattu_sim_serves_the_media_host_and_phone_media() {
    let sim = Sim::start();
    let http = sim.http();
    let refused = http.send(
        "POST",
        "/mms/image/AAAA?auth=unknown&token=AAAA",
        &[],
        Some(json!({})),
    );
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert_eq!(refused.json()["code"], "BAD_AUTH");
    let missing = http.get("/v/t62.7118-24/nothing.enc?ccb=11-4");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], "MEDIA_NOT_FOUND");
    phone_to_phone_image(&http, "15550007401", "15550007402");
}

#[test]
fn the_sandbox_serves_phone_media_on_chattus_listener() {
    let chattu = Chattu::sandbox();
    phone_to_phone_image(&chattu.http(), "15550007501", "15550007502");
    // On Chattu's listener the phones fetch a mediaUrl under Chattu's [media] address policy:
    // a loopback address is refused by default, as for the send routes...
    let url = serve_one_jpeg(2);
    let refused = chattu.http().post(
        "/sim/phones/15550007501/messages",
        json!({"to": "15550007502", "mediaType": "image", "mediaUrl": url}),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["code"], "MEDIA_FETCH_FAILED");
    assert!(refused.text().contains("address"), "{}", refused.text());
    // ...while the standalone simulator, a test tool, fetches the same file.
    let sim = Sim::start();
    let http = sim.http();
    for phone in ["15550007503", "15550007504"] {
        assert_eq!(
            http.post("/sim/phones", json!({ "phone": phone })).status,
            201
        );
    }
    let sent = http.post(
        "/sim/phones/15550007503/messages",
        json!({"to": "15550007504", "mediaType": "image", "mediaUrl": url}),
    );
    assert_eq!(sent.status, 201, "{}", sent.text());
}

/// Serves a small JPEG on a loopback port for `requests` requests; returns its URL.
fn serve_one_jpeg(requests: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/photo.jpg", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend((0..2000u32).map(|i| (i % 251) as u8));
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                jpeg.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&jpeg);
        }
    });
    url
}
