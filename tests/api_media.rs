//! Media by URL end to end through `chattu serve --sandbox`: a file served by a small HTTP server in
//! the test on 127.0.0.1 (allowed through `[media] allowed_private_ips`, so every other private
//! address stays refused) is fetched by Chattu, uploaded encrypted to the simulator's media host
//! and reaches the simulated phone, which decrypts it to the very same bytes. Refused URLs
//! (content that does not match its extension, a redirect to a private address, loopback outside
//! the allow-list, other extensions, a mediaType that does not fit) answer 400 `MEDIA_ERROR` and
//! send nothing. Groups and channels take media with `mediaType`.

mod api_engine_support;

use api_engine_support::{create_phone, wait_for, Chattu, Http};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_PHONE: &str = "15550031001";
const FRIEND: &str = "15550031002";
const MEMBER: &str = "15550031003";

/// A JPEG-looking file: the JFIF magic, then bytes that differ from run to run.
fn jpeg() -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    let seed = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
    bytes.extend((0..40_000u64).map(|i| (seed.wrapping_mul(i + 1) >> 17) as u8));
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

fn pdf() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'%', 3_000));
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Webhook bodies the file server received on `POST /hook`.
type Hooks = Arc<Mutex<Vec<Value>>>;

/// Serves the test's files on 127.0.0.1 (and takes webhooks on `/hook`); returns the base URL.
fn file_server(photo: Vec<u8>, document: Vec<u8>) -> (String, Hooks) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind file server");
    let port = listener.local_addr().expect("addr").port();
    let hooks: Hooks = Arc::default();
    let received = hooks.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut reader = BufReader::new(conn);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" => break,
                    Ok(_) => {
                        let lower = header.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
            }
            if line.starts_with("POST /hook") {
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(json) = serde_json::from_slice(&body) {
                        received.lock().expect("hooks").push(json);
                    }
                }
            }
            let (status, extra, body): (&str, String, Vec<u8>) = match path.as_str() {
                "/hook" => ("200 OK", String::new(), b"{}".to_vec()),
                "/photos/sunset.jpg" => ("200 OK", String::new(), photo.clone()),
                "/files/Report%202025.pdf" => ("200 OK", String::new(), document.clone()),
                "/fake.jpg" => (
                    "200 OK",
                    String::new(),
                    b"<html>not a photo</html>".to_vec(),
                ),
                "/to-lan.jpg" => (
                    "302 Found",
                    "Location: http://10.0.0.1/photo.jpg\r\n".into(),
                    Vec::new(),
                ),
                _ => ("404 Not Found", String::new(), b"missing".to_vec()),
            };
            let mut conn = reader.into_inner();
            let head = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    (format!("http://127.0.0.1:{port}"), hooks)
}

fn send(http: &Http, key: &str, body: Value) -> (u16, Value) {
    let res = http.send(
        "POST",
        "/api/send-message",
        &[("x-api-key", key)],
        Some(body),
    );
    (res.status, res.json())
}

fn received(http: &Http, phone: &str) -> Vec<Value> {
    let res = http.get(&format!("/sim/phones/{phone}/messages"));
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["received"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn linked_sandbox() -> (Chattu, String, String) {
    let chattu = Chattu::start(
        &["--sandbox"],
        &[
            ("CHATTU_MEDIA_ALLOWED_PRIVATE_IPS", "127.0.0.1"),
            // Webhooks to the test's loopback server; media keeps its own, stricter rule.
            ("CHATTU_NETWORK_ALLOW_PRIVATE_ADDRESSES", "true"),
            ("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MIN_MS", "0"),
            ("CHATTU_WHATSAPP_GROUP_DELAY_MAX_MS", "0"),
        ],
    );
    let http = chattu.http();
    let (cookie, key) = chattu.admin();
    let added = http.add_number(
        &key,
        json!({"clientId": "shop", "phoneNumber": CLIENT_PHONE}),
    );
    assert_eq!(added.status, 200, "{}", added.text());
    let qr = added.json()["qrText"].as_str().expect("qrText").to_string();
    create_phone(&http, CLIENT_PHONE, "Shop");
    create_phone(&http, FRIEND, "Friend");
    create_phone(&http, MEMBER, "Member");
    let scan = http.post(
        &format!("/sim/phones/{CLIENT_PHONE}/scan"),
        json!({"qr": qr}),
    );
    assert_eq!(scan.status, 200, "{}", scan.text());
    chattu.wait_status(&key, "shop", "Authenticated");
    wait_for("prekeys", || {
        let phone = http.get(&format!("/sim/phones/{CLIENT_PHONE}")).json();
        (phone["devices"][0]["prekeys"].as_u64() > Some(0)).then_some(())
    });
    (chattu, cookie, key)
}

#[test]
fn an_image_by_url_reaches_the_phone_and_refused_urls_are_media_errors() {
    let (chattu, cookie, key) = linked_sandbox();
    let http = chattu.http();
    let (photo, document) = (jpeg(), pdf());
    let (base, hooks) = file_server(photo.clone(), document.clone());
    let set = http.send(
        "POST",
        "/api/update-webhook",
        &[("x-api-key", key.as_str())],
        Some(json!({"clientId": "shop", "webhookUrl": format!("{base}/hook")})),
    );
    assert_eq!(set.status, 200, "{}", set.text());

    // An image with a caption: the phone decrypts exactly the served bytes.
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": FRIEND, "message": "the sunset", "mediaUrl": format!("{base}/photos/sunset.jpg")}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["type"], "image");
    assert_eq!(body["message"]["body"], "the sunset");
    let id = body["messageId"].as_str().expect("messageId").to_string();
    let row = wait_for("the phone to receive the image", || {
        received(&http, FRIEND)
            .into_iter()
            .find(|m| m["id"] == id.as_str())
    });
    let media = &row["media"];
    assert_eq!(media["type"], "image", "{row}");
    assert_eq!(media["mimetype"], "image/jpeg");
    assert_eq!(media["caption"], "the sunset");
    assert_eq!(media["size"], photo.len());
    assert_eq!(media["sha256"], sha256_hex(&photo));
    assert!(media.get("error").is_none(), "{media}");
    let bytes = http.get(&format!("/sim/phones/{FRIEND}/media/{id}"));
    assert_eq!(bytes.status, 200);
    assert!(bytes.body == photo, "the decrypted file differs");
    // The chat view lists it as an image and serves the file that was sent.
    let messages = http
        .send(
            "GET",
            &format!("/api/chats/shop/{FRIEND}@c.us/messages"),
            &[("cookie", cookie.as_str())],
            None,
        )
        .json();
    let listed = messages["messages"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|m| m["id"]["_serialized"] == id.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("{id} not in the chat: {messages}"));
    assert_eq!(listed["type"], "image", "{listed}");
    assert_eq!(listed["hasMedia"], true);
    assert_eq!(listed["body"], "the sunset");
    assert_eq!(listed["filename"], "sunset.jpg");
    let stored = http.send(
        "GET",
        &format!("/api/chats/shop/media/{id}"),
        &[("cookie", cookie.as_str())],
        None,
    );
    assert_eq!(stored.status, 200);
    assert_eq!(stored.header("content-type").as_deref(), Some("image/jpeg"));
    assert!(stored.body == photo, "the stored copy differs");
    // The message_sent webhook describes the file.
    let event = wait_for("message_sent for the image", || {
        let all = hooks.lock().expect("hooks").clone();
        all.into_iter()
            .find(|e| e["event"] == "message_sent" && e["data"]["body"] == "the sunset")
    });
    assert_eq!(event["data"]["hasMedia"], true, "{event}");
    assert_eq!(event["data"]["mediaType"], "image");
    assert_eq!(event["data"]["mimetype"], "image/jpeg");
    assert_eq!(event["data"]["filename"], "sunset.jpg");
    assert_eq!(event["data"]["to"], FRIEND);

    // A PDF goes as a document under the name in its URL.
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": FRIEND, "mediaUrl": format!("{base}/files/Report%202025.pdf")}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"]["type"], "document");
    let id = body["messageId"].as_str().expect("messageId").to_string();
    let row = wait_for("the phone to receive the document", || {
        received(&http, FRIEND)
            .into_iter()
            .find(|m| m["id"] == id.as_str())
    });
    assert_eq!(row["media"]["type"], "document", "{row}");
    assert_eq!(row["media"]["mimetype"], "application/pdf");
    assert_eq!(row["media"]["filename"], "Report 2025.pdf");
    assert_eq!(row["media"]["sha256"], sha256_hex(&document));

    // Refused: nothing is sent.
    let before = received(&http, FRIEND).len();
    let port = base.rsplit(':').next().unwrap_or("0");
    for url in [
        format!("{base}/fake.jpg"),
        format!("{base}/to-lan.jpg"),
        format!("{base}/missing.png"),
        format!("http://127.0.0.2:{port}/photos/sunset.jpg"),
        format!("{base}/setup.exe"),
        "ftp://127.0.0.1/a.jpg".to_string(),
    ] {
        let (status, body) = send(
            &http,
            &key,
            json!({"clientId": "shop", "number": FRIEND, "message": "x", "mediaUrl": url}),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("MEDIA_ERROR")),
            "{url}: {body}"
        );
    }
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": FRIEND, "mediaUrl": format!("{base}/photos/sunset.jpg"), "mediaType": "audio"}),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("MEDIA_ERROR")),
        "{body}"
    );
    let (status, body) = send(
        &http,
        &key,
        json!({"clientId": "shop", "number": FRIEND, "mediaUrl": format!("{base}/photos/sunset.jpg"), "mediaType": "photo"}),
    );
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("mediaType")),
        "{body}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        received(&http, FRIEND).len(),
        before,
        "a refused URL sent something"
    );
}

#[test]
fn groups_take_media_with_its_type() {
    let (chattu, cookie, key) = linked_sandbox();
    let http = chattu.http();
    let photo = jpeg();
    let (base, _) = file_server(photo.clone(), pdf());
    let created = http.post(
        "/sim/groups",
        json!({"creator": MEMBER, "subject": "תמונות", "participants": [CLIENT_PHONE, FRIEND]}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let group = created.json()["id"].as_str().expect("id").to_string();
    let url = format!("{base}/photos/sunset.jpg");

    let keyed = |body: Value| {
        http.send(
            "POST",
            "/api/send-group-message",
            &[("x-api-key", key.as_str())],
            Some(body),
        )
    };
    // mediaType is required with mediaUrl, and must be one of the four words.
    let missing = keyed(json!({"clientId": "shop", "groupId": group, "mediaUrl": url}));
    assert_eq!(missing.status, 400, "{}", missing.text());
    assert_eq!(missing.json()["field"], "mediaType");
    let refused = keyed(
        json!({"clientId": "shop", "groupId": group, "mediaUrl": format!("{base}/fake.jpg"), "mediaType": "image"}),
    );
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["code"], "MEDIA_ERROR");

    let sent = keyed(
        json!({"clientId": "shop", "groupId": group, "message": "לכולם", "mediaUrl": url, "mediaType": "image"}),
    );
    assert_eq!(sent.status, 200, "{}", sent.text());
    let sent = sent.json();
    assert_eq!(sent["message"]["type"], "image");
    assert_eq!(sent["message"]["body"], "לכולם");
    assert_eq!(sent["groupName"], "תמונות");
    let id = sent["message"]["id"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    for phone in [FRIEND, MEMBER] {
        wait_for("the group image at each member", || {
            let inbox = http
                .get(&format!("/sim/groups/{group}/inbox/{phone}"))
                .json();
            inbox["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["id"] == id.as_str()))
                .then_some(())
        });
    }
    // A channel we own takes a file too (uploaded unencrypted, as channels are).
    let channel = http.post(
        "/sim/channels",
        json!({"owner": CLIENT_PHONE, "name": "ערוץ", "subscribers": [FRIEND]}),
    );
    assert_eq!(channel.status, 201, "{}", channel.text());
    let channel = channel.json()["id"].as_str().expect("id").to_string();
    let posted = keyed(
        json!({"clientId": "shop", "groupId": channel, "message": "בערוץ", "mediaUrl": url, "mediaType": "image"}),
    );
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert_eq!(posted.json()["message"]["type"], "image");
    let feed = http.get(&format!("/sim/channels/{channel}")).json();
    assert_eq!(feed["posts"].as_array().map(Vec::len), Some(1), "{feed}");
    assert_eq!(feed["posts"][0]["from"], CLIENT_PHONE);

    // From the dashboard, any accepted file may go as a document.
    let dashboard = http.send(
        "POST",
        &format!("/api/groups/shop/{group}/send"),
        &[("cookie", cookie.as_str())],
        Some(json!({"mediaUrl": url, "mediaType": "document"})),
    );
    assert_eq!(dashboard.status, 200, "{}", dashboard.text());
    assert_eq!(dashboard.json()["message"]["type"], "document");
}
