//! Vector cases from `binary-nodes.json`: WABinary encode/decode against Baileys' own output.
//!
//! Every case is checked generically from the JSON alone:
//! - `vectors`: `encode(node)` equals `encoded_hex` (or `encoded_len`/`encoded_sha256`/head/tail for the
//!   large payloads); `decode(encoded)` equals `decoded` (or `node`); re-encoding Baileys' decoded form
//!   matches (or differs) as `reencode_of_decoded_identical` says; when it says identical, re-encoding
//!   *our* decoded node must give the same bytes too.
//! - `decode_only`: decoding `input_hex` gives `decoded`.
//! - `decode_errors`: decoding `input_hex` fails.
//!
//! Decoded nodes are compared with JIDs in their string form. Where Baileys 6.7.24 is lossy and we are
//! not (AD_JID domains 128/129 are `@hosted`/`@hosted.lid` to us, `@s.whatsapp.net` to it — see
//! `chattu::protocol::binary`), the comparison falls back to "our result as Baileys 6.7.24 would print
//! it"; those cases are listed in the output.

use chattu::protocol::binary::{decode, encode, AttrValue, Content, Node};
use chattu::protocol::crypto::sha256;
use chattu::protocol::jid::{Jid, Server};
use serde_json::Value;

use crate::common::{hex, load, to_hex};

/// Builds a node from the vector JSON shape; attributes stay strings, in JSON order.
fn node_from_json(v: &Value) -> Result<Node, String> {
    let tag = v["tag"].as_str().ok_or("node without a string tag")?;
    let mut node = Node::new(tag);
    if let Some(attrs) = v["attrs"].as_object() {
        for (key, value) in attrs {
            let value = value
                .as_str()
                .ok_or_else(|| format!("attribute {key} is not a string"))?;
            node.attrs
                .push((key.clone(), AttrValue::Str(value.to_string())));
        }
    }
    node.content = match &v["content"] {
        Value::Null => Content::None,
        Value::Array(children) => Content::Nodes(
            children
                .iter()
                .map(node_from_json)
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(c) => {
            if let Some(b) = c.get("bytes").and_then(Value::as_str) {
                Content::Bytes(hex(b))
            } else if let Some(s) = c.get("string").and_then(Value::as_str) {
                Content::Str(s.to_string())
            } else if let Some(p) = c.get("bytes_pattern") {
                let len = p["len"].as_u64().ok_or("bytes_pattern without len")?;
                let seed = p["seed"].as_u64().ok_or("bytes_pattern without seed")?;
                Content::Bytes(
                    (0..len)
                        .map(|i| ((i * 31 + 7 + seed) % 256) as u8)
                        .collect(),
                )
            } else {
                return Err(format!("unknown content shape {c:?}"));
            }
        }
        other => return Err(format!("unknown content {other}")),
    };
    Ok(node)
}

/// Our decoded node with every JID replaced by its string form (the vectors' view).
fn as_strings(node: &Node, baileys_6_7: bool) -> Node {
    let jid_text = |j: &Jid| {
        if baileys_6_7 {
            baileys_6_7_view(j).to_string()
        } else {
            j.to_string()
        }
    };
    Node {
        tag: node.tag.clone(),
        attrs: node
            .attrs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    AttrValue::Str(s) => s.clone(),
                    AttrValue::Jid(j) => jid_text(j),
                };
                (k.clone(), AttrValue::Str(v))
            })
            .collect(),
        content: match &node.content {
            Content::Jid(j) => Content::Str(jid_text(j)),
            Content::Nodes(children) => Content::Nodes(
                children
                    .iter()
                    .map(|c| as_strings(c, baileys_6_7))
                    .collect(),
            ),
            other => other.clone(),
        },
    }
}

/// How Baileys 6.7.24's decoder prints an AD_JID we decoded to a hosted server: it only knows domain 1
/// (`lid`); every other domain becomes `s.whatsapp.net`, and it has no agent.
fn baileys_6_7_view(jid: &Jid) -> Jid {
    let mut j = jid.clone();
    if matches!(j.server, Server::Hosted | Server::HostedLid) {
        j.server = Server::Whatsapp;
    }
    j.agent = 0;
    j
}

/// Short description of the first difference between two nodes.
fn diff(expected: &Node, actual: &Node) -> String {
    if expected.tag != actual.tag || expected.attrs != actual.attrs {
        let e = Node {
            content: Content::None,
            ..expected.clone()
        };
        let a = Node {
            content: Content::None,
            ..actual.clone()
        };
        return format!("expected {e}\n   got {a}");
    }
    match (&expected.content, &actual.content) {
        (Content::Nodes(e), Content::Nodes(a)) if e.len() == a.len() => e
            .iter()
            .zip(a)
            .find(|(x, y)| x != y)
            .map(|(x, y)| diff(x, y))
            .unwrap_or_default(),
        _ => format!("expected {expected}\n   got {actual}"),
    }
}

/// Compares a decode result to the expected node; Ok(true) if only the Baileys 6.7 view matched.
fn check_decoded(name: &str, actual: &Node, expected: &Node) -> Result<bool, String> {
    let ours = as_strings(actual, false);
    if &ours == expected {
        return Ok(false);
    }
    if &as_strings(actual, true) == expected {
        return Ok(true);
    }
    Err(format!(
        "{name}: decoded node differs\n   {}",
        diff(expected, &ours)
    ))
}

fn encoded_bytes(case: &Value, name: &str) -> Result<Vec<u8>, String> {
    case["encoded_hex"]
        .as_str()
        .map(hex)
        .ok_or_else(|| format!("{name}: no encoded_hex"))
}

/// Checks one `vectors` case; returns whether the Baileys 6.7 fallback was needed.
fn check_vector(case: &Value) -> Result<bool, String> {
    let name = case["name"].as_str().unwrap_or("(unnamed)");
    let node = node_from_json(&case["node"]).map_err(|e| format!("{name}: {e}"))?;
    let ours = encode(&node).map_err(|e| format!("{name}: encode failed: {e}"))?;

    let wire = if let Some(len) = case["encoded_len"].as_u64() {
        if ours.len() as u64 != len {
            return Err(format!("{name}: encoded length {} != {len}", ours.len()));
        }
        let want_sha = case["encoded_sha256"]
            .as_str()
            .ok_or(format!("{name}: no sha256"))?;
        if to_hex(&sha256(&ours)) != want_sha {
            return Err(format!("{name}: encoded sha256 differs"));
        }
        let head = hex(case["encoded_head_hex"].as_str().unwrap_or_default());
        let tail = hex(case["encoded_tail_hex"].as_str().unwrap_or_default());
        if head.is_empty() || !ours.starts_with(&head) || !ours.ends_with(&tail) {
            return Err(format!("{name}: encoded head/tail differ"));
        }
        ours
    } else {
        let want = encoded_bytes(case, name)?;
        if ours != want {
            return Err(format!(
                "{name}: encoding differs\n   expected {}\n   got      {}",
                to_hex(&want),
                to_hex(&ours)
            ));
        }
        want
    };

    let decoded = decode(&wire).map_err(|e| format!("{name}: decode failed: {e}"))?;
    let expected = match &case["decoded"] {
        Value::Null => node.clone(),
        d => node_from_json(d).map_err(|e| format!("{name}: {e}"))?,
    };
    let fallback = check_decoded(name, &decoded, &expected)?;

    if let Some(identical) = case["reencode_of_decoded_identical"].as_bool() {
        let again = encode(&expected).map_err(|e| format!("{name}: re-encode failed: {e}"))?;
        if (again == wire) != identical {
            return Err(format!(
                "{name}: re-encoding Baileys' decoded node should {}give the same bytes",
                if identical { "" } else { "not " }
            ));
        }
        if identical {
            let typed = encode(&decoded).map_err(|e| format!("{name}: re-encode failed: {e}"))?;
            if typed != wire {
                return Err(format!(
                    "{name}: re-encoding our decoded node changed the bytes"
                ));
            }
        }
    }
    Ok(fallback)
}

#[test]
fn binary_nodes() {
    let file = load("binary-nodes.json");
    let mut failures = Vec::new();
    let mut checked = 0usize;
    let mut baileys_view = Vec::new();

    let vectors = file["vectors"].as_array().cloned().unwrap_or_default();
    let decode_only = file["decode_only"].as_array().cloned().unwrap_or_default();
    let decode_errors = file["decode_errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !vectors.is_empty() || !decode_only.is_empty() || !decode_errors.is_empty(),
        "binary-nodes.json has no cases"
    );

    for case in &vectors {
        checked += 1;
        match check_vector(case) {
            Ok(true) => baileys_view.push(case["name"].to_string()),
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }

    for case in &decode_only {
        checked += 1;
        let name = case["name"].as_str().unwrap_or("(unnamed)");
        let result = (|| -> Result<bool, String> {
            let input = hex(case["input_hex"].as_str().ok_or("no input_hex")?);
            let expected = node_from_json(&case["decoded"])?;
            let node = decode(&input).map_err(|e| format!("decode failed: {e}"))?;
            check_decoded(name, &node, &expected)
        })();
        match result {
            Ok(true) => baileys_view.push(name.to_string()),
            Ok(false) => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }

    for case in &decode_errors {
        checked += 1;
        let name = case["name"].as_str().unwrap_or("(unnamed)");
        let Some(input) = case["input_hex"].as_str() else {
            failures.push(format!("{name}: no input_hex"));
            continue;
        };
        match decode(&hex(input)) {
            Ok(node) => failures.push(format!("{name}: decoded to {node}, must fail")),
            Err(e) => println!("  {name}: refused ({e}; Baileys: {})", case["error"]),
        }
    }

    for name in &baileys_view {
        println!("  {name}: matches as Baileys 6.7.24 prints it (we decode hosted domains)");
    }
    println!(
        "binary-nodes.json: checked {checked} cases ({} vectors, {} decode-only, {} decode errors)",
        vectors.len(),
        decode_only.len(),
        decode_errors.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} binary-node cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
