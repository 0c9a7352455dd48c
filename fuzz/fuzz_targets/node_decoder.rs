//! Feeds arbitrary frame bodies to the binary-node decoder. Whatever decodes must also print and
//! re-encode without panicking, and re-encoding a decoded node must decode again.
#![no_main]

use chattu::protocol::binary::{decode, decode_node, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_node(data);
    if let Ok(node) = decode(data) {
        let _ = node.to_string();
        if let Ok(bytes) = encode(&node) {
            // Our own output must always be readable by our own decoder.
            if let Err(e) = decode(&bytes) {
                panic!("re-encoded node does not decode: {e}\n{node}");
            }
        }
    }
});
