//! The simulator over TLS (`Simulator::serve_tls`): the control API answers on https:// and the
//! engine pairs and logs in over wss:// when told to trust the simulator's self-signed certificate;
//! without that trust, or trusting another certificate, the TLS handshake is refused.

mod companion_support;

use chattu::engine::client_payload::registration_payload;
use chattu::engine::{self, DeviceCreds, EngineConfig, EngineStatus, MemoryCredentialStore};
use chattu::simulator::Simulator;
use companion_support::{https, PATIENCE};
use serde_json::json;
use std::sync::Arc;
use tokio::net::TcpListener;

#[tokio::test]
async fn engine_pairs_and_logs_in_over_wss_when_it_trusts_the_certificate() {
    let sim = Simulator::default()
        .serve_tls(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    assert!(sim.ws_url().starts_with("wss://127.0.0.1:"));
    assert!(sim.http_base().starts_with("https://"));
    let cert = sim.tls_certificate().expect("no certificate");
    assert!(sim
        .tls_certificate_pem()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let base = sim.http_base();
    let (status, _) = https(
        "POST",
        format!("{base}/sim/phones"),
        cert.clone(),
        Some(json!({ "phone": "15550009101" })),
    )
    .await;
    assert_eq!(status, 201);

    let mut config = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
    config.tls_certificate = Some(cert.clone());
    let store = Arc::new(MemoryCredentialStore::new());
    let engine = engine::start(config, store.clone());
    let qr = match tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::PendingAuth { .. })),
    )
    .await
    {
        Ok(EngineStatus::PendingAuth { qr, .. }) => qr,
        other => panic!("no QR over wss: {other:?}"),
    };
    let (status, linked) = https(
        "POST",
        format!("{base}/sim/phones/15550009101/scan"),
        cert.clone(),
        Some(json!({ "qr": qr })),
    )
    .await;
    assert_eq!(status, 200, "{linked}");
    let connected = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(
        matches!(connected, Ok(EngineStatus::Connected { .. })),
        "{connected:?}"
    );
    let (_, phone) = https("GET", format!("{base}/sim/phones/15550009101"), cert, None).await;
    assert_eq!(phone["devices"][0]["connected"], true);
    engine.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn wss_is_refused_without_trusting_the_certificate() {
    let sim = Simulator::default()
        .serve_tls(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let other = Simulator::default()
        .serve_tls(TcpListener::bind("127.0.0.1:0").await.unwrap())
        .unwrap();
    let creds = DeviceCreds::generate();
    let payload = registration_payload(&creds, None);
    let connect = |cert: Option<Vec<u8>>| {
        let url = sim.ws_url();
        let root = sim.trusted_root();
        let key = creds.noise_key.clone();
        let payload = payload.clone();
        async move {
            chattu::engine::wire::connect_trusting(
                &url,
                cert.as_deref(),
                &key,
                root,
                &payload,
                PATIENCE,
            )
            .await
        }
    };
    // The webpki roots do not know it, and another simulator's certificate is not it.
    for cert in [None, other.tls_certificate()] {
        let refused = connect(cert).await;
        let error = refused
            .err()
            .expect("connected without trusting the certificate");
        assert!(
            error.to_string().to_lowercase().contains("certificate"),
            "{error}"
        );
    }
    // Trusting it, the handshake completes and registration starts (pair-device refs).
    let mut conn = connect(sim.tls_certificate()).await.unwrap();
    let first = tokio::time::timeout(PATIENCE, conn.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.child("pair-device").is_some(), "{first}");
    conn.close().await;
    other.shutdown().await;
    sim.shutdown().await;
}
