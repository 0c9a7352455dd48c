//! The simulator's media host and the simulated phones' media, over real sockets: a logged-in
//! companion asks `media_conn` for an upload token, uploads an encrypted file over HTTP and downloads
//! it by direct path (bad auth and a wrong hash refused); channel media uploads answer a handle; a
//! phone sends an image and a document (fetched from a URL) to another phone, which downloads,
//! verifies and decrypts them.

use base64::Engine as _;
use chattu::engine::client_payload::login_payload;
use chattu::engine::wire::{self, ClientConn};
use chattu::protocol::binary::Node;
use chattu::protocol::crypto::{random_bytes, sha256};
use chattu::protocol::media::{self, MediaKeys, MediaType};
use chattu::simulator::{Simulator, SimulatorHandle};
use serde_json::{json, Value};
use std::io::{Read, Write};
use tokio::net::TcpListener;

mod companion_support;
use companion_support::{paired_creds, post, PATIENCE};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

async fn start() -> SimulatorHandle {
    Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap()
}

/// Pairs a companion of `phone`, logs it in and asks `media_conn`: returns (auth, hostname).
async fn media_conn(sim: &SimulatorHandle, phone: &str) -> (String, String) {
    let creds = paired_creds(sim, phone).await;
    let paired = creds.paired.as_ref().unwrap();
    let payload = login_payload(paired.phone.parse().unwrap(), paired.device, None);
    let mut conn: ClientConn = wire::connect(
        &sim.ws_url(),
        &creds.noise_key,
        sim.trusted_root(),
        &payload,
        PATIENCE,
    )
    .await
    .unwrap();
    let iq = Node::new("iq")
        .with_attr("id", "mc-1")
        .with_attr("xmlns", "w:m")
        .with_attr("type", "set")
        .with_attr("to", "s.whatsapp.net")
        .with_child(Node::new("media_conn"));
    conn.send(&iq).await.unwrap();
    loop {
        let node = tokio::time::timeout(PATIENCE, conn.recv())
            .await
            .expect("no media_conn answer")
            .unwrap();
        if node.tag == "iq" && node.attr("id") == Some("mc-1") {
            assert_eq!(node.attr("type"), Some("result"));
            let mc = node.child("media_conn").expect("media_conn child");
            assert_eq!(mc.attr("ttl"), Some("300"));
            let host = mc.child("host").and_then(|h| h.attr("hostname")).unwrap();
            return (mc.attr("auth").unwrap().to_string(), host.to_string());
        }
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POSTs raw bytes; returns the status and the JSON answer.
async fn upload(url: String, body: Vec<u8>) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let response = match ureq::post(&url)
            .set("Origin", "https://web.whatsapp.com")
            .set("Content-Type", "application/octet-stream")
            .send_bytes(&body)
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        (
            response.status(),
            response.into_json().unwrap_or(Value::Null),
        )
    })
    .await
    .unwrap()
}

/// GETs bytes; returns the status, the Content-Type and the body.
async fn get_bytes(url: String) -> (u16, String, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let response = match ureq::get(&url).timeout(PATIENCE).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{url}: {e}"),
        };
        let status = response.status();
        let content_type = response.content_type().to_string();
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).unwrap();
        (status, content_type, body)
    })
    .await
    .unwrap()
}

async fn get_json(url: String) -> Value {
    let (status, _, body) = get_bytes(url).await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn encrypted_upload_and_download_by_direct_path() {
    let sim = start().await;
    let (auth, host) = media_conn(&sim, "15550007001").await;
    assert_eq!(host, sim.addr.to_string());
    let plain: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let media_key = random_bytes::<32>();
    let keys = MediaKeys::derive(&media_key, MediaType::Image);
    let enc = media::encrypt(&keys, &plain);
    // whatsmeow keeps the base64 padding of the token, Baileys strips it: both are accepted.
    let token = base64::engine::general_purpose::URL_SAFE.encode(enc.file_enc_sha256);
    let upload_url = |auth: &str| {
        format!(
            "http://{host}/mms/image/{token}?auth={}&token={token}",
            url_encode(auth)
        )
    };
    let (status, bad) = upload(upload_url("not-a-token"), enc.data.clone()).await;
    assert_eq!((status, bad["code"].as_str()), (401, Some("BAD_AUTH")));
    let wrong_hash = format!(
        "http://{host}/mms/image/{}?auth={}",
        B64URL.encode(sha256(b"something else")),
        url_encode(&auth)
    );
    let (status, _) = upload(wrong_hash, enc.data.clone()).await;
    assert_eq!(status, 400);

    let (status, answer) = upload(upload_url(&auth), enc.data.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let direct_path = answer["direct_path"].as_str().unwrap();
    assert!(direct_path.starts_with("/v/t62.7118-24/"), "{direct_path}");
    assert!(direct_path.contains(".enc?ccb="), "{direct_path}");
    assert_eq!(
        answer["url"].as_str().unwrap(),
        format!("http://{host}{direct_path}")
    );
    // whatsmeow appends its own query to the direct path, which already has one.
    let download = format!(
        "http://{host}{direct_path}&hash={}&mms-type=image&__wa-mms=",
        B64URL.encode(enc.file_enc_sha256)
    );
    let (status, _, body) = get_bytes(download).await;
    assert_eq!(status, 200);
    assert_eq!(
        body, enc.data,
        "the host stores and returns the blob as uploaded"
    );
    let decrypted =
        media::decrypt_verified(&keys, &body, &enc.file_enc_sha256, &enc.file_sha256).unwrap();
    assert_eq!(decrypted, plain);
    let (status, _, _) = get_bytes(format!("http://{host}/v/t62.7118-24/nothing.enc")).await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn channel_media_is_uploaded_plain_and_answers_a_handle() {
    let sim = start().await;
    let (auth, host) = media_conn(&sim, "15550007101").await;
    let plain = b"\x89PNG\r\n\x1a\n not really a picture".to_vec();
    let hash = B64URL.encode(sha256(&plain));
    let url = format!(
        "http://{host}/newsletter/newsletter-image/{hash}?auth={}&token={hash}",
        url_encode(&auth)
    );
    let (status, answer) = upload(url, plain.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert!(!answer["handle"].as_str().unwrap().is_empty());
    let direct_path = answer["direct_path"].as_str().unwrap();
    let (status, _, body) = get_bytes(format!("http://{host}{direct_path}")).await;
    assert_eq!((status, body), (200, plain));
    let (status, _) = upload(
        format!("http://{host}/newsletter/newsletter-image/{hash}?auth=wrong"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 401);
    sim.shutdown().await;
}

async fn two_phones(sim: &SimulatorHandle, a: &str, b: &str) {
    for phone in [a, b] {
        let (status, _) = post(
            format!("{}/sim/phones", sim.http_base()),
            json!({ "phone": phone }),
        )
        .await;
        assert_eq!(status, 201);
    }
}

#[tokio::test]
async fn a_phone_sends_an_image_that_the_other_phone_decrypts() {
    let sim = start().await;
    let (alice, bob) = ("15550007201", "15550007202");
    two_phones(&sim, alice, bob).await;
    let image: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let (status, sent) = post(
        format!("{}/sim/phones/{alice}/messages", sim.http_base()),
        json!({
            "to": bob,
            "mediaType": "image",
            "mimetype": "image/png",
            "caption": "look",
            "mediaBase64": base64::engine::general_purpose::STANDARD.encode(&image),
        }),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let inbox = get_json(format!("{}/sim/phones/{bob}/messages", sim.http_base())).await;
    let row = &inbox["received"][0];
    assert_eq!(row["id"], id);
    assert_eq!(row["text"], "look");
    let m = &row["media"];
    assert_eq!(m["type"], "image");
    assert_eq!(m["mimetype"], "image/png");
    assert_eq!(m["caption"], "look");
    assert_eq!(m["size"], image.len() as u64);
    assert_eq!(m["sha256"], hex(&sha256(&image)));
    assert!(m.get("error").is_none(), "{m}");
    let (status, content_type, body) =
        get_bytes(format!("{}/sim/phones/{bob}/media/{id}", sim.http_base())).await;
    assert_eq!((status, content_type.as_str()), (200, "image/png"));
    assert_eq!(body, image);
    // The sender keeps no decrypted copy of its own send; unknown ids are 404.
    let (status, _, _) =
        get_bytes(format!("{}/sim/phones/{alice}/media/{id}", sim.http_base())).await;
    assert_eq!(status, 404);
    let (status, bad) = post(
        format!("{}/sim/phones/{alice}/messages", sim.http_base()),
        json!({ "to": bob, "mediaType": "hologram", "mediaBase64": "AAAA" }),
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("VALIDATION_ERROR"))
    );
    let (status, bad) = post(
        format!("{}/sim/phones/{alice}/messages", sim.http_base()),
        json!({ "to": "120363000000000001@newsletter", "mediaType": "image", "mediaBase64": "AAAA" }),
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (400, Some("UNSUPPORTED_TARGET"))
    );
    let (status, bad) = post(
        format!("{}/sim/phones/{alice}/messages", sim.http_base()),
        json!({ "to": "120363000000000001@g.us", "mediaType": "image", "mediaBase64": "AAAA" }),
    )
    .await;
    assert_eq!(
        (status, bad["code"].as_str()),
        (404, Some("GROUP_NOT_FOUND"))
    );
    sim.shutdown().await;
}

/// Serves `body` once, as `content_type`, on a loopback port; returns the file's URL.
fn serve_file_once(name: &str, content_type: &'static str, body: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/files/{name}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[tokio::test]
async fn a_document_from_a_url_arrives_with_its_file_name() {
    let sim = start().await;
    let (alice, bob) = ("15550007301", "15550007302");
    two_phones(&sim, alice, bob).await;
    let pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".repeat(40);
    let url = serve_file_once("report.pdf", "application/pdf", pdf.clone());
    let (status, sent) = post(
        format!("{}/sim/phones/{alice}/messages", sim.http_base()),
        json!({ "to": format!("{bob}@s.whatsapp.net"), "mediaType": "document", "mediaUrl": url }),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let id = sent["id"].as_str().unwrap();
    let inbox = get_json(format!("{}/sim/phones/{bob}/messages", sim.http_base())).await;
    let m = &inbox["received"][0]["media"];
    assert_eq!(m["type"], "document");
    assert_eq!(m["filename"], "report.pdf");
    assert_eq!(m["mimetype"], "application/pdf");
    assert_eq!(m["sha256"], hex(&sha256(&pdf)));
    let (status, content_type, body) =
        get_bytes(format!("{}/sim/phones/{bob}/media/{id}", sim.http_base())).await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));
    assert_eq!(body, pdf);
    // A caption and an explicit name: the document travels inside documentWithCaptionMessage.
    let (status, sent) = post(
        format!("{}/sim/phones/{alice}/messages", sim.http_base()),
        json!({
            "to": bob, "mediaType": "document", "filename": "notes.txt", "mimetype": "text/plain",
            "caption": "the notes", "mediaBase64": base64::engine::general_purpose::STANDARD.encode("hello"),
        }),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let inbox = get_json(format!("{}/sim/phones/{bob}/messages", sim.http_base())).await;
    let m = &inbox["received"][1]["media"];
    assert_eq!(
        (&m["filename"], &m["caption"], &m["size"]),
        (&json!("notes.txt"), &json!("the notes"), &json!(5))
    );
    sim.shutdown().await;
}
