//! The frame socket: the sans-io frame codec, and the WebSocket transports (client and the
//! simulator's server) that run the Noise handshake and then carry encrypted frames.

pub mod frame;
pub mod noise_socket;
pub mod websocket;

#[cfg(test)]
mod loopback_tests;
#[cfg(test)]
mod robustness_tests;

pub use frame::{client_intro, encode_frame, FrameDecoder, FrameError, MAX_FRAME_LEN, WA_HEADER};
pub use noise_socket::{NoiseReader, NoiseSocket, NoiseWriter, SocketError};
pub use websocket::{
    accept, client_handshake, connect, server_handshake, AcceptedClient, ClientConfig,
    ClientConnection, ServerConfig, DEFAULT_ORIGIN, DEFAULT_URL,
};
