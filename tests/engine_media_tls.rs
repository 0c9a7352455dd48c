//! Media with a simulator served over TLS: the engine told to trust the simulator's certificate
//! (`EngineConfig::tls_certificate`) reaches its media host over https with that trust too, so a
//! file uploads and the phone downloads and decrypts it, and a phone's file downloads back.

mod companion_support;

use base64::Engine as _;
use chattu::engine::media::{MediaKind, MediaScheme, OutgoingMedia};
use chattu::engine::messaging::{EngineEvent, MessagingSetup, NoSink, SignalDb};
use chattu::engine::signal_prekeys::RedbPreKeys;
use chattu::engine::{self, EngineConfig, EngineStatus, MemoryCredentialStore};
use chattu::protocol::jid::Jid;
use chattu::simulator::Simulator;
use companion_support::{https, PATIENCE};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::test]
async fn media_goes_both_ways_over_https_with_the_simulators_certificate() {
    let sim = Simulator::default()
        .serve_tls(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let cert = sim.tls_certificate().expect("certificate");
    let base = sim.http_base();
    for phone in ["15550012001", "15550012002"] {
        let body = Some(json!({ "phone": phone }));
        https("POST", format!("{base}/sim/phones"), cert.clone(), body).await;
    }
    let dir = std::env::temp_dir().join(format!("chattu-media-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveOnDrop(dir.clone());
    let db: Arc<dyn SignalDb> = Arc::new(redb::Database::create(dir.join("s.redb")).unwrap());
    let mut config = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
    assert_eq!(config.media_scheme, MediaScheme::Https);
    config.tls_certificate = Some(cert.clone());
    let engine = engine::start_messaging(
        config,
        Arc::new(MemoryCredentialStore::new()),
        Arc::new(RedbPreKeys::new(db.clone(), "tls")),
        MessagingSetup {
            db,
            namespace: "tls".into(),
            sink: Arc::new(NoSink),
        },
    );
    let qr = match tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::PendingAuth { .. })),
    )
    .await
    {
        Ok(EngineStatus::PendingAuth { qr, .. }) => qr,
        other => panic!("no QR: {other:?}"),
    };
    let scan = Some(json!({ "qr": qr }));
    https(
        "POST",
        format!("{base}/sim/phones/15550012001/scan"),
        cert.clone(),
        scan,
    )
    .await;
    let status = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(
        matches!(status, Ok(EngineStatus::Connected { .. })),
        "{status:?}"
    );
    let mut events = engine.events().unwrap();

    let media = OutgoingMedia {
        kind: MediaKind::Document,
        bytes: (0..4000u32).map(|i| (i * 11) as u8).collect(),
        mimetype: "application/pdf".into(),
        filename: Some("tls.pdf".into()),
        caption: None,
    };
    let friend = Jid::phone("15550012002");
    let mut attempt = 0;
    let sent = loop {
        match engine.send_media(&friend, media.clone()).await {
            Ok(sent) => break sent,
            // Prekeys may still be on their way right after login.
            Err(e) if attempt < 40 => {
                attempt += 1;
                eprintln!("not sent yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("send_media over https: {e}"),
        }
    };
    let mut row = Value::Null;
    for _ in 0..200 {
        let url = format!("{base}/sim/phones/15550012002/messages");
        let (_, body) = https("GET", url, cert.clone(), None).await;
        if let Some(found) = body["received"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == sent.id.as_str()))
        {
            row = found.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(row["media"]["error"], Value::Null, "{row}");
    assert_eq!(row["media"]["size"], 4000, "{row}");

    let back: Vec<u8> = (0..3000u32).map(|i| (i * 5 + 2) as u8).collect();
    let (_, answer) = https(
        "POST",
        format!("{base}/sim/phones/15550012002/messages"),
        cert.clone(),
        Some(json!({
            "to": "15550012001",
            "mediaType": "image",
            "mediaBase64": base64::engine::general_purpose::STANDARD.encode(&back),
            "mimetype": "image/png",
        })),
    )
    .await;
    let id = answer["id"].as_str().expect("message id").to_string();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let received = loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(EngineEvent::MessageReceived(m))) if m.id == id => break m,
            Ok(Ok(_)) => {}
            other => panic!("the image never came: {other:?}"),
        }
    };
    let got = received.media.expect("media");
    assert_eq!(got.error, None);
    assert_eq!(got.bytes.as_deref(), Some(back.as_slice()));
    engine.shutdown().await;
    sim.shutdown().await;
}

/// Removes the directory when the test ends, passed or not.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
