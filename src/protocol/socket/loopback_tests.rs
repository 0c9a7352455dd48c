//! The client and server transports talking over a real 127.0.0.1 socket.

use super::*;
use crate::protocol::crypto::KeyPair;
use crate::protocol::noise::cert::{make_simple_chain, CertSigningKey};
use crate::protocol::noise::{CertError, NoiseError, TrustedRoot};
use tokio::net::TcpListener;

struct Simulated {
    url: String,
    root: TrustedRoot,
    server: tokio::task::JoinHandle<Result<Vec<Vec<u8>>, SocketError>>,
}

/// A server that accepts one client, echoes every frame back prefixed with `echo:`, and returns
/// what it received plus the client's payload and routing info once the client closes.
async fn start_server() -> Simulated {
    let root = CertSigningKey::generate();
    let inter = CertSigningKey::generate();
    let static_key = KeyPair::generate();
    let chain = make_simple_chain(&root, &inter, &static_key.public, 0, u64::MAX);
    let config = ServerConfig::new(static_key, chain);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/chat", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener
            .accept()
            .await
            .map_err(|e| SocketError::BadUrl(e.to_string()))?;
        let accepted = accept(tcp, &config).await?;
        let mut seen = vec![
            accepted.identity.payload.clone(),
            accepted.routing_info.clone().unwrap_or_default(),
        ];
        let (mut writer, mut reader) = accepted.socket.into_split();
        while let Some(frame) = reader.recv().await? {
            writer.send(&[b"echo:".as_slice(), &frame].concat()).await?;
            seen.push(frame);
        }
        Ok(seen)
    });
    Simulated {
        url,
        root: root.as_trusted_root(),
        server,
    }
}

#[tokio::test]
async fn client_and_server_exchange_frames_over_loopback() {
    let sim = start_server().await;
    let config = ClientConfig {
        url: sim.url.clone(),
        trusted_root: sim.root,
        routing_info: Some(vec![8, 1, 16, 2]),
        ..ClientConfig::default()
    };
    let noise_key = KeyPair::generate();
    let mut conn = connect(&config, noise_key, b"client payload")
        .await
        .unwrap();
    for i in 0..50u32 {
        let body = [&[0u8][..], &i.to_be_bytes(), &vec![7u8; i as usize * 100]].concat();
        conn.socket.send(&body).await.unwrap();
        let back = conn.socket.recv().await.unwrap().unwrap();
        assert_eq!(back, [b"echo:".as_slice(), &body].concat());
    }
    conn.socket.close().await.unwrap();
    let seen = sim.server.await.unwrap().unwrap();
    assert_eq!(seen[0], b"client payload");
    assert_eq!(seen[1], vec![8, 1, 16, 2]);
    assert_eq!(seen.len(), 52);
}

#[tokio::test]
async fn a_client_that_trusts_another_root_refuses_the_server() {
    let sim = start_server().await;
    let config = ClientConfig {
        url: sim.url.clone(),
        ..ClientConfig::default()
    };
    let err = connect(&config, KeyPair::generate(), b"payload")
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            SocketError::Noise(NoiseError::Certificate(CertError::IntermediateSignature))
        ),
        "{err}"
    );
    // The server sees the client go away without finishing.
    assert!(sim.server.await.unwrap().is_err());
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws/chat", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    });
    let config = ClientConfig {
        url,
        handshake_timeout: std::time::Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let err = connect(&config, KeyPair::generate(), b"")
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SocketError::Timeout), "{err}");
    hold.abort();
}

#[tokio::test]
async fn an_oversized_frame_is_an_error_not_an_allocation() {
    let sim = start_server().await;
    let config = ClientConfig {
        url: sim.url.clone(),
        trusted_root: sim.root,
        max_frame_len: 1000,
        ..ClientConfig::default()
    };
    let mut conn = connect(&config, KeyPair::generate(), b"p").await.unwrap();
    // The echo comes back 5 bytes longer than the limit allows.
    conn.socket.send(&[0u8; 1000]).await.unwrap();
    let err = conn.socket.recv().await.err().unwrap();
    assert!(
        matches!(err, SocketError::Frame(FrameError::TooLarge { .. })),
        "{err}"
    );
    drop(conn);
    let _ = sim.server.await;
}
