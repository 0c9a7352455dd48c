//! The client end of the connection, in nodes: [`crate::protocol::socket`] dials, runs the Noise
//! handshake (checking the server's certificates against the configured root) and moves encrypted
//! frames; this adapter adds the binary-node encoding and sorts failures for the engine.

use crate::protocol::binary::{self, Node};
use crate::protocol::crypto::KeyPair;
use crate::protocol::noise::{CertError, NoiseError, TrustedRoot};
use crate::protocol::socket::{self, ClientConfig, NoiseSocket, SocketError};
use std::fmt;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;

/// Why connecting or a live connection failed.
#[derive(Debug)]
pub enum WireError {
    /// The server's certificate chain is not from the root we trust.
    Untrusted(CertError),
    /// Anything else the socket reported (network, TLS, framing, a frame that did not decrypt).
    Socket(SocketError),
    Decode(String),
    Encode(String),
    /// The server closed the connection.
    Closed,
}

impl WireError {
    /// True when retrying cannot help without a configuration change.
    pub fn is_untrusted(&self) -> bool {
        matches!(self, WireError::Untrusted(_))
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Untrusted(e) => write!(f, "server refused: {e}"),
            WireError::Socket(e) => write!(f, "{e}"),
            WireError::Decode(e) => write!(f, "undecodable node: {e}"),
            WireError::Encode(e) => write!(f, "unencodable node: {e}"),
            WireError::Closed => f.write_str("connection closed by the server"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<SocketError> for WireError {
    fn from(e: SocketError) -> Self {
        match e {
            SocketError::Noise(NoiseError::Certificate(c)) => WireError::Untrusted(c),
            SocketError::Closed => WireError::Closed,
            other => WireError::Socket(other),
        }
    }
}

/// An established, authenticated connection to the server.
pub struct ClientConn {
    socket: NoiseSocket<MaybeTlsStream<TcpStream>>,
}

/// Connects to `url`, runs the handshake with our `noise_key`, checks the server against `root`, and
/// sends `payload` (an encoded ClientPayload). The whole exchange is bounded by `timeout`.
pub async fn connect(
    url: &str,
    noise_key: &KeyPair,
    root: TrustedRoot,
    payload: &[u8],
    timeout: Duration,
) -> Result<ClientConn, WireError> {
    connect_trusting(url, None, noise_key, root, payload, timeout).await
}

/// Like [`connect`]; for `wss://` URLs, `tls_certificate` (DER) is the only TLS certificate trusted
/// when given (a simulator's self-signed one), else the webpki roots are.
pub async fn connect_trusting(
    url: &str,
    tls_certificate: Option<&[u8]>,
    noise_key: &KeyPair,
    root: TrustedRoot,
    payload: &[u8],
    timeout: Duration,
) -> Result<ClientConn, WireError> {
    let config = ClientConfig {
        url: url.to_string(),
        trusted_root: root,
        handshake_timeout: timeout,
        tls_certificate: tls_certificate.map(<[u8]>::to_vec),
        ..ClientConfig::default()
    };
    let connection = socket::connect(&config, noise_key.clone(), payload).await?;
    Ok(ClientConn {
        socket: connection.socket,
    })
}

impl ClientConn {
    /// Encodes and sends one node.
    pub async fn send(&mut self, node: &Node) -> Result<(), WireError> {
        let plain = binary::encode(node).map_err(|e| WireError::Encode(e.to_string()))?;
        Ok(self.socket.send(&plain).await?)
    }

    /// The next node from the server. Cancel-safe: a frame is only consumed once whole.
    pub async fn recv(&mut self) -> Result<Node, WireError> {
        let plain = self.socket.recv().await?.ok_or(WireError::Closed)?;
        binary::decode(&plain).map_err(|e| WireError::Decode(e.to_string()))
    }

    /// Closes the WebSocket (best effort, bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.socket.close()).await;
    }
}
