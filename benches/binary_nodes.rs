//! Binary-node encode/decode throughput. Prints figures; asserts nothing about time.
//!
//! Run: `cargo bench --bench binary_nodes`

use std::hint::black_box;
use std::time::{Duration, Instant};

use chattu::protocol::binary::{decode, encode, Node};
use chattu::protocol::jid::Jid;

/// Runs `f` repeatedly for about `budget`; returns (iterations, elapsed).
fn measure(budget: Duration, mut f: impl FnMut()) -> (u64, Duration) {
    // Warm-up (token tables, allocator).
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut iterations = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        iterations += 16;
    }
    (iterations, start.elapsed())
}

fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + 7 + seed) % 256) as u8)
        .collect()
}

/// A 1:1 text message fanned out to 6 devices, as the engine sends it.
fn message_stanza() -> Node {
    let participants = (0..6u16).map(|d| {
        let enc_type = if d % 2 == 0 { "pkmsg" } else { "msg" };
        Node::new("to")
            .with_attr("jid", Jid::phone("15551234567").with_device(d))
            .with_child(
                Node::new("enc")
                    .with_attr("v", "2")
                    .with_attr("type", enc_type)
                    .with_bytes(pattern(180 + usize::from(d) * 7, usize::from(d))),
            )
    });
    Node::new("message")
        .with_attr("id", "3EB0AABBCCDDEEFF0011")
        .with_attr("to", Jid::phone("15557654321"))
        .with_attr("type", "text")
        .with_child(Node::new("participants").with_children(participants))
        .with_child(Node::new("device-identity").with_bytes(pattern(150, 9)))
}

fn large_payload() -> Node {
    Node::new("enc")
        .with_attr("v", "2")
        .with_attr("type", "msg")
        .with_bytes(pattern(1 << 20, 0))
}

fn small_node() -> Node {
    Node::new("iq")
        .with_attr("id", "12")
        .with_attr("type", "get")
        .with_attr("xmlns", "w:p")
        .with_attr("to", Jid::server_jid())
        .with_child(Node::new("ping"))
}

fn throughput(label: &str, node: &Node) {
    let bytes = match encode(node) {
        Ok(b) => b,
        Err(e) => {
            println!("{label}: cannot encode: {e}");
            return;
        }
    };
    let mb = bytes.len() as f64 / 1e6;
    let budget = Duration::from_millis(800);
    let (n, t) = measure(budget, || {
        black_box(encode(black_box(node)).ok());
    });
    let enc = mb * n as f64 / t.as_secs_f64();
    let (n, t) = measure(budget, || {
        black_box(decode(black_box(&bytes)).ok());
    });
    let dec = mb * n as f64 / t.as_secs_f64();
    println!(
        "{label} ({} bytes): encode {enc:.0} MB/s, decode {dec:.0} MB/s",
        bytes.len()
    );
}

fn per_node(label: &str, node: &Node) {
    let Ok(bytes) = encode(node) else {
        println!("{label}: cannot encode");
        return;
    };
    let budget = Duration::from_millis(800);
    let (n, t) = measure(budget, || {
        black_box(encode(black_box(node)).ok());
    });
    let enc = t.as_nanos() as f64 / n as f64;
    let (n, t) = measure(budget, || {
        black_box(decode(black_box(&bytes)).ok());
    });
    let dec = t.as_nanos() as f64 / n as f64;
    let (n, t) = measure(budget, || {
        black_box(black_box(node).to_string());
    });
    let show = t.as_nanos() as f64 / n as f64;
    println!(
        "{label} ({} bytes): encode {enc:.0} ns, decode {dec:.0} ns, Display {show:.0} ns",
        bytes.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not need.
    throughput("message stanza, 6 device fan-out", &message_stanza());
    throughput("1 MiB binary payload", &large_payload());
    per_node("small node <iq><ping/></iq>", &small_node());
}
