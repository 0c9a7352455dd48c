//! Vector cases from `message-proto.json`: `WAProto.Message` encodings made by protobufjs (Baileys).
//!
//! For every vector, `encoded` is decoded with our `Message` type and compared with `message_json`
//! (protobufjs `toObject`: camelCase names, 64-bit integers and enums as strings, bytes as base64).
//! The comparison is generic: what we decoded is re-encoded and rendered as protobufjs-style JSON by
//! reflection over the same `whatsapp.proto` the Rust code is generated from, then compared with the
//! vector's JSON tree in both directions. A field in the vector that our schema does not know is dropped
//! by our decoder and therefore shows up as a failure, as does any field we decode that the vector lacks.
//!
//! Also checked: re-encoding gives `encoded` byte for byte when `roundtrip_reencode_identical` says so,
//! `padded` equals our padding of `encoded` with `pad_random_byte` and unpads back, and every
//! `padding.vectors` case.

use std::path::Path;

use chattu::protocol::proto::{
    decode_message, decode_padded_message, pad, unpad, Message, ProtoMessage as _,
};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;

use crate::common::{hex, load, to_hex};

/// The descriptor of `whatsapp.Message`, compiled from our schema with protox.
fn message_descriptor() -> MessageDescriptor {
    let proto_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/protocol/proto");
    let pool: DescriptorPool = protox::Compiler::new([proto_dir])
        .expect("protox compiler")
        .include_imports(true)
        .open_file("whatsapp.proto")
        .expect("whatsapp.proto compiles")
        .descriptor_pool();
    pool.get_message_by_name("whatsapp.Message")
        .expect("whatsapp.Message in schema")
}

/// Renders our decoded message the way protobufjs `toObject({longs: String, enums: String, bytes: String})`
/// does: only fields that are present, camelCase names, 64-bit integers as strings, enum names, base64.
fn to_protobufjs_json(desc: &MessageDescriptor, message: &Message) -> Result<Value, String> {
    let dynamic = DynamicMessage::decode(desc.clone(), message.encode_to_vec().as_slice())
        .map_err(|e| format!("reflection decode of our re-encoding failed: {e}"))?;
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(true)
        .use_enum_numbers(false)
        .skip_default_fields(true);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| format!("JSON rendering failed: {e}"))
}

/// Lists every difference between the vector's JSON (`expected`) and ours (`actual`), with its path.
fn json_differences(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(exp), Value::Object(act)) => {
            for (key, exp_value) in exp {
                let child = format!("{path}.{key}");
                match act.get(key) {
                    Some(act_value) => json_differences(&child, exp_value, act_value, out),
                    None => out.push(format!(
                        "{child}: in the vector ({exp_value}) but not decoded (not in the bytes, or unknown to our schema)"
                    )),
                }
            }
            for (key, act_value) in act {
                if !exp.contains_key(key) {
                    out.push(format!(
                        "{path}.{key}: decoded as {act_value} but absent from the vector"
                    ));
                }
            }
        }
        (Value::Array(exp), Value::Array(act)) if exp.len() == act.len() => {
            for (i, (e, a)) in exp.iter().zip(act).enumerate() {
                json_differences(&format!("{path}[{i}]"), e, a, out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{path}: expected {expected}, decoded {actual}")),
    }
}

fn field_hex(case: &Value, key: &str) -> Result<Vec<u8>, String> {
    case[key]
        .as_str()
        .map(hex)
        .ok_or_else(|| format!("missing hex field `{key}`"))
}

fn field_byte(case: &Value, key: &str) -> Result<u8, String> {
    case[key]
        .as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .ok_or_else(|| format!("missing byte field `{key}`"))
}

/// Checks one entry of `vectors`; returns the problems found.
fn check_message_case(desc: &MessageDescriptor, case: &Value) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let encoded = field_hex(case, "encoded")?;
    let expected_json = case.get("message_json").ok_or("missing `message_json`")?;

    let decoded = decode_message(&encoded).map_err(|e| format!("decode failed: {e}"))?;
    let ours = to_protobufjs_json(desc, &decoded)?;
    json_differences("message", expected_json, &ours, &mut problems);

    if case["roundtrip_reencode_identical"].as_bool() == Some(true) {
        let reencoded = decoded.encode_to_vec();
        if reencoded != encoded {
            problems.push(format!(
                "re-encoding differs:\n  vector {}\n  ours   {}",
                to_hex(&encoded),
                to_hex(&reencoded)
            ));
        }
    }

    if case.get("padded").is_some() {
        let padded = field_hex(case, "padded")?;
        let random_byte = field_byte(case, "pad_random_byte")?;
        let ours_padded = pad(&encoded, random_byte);
        if ours_padded != padded {
            problems.push(format!(
                "pad(encoded, {random_byte}) = {}, vector {}",
                to_hex(&ours_padded),
                to_hex(&padded)
            ));
        }
        if let Some(pad_len) = case["pad_len"].as_u64() {
            let actual = padded.len().saturating_sub(encoded.len());
            if u64::try_from(actual).ok() != Some(pad_len) {
                problems.push(format!("padding is {actual} bytes, vector says {pad_len}"));
            }
        }
        match decode_padded_message(&padded) {
            Ok(m) if m == decoded => {}
            Ok(_) => problems.push("padded plaintext decodes to a different message".into()),
            Err(e) => problems.push(format!("padded plaintext rejected: {e}")),
        }
    }
    Ok(problems)
}

/// Checks one entry of `padding.vectors`.
fn check_padding_case(case: &Value) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let input = field_hex(case, "input")?;
    let padded = field_hex(case, "padded")?;
    let unpadded = field_hex(case, "unpadded")?;
    let random_byte = field_byte(case, "random_byte")?;
    let ours = pad(&input, random_byte);
    if ours != padded {
        problems.push(format!(
            "pad({}, {random_byte}) = {}, vector {}",
            to_hex(&input),
            to_hex(&ours),
            to_hex(&padded)
        ));
    }
    match unpad(&padded) {
        Ok(stripped) if stripped == unpadded.as_slice() => {}
        Ok(stripped) => problems.push(format!(
            "unpad gave {}, vector {}",
            to_hex(stripped),
            to_hex(&unpadded)
        )),
        Err(e) => problems.push(format!("unpad rejected {}: {e}", to_hex(&padded))),
    }
    Ok(problems)
}

#[test]
fn message_proto() {
    let file = load("message-proto.json");
    let desc = message_descriptor();
    let mut failures = Vec::new();
    let mut checked = 0usize;

    let vectors = file["vectors"].as_array().expect("`vectors` array");
    for (i, case) in vectors.iter().enumerate() {
        let name = case["name"].as_str().unwrap_or("?");
        match check_message_case(&desc, case) {
            Ok(problems) => failures.extend(
                problems
                    .into_iter()
                    .map(|p| format!("vectors[{i}] {name}: {p}")),
            ),
            Err(e) => failures.push(format!("vectors[{i}] {name}: cannot check: {e}")),
        }
        checked += 1;
    }

    let padding = file["padding"]["vectors"]
        .as_array()
        .expect("`padding.vectors` array");
    for (i, case) in padding.iter().enumerate() {
        match check_padding_case(case) {
            Ok(problems) => {
                failures.extend(problems.into_iter().map(|p| format!("padding[{i}]: {p}")))
            }
            Err(e) => failures.push(format!("padding[{i}]: cannot check: {e}")),
        }
        checked += 1;
    }

    println!(
        "message-proto: checked {checked} cases ({} messages, {} padding)",
        vectors.len(),
        padding.len()
    );
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
