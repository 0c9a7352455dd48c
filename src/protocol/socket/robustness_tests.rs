//! No input makes the frame reader, the Noise transport or the handshake readers panic: 100,000
//! random and mutated byte streams from a seeded PRNG (so a failure reproduces), each fed in random
//! cuts to both kinds of frame decoder, every frame then decrypted, and handshake messages mutated.

use super::frame::{client_intro, encode_frame, FrameDecoder};
use crate::protocol::crypto::KeyPair;
use crate::protocol::noise::cert::{make_simple_chain, CertSigningKey};
use crate::protocol::noise::{ClientHandshake, NoiseTransport, ServerHandshake, TrustedRoot};

/// splitmix64: small and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A well-formed client stream: intro (sometimes with routing info) and some encrypted frames.
fn valid_stream(rng: &mut Rng, sender: &mut NoiseTransport) -> Vec<u8> {
    let routing = if rng.below(2) == 0 {
        {
            let n = rng.below(20);
            Some(rng.bytes(n))
        }
    } else {
        None
    };
    let mut out = client_intro(routing.as_deref()).unwrap_or_default();
    for _ in 0..=rng.below(4) {
        let n = rng.below(300);
        let plain = rng.bytes(n);
        if let Ok(ct) = sender.encrypt(&plain) {
            let _ = encode_frame(&ct, &mut out);
        }
    }
    out
}

fn mutate(rng: &mut Rng, mut data: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(4) {
        let len = data.len();
        match rng.below(6) {
            0 if len > 0 => data[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => data[rng.below(len)] = rng.next() as u8,
            2 => data.truncate(rng.below(len + 1)),
            3 => {
                let at = rng.below(len + 1);
                let n = rng.below(8);
                let extra = rng.bytes(n);
                data.splice(at..at, extra);
            }
            4 if len > 2 => {
                // Corrupt a would-be length prefix with a large value.
                let at = rng.below(len - 2);
                data[at] = 0xff;
            }
            _ => {
                let n = rng.below(16);
                data.extend(rng.bytes(n));
            }
        }
    }
    data
}

fn feed(rng: &mut Rng, mut decoder: FrameDecoder, data: &[u8], receiver: &mut NoiseTransport) {
    let mut at = 0;
    while at < data.len() {
        let end = (at + 1 + rng.below(64)).min(data.len());
        decoder.push(&data[at..end]);
        at = end;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let _ = receiver.decrypt(&frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

#[test]
fn frame_reader_and_transport_never_panic() {
    let mut rng = Rng(0x05ee_d0ff_4a3e);
    let mut sender = NoiseTransport::new([1; 32], [2; 32]);
    for round in 0..100_000u32 {
        let data = match round % 3 {
            0 => {
                let n = rng.below(200);
                rng.bytes(n)
            }
            _ => {
                let stream = valid_stream(&mut rng, &mut sender);
                mutate(&mut rng, stream)
            }
        };
        let max = [16usize, 300, 1 << 24][rng.below(3)];
        let mut receiver = NoiseTransport::new([2; 32], [1; 32]);
        feed(
            &mut rng,
            FrameDecoder::server_side(max),
            &data,
            &mut receiver,
        );
        feed(&mut rng, FrameDecoder::new(max), &data, &mut receiver);
    }
}

#[test]
fn handshake_readers_never_panic_on_mutated_messages() {
    let mut rng = Rng(0x4a5d_5a4e);
    let root = CertSigningKey::generate();
    let inter = CertSigningKey::generate();
    let server_static = KeyPair::generate();
    let chain = make_simple_chain(&root, &inter, &server_static.public, 0, u64::MAX);
    let trusted = root.as_trusted_root();
    // One genuine exchange provides seeds for mutation.
    let mut client = ClientHandshake::new(KeyPair::generate(), KeyPair::generate(), trusted);
    let hello_wire = client.client_hello_frame().unwrap();
    let hello = hello_wire[7..].to_vec();
    let mut server =
        ServerHandshake::new(server_static.clone(), KeyPair::generate(), chain.clone());
    let server_hello = server.read_client_hello(&hello).unwrap()[3..].to_vec();
    let finish = client
        .read_server_hello(&server_hello, b"payload")
        .unwrap()
        .message;
    for _ in 0..2_000 {
        let mut s = ServerHandshake::new(server_static.clone(), KeyPair::generate(), chain.clone());
        let _ = s.read_client_hello(&mutate(&mut rng, hello.clone()));
        let _ = s.read_client_finish(&mutate(&mut rng, finish.clone()));
        let mut c = ClientHandshake::new(
            KeyPair::generate(),
            KeyPair::generate(),
            TrustedRoot::whatsapp(),
        );
        let _ = c.client_hello_frame();
        let _ = c.read_server_hello(&mutate(&mut rng, server_hello.clone()), b"payload");
    }
}
