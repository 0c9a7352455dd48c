//! Vector cases from `qr.json`: QR texts from a `<pair-device>` stanza, the companion's handling of
//! `<pair-success>` (HMAC, account signature, device signature, the `<pair-device-sign>` reply), and the
//! pairing part of Baileys' socket transcript.

use super::common::{hex, load, to_hex};
use chattu::engine::pair::{
    handle_pair_success, iq_result, parse_pair_device, qr_text, DEVICE_SIGNATURE_PREFIX,
    HOSTED_DEVICE_SIGNATURE_PREFIX,
};
use chattu::engine::DeviceCreds;
use chattu::protocol::binary::{decode, encode, Node};
use chattu::protocol::crypto::{xeddsa_verify, KeyPair};
use chattu::protocol::noise::{ClientHandshake, TrustedRoot};
use chattu::protocol::proto::generated::{AdvSignedDeviceIdentity, AdvSignedDeviceIdentityHmac};
use chattu::protocol::proto::NoiseCertificateDetails;
use chattu::protocol::proto::ProtoMessage;
use serde_json::Value;

fn key32(v: &Value) -> [u8; 32] {
    hex(v.as_str().expect("hex string"))
        .try_into()
        .expect("32 bytes")
}

fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64")
}

/// Companion creds holding the vector's keys (the signed prekey is not part of pairing; any will do).
fn creds_from(
    noise_private: &Value,
    identity_private: &Value,
    adv_secret: [u8; 32],
) -> DeviceCreds {
    let mut creds = DeviceCreds::generate();
    creds.noise_key = KeyPair::from_private(key32(noise_private));
    creds.identity_key = KeyPair::from_private(key32(identity_private));
    creds.adv_secret = adv_secret;
    creds
}

fn file_creds(file: &Value) -> DeviceCreds {
    let c = &file["creds"];
    let creds = creds_from(
        &c["noise_key"]["private"],
        &c["signed_identity_key"]["private"],
        key32(&c["adv_secret_key_raw"]),
    );
    assert_eq!(
        to_hex(&creds.noise_key.public),
        c["noise_key"]["public"].as_str().unwrap()
    );
    assert_eq!(
        to_hex(&creds.identity_key.public),
        c["signed_identity_key"]["public"].as_str().unwrap()
    );
    creds
}

/// Every QR text from the `<pair-device>` stanza; returns the number of cases.
fn check_qr_strings(file: &Value, creds: &DeviceCreds) -> usize {
    let qr = &file["qr"];
    let stanza =
        decode(&hex(qr["pair_device_stanza_encoded"].as_str().unwrap())).expect("stanza decodes");
    let request = parse_pair_device(&stanza).expect("pair-device request");
    let expected: Vec<&str> = qr["qr_strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(request.refs.len(), expected.len(), "one QR per ref");
    for (reference, want) in request.refs.iter().zip(&expected) {
        assert_eq!(&qr_text(reference, creds), want);
    }
    let ack = encode(&iq_result(&request.iq_id)).expect("ack encodes");
    assert_eq!(to_hex(&ack), qr["ack_reply_encoded"].as_str().unwrap());
    expected.len() + 1
}

/// One pair_success vector against `creds`.
/// Checks one pair_success vector; returns our reply with Baileys' device signature swapped in
/// (byte-identical to Baileys' reply), or an empty node for a rejected vector.
fn check_pair_success(creds: &DeviceCreds, vector: &Value) -> Node {
    let label = vector["label"].as_str().unwrap_or("?");
    let stanza = decode(&hex(vector["stanza_encoded"].as_str().unwrap()))
        .unwrap_or_else(|e| panic!("{label}: stanza does not decode: {e}"));
    let result = &vector["result"];
    let outcome = handle_pair_success(creds, &stanza);
    if !result["ok"].as_bool().unwrap_or(false) {
        let rejected = match outcome {
            Ok(_) => panic!("{label}: accepted a pair-success the vector rejects"),
            Err(r) => r,
        };
        let reply = rejected.reply.expect("an iq error reply");
        assert_eq!(reply.attr("type"), Some("error"), "{label}");
        return Node::new("rejected");
    }
    let accepted = outcome.unwrap_or_else(|r| panic!("{label}: refused: {}", r.error));
    let account_key = key32(&vector["account_signature_key"]["public"]);
    let container = AdvSignedDeviceIdentityHmac::decode(
        hex(vector["adv_signed_device_identity_hmac"].as_str().unwrap()).as_slice(),
    )
    .unwrap();

    // Our reply, with its device signature checked and then swapped for Baileys' (deterministic) one,
    // must be byte-identical to Baileys' reply.
    let mut reply: Node = accepted.reply.clone();
    let sign = reply
        .children()
        .first()
        .and_then(|s| s.child("device-identity"))
        .expect("pair-device-sign/device-identity");
    let mut ours = AdvSignedDeviceIdentity::decode(sign.content_bytes().unwrap()).unwrap();
    assert_eq!(
        ours.account_signature_key, None,
        "{label}: reply must drop the account key"
    );
    let details = ours.details.clone().unwrap();
    let signature: [u8; 64] = ours.device_signature.clone().unwrap().try_into().unwrap();
    let hosted = container.account_type == Some(1);
    let prefix = if hosted {
        HOSTED_DEVICE_SIGNATURE_PREFIX
    } else {
        DEVICE_SIGNATURE_PREFIX
    };
    let message = [
        &prefix[..],
        &details,
        &creds.identity_key.public,
        &account_key,
    ]
    .concat();
    assert_eq!(
        to_hex(&message),
        result["device_signature_message"].as_str().unwrap(),
        "{label}: device signature message"
    );
    assert!(
        xeddsa_verify(&creds.identity_key.public, &message, &signature),
        "{label}: our device signature does not verify"
    );
    ours.device_signature = Some(hex(result["device_signature"].as_str().unwrap()));
    if let Some(sign) = match &mut reply.content {
        chattu::protocol::binary::Content::Nodes(children) => children.first_mut(),
        _ => None,
    } {
        if let chattu::protocol::binary::Content::Nodes(ids) = &mut sign.content {
            if let Some(id) = ids.first_mut() {
                id.content = chattu::protocol::binary::Content::Bytes(ours.encode_to_vec());
            }
        }
    }
    assert_eq!(
        to_hex(&encode(&reply).unwrap()),
        result["reply_encoded"].as_str().unwrap(),
        "{label}: reply bytes"
    );

    // What the companion keeps.
    let me = result["creds"]["me"]["id"].as_str().unwrap();
    assert_eq!(accepted.paired.jid(), me, "{label}: own JID");
    assert_eq!(accepted.paired.account_signature_key, account_key);
    assert_eq!(
        accepted.paired.platform.as_deref(),
        result["creds"]["platform"].as_str(),
        "{label}: platform"
    );
    let stored =
        AdvSignedDeviceIdentity::decode(accepted.paired.signed_identity.as_slice()).unwrap();
    assert_eq!(
        stored.account_signature_key.as_deref(),
        Some(&account_key[..])
    );
    assert_eq!(stored.device_signature.as_deref(), Some(&signature[..]));
    reply
}

/// Strips the u24 length prefix of a single frame.
fn unframe(bytes: &[u8]) -> &[u8] {
    assert!(bytes.len() >= 3, "frame too short");
    let len = (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
    assert_eq!(len, bytes.len() - 3, "one whole frame per message");
    &bytes[3..]
}

/// Baileys' socket transcript, replayed through our client: the handshake (with the injected
/// ephemeral, Baileys' ClientPayload and the vector's Ed25519 test root) must produce Baileys' bytes,
/// and every later client frame must be byte-identical once our (random) device signature is swapped
/// for Baileys' deterministic one. Returns the number of frames checked.
fn check_end_to_end(file: &Value) -> usize {
    let e2e = &file["end_to_end_socket"];
    if e2e.is_null() {
        return 0;
    }
    let init = &e2e["init_auth_creds"];
    let adv: [u8; 32] = b64(init["advSecretKey"].as_str().unwrap())
        .try_into()
        .expect("32-byte adv secret");
    let creds = creds_from(
        &init["noiseKey"]["private"],
        &init["signedIdentityKey"]["private"],
        adv,
    );
    let keys = &e2e["keys"];
    let chain = &keys["cert_chain"];
    let root = TrustedRoot::ed25519(key32(&chain["test_root_ed25519_public"]));
    let not_before = ["intermediate_details", "leaf_details"]
        .iter()
        .map(|k| {
            NoiseCertificateDetails::decode(hex(chain[*k].as_str().unwrap()).as_slice())
                .unwrap()
                .not_before
                .unwrap_or(0)
        })
        .max()
        .unwrap();
    let ephemeral = KeyPair::from_private(key32(&keys["client_ephemeral"]["private"]));
    let mut handshake = Some(
        ClientHandshake::new(creds.noise_key.clone(), ephemeral, root).with_now(not_before + 1),
    );
    let client_payload = hex(e2e["client_payload"].as_str().unwrap());

    let frames = e2e["frames"].as_array().unwrap();
    let wire = |f: &Value| hex(f["ws_message"].as_str().unwrap());
    let mut checked = 0;
    let mut transport = None;
    // What our client sent that the next client->server message must equal.
    let mut expected_client: Vec<Vec<u8>> = Vec::new();
    for frame in frames {
        let dir = frame["dir"].as_str().unwrap();
        match (dir, frame["what"].as_str()) {
            ("client->server", Some("intro + client hello")) => {
                let hello = handshake.as_mut().unwrap().client_hello_frame().unwrap();
                assert_eq!(to_hex(&hello), to_hex(&wire(frame)));
            }
            ("server->client", Some("server hello")) => {
                let finish = handshake
                    .as_mut()
                    .unwrap()
                    .read_server_hello(unframe(&wire(frame)), &client_payload)
                    .expect("Baileys' fake server is accepted with the test root");
                expected_client.push(finish.frame);
            }
            ("client->server", Some(_)) => {
                let ours = expected_client
                    .pop()
                    .expect("our client had something to send");
                assert_eq!(
                    to_hex(&ours),
                    to_hex(&wire(frame)),
                    "client frame {checked}"
                );
            }
            ("server->client", None) => {
                let transport = transport.get_or_insert_with(|| {
                    let finished = handshake.take().expect("handshake ran");
                    finished.into_transport().expect("handshake finished")
                });
                let sealed = hex(frame["frame_on_wire"].as_str().unwrap());
                let plain = transport
                    .decrypt(unframe(&sealed))
                    .expect("server frame decrypts");
                assert_eq!(to_hex(&plain), frame["plaintext"].as_str().unwrap());
                let node = decode(&plain).unwrap();
                let reply = if let Some(request) = parse_pair_device(&node) {
                    let emitted = e2e["qr_strings_emitted_by_baileys"].as_array().unwrap();
                    // Baileys shows the first ref's QR; it was paired before rotating to the next.
                    assert!(!emitted.is_empty() && emitted.len() <= request.refs.len());
                    for (reference, want) in request.refs.iter().zip(emitted) {
                        assert_eq!(qr_text(reference, &creds), want.as_str().unwrap());
                    }
                    iq_result(&request.iq_id)
                } else {
                    assert!(chattu::engine::pair::is_pair_success(&node));
                    check_pair_success(&creds, &e2e["pair_success_vector"])
                };
                let sealed = transport.encrypt(&encode(&reply).unwrap()).unwrap();
                let mut framed = vec![0u8; 3];
                let len = sealed.len();
                framed[0] = (len >> 16) as u8;
                framed[1] = (len >> 8) as u8;
                framed[2] = len as u8;
                framed.extend_from_slice(&sealed);
                expected_client.push(framed);
            }
            ("client->server", None) => {
                // The decrypted view of the frame just compared: our plaintext matched it implicitly.
            }
            other => panic!("unexpected transcript entry {other:?}"),
        }
        checked += 1;
    }
    assert!(
        expected_client.is_empty(),
        "our client would send more than Baileys did"
    );
    checked
}

#[test]
fn qr() {
    let file = load("qr.json");
    let creds = file_creds(&file);
    let qr_cases = check_qr_strings(&file, &creds);
    let vectors = file["pair_success"]["vectors"].as_array().unwrap();
    for vector in vectors {
        check_pair_success(&creds, vector);
    }
    let e2e = check_end_to_end(&file);
    println!(
        "qr.json: {qr_cases} QR/ack cases, {} pair-success vectors, {e2e} transcript entries",
        vectors.len()
    );
    assert!(qr_cases > 0 && !vectors.is_empty());
}
