//! Connecting (client) and accepting (simulator server) WhatsApp WebSocket connections, with the
//! Noise handshake run over them.
//!
//! The client dials `wss://web.whatsapp.com/ws/chat` by default with `Origin: https://web.whatsapp.com`;
//! TLS is rustls with the ring provider and the webpki root set. `ws://` URLs work too, for the local
//! simulator. The server side accepts any byte stream (a TCP stream, or an upgraded hyper connection
//! wrapped by the caller) and runs the responder handshake.

use super::frame::{FrameDecoder, MAX_FRAME_LEN};
use super::noise_socket::{read_raw_frame, NoiseSocket, SocketError};
use crate::protocol::crypto::KeyPair;
use crate::protocol::noise::{
    ClientHandshake, ClientIdentity, ServerHandshake, TrustedRoot, VerifiedChain,
};
use futures_util::SinkExt;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// WhatsApp Web's WebSocket endpoint.
pub const DEFAULT_URL: &str = "wss://web.whatsapp.com/ws/chat";
/// The Origin header WhatsApp Web sends.
pub const DEFAULT_ORIGIN: &str = "https://web.whatsapp.com";
/// How long a handshake may take (whatsmeow and Baileys both use 20 s).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// How the client connects.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `wss://…` in production, `ws://127.0.0.1:…` for the simulator.
    pub url: String,
    pub origin: String,
    /// The certificate root the server's chain must start at.
    pub trusted_root: TrustedRoot,
    /// Edge routing info from a previous `<edge_routing>` stanza, sent in the `ED` pre-intro.
    pub routing_info: Option<Vec<u8>>,
    pub handshake_timeout: Duration,
    /// Largest frame accepted from the server.
    pub max_frame_len: usize,
    /// Certificate dates are checked against this Unix time instead of the system clock.
    pub now: Option<u64>,
    /// For `wss://`: trust only this TLS certificate (DER), such as a simulator's self-signed one,
    /// instead of the webpki roots.
    pub tls_certificate: Option<Vec<u8>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            url: DEFAULT_URL.to_string(),
            origin: DEFAULT_ORIGIN.to_string(),
            trusted_root: TrustedRoot::whatsapp(),
            routing_info: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame_len: MAX_FRAME_LEN,
            now: None,
            tls_certificate: None,
        }
    }
}

/// WebSocket limits matching the frame limit: a peer cannot make us buffer a message much larger than
/// one frame (tungstenite's own default would allow 64 MiB).
fn ws_limits(max_frame_len: usize) -> WebSocketConfig {
    let max_message = max_frame_len.saturating_add(64 * 1024);
    WebSocketConfig {
        max_message_size: Some(max_message),
        max_frame_size: Some(max_message),
        ..WebSocketConfig::default()
    }
}

/// A connected, authenticated client socket and what the server's certificate established.
pub struct ClientConnection {
    pub socket: NoiseSocket<MaybeTlsStream<TcpStream>>,
    pub chain: VerifiedChain,
}

async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, SocketError>>,
) -> Result<T, SocketError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(SocketError::Timeout))
}

/// Dials `config.url`, runs the client handshake with the device's `noise_key` and a fresh
/// ephemeral key, and sends `client_payload` (an encoded ClientPayload) in the ClientFinish.
pub async fn connect(
    config: &ClientConfig,
    noise_key: KeyPair,
    client_payload: &[u8],
) -> Result<ClientConnection, SocketError> {
    // rustls needs a process-wide provider; ring is the only one compiled in. Installing twice is
    // harmless (the second call reports the first and changes nothing).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut request = config
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| SocketError::BadUrl(e.to_string()))?;
    let origin =
        HeaderValue::from_str(&config.origin).map_err(|e| SocketError::BadUrl(e.to_string()))?;
    request.headers_mut().insert("Origin", origin);
    let connector = match &config.tls_certificate {
        Some(der) => Some(trusting_only(der)?),
        None => None,
    };
    within(config.handshake_timeout, async {
        let (ws, _response) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(ws_limits(config.max_frame_len)),
            true,
            connector,
        )
        .await?;
        let (socket, chain) =
            client_handshake_inner(ws, config, noise_key, KeyPair::generate(), client_payload)
                .await?;
        Ok(ClientConnection { socket, chain })
    })
    .await
}

/// A TLS connector that trusts exactly one certificate (DER).
fn trusting_only(der: &[u8]) -> Result<tokio_tungstenite::Connector, SocketError> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(der.to_vec()))
        .map_err(|e| SocketError::BadUrl(format!("unusable TLS certificate: {e}")))?;
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(std::sync::Arc::new(
        tls,
    )))
}

/// Runs the client handshake over an already open WebSocket, with an explicit ephemeral key.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
    config: &ClientConfig,
    noise_key: KeyPair,
    ephemeral: KeyPair,
    client_payload: &[u8],
) -> Result<(NoiseSocket<S>, VerifiedChain), SocketError> {
    within(
        config.handshake_timeout,
        client_handshake_inner(ws, config, noise_key, ephemeral, client_payload),
    )
    .await
}

async fn client_handshake_inner<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocketStream<S>,
    config: &ClientConfig,
    noise_key: KeyPair,
    ephemeral: KeyPair,
    client_payload: &[u8],
) -> Result<(NoiseSocket<S>, VerifiedChain), SocketError> {
    let mut handshake = ClientHandshake::new(noise_key, ephemeral, config.trusted_root)
        .with_routing_info(config.routing_info.clone());
    if let Some(now) = config.now {
        handshake = handshake.with_now(now);
    }
    ws.send(Message::Binary(handshake.client_hello_frame()?))
        .await?;
    let mut decoder = FrameDecoder::new(config.max_frame_len);
    let server_hello = read_raw_frame(&mut ws, &mut decoder)
        .await?
        .ok_or(SocketError::Closed)?;
    let finish = handshake.read_server_hello(&server_hello, client_payload)?;
    ws.send(Message::Binary(finish.frame)).await?;
    let transport = handshake.into_transport()?;
    Ok((NoiseSocket::new(ws, transport, decoder), finish.chain))
}

/// What the simulator's server needs to answer handshakes.
#[derive(Clone)]
pub struct ServerConfig {
    /// The server's static noise key (the leaf certificate's key).
    pub static_key: KeyPair,
    /// The encoded CertChain sent to every client.
    pub cert_chain: Vec<u8>,
    pub handshake_timeout: Duration,
    /// Largest frame accepted from a client.
    pub max_frame_len: usize,
}

impl ServerConfig {
    /// A config with the default timeout and frame limit.
    pub fn new(static_key: KeyPair, cert_chain: Vec<u8>) -> ServerConfig {
        ServerConfig {
            static_key,
            cert_chain,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

/// A client that finished the handshake.
pub struct AcceptedClient<S> {
    pub socket: NoiseSocket<S>,
    /// The client's noise key and its decrypted (still encoded) ClientPayload.
    pub identity: ClientIdentity,
    /// Routing info from an `ED` pre-intro, if the client sent one.
    pub routing_info: Option<Vec<u8>>,
}

/// Performs the WebSocket upgrade on `stream` and then the responder handshake.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: &ServerConfig,
) -> Result<AcceptedClient<S>, SocketError> {
    within(config.handshake_timeout, async {
        let ws = tokio_tungstenite::accept_async_with_config(
            stream,
            Some(ws_limits(config.max_frame_len)),
        )
        .await?;
        server_handshake_inner(ws, config).await
    })
    .await
}

/// Runs the responder handshake over an already upgraded WebSocket.
pub async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    ws: WebSocketStream<S>,
    config: &ServerConfig,
) -> Result<AcceptedClient<S>, SocketError> {
    within(config.handshake_timeout, server_handshake_inner(ws, config)).await
}

async fn server_handshake_inner<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocketStream<S>,
    config: &ServerConfig,
) -> Result<AcceptedClient<S>, SocketError> {
    let mut decoder = FrameDecoder::server_side(config.max_frame_len);
    let hello = read_raw_frame(&mut ws, &mut decoder)
        .await?
        .ok_or(SocketError::Closed)?;
    let prologue = decoder.intro_header().ok_or(SocketError::Closed)?;
    let routing_info = decoder.routing_info().map(<[u8]>::to_vec);
    let mut handshake = ServerHandshake::new(
        config.static_key.clone(),
        KeyPair::generate(),
        config.cert_chain.clone(),
    )
    .with_prologue(prologue);
    ws.send(Message::Binary(handshake.read_client_hello(&hello)?))
        .await?;
    let finish = read_raw_frame(&mut ws, &mut decoder)
        .await?
        .ok_or(SocketError::Closed)?;
    let identity = handshake.read_client_finish(&finish)?;
    let transport = handshake.into_transport()?;
    Ok(AcceptedClient {
        socket: NoiseSocket::new(ws, transport, decoder),
        identity,
        routing_info,
    })
}
