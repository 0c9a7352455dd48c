//! The server end of one WebSocket: the Noise responder handshake, then binary nodes in encrypted frames.

use super::identity::ServerIdentity;
use crate::protocol::binary::{self, Node};
use crate::protocol::crypto::KeyPair;
use crate::protocol::noise::{NoiseError, NoiseTransport, ServerHandshake};
use crate::protocol::socket::frame::frame;
use crate::protocol::socket::{FrameDecoder, FrameError};
use futures_util::{SinkExt, StreamExt};
use std::fmt;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Largest frame a client may send the simulator (media goes over HTTP, not here).
const MAX_CLIENT_FRAME: usize = 4 << 20;
/// How long a client may take between connecting and finishing the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a connection ended abnormally.
#[derive(Debug)]
pub enum WireError {
    WebSocket(String),
    Noise(NoiseError),
    Frame(FrameError),
    Decode(String),
    Encode(String),
    /// The peer closed the socket.
    Closed,
    /// The handshake took too long.
    Timeout,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::WebSocket(e) => write!(f, "websocket: {e}"),
            WireError::Noise(e) => write!(f, "noise: {e}"),
            WireError::Frame(e) => write!(f, "framing: {e}"),
            WireError::Decode(e) => write!(f, "undecodable node: {e}"),
            WireError::Encode(e) => write!(f, "unencodable node: {e}"),
            WireError::Closed => f.write_str("connection closed"),
            WireError::Timeout => f.write_str("handshake timed out"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<NoiseError> for WireError {
    fn from(e: NoiseError) -> Self {
        WireError::Noise(e)
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

/// An established server-side connection.
pub struct ServerConn<S> {
    ws: WebSocketStream<S>,
    decoder: FrameDecoder,
    transport: NoiseTransport,
}

/// Who connected, from the ClientFinish.
pub struct Hello {
    pub client_static: [u8; 32],
    /// The encoded ClientPayload.
    pub payload: Vec<u8>,
}

async fn next_frame<S>(
    ws: &mut WebSocketStream<S>,
    decoder: &mut FrameDecoder,
) -> Result<Vec<u8>, WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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

/// Runs the responder handshake on a fresh WebSocket.
pub async fn accept<S>(
    mut ws: WebSocketStream<S>,
    identity: &ServerIdentity,
) -> Result<(ServerConn<S>, Hello), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut decoder = FrameDecoder::server_side(MAX_CLIENT_FRAME);
    let handshake = async {
        let hello = next_frame(&mut ws, &mut decoder).await?;
        let header = decoder
            .intro_header()
            .unwrap_or(crate::protocol::socket::WA_HEADER);
        let mut server = ServerHandshake::new(
            identity.static_key.clone(),
            KeyPair::generate(),
            identity.cert_chain.clone(),
        )
        .with_prologue(header);
        let reply = server.read_client_hello(&hello)?;
        ws.send(Message::Binary(reply)).await?;
        let finish = next_frame(&mut ws, &mut decoder).await?;
        let client = server.read_client_finish(&finish)?;
        Ok::<_, WireError>((server.into_transport()?, client))
    };
    let (transport, client) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| WireError::Timeout)??;
    Ok((
        ServerConn {
            ws,
            decoder,
            transport,
        },
        Hello {
            client_static: client.client_static,
            payload: client.payload,
        },
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin> ServerConn<S> {
    /// Encrypts and sends one node.
    pub async fn send(&mut self, node: &Node) -> Result<(), WireError> {
        let plain = binary::encode(node).map_err(|e| WireError::Encode(e.to_string()))?;
        let sealed = self.transport.encrypt(&plain)?;
        self.ws.send(Message::Binary(frame(&sealed)?)).await?;
        Ok(())
    }

    /// The next node from the client. Cancel-safe: a frame is only taken from the decoder once whole.
    pub async fn recv(&mut self) -> Result<Node, WireError> {
        let sealed = next_frame(&mut self.ws, &mut self.decoder).await?;
        let plain = self.transport.decrypt(&sealed)?;
        binary::decode(&plain).map_err(|e| WireError::Decode(e.to_string()))
    }

    /// Closes the WebSocket (best effort).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
