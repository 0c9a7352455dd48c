//! The two roles of WhatsApp's Noise XX handshake (§2.3), sans-io.
//!
//! Client (initiator):
//! ```text
//! new(static, ephemeral, root) → client_hello_frame() ─────────▶ (intro + frame)
//!                               read_server_hello(msg, payload) ◀── ServerHello
//!                               ─────────▶ ClientFinish frame; into_transport()
//! ```
//! Server (responder, for the simulator) mirrors it: `read_client_hello` returns the ServerHello
//! frame, `read_client_finish` returns the client's static key and ClientPayload bytes.

use super::cert::{verify_chain, TrustedRoot, VerifiedChain};
use super::symmetric::SymmetricState;
use super::transport::NoiseTransport;
use super::NoiseError;
use crate::protocol::crypto::KeyPair;
use crate::protocol::proto::{self, HandshakeMessage, ProtoMessage};
use crate::protocol::socket::frame::{client_intro, frame, WA_HEADER};
use std::time::{SystemTime, UNIX_EPOCH};

fn key32(bytes: Option<&[u8]>, what: &'static str) -> Result<[u8; 32], NoiseError> {
    bytes
        .and_then(|b| b.try_into().ok())
        .ok_or(NoiseError::Malformed(what))
}

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientStage {
    Start,
    HelloSent,
    FinishSent,
}

/// What the client sends to finish the handshake, with its parts for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinishMessage {
    /// The client's noise public key, encrypted (48 bytes).
    pub encrypted_static: Vec<u8>,
    /// The ClientPayload, encrypted.
    pub encrypted_payload: Vec<u8>,
    /// The encoded `HandshakeMessage{clientFinish}`.
    pub message: Vec<u8>,
    /// The same as a length-prefixed frame, ready for the wire.
    pub frame: Vec<u8>,
    /// What the server's certificate chain established.
    pub chain: VerifiedChain,
}

/// The initiator's side of the handshake.
pub struct ClientHandshake {
    state: SymmetricState,
    static_key: KeyPair,
    ephemeral: KeyPair,
    trusted_root: TrustedRoot,
    routing_info: Option<Vec<u8>>,
    now: Option<u64>,
    stage: ClientStage,
    server_ephemeral: [u8; 32],
}

impl ClientHandshake {
    /// A handshake for the device noise key `static_noise_key`, with a fresh `ephemeral` (inject a
    /// fixed one to replay vectors), accepting servers whose chain starts at `trusted_root`.
    pub fn new(
        static_noise_key: KeyPair,
        ephemeral: KeyPair,
        trusted_root: TrustedRoot,
    ) -> ClientHandshake {
        let mut state = SymmetricState::new(&WA_HEADER);
        state.mix_hash(&ephemeral.public);
        ClientHandshake {
            state,
            static_key: static_noise_key,
            ephemeral,
            trusted_root,
            routing_info: None,
            now: None,
            stage: ClientStage::Start,
            server_ephemeral: [0; 32],
        }
    }

    /// Sends the `ED` pre-intro with this routing info before the `WA` header.
    pub fn with_routing_info(mut self, routing_info: Option<Vec<u8>>) -> ClientHandshake {
        self.routing_info = routing_info;
        self
    }

    /// Checks certificate dates against this Unix time instead of the system clock.
    pub fn with_now(mut self, now_unix_seconds: u64) -> ClientHandshake {
        self.now = Some(now_unix_seconds);
        self
    }

    /// The first bytes on the wire: intro (optional `ED` part, `WA` header) and the ClientHello frame.
    pub fn client_hello_frame(&mut self) -> Result<Vec<u8>, NoiseError> {
        if self.stage != ClientStage::Start {
            return Err(NoiseError::OutOfOrder("client hello already sent"));
        }
        let message = HandshakeMessage {
            client_hello: Some(proto::ClientHello {
                ephemeral: Some(self.ephemeral.public.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let mut out = client_intro(self.routing_info.as_deref())?;
        out.extend_from_slice(&frame(&message)?);
        self.stage = ClientStage::HelloSent;
        Ok(out)
    }

    /// Processes the ServerHello (a frame payload), verifies the server's certificate chain, and
    /// returns the ClientFinish carrying `client_payload` (an encoded ClientPayload).
    pub fn read_server_hello(
        &mut self,
        message: &[u8],
        client_payload: &[u8],
    ) -> Result<ClientFinishMessage, NoiseError> {
        if self.stage != ClientStage::HelloSent {
            return Err(NoiseError::OutOfOrder("server hello before client hello"));
        }
        let hello = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("HandshakeMessage"))?
            .server_hello
            .ok_or(NoiseError::Malformed("no serverHello"))?;
        let server_ephemeral = key32(hello.ephemeral.as_deref(), "server ephemeral")?;
        let static_ct = hello
            .r#static
            .ok_or(NoiseError::Malformed("no server static"))?;
        let payload_ct = hello
            .payload
            .ok_or(NoiseError::Malformed("no server payload"))?;

        let state = &mut self.state;
        state.mix_hash(&server_ephemeral);
        state.mix_dh(&self.ephemeral.private, &server_ephemeral)?;
        let server_static = key32(Some(&state.decrypt_and_hash(&static_ct)?), "server static")?;
        state.mix_dh(&self.ephemeral.private, &server_static)?;
        let chain_bytes = state.decrypt_and_hash(&payload_ct)?;
        let now = self.now.unwrap_or_else(system_now);
        let chain = verify_chain(&chain_bytes, &server_static, &self.trusted_root, now)?;

        let encrypted_static = state.encrypt_and_hash(&self.static_key.public)?;
        state.mix_dh(&self.static_key.private, &server_ephemeral)?;
        let encrypted_payload = state.encrypt_and_hash(client_payload)?;
        // `..Default::default()` keeps this compiling when the schema gains optional fields.
        #[allow(clippy::needless_update)]
        let message = HandshakeMessage {
            client_finish: Some(proto::ClientFinish {
                r#static: Some(encrypted_static.clone()),
                payload: Some(encrypted_payload.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let frame = frame(&message)?;
        self.server_ephemeral = server_ephemeral;
        self.stage = ClientStage::FinishSent;
        Ok(ClientFinishMessage {
            encrypted_static,
            encrypted_payload,
            message,
            frame,
            chain,
        })
    }

    /// The transport keys: the client sends with k1 and receives with k2.
    pub fn into_transport(self) -> Result<NoiseTransport, NoiseError> {
        if self.stage != ClientStage::FinishSent {
            return Err(NoiseError::OutOfOrder("handshake not finished"));
        }
        let (k1, k2) = self.state.split();
        Ok(NoiseTransport::new(k1, k2))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerStage {
    Start,
    HelloSent,
    Finished,
}

/// Who connected: the client's noise key and its (decrypted, still encoded) ClientPayload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub client_static: [u8; 32],
    pub payload: Vec<u8>,
}

/// The responder's side of the handshake, as the simulator's server runs it.
pub struct ServerHandshake {
    state: Option<SymmetricState>,
    prologue: [u8; 4],
    static_key: KeyPair,
    ephemeral: KeyPair,
    cert_chain: Vec<u8>,
    stage: ServerStage,
}

impl ServerHandshake {
    /// A handshake for the server static key, a fresh ephemeral, and the encoded CertChain whose
    /// leaf certifies `static_key` (see [`super::cert::make_simple_chain`]).
    pub fn new(static_key: KeyPair, ephemeral: KeyPair, cert_chain: Vec<u8>) -> ServerHandshake {
        ServerHandshake {
            state: None,
            prologue: WA_HEADER,
            static_key,
            ephemeral,
            cert_chain,
            stage: ServerStage::Start,
        }
    }

    /// Uses the `WA` header the client actually sent as the prologue.
    pub fn with_prologue(mut self, header: [u8; 4]) -> ServerHandshake {
        self.prologue = header;
        self
    }

    /// Processes the ClientHello (a frame payload) and returns the ServerHello as a frame.
    pub fn read_client_hello(&mut self, message: &[u8]) -> Result<Vec<u8>, NoiseError> {
        if self.stage != ServerStage::Start {
            return Err(NoiseError::OutOfOrder("second client hello"));
        }
        let hello = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("HandshakeMessage"))?
            .client_hello
            .ok_or(NoiseError::Malformed("no clientHello"))?;
        let client_ephemeral = key32(hello.ephemeral.as_deref(), "client ephemeral")?;
        let mut state = SymmetricState::new(&self.prologue);
        state.mix_hash(&client_ephemeral);
        state.mix_hash(&self.ephemeral.public);
        state.mix_dh(&self.ephemeral.private, &client_ephemeral)?;
        let encrypted_static = state.encrypt_and_hash(&self.static_key.public)?;
        state.mix_dh(&self.static_key.private, &client_ephemeral)?;
        let encrypted_chain = state.encrypt_and_hash(&self.cert_chain)?;
        #[allow(clippy::needless_update)] // as in the ClientFinish: the schema may grow
        let reply = HandshakeMessage {
            server_hello: Some(proto::ServerHello {
                ephemeral: Some(self.ephemeral.public.to_vec()),
                r#static: Some(encrypted_static),
                payload: Some(encrypted_chain),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec();
        let out = frame(&reply)?;
        self.state = Some(state);
        self.stage = ServerStage::HelloSent;
        Ok(out)
    }

    /// Processes the ClientFinish (a frame payload): who the client is and what it asked for.
    pub fn read_client_finish(&mut self, message: &[u8]) -> Result<ClientIdentity, NoiseError> {
        let (ServerStage::HelloSent, Some(state)) = (self.stage, self.state.as_mut()) else {
            return Err(NoiseError::OutOfOrder("client finish before client hello"));
        };
        let finish = HandshakeMessage::decode(message)
            .map_err(|_| NoiseError::Malformed("HandshakeMessage"))?
            .client_finish
            .ok_or(NoiseError::Malformed("no clientFinish"))?;
        let static_ct = finish
            .r#static
            .ok_or(NoiseError::Malformed("no client static"))?;
        let payload_ct = finish
            .payload
            .ok_or(NoiseError::Malformed("no client payload"))?;
        let client_static = key32(Some(&state.decrypt_and_hash(&static_ct)?), "client static")?;
        state.mix_dh(&self.ephemeral.private, &client_static)?;
        let payload = state.decrypt_and_hash(&payload_ct)?;
        self.stage = ServerStage::Finished;
        Ok(ClientIdentity {
            client_static,
            payload,
        })
    }

    /// The transport keys: the server sends with k2 and receives with k1.
    pub fn into_transport(self) -> Result<NoiseTransport, NoiseError> {
        match (self.stage, self.state) {
            (ServerStage::Finished, Some(state)) => {
                let (k1, k2) = state.split();
                Ok(NoiseTransport::new(k2, k1))
            }
            _ => Err(NoiseError::OutOfOrder("handshake not finished")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cert::{make_simple_chain, CertError, CertSigningKey};
    use super::*;
    use crate::protocol::socket::frame::FrameDecoder;

    const NOW: u64 = 1_750_000_000;

    fn pair(
        trust_real_root: bool,
    ) -> Result<(NoiseTransport, NoiseTransport, ClientIdentity), NoiseError> {
        let root = CertSigningKey::generate();
        let inter = CertSigningKey::generate();
        let server_static = KeyPair::generate();
        let chain = make_simple_chain(&root, &inter, &server_static.public, NOW - 60, NOW + 60);
        let trusted = if trust_real_root {
            TrustedRoot::whatsapp()
        } else {
            root.as_trusted_root()
        };
        let client_key = KeyPair::generate();
        let mut client =
            ClientHandshake::new(client_key.clone(), KeyPair::generate(), trusted).with_now(NOW);
        let mut server = ServerHandshake::new(server_static, KeyPair::generate(), chain);

        let mut server_in = FrameDecoder::server_side(1 << 20);
        server_in.push(&client.client_hello_frame()?);
        let hello = server_in
            .next_frame()?
            .ok_or(NoiseError::Malformed("no frame"))?;
        let server_hello = server.read_client_hello(&hello)?;
        let mut client_in = FrameDecoder::new(1 << 20);
        client_in.push(&server_hello);
        let sh = client_in
            .next_frame()?
            .ok_or(NoiseError::Malformed("no frame"))?;
        let finish = client.read_server_hello(&sh, b"payload bytes")?;
        server_in.push(&finish.frame);
        let cf = server_in
            .next_frame()?
            .ok_or(NoiseError::Malformed("no frame"))?;
        let identity = server.read_client_finish(&cf)?;
        assert_eq!(identity.client_static, client_key.public);
        Ok((client.into_transport()?, server.into_transport()?, identity))
    }

    #[test]
    fn client_and_server_agree() {
        let (mut c, mut s, identity) = pair(false).unwrap();
        assert_eq!(identity.payload, b"payload bytes");
        let up = c.encrypt(b"\x00node").unwrap();
        assert_eq!(s.decrypt(&up).unwrap(), b"\x00node");
        let down = s.encrypt(b"\x00reply").unwrap();
        assert_eq!(c.decrypt(&down).unwrap(), b"\x00reply");
    }

    #[test]
    fn real_root_refuses_a_simulator_chain() {
        assert_eq!(
            pair(true).err(),
            Some(NoiseError::Certificate(CertError::IntermediateSignature))
        );
    }

    #[test]
    fn steps_out_of_order_are_errors() {
        let mut client = ClientHandshake::new(
            KeyPair::generate(),
            KeyPair::generate(),
            TrustedRoot::whatsapp(),
        );
        assert!(client.read_server_hello(&[], &[]).is_err());
        client.client_hello_frame().unwrap();
        assert!(client.client_hello_frame().is_err());
        assert!(client.read_server_hello(&[0xff], &[]).is_err());
        let mut server = ServerHandshake::new(KeyPair::generate(), KeyPair::generate(), Vec::new());
        assert!(server.read_client_finish(&[]).is_err());
        assert!(server.read_client_hello(&[]).is_err());
        assert!(server.into_transport().is_err());
    }
}
