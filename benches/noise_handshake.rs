//! Cost of one full Noise XX handshake (client and server in one process, certificate chain checked)
//! and Noise transport throughput. Prints figures; asserts nothing about time.
//!
//! Run: `cargo bench --bench noise_handshake`

use chattu::protocol::crypto::KeyPair;
use chattu::protocol::noise::cert::{make_simple_chain, CertSigningKey};
use chattu::protocol::noise::{ClientHandshake, NoiseTransport, ServerHandshake, TrustedRoot};
use chattu::protocol::socket::frame::{FrameDecoder, MAX_FRAME_LEN};
use std::hint::black_box;
use std::time::Instant;

struct Server {
    static_key: KeyPair,
    chain: Vec<u8>,
    root: TrustedRoot,
}

fn handshake(server: &Server, noise_key: &KeyPair) -> (NoiseTransport, NoiseTransport) {
    let mut client = ClientHandshake::new(noise_key.clone(), KeyPair::generate(), server.root);
    let mut responder = ServerHandshake::new(
        server.static_key.clone(),
        KeyPair::generate(),
        server.chain.clone(),
    );
    let mut to_server = FrameDecoder::server_side(MAX_FRAME_LEN);
    let mut to_client = FrameDecoder::new(MAX_FRAME_LEN);
    to_server.push(&client.client_hello_frame().expect("hello"));
    let hello = to_server.next_frame().expect("frame").expect("whole");
    to_client.push(&responder.read_client_hello(&hello).expect("server hello"));
    let server_hello = to_client.next_frame().expect("frame").expect("whole");
    let finish = client
        .read_server_hello(&server_hello, &[0u8; 200])
        .expect("finish");
    to_server.push(&finish.frame);
    let finish = to_server.next_frame().expect("frame").expect("whole");
    responder.read_client_finish(&finish).expect("identity");
    (
        client.into_transport().expect("client"),
        responder.into_transport().expect("server"),
    )
}

fn main() {
    let root = CertSigningKey::generate();
    let inter = CertSigningKey::generate();
    let static_key = KeyPair::generate();
    let chain = make_simple_chain(&root, &inter, &static_key.public, 0, u64::MAX);
    let server = Server {
        static_key,
        chain,
        root: root.as_trusted_root(),
    };
    let noise_key = KeyPair::generate();

    for _ in 0..20 {
        black_box(handshake(&server, &noise_key));
    }
    let rounds = 500;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(handshake(&server, &noise_key));
    }
    let per = start.elapsed().as_secs_f64() / f64::from(rounds);
    println!(
        "noise handshake (client + server, XX, chain verified): {:.0} µs per handshake ({rounds} rounds)",
        per * 1e6
    );

    let (mut client, mut server_side) = handshake(&server, &noise_key);
    for (label, size, count) in [
        ("64 KiB frames", 64 * 1024usize, 1600u32),
        ("200 B frames", 200, 200_000),
    ] {
        let plain = vec![0x5au8; size];
        let mut frames = Vec::with_capacity(count as usize);
        let start = Instant::now();
        for _ in 0..count {
            frames.push(client.encrypt(&plain).expect("encrypt"));
        }
        let enc = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for f in &frames {
            black_box(server_side.decrypt(f).expect("decrypt"));
        }
        let dec = start.elapsed().as_secs_f64();
        let mb = (size as f64 * f64::from(count)) / 1e6;
        println!(
            "noise transport, {label}: encrypt {:.0} MB/s ({:.0} frames/s), decrypt {:.0} MB/s ({:.0} frames/s)",
            mb / enc,
            f64::from(count) / enc,
            mb / dec,
            f64::from(count) / dec
        );
    }
}
