//! The client end of the connection: WebSocket, the Noise initiator handshake with certificate checks
//! against the configured root, then binary nodes in encrypted frames.

use crate::protocol::binary::{self, Node};
use crate::protocol::crypto::KeyPair;
use crate::protocol::noise::{CertError, ClientHandshake, NoiseError, NoiseTransport, TrustedRoot};
use crate::protocol::socket::frame::frame;
use crate::protocol::socket::{FrameDecoder, FrameError};
use futures_util::{SinkExt, StreamExt};
use std::fmt;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Largest frame we accept from the server (whatsmeow's limit).
const MAX_SERVER_FRAME: usize = 16 << 20;
/// The Origin WhatsApp Web sends.
const ORIGIN: &str = "https://web.whatsapp.com";

/// Why connecting or a live connection failed.
#[derive(Debug)]
pub enum WireError {
    /// The URL is not a ws:// or wss:// URL.
    BadUrl(String),
    WebSocket(String),
    /// The server's certificate chain is not from the root we trust.
    Untrusted(CertError),
    Noise(NoiseError),
    Frame(FrameError),
    Decode(String),
    Encode(String),
    Closed,
    Timeout,
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
            WireError::BadUrl(e) => write!(f, "bad server URL: {e}"),
            WireError::WebSocket(e) => write!(f, "websocket: {e}"),
            WireError::Untrusted(e) => write!(f, "server refused: {e}"),
            WireError::Noise(e) => write!(f, "noise: {e}"),
            WireError::Frame(e) => write!(f, "framing: {e}"),
            WireError::Decode(e) => write!(f, "undecodable node: {e}"),
            WireError::Encode(e) => write!(f, "unencodable node: {e}"),
            WireError::Closed => f.write_str("connection closed by the server"),
            WireError::Timeout => f.write_str("timed out"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<NoiseError> for WireError {
    fn from(e: NoiseError) -> Self {
        match e {
            NoiseError::Certificate(c) => WireError::Untrusted(c),
            other => WireError::Noise(other),
        }
    }
}

impl From<FrameError> for WireError {
    fn from(e: FrameError) -> Self {
        WireError::Frame(e)
    }
}

impl From<tokio_tungstenite::tungstenite::Error> for WireError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        WireError::WebSocket(e.to_string())
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// An established, authenticated connection to the server.
pub struct ClientConn {
    ws: Ws,
    decoder: FrameDecoder,
    transport: NoiseTransport,
}

async fn next_frame(ws: &mut Ws, decoder: &mut FrameDecoder) -> Result<Vec<u8>, WireError> {
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(frame);
        }
        match ws.next().await {
            Some(Ok(Message::Binary(data))) => decoder.push(&data),
            Some(Ok(Message::Close(_))) | None => return Err(WireError::Closed),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
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
    let mut request = url
        .into_client_request()
        .map_err(|e| WireError::BadUrl(e.to_string()))?;
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_static(ORIGIN));
    let exchange = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
        let mut decoder = FrameDecoder::new(MAX_SERVER_FRAME);
        let mut handshake = ClientHandshake::new(noise_key.clone(), KeyPair::generate(), root);
        ws.send(Message::Binary(handshake.client_hello_frame()?))
            .await?;
        let server_hello = next_frame(&mut ws, &mut decoder).await?;
        let finish = handshake.read_server_hello(&server_hello, payload)?;
        ws.send(Message::Binary(finish.frame)).await?;
        let transport = handshake.into_transport()?;
        Ok::<_, WireError>(ClientConn {
            ws,
            decoder,
            transport,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| WireError::Timeout)?
}

impl ClientConn {
    /// Encrypts and sends one node.
    pub async fn send(&mut self, node: &Node) -> Result<(), WireError> {
        let plain = binary::encode(node).map_err(|e| WireError::Encode(e.to_string()))?;
        let sealed = self.transport.encrypt(&plain)?;
        self.ws.send(Message::Binary(frame(&sealed)?)).await?;
        Ok(())
    }

    /// The next node from the server. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Node, WireError> {
        let sealed = next_frame(&mut self.ws, &mut self.decoder).await?;
        let plain = self.transport.decrypt(&sealed)?;
        binary::decode(&plain).map_err(|e| WireError::Decode(e.to_string()))
    }

    /// Closes the WebSocket (best effort, bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.close(None)).await;
    }
}
