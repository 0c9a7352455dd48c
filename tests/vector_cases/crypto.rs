//! `crypto.json`: every case of every section, checked against `chattu::protocol::crypto`.
//! A section or sub-section this harness does not know fails the test.

use crate::common::{hex, load};
use chattu::protocol::crypto::{self, pairing_code, KeyPair};
use serde_json::Value;

fn field<'a>(case: &'a Value, name: &str) -> &'a Value {
    case.get(name)
        .unwrap_or_else(|| panic!("case lacks `{name}`: {case}"))
}

fn text<'a>(case: &'a Value, name: &str) -> &'a str {
    field(case, name)
        .as_str()
        .unwrap_or_else(|| panic!("`{name}` is not a string: {case}"))
}

fn bytes(case: &Value, name: &str) -> Vec<u8> {
    hex(text(case, name))
}

fn array<const N: usize>(case: &Value, name: &str) -> [u8; N] {
    let v = bytes(case, name);
    v.clone()
        .try_into()
        .unwrap_or_else(|_| panic!("`{name}` should be {N} bytes, is {}", v.len()))
}

fn list<'a>(section: &'a Value, name: &str) -> &'a Vec<Value> {
    field(section, name)
        .as_array()
        .unwrap_or_else(|| panic!("`{name}` is not a list"))
}

/// Optional expectation flag: absent means "expected to succeed".
fn expect_ok(case: &Value, name: &str) -> bool {
    case.get(name).and_then(Value::as_bool).unwrap_or(true)
}

fn check_key_pairs(section: &Value) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let pair = KeyPair::from_private(array(case, "private"));
        assert_eq!(
            pair.public.to_vec(),
            bytes(case, "public"),
            "public of {case}"
        );
        if case.get("private_clamped").is_some() {
            assert_eq!(pair.private.to_vec(), bytes(case, "private_clamped"));
        }
        if case.get("public_signal_33").is_some() {
            assert_eq!(
                pair.public_signal().to_vec(),
                bytes(case, "public_signal_33")
            );
        }
        n += 1;
    }
    n
}

fn check_shared_secrets(section: &Value, key_pairs: Option<&Value>) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let shared = crypto::x25519(&array(case, "private"), &array(case, "public"));
        assert_eq!(
            shared.to_vec(),
            bytes(case, "shared"),
            "shared secret of {case}"
        );
        // When the file also lists both parties' keys, check the other direction too.
        let symmetric = case.get("symmetric").and_then(Value::as_bool) == Some(true);
        let find = |label: Option<&str>| -> Option<KeyPair> {
            let label = label?;
            let pairs = key_pairs?.get("vectors")?.as_array()?;
            let pair = pairs
                .iter()
                .find(|p| p.get("label").and_then(Value::as_str) == Some(label))?;
            Some(KeyPair::from_private(array(pair, "private")))
        };
        if symmetric {
            let mine = find(case.get("private_of").and_then(Value::as_str));
            let theirs = find(case.get("public_of").and_then(Value::as_str));
            if let (Some(mine), Some(theirs)) = (mine, theirs) {
                assert_eq!(crypto::x25519(&theirs.private, &mine.public), shared);
            }
        }
        n += 1;
    }
    n
}

fn tampered(message: &[u8]) -> Vec<u8> {
    let mut m = message.to_vec();
    match m.last_mut() {
        Some(last) => *last ^= 0x01,
        None => m.push(0x01),
    }
    m
}

fn check_signature_case(case: &Value, kind: &str) {
    let public: [u8; 32] = array(case, "public");
    let message = bytes(case, "message");
    let signature: [u8; 64] = array(case, "signature");
    let verifies = crypto::xeddsa_verify(&public, &message, &signature);
    assert_eq!(
        verifies,
        expect_ok(case, "baileys_verify"),
        "{kind} verify of {case}"
    );
    assert!(
        !crypto::xeddsa_verify(&public, &tampered(&message), &signature),
        "{kind}: signature accepted over a tampered message: {case}"
    );
    if let Some(private) = case.get("private").and_then(Value::as_str) {
        let private: [u8; 32] = hex(private).try_into().expect("32-byte private key");
        assert_eq!(
            KeyPair::from_private(private).public,
            public,
            "{kind}: key pair"
        );
        match kind {
            "baileys_curve_sign"
                if case.get("deterministic").and_then(Value::as_bool) == Some(true) =>
            {
                let ours = crypto::xeddsa_sign_deterministic(&private, &message);
                assert_eq!(ours, signature, "deterministic signature of {case}");
            }
            "xeddsa_randomized" => {
                let z: [u8; 64] = array(case, "random64");
                let ours = crypto::xeddsa_sign(&private, &message, &z);
                assert_eq!(ours, signature, "XEdDSA with fixed Z of {case}");
            }
            _ => {}
        }
        // Our own randomised signature must verify too.
        let fresh = crypto::xeddsa_sign_random(&private, &message);
        assert!(crypto::xeddsa_verify(&public, &message, &fresh));
    }
}

fn check_signed_key_pair(case: &Value) {
    let identity = field(case, "identity");
    let pre_key = field(case, "pre_key");
    let identity_pair = KeyPair::from_private(array(identity, "private"));
    assert_eq!(identity_pair.public.to_vec(), bytes(identity, "public"));
    let pre_pair = KeyPair::from_private(array(pre_key, "private"));
    assert_eq!(pre_pair.public.to_vec(), bytes(pre_key, "public"));
    let signed = pre_pair.public_signal();
    let signature: [u8; 64] = array(case, "signature");
    assert_eq!(
        crypto::xeddsa_verify(&identity_pair.public, &signed, &signature),
        expect_ok(case, "verify")
    );
    // The signature covers 0x05 || pub, not the bare key.
    assert!(!crypto::xeddsa_verify(
        &identity_pair.public,
        &pre_pair.public,
        &signature
    ));
    assert_eq!(
        crypto::xeddsa_sign_deterministic(&identity_pair.private, &signed),
        signature
    );
}

fn check_signatures(section: &Value) -> usize {
    let mut n = 0;
    for (kind, value) in section.as_object().expect("signatures is an object") {
        match kind.as_str() {
            "note" => {}
            "baileys_curve_sign" | "xeddsa_randomized" | "signed_by_libsignal_client" => {
                for case in value.as_array().expect("list of signatures") {
                    check_signature_case(case, kind);
                    n += 1;
                }
            }
            "signed_key_pair" => {
                check_signed_key_pair(value);
                n += 1;
            }
            other => panic!("unknown signatures kind `{other}`"),
        }
    }
    n
}

fn optional_bytes(case: &Value, name: &str) -> Vec<u8> {
    match case.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => hex(v.as_str().expect("hex string")),
    }
}

fn optional_text(case: &Value, name: &str) -> Vec<u8> {
    match case.get(name) {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => v.as_str().expect("utf-8 info").as_bytes().to_vec(),
    }
}

fn check_hkdf(section: &Value) -> usize {
    let mut n = 0;
    for (kind, value) in section.as_object().expect("hkdf is an object") {
        match kind.as_str() {
            "function" | "note" => {}
            "vectors" => {
                for case in value.as_array().expect("hkdf vectors") {
                    let len = field(case, "length").as_u64().expect("length") as usize;
                    let okm = crypto::hkdf_sha256(
                        &bytes(case, "ikm"),
                        &optional_bytes(case, "salt"),
                        &optional_text(case, "info"),
                        len,
                    );
                    assert_eq!(okm, bytes(case, "okm"), "hkdf {case}");
                    n += 1;
                }
            }
            "libsignal_deriveSecrets" => {
                for case in list(value, "vectors") {
                    let chunks = field(case, "chunks").as_u64().expect("chunks") as usize;
                    let out = crypto::hkdf_sha256_chunks(
                        &bytes(case, "ikm"),
                        &bytes(case, "salt"),
                        &optional_text(case, "info"),
                        chunks,
                    );
                    let expected: Vec<Vec<u8>> = list(case, "output")
                        .iter()
                        .map(|c| hex(c.as_str().expect("hex chunk")))
                        .collect();
                    let got: Vec<Vec<u8>> = out.iter().map(|c| c.to_vec()).collect();
                    assert_eq!(got, expected, "deriveSecrets {case}");
                    n += 1;
                }
            }
            other => panic!("unknown hkdf kind `{other}`"),
        }
    }
    n
}

fn check_aes_gcm(section: &Value) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let key = array(case, "key");
        let iv = array(case, "iv");
        let aad = bytes(case, "aad");
        let pt = bytes(case, "plaintext");
        let ct = bytes(case, "ciphertext_with_tag");
        let decrypted = crypto::aes_gcm_decrypt(&key, &iv, &aad, &ct);
        if expect_ok(case, "decrypt_ok") {
            assert_eq!(
                crypto::aes_gcm_encrypt(&key, &iv, &aad, &pt),
                ct,
                "gcm {case}"
            );
            assert_eq!(decrypted.as_deref(), Ok(&pt[..]), "gcm decrypt {case}");
            let mut bad = ct.clone();
            bad[0] ^= 0x80;
            assert!(crypto::aes_gcm_decrypt(&key, &iv, &aad, &bad).is_err());
        } else {
            assert!(decrypted.is_err(), "gcm should fail: {case}");
        }
        n += 1;
    }
    n
}

fn check_aes_ctr(section: &Value) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let key = array(case, "key");
        let iv = array(case, "iv");
        let pt = bytes(case, "plaintext");
        let ct = bytes(case, "ciphertext");
        let mut buf = pt.clone();
        crypto::aes_ctr_apply(&key, &iv, &mut buf);
        assert_eq!(buf, ct, "ctr {case}");
        crypto::aes_ctr_apply(&key, &iv, &mut buf);
        assert_eq!(buf, pt);
        n += 1;
    }
    n
}

fn check_aes_cbc(section: &Value) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let key = array(case, "key");
        let iv = array(case, "iv");
        let pt = bytes(case, "plaintext");
        let ct = bytes(case, "ciphertext");
        let decrypted = crypto::aes_cbc_decrypt(&key, &iv, &ct);
        if expect_ok(case, "decrypt_ok") {
            assert_eq!(crypto::aes_cbc_encrypt(&key, &iv, &pt), ct, "cbc {case}");
            assert_eq!(decrypted.as_deref(), Ok(&pt[..]), "cbc decrypt {case}");
        } else {
            assert!(decrypted.is_err(), "cbc should fail: {case}");
        }
        n += 1;
    }
    n
}

fn check_hmac(section: &Value) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let key = bytes(case, "key");
        let data = bytes(case, "data");
        let mac = match text(case, "variant") {
            "sha256" => crypto::hmac_sha256(&key, &data).to_vec(),
            "sha512" => crypto::hmac_sha512(&key, &data).to_vec(),
            other => panic!("unknown hmac variant `{other}`"),
        };
        assert_eq!(mac, bytes(case, "mac"), "hmac {case}");
        n += 1;
    }
    n
}

fn check_hashes(section: &Value) -> usize {
    let mut n = 0;
    for (kind, cases) in section.as_object().expect("hashes is an object") {
        for case in cases.as_array().expect("hash cases") {
            let data = bytes(case, "data");
            let digest = match kind.as_str() {
                "sha256" => crypto::sha256(&data).to_vec(),
                "sha512" => crypto::sha512(&data).to_vec(),
                "md5" => crypto::md5(&data).to_vec(),
                other => panic!("unknown hash `{other}`"),
            };
            assert_eq!(digest, bytes(case, "digest"), "{kind} {case}");
            n += 1;
        }
    }
    n
}

fn check_pairing_code(section: &Value) -> usize {
    let mut n = 0;
    for (kind, value) in section.as_object().expect("pairing_code is an object") {
        match kind.as_str() {
            "derivePairingCodeKey" => {
                let key = pairing_code::derive_code_key(text(value, "code"), &bytes(value, "salt"));
                assert_eq!(key.to_vec(), bytes(value, "key"), "pairing key {value}");
                n += 1;
            }
            "bytesToCrockford" => {
                for case in value.as_array().expect("crockford cases") {
                    let code = pairing_code::bytes_to_crockford(&bytes(case, "bytes"));
                    assert_eq!(code, text(case, "code"));
                    assert!(pairing_code::is_valid_code(&code));
                    n += 1;
                }
            }
            other => panic!("unknown pairing_code kind `{other}`"),
        }
    }
    n
}

fn check_registration_ids(section: &Value) -> usize {
    let mut n = 0;
    for case in list(section, "vectors") {
        let id = field(case, "registration_id")
            .as_u64()
            .expect("registration id");
        let id = u32::try_from(id).expect("registration id fits u32");
        assert!(
            crypto::registration_id_is_valid(id),
            "id {id} must be accepted"
        );
        n += 1;
    }
    // Our own generator makes full 14-bit ids, which must also be valid.
    for _ in 0..64 {
        assert!(crypto::registration_id_is_valid(
            crypto::generate_registration_id()
        ));
    }
    n
}

#[test]
fn crypto() {
    let file = load("crypto.json");
    let sections = file.as_object().expect("crypto.json is an object");
    let mut total = 0;
    for (name, section) in sections {
        let n = match name.as_str() {
            "generator" | "description" => continue,
            "key_pairs" => check_key_pairs(section),
            "shared_secrets" => check_shared_secrets(section, sections.get("key_pairs")),
            "signatures" => check_signatures(section),
            "hkdf" => check_hkdf(section),
            "aes_gcm" => check_aes_gcm(section),
            "aes_ctr" => check_aes_ctr(section),
            "aes_cbc" => check_aes_cbc(section),
            "hmac" => check_hmac(section),
            "hashes" => check_hashes(section),
            "pairing_code" => check_pairing_code(section),
            "registration_id" => check_registration_ids(section),
            other => panic!("crypto.json has a section this harness does not check: `{other}`"),
        };
        println!("crypto.json {name}: {n} cases");
        total += n;
    }
    assert!(total > 0, "crypto.json had no cases");
    println!("crypto.json: {total} cases checked");
}
