//! A WebSocket that carries Noise-encrypted frames: what both the client and the simulator's
//! server talk through once the handshake is done.
//!
//! `send` takes a frame plaintext (flag byte + encoded node) and writes one binary WebSocket
//! message; `recv` returns the next decrypted frame plaintext, however the peer cut its frames
//! across messages. A frame that fails to authenticate is returned as an error but leaves the socket
//! usable (its counter is spent, as WhatsApp's peers do); framing and WebSocket errors are fatal.

use super::frame::{encode_frame, FrameDecoder, FrameError};
use crate::protocol::noise::{CipherState, NoiseError, NoiseTransport};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::fmt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// Why the socket failed.
#[derive(Debug)]
pub enum SocketError {
    /// The URL could not be used (bad scheme or host, or a header value).
    BadUrl(String),
    /// The WebSocket layer failed (connect, TLS, protocol, I/O).
    WebSocket(Box<tungstenite::Error>),
    /// The peer sent bytes that are not valid frames.
    Frame(FrameError),
    /// The handshake failed or a frame did not authenticate.
    Noise(NoiseError),
    /// The peer sent a text message; WhatsApp uses binary messages only.
    TextMessage,
    /// The handshake did not finish in time.
    Timeout,
    /// The connection closed before the handshake finished.
    Closed,
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::BadUrl(why) => write!(f, "cannot connect: {why}"),
            SocketError::WebSocket(e) => write!(f, "websocket: {e}"),
            SocketError::Frame(e) => write!(f, "framing: {e}"),
            SocketError::Noise(e) => write!(f, "noise: {e}"),
            SocketError::TextMessage => f.write_str("peer sent a text websocket message"),
            SocketError::Timeout => f.write_str("noise handshake timed out"),
            SocketError::Closed => f.write_str("connection closed during the handshake"),
        }
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SocketError::WebSocket(e) => Some(e.as_ref()),
            SocketError::Frame(e) => Some(e),
            SocketError::Noise(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tungstenite::Error> for SocketError {
    fn from(e: tungstenite::Error) -> Self {
        SocketError::WebSocket(Box::new(e))
    }
}

impl From<FrameError> for SocketError {
    fn from(e: FrameError) -> Self {
        SocketError::Frame(e)
    }
}

impl From<NoiseError> for SocketError {
    fn from(e: NoiseError) -> Self {
        SocketError::Noise(e)
    }
}

/// Reads raw frame payloads (not decrypted) from a WebSocket; `Ok(None)` when the peer closed.
pub(crate) async fn read_raw_frame<St>(
    stream: &mut St,
    decoder: &mut FrameDecoder,
) -> Result<Option<Vec<u8>>, SocketError>
where
    St: futures_util::Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(Some(frame));
        }
        match stream.next().await {
            Some(Ok(Message::Binary(data))) => decoder.push(&data),
            Some(Ok(Message::Text(_))) => return Err(SocketError::TextMessage),
            Some(Ok(Message::Close(_))) | None => return Ok(None),
            Some(Ok(_)) => {} // ping/pong are answered by tungstenite
            Some(Err(tungstenite::Error::ConnectionClosed)) => return Ok(None),
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

fn framed(cipher: &mut CipherState, plaintext: &[u8]) -> Result<Vec<u8>, SocketError> {
    let ciphertext = cipher.encrypt(plaintext)?;
    let mut out = Vec::with_capacity(ciphertext.len() + 3);
    encode_frame(&ciphertext, &mut out)?;
    Ok(out)
}

/// An established, encrypted WhatsApp connection over WebSocket stream `S`.
pub struct NoiseSocket<S> {
    ws: WebSocketStream<S>,
    transport: NoiseTransport,
    decoder: FrameDecoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin> NoiseSocket<S> {
    pub(crate) fn new(
        ws: WebSocketStream<S>,
        transport: NoiseTransport,
        decoder: FrameDecoder,
    ) -> Self {
        NoiseSocket {
            ws,
            transport,
            decoder,
        }
    }

    /// Encrypts and sends one frame plaintext (flag byte + encoded node).
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<(), SocketError> {
        let message = framed(&mut self.transport.send, plaintext)?;
        self.ws.send(Message::Binary(message)).await?;
        Ok(())
    }

    /// The next decrypted frame plaintext; `Ok(None)` once the peer has closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, SocketError> {
        match read_raw_frame(&mut self.ws, &mut self.decoder).await? {
            Some(frame) => Ok(Some(self.transport.decrypt(&frame)?)),
            None => Ok(None),
        }
    }

    /// Sends a WebSocket close and waits for the peer's.
    pub async fn close(&mut self) -> Result<(), SocketError> {
        match self.ws.close(None).await {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Separates the two directions so a reader task and a writer task can each own one.
    pub fn into_split(self) -> (NoiseWriter<S>, NoiseReader<S>) {
        let (sink, stream) = self.ws.split();
        let (send, recv) = self.transport.split();
        (
            NoiseWriter { sink, cipher: send },
            NoiseReader {
                stream,
                cipher: recv,
                decoder: self.decoder,
            },
        )
    }
}

/// The sending half of a [`NoiseSocket`].
pub struct NoiseWriter<S> {
    sink: SplitSink<WebSocketStream<S>, Message>,
    cipher: CipherState,
}

impl<S: AsyncRead + AsyncWrite + Unpin> NoiseWriter<S> {
    /// Encrypts and sends one frame plaintext.
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<(), SocketError> {
        let message = framed(&mut self.cipher, plaintext)?;
        self.sink.send(Message::Binary(message)).await?;
        Ok(())
    }

    /// Sends a WebSocket close.
    pub async fn close(&mut self) -> Result<(), SocketError> {
        match self.sink.close().await {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// The receiving half of a [`NoiseSocket`].
pub struct NoiseReader<S> {
    stream: SplitStream<WebSocketStream<S>>,
    cipher: CipherState,
    decoder: FrameDecoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin> NoiseReader<S> {
    /// The next decrypted frame plaintext; `Ok(None)` once the peer has closed.
    pub async fn recv(&mut self) -> Result<Option<Vec<u8>>, SocketError> {
        match read_raw_frame(&mut self.stream, &mut self.decoder).await? {
            Some(frame) => Ok(Some(self.cipher.decrypt(&frame)?)),
            None => Ok(None),
        }
    }
}
