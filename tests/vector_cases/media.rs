//! `media.json`: key expansion per media type, encryption, decryption and both hashes.
//! A section this harness does not know fails the test.

use crate::common::{hex, load};
use chattu::protocol::media::{self, stream, MediaKeys, MediaType};
use serde_json::Value;

fn text<'a>(case: &'a Value, name: &str) -> &'a str {
    case.get(name)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("case lacks string `{name}`: {case}"))
}

fn bytes(case: &Value, name: &str) -> Vec<u8> {
    hex(text(case, name))
}

fn key32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("32-byte media key")
}

fn number(case: &Value, name: &str) -> u64 {
    match case.get(name) {
        Some(Value::Number(n)) => n.as_u64().expect("non-negative"),
        Some(Value::String(s)) => s.parse().expect("numeric string"),
        _ => panic!("case lacks number `{name}`: {case}"),
    }
}

fn flag(case: &Value, name: &str) -> bool {
    match case.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => true,
    }
}

/// Expands with our media-type table when it names the type (and checks the table's info string
/// against the file), else with the file's info string.
fn derive(media_key: &[u8; 32], case: &Value) -> MediaKeys {
    let info = text(case, "hkdf_info");
    match MediaType::from_name(text(case, "media_type")) {
        Some(t) => {
            assert_eq!(t.hkdf_info(), info, "info string for {}", t.name());
            MediaKeys::derive(media_key, t)
        }
        None => MediaKeys::derive_with_info(media_key, info.as_bytes()),
    }
}

fn check_split(keys: &MediaKeys, case: &Value) {
    assert_eq!(keys.iv.to_vec(), bytes(case, "iv"), "iv of {case}");
    assert_eq!(keys.cipher_key.to_vec(), bytes(case, "cipher_key"));
    assert_eq!(keys.mac_key.to_vec(), bytes(case, "mac_key"));
    if case.get("ref_key").is_some() {
        assert_eq!(keys.ref_key.to_vec(), bytes(case, "ref_key"));
    }
}

/// Key derivation cases may omit the media key; it is then one of the keys used elsewhere in the
/// file, and exactly the expansion the case records must come out of one of them.
fn check_key_derivation(case: &Value, known_keys: &[[u8; 32]]) {
    let candidates: Vec<[u8; 32]> = match case.get("media_key") {
        Some(_) => vec![key32(&bytes(case, "media_key"))],
        None => known_keys.to_vec(),
    };
    let expanded = bytes(case, "expanded_112");
    let key = candidates
        .iter()
        .find(|k| {
            let keys = derive(k, case);
            [&keys.iv[..], &keys.cipher_key, &keys.mac_key, &keys.ref_key].concat() == expanded
        })
        .unwrap_or_else(|| panic!("no media key in the file expands to {case}"));
    check_split(&derive(key, case), case);
}

fn check_encryption(case: &Value, shared_plaintext: &[u8]) {
    let plaintext = match case.get("plaintext") {
        Some(_) => bytes(case, "plaintext"),
        None => shared_plaintext.to_vec(),
    };
    assert_eq!(plaintext.len() as u64, number(case, "plaintext_len"));
    let keys = derive(&key32(&bytes(case, "media_key")), case);
    check_split(&keys, case);
    let encrypted = bytes(case, "encrypted");
    assert_eq!(encrypted.len() as u64, number(case, "enc_len"));
    let ours = media::encrypt(&keys, &plaintext);
    assert_eq!(
        ours.data,
        encrypted,
        "encrypted bytes of {}",
        text(case, "media_type")
    );
    assert_eq!(ours.mac().to_vec(), bytes(case, "mac"));
    assert_eq!(ours.file_sha256.to_vec(), bytes(case, "file_sha256"));
    assert_eq!(
        ours.file_enc_sha256.to_vec(),
        bytes(case, "file_enc_sha256")
    );
    assert_eq!(ours.file_length, number(case, "file_length"));

    // Streaming gives the same bytes and fields.
    let mut streamed = Vec::new();
    let digest = stream::encrypt_stream(&keys, &plaintext[..], &mut streamed).expect("stream");
    assert_eq!(streamed, encrypted);
    assert_eq!(digest.file_sha256, ours.file_sha256);
    assert_eq!(digest.file_enc_sha256, ours.file_enc_sha256);

    // Decryption verifies the MAC and the hashes, whole and streamed.
    let back = media::decrypt_verified(
        &keys,
        &encrypted,
        &bytes(case, "file_enc_sha256"),
        &bytes(case, "file_sha256"),
    );
    if flag(case, "check_mac") {
        assert_eq!(back.expect("decrypts"), plaintext);
        let mut out = Vec::new();
        stream::decrypt_stream(&keys, &encrypted[..], &mut out).expect("stream decrypts");
        assert_eq!(out, plaintext);
        let mut tampered = encrypted.clone();
        tampered[0] ^= 0x01;
        assert!(
            media::decrypt(&keys, &tampered).is_err(),
            "tampered file accepted"
        );
    } else {
        assert!(back.is_err(), "a bad MAC must be rejected: {case}");
    }
}

#[test]
fn media() {
    let file = load("media.json");
    let sections = file.as_object().expect("media.json is an object");
    let shared_plaintext = sections
        .get("plaintext")
        .map(|p| {
            let bytes = bytes(p, "hex");
            if p.get("sha256").is_some() {
                assert_eq!(
                    chattu::protocol::crypto::sha256(&bytes).to_vec(),
                    hex(text(p, "sha256"))
                );
            }
            bytes
        })
        .unwrap_or_default();
    let mut known_keys: Vec<[u8; 32]> = Vec::new();
    for section in ["encryptions", "edge_lengths"] {
        for case in sections
            .get(section)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key32(&bytes(case, "media_key"));
            if !known_keys.contains(&key) {
                known_keys.push(key);
            }
        }
    }
    let mut total = 0;
    for (name, section) in sections {
        let cases = || section.as_array().expect("a list of cases");
        let n = match name.as_str() {
            "generator" | "description" | "scheme" | "quirks" | "plaintext" => continue,
            "key_derivations" => {
                cases()
                    .iter()
                    .for_each(|c| check_key_derivation(c, &known_keys));
                cases().len()
            }
            "encryptions" | "edge_lengths" => {
                cases()
                    .iter()
                    .for_each(|c| check_encryption(c, &shared_plaintext));
                cases().len()
            }
            other => panic!("media.json has a section this harness does not check: `{other}`"),
        };
        println!("media.json {name}: {n} cases");
        total += n;
    }
    assert!(total > 0, "media.json had no cases");
    println!("media.json: {total} cases checked");
}
