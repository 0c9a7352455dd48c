//! Placeholder until the socket layer's frame reader lands (its owner replaces this file): for now it
//! fuzzes the node decoder on whole frame bodies, flag byte included.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = chattu::protocol::binary::decode(data);
});
