//! The server end of one WebSocket, in nodes: [`crate::protocol::socket`] runs the Noise responder
//! handshake with the simulator's certificate chain and moves encrypted frames; this adapter adds the
//! binary-node encoding.

use super::identity::ServerIdentity;
use crate::protocol::binary::{self, Node};
use crate::protocol::socket::{server_handshake, NoiseSocket, ServerConfig, SocketError};
use std::fmt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;

/// Largest frame a client may send the simulator (media goes over HTTP, not here).
const MAX_CLIENT_FRAME: usize = 4 << 20;

/// Why a connection ended abnormally.
#[derive(Debug)]
pub enum WireError {
    Socket(SocketError),
    Decode(String),
    Encode(String),
    /// The peer closed the socket.
    Closed,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Socket(e) => write!(f, "{e}"),
            WireError::Decode(e) => write!(f, "undecodable node: {e}"),
            WireError::Encode(e) => write!(f, "unencodable node: {e}"),
            WireError::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<SocketError> for WireError {
    fn from(e: SocketError) -> Self {
        WireError::Socket(e)
    }
}

/// An established server-side connection.
pub struct ServerConn<S> {
    socket: NoiseSocket<S>,
}

/// Who connected, from the ClientFinish.
pub struct Hello {
    pub client_static: [u8; 32],
    /// The encoded ClientPayload.
    pub payload: Vec<u8>,
}

/// Runs the responder handshake on a fresh WebSocket.
pub async fn accept<S>(
    ws: WebSocketStream<S>,
    identity: &ServerIdentity,
) -> Result<(ServerConn<S>, Hello), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut config = ServerConfig::new(identity.static_key.clone(), identity.cert_chain.clone());
    config.max_frame_len = MAX_CLIENT_FRAME;
    let client = server_handshake(ws, &config).await?;
    Ok((
        ServerConn {
            socket: client.socket,
        },
        Hello {
            client_static: client.identity.client_static,
            payload: client.identity.payload,
        },
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin> ServerConn<S> {
    /// Encodes and sends one node.
    pub async fn send(&mut self, node: &Node) -> Result<(), WireError> {
        let plain = binary::encode(node).map_err(|e| WireError::Encode(e.to_string()))?;
        Ok(self.socket.send(&plain).await?)
    }

    /// The next node from the client. Cancel-safe: a frame is only consumed once whole.
    pub async fn recv(&mut self) -> Result<Node, WireError> {
        let plain = self.socket.recv().await?.ok_or(WireError::Closed)?;
        binary::decode(&plain).map_err(|e| WireError::Decode(e.to_string()))
    }

    /// Closes the WebSocket (best effort, bounded).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.socket.close()).await;
    }
}
