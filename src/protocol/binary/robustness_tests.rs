//! The decoder must return `Ok` or `Err` for any input, never panic. 100,000 frames: random bytes and
//! mutations of every encoding in the binary-node vectors, from a seeded PRNG so failures reproduce.

use super::{decode, decode_node, encode, Node};
use crate::protocol::jid::Jid;

/// splitmix64: tiny, deterministic, good enough to drive mutations.
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

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| s.get(2 * i..2 * i + 2))
        .filter_map(|pair| u8::from_str_radix(pair, 16).ok())
        .collect()
}

/// Every `encoded_hex` / `input_hex` in the vector file, plus a few typed-JID stanzas of our own.
fn seeds() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/binary-nodes.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let mut seeds = Vec::new();
    for section in ["vectors", "decode_only", "decode_errors"] {
        for case in json[section].as_array().into_iter().flatten() {
            for key in ["encoded_hex", "input_hex"] {
                if let Some(hex) = case[key].as_str() {
                    seeds.push(unhex(hex));
                }
            }
        }
    }
    assert!(seeds.len() > 50, "vector encodings found: {}", seeds.len());
    let mut interop = Jid::parse("7-1555:2@interop").unwrap_or_else(|e| panic!("{e}"));
    interop.device = 3;
    let own = Node::new("message")
        .with_attr("to", Jid::lid("123").with_device(4))
        .with_attr(
            "from",
            Jid::parse("1:2@hosted.lid").unwrap_or_else(|e| panic!("{e}")),
        )
        .with_attr(
            "p",
            Jid::parse("9:1@msgr").unwrap_or_else(|e| panic!("{e}")),
        )
        .with_attr("i", interop)
        .with_child(Node::new("enc").with_bytes(vec![7; 300]));
    seeds.push(encode(&own).unwrap_or_else(|e| panic!("{e}")));
    seeds
}

const INTERESTING: [u8; 14] = [
    0, 1, 2, 0x7F, 0x80, 0xEC, 0xEF, 0xF0, 0xF5, 0xF7, 0xF8, 0xF9, 0xFE, 0xFF,
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut frame = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = frame.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                frame[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                frame[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                frame.insert(i, rng.byte());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below(len - i);
                frame.drain(i..i + n);
            }
            4 => frame.truncate(rng.below(len + 1)),
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                frame.truncate(cut);
                frame.extend_from_slice(&other[from..]);
            }
            6 if len > 1 => {
                let i = rng.below(len);
                let j = rng.below(len);
                frame.swap(i, j);
            }
            _ => {
                let i = rng.below(len + 1);
                let junk: Vec<u8> = (0..rng.below(8)).map(|_| rng.byte()).collect();
                frame.splice(i..i, junk);
            }
        }
    }
    frame
}

#[test]
fn no_input_makes_the_decoder_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x5EED_C4A7_7B1A_2026);
    let (mut ok, mut err) = (0u32, 0u32);
    for round in 0..100_000u32 {
        let frame = match round % 10 {
            0 => (0..rng.below(64)).map(|_| rng.byte()).collect(),
            1 => {
                // Random bytes after a node-looking prefix, to get past the first checks.
                let mut f = vec![0, 0xF8, rng.byte()];
                f.extend((0..rng.below(48)).map(|_| rng.byte()));
                f
            }
            _ => mutate(&mut rng, &seeds),
        };
        // Whatever decodes must also survive being printed and re-encoded.
        let result = std::panic::catch_unwind(|| match decode(&frame) {
            Ok(node) => {
                let _ = node.to_string();
                // What we decoded, we can send again, and read back.
                match encode(&node).map(|bytes| decode(&bytes)) {
                    Ok(Ok(_)) => true,
                    other => panic!("re-encoding {node} gave {other:?}"),
                }
            }
            Err(_) => {
                let _ = decode_node(&frame);
                false
            }
        });
        match result {
            Ok(true) => ok += 1,
            Ok(false) => err += 1,
            Err(_) => panic!("decoder panicked on round {round}: {frame:02x?}"),
        }
    }
    assert_eq!(ok + err, 100_000);
    // Mutations of valid frames should still often be valid: proof the mutator reaches deep code.
    assert!(ok > 1_000, "only {ok} of 100000 mutated frames decoded");
}

#[test]
fn compressed_garbage_is_refused() {
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let mut frame = vec![2, 0x78, 0x9C];
        frame.extend((0..rng.below(40)).map(|_| rng.byte()));
        assert!(decode(&frame).is_err(), "{frame:02x?}");
    }
}

/// Inputs the fuzzer found; each once broke "what we decode, we can encode and decode again".
#[test]
fn fuzz_regressions() {
    let cases = [
        // A raw attribute name containing '@' (re-encoded as a JID, Baileys-style).
        "00f803fc0a000000336f6d2d746167fc0a637573746f402d6b6579fc1600f803fc0a00002033\
         6f6d7769746820737061636573",
    ];
    for hex in cases {
        let frame = unhex(hex);
        let node = decode(&frame).unwrap_or_else(|e| panic!("{hex}: {e}"));
        let again = encode(&node).unwrap_or_else(|e| panic!("{node}: {e}"));
        assert!(decode(&again).is_ok(), "{node}");
    }
}
