//! Fuzzes the frame reader and what sits right behind it: the first input byte picks the decoder
//! kind (client's view, or server's view with the `WA`/`ED` intro), the frame limit and how the rest
//! is cut into WebSocket-sized pieces; every whole frame is then decrypted by a Noise transport and
//! offered to the server's handshake reader. Any panic is a bug. Run with
//! `cargo +nightly fuzz run frame_reader` from the project root (see docs/fuzzing.md).
#![no_main]

use chattu::protocol::crypto::KeyPair;
use chattu::protocol::noise::{NoiseTransport, ServerHandshake};
use chattu::protocol::socket::frame::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let max_len = [16usize, 4096, 1 << 24][usize::from(control & 3) % 3];
    let mut decoder = if control & 4 == 0 {
        FrameDecoder::new(max_len)
    } else {
        FrameDecoder::server_side(max_len)
    };
    let piece = usize::from(control >> 3) + 1;
    let mut transport = NoiseTransport::new([7; 32], [7; 32]);
    let mut handshake = ServerHandshake::new(
        KeyPair::from_private([1; 32]),
        KeyPair::from_private([2; 32]),
        Vec::new(),
    );
    for chunk in rest.chunks(piece) {
        decoder.push(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let _ = transport.decrypt(&frame);
                    let _ = handshake.read_client_hello(&frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
