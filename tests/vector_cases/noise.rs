//! `noise.json`: both transcripts replayed as the client and as the server.
//!
//! Client: inject the ephemeral and noise keys, trust the file's test root (its scheme as the file
//! names it), compare the first bytes on the wire, process the ServerHello, compare every part of
//! the ClientFinish, encrypt the client frames, and decode the server frames fed in the recorded
//! chunks. Server: inject its static and ephemeral keys and the chain, reproduce the ServerHello,
//! recover the client's key and payload, decrypt the client frames and reproduce the server frames.

use crate::common::{hex, load};
use chattu::protocol::binary::{self, Content, Node};
use chattu::protocol::crypto::KeyPair;
use chattu::protocol::noise::cert::TrustedRoot;
use chattu::protocol::noise::symmetric::PROTOCOL_NAME;
use chattu::protocol::noise::{ClientHandshake, NoiseError, NoiseTransport, ServerHandshake};
use chattu::protocol::proto::{NoiseCertificateDetails, ProtoMessage};
use chattu::protocol::socket::frame::{frame, FrameDecoder, MAX_FRAME_LEN, WA_HEADER};
use chattu::protocol::socket::websocket::DEFAULT_URL;
use serde_json::Value;

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("missing `{k}` in {path:?}"))
    })
}

fn bytes(v: &Value, path: &[&str]) -> Vec<u8> {
    hex(get(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string")))
}

fn key_pair(t: &Value, name: &str) -> KeyPair {
    let private: [u8; 32] = bytes(t, &["keys", name, "private"])
        .try_into()
        .expect("32 bytes");
    let pair = KeyPair::from_private(private);
    assert_eq!(
        pair.public.to_vec(),
        bytes(t, &["keys", name, "public"]),
        "{name} public key"
    );
    pair
}

/// The root the file's chain starts at, in the scheme its field name gives.
fn trusted_root(chain: &Value) -> TrustedRoot {
    let object = chain.as_object().expect("cert_chain object");
    let (name, value) = object
        .iter()
        .find(|(k, _)| k.starts_with("test_root_") && k.ends_with("_public"))
        .expect("cert_chain names a test root public key");
    let key: [u8; 32] = hex(value.as_str().expect("hex"))
        .try_into()
        .expect("32-byte root");
    match name.as_str() {
        "test_root_ed25519_public" => TrustedRoot::ed25519(key),
        "test_root_curve25519_public" | "test_root_xeddsa_public" => TrustedRoot::xeddsa(key),
        other => panic!("unknown root key kind `{other}`"),
    }
}

/// A time at which both certificates of the file's chain are valid.
fn valid_time(chain: &Value) -> u64 {
    let mut lo = 0u64;
    let mut hi = u64::MAX;
    for field in ["intermediate_details", "leaf_details"] {
        let d = NoiseCertificateDetails::decode(&bytes(chain, &[field])[..]).expect("details");
        lo = lo.max(d.not_before.unwrap_or(0));
        hi = hi.min(d.not_after.unwrap_or(0));
    }
    assert!(lo <= hi, "the chain has no common validity window");
    lo + (hi - lo) / 2
}

fn next_frame(decoder: &mut FrameDecoder, wire: &[u8]) -> Vec<u8> {
    decoder.push(wire);
    decoder
        .next_frame()
        .expect("frame decodes")
        .expect("a whole frame")
}

/// Compares a decoded node with the vectors' `{tag, attrs, content?}` JSON.
fn assert_node(node: &Node, json: &Value) {
    assert_eq!(node.tag, get(json, &["tag"]).as_str().expect("tag"));
    let attrs = json
        .get("attrs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        node.attrs.len(),
        attrs.len(),
        "attribute count of <{}>",
        node.tag
    );
    for (key, value) in &attrs {
        let ours = node
            .attr_text(key)
            .unwrap_or_else(|| panic!("<{}> lacks {key}", node.tag));
        assert_eq!(
            ours,
            value.as_str().expect("string attribute"),
            "attribute {key}"
        );
    }
    match (json.get("content"), &node.content) {
        (None | Some(Value::Null), Content::None) => {}
        (Some(Value::Array(children)), Content::Nodes(ours)) => {
            assert_eq!(ours.len(), children.len(), "children of <{}>", node.tag);
            ours.iter()
                .zip(children)
                .for_each(|(n, j)| assert_node(n, j));
        }
        (Some(Value::Object(c)), Content::Bytes(b)) if c.contains_key("bytes") => {
            assert_eq!(b, &bytes(json, &["content", "bytes"]));
        }
        (Some(Value::Object(c)), content) if c.contains_key("string") => {
            let text = match content {
                Content::Str(s) => s.clone(),
                Content::Jid(j) => j.to_string(),
                Content::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("string content expected, got {other:?}"),
            };
            assert_eq!(
                text,
                get(json, &["content", "string"]).as_str().expect("string")
            );
        }
        (expected, ours) => panic!(
            "content of <{}>: expected {expected:?}, got {ours:?}",
            node.tag
        ),
    }
}

fn routing_info(t: &Value) -> Option<Vec<u8>> {
    t.get("routing_info").and_then(Value::as_str).map(hex)
}

/// Replays a transcript as the client; returns the number of checks made.
fn replay_as_client(t: &Value) -> usize {
    let tr = get(t, &["transcript"]);
    let chain = get(t, &["cert_chain"]);
    let root = trusted_root(chain);
    let now = valid_time(chain);
    let make = |root: TrustedRoot| {
        ClientHandshake::new(
            key_pair(t, "client_static_noise_key"),
            key_pair(t, "client_ephemeral"),
            root,
        )
        .with_routing_info(routing_info(t))
        .with_now(now)
    };

    // WhatsApp's real root must refuse this synthetic chain: the check is never off.
    let mut strict = make(TrustedRoot::whatsapp());
    strict.client_hello_frame().expect("hello");
    let hello_payload = next_frame(
        &mut FrameDecoder::new(MAX_FRAME_LEN),
        &bytes(tr, &["server_hello", "frame_on_wire"]),
    );
    let payload = bytes(tr, &["client_finish", "client_payload_plaintext"]);
    assert!(matches!(
        strict.read_server_hello(&hello_payload, &payload),
        Err(NoiseError::Certificate(_))
    ));

    let mut client = make(root);
    let hello = client.client_hello_frame().expect("client hello");
    assert_eq!(
        hello,
        bytes(tr, &["client_hello", "frame_on_wire"]),
        "first bytes on the wire"
    );
    assert!(hello.starts_with(&bytes(tr, &["client_hello", "intro_bytes"])));
    assert!(hello.ends_with(&bytes(tr, &["client_hello", "handshake_message"])));

    let mut from_server = FrameDecoder::new(MAX_FRAME_LEN);
    let server_hello = next_frame(
        &mut from_server,
        &bytes(tr, &["server_hello", "frame_on_wire"]),
    );
    assert_eq!(
        server_hello,
        bytes(tr, &["server_hello", "handshake_message"])
    );
    let finish = client
        .read_server_hello(&server_hello, &payload)
        .expect("server hello accepted");
    assert_eq!(
        finish.encrypted_static,
        bytes(tr, &["client_finish", "encrypted_static"])
    );
    assert_eq!(
        finish.encrypted_payload,
        bytes(tr, &["client_finish", "encrypted_payload"])
    );
    assert_eq!(
        finish.message,
        bytes(tr, &["client_finish", "handshake_message"])
    );
    assert_eq!(finish.frame, bytes(tr, &["client_finish", "frame_on_wire"]));
    assert_eq!(
        finish.chain.leaf_key.to_vec(),
        bytes(t, &["keys", "server_static", "public"])
    );
    let mut transport = client.into_transport().expect("transport");
    let mut checks = 6;

    for f in get(t, &["client_frames"])
        .as_array()
        .expect("client frames")
    {
        let ct = transport
            .encrypt(&bytes(f, &["plaintext"]))
            .expect("encrypt");
        assert_eq!(
            frame(&ct).expect("frame"),
            bytes(f, &["frame_on_wire"]),
            "client frame"
        );
        checks += 1;
    }
    checks + read_server_frames(t, &mut transport, from_server)
}

/// Feeds `server_frames_concatenated` cut at the recorded points and checks each decrypted frame.
fn read_server_frames(
    t: &Value,
    transport: &mut NoiseTransport,
    mut decoder: FrameDecoder,
) -> usize {
    let wire = bytes(t, &["server_frames_concatenated"]);
    let cuts: Vec<usize> = get(t, &["server_frames_chunk_cuts"])
        .as_array()
        .expect("cuts")
        .iter()
        .map(|c| c.as_u64().expect("cut") as usize)
        .collect();
    let expected = get(t, &["server_frames"])
        .as_array()
        .expect("server frames");
    let mut got = Vec::new();
    let mut at = 0;
    for cut in cuts.iter().copied().chain([wire.len()]) {
        assert!(cut >= at && cut <= wire.len(), "bad cut {cut}");
        decoder.push(&wire[at..cut]);
        at = cut;
        while let Some(payload) = decoder.next_frame().expect("server frame") {
            got.push(transport.decrypt(&payload).expect("server frame decrypts"));
        }
    }
    assert_eq!(got.len(), expected.len(), "number of server frames");
    for (plain, f) in got.iter().zip(expected) {
        assert_eq!(plain, &bytes(f, &["plaintext"]));
        let node = binary::decode(plain).expect("server node decodes");
        assert_node(&node, get(f, &["node"]));
    }
    got.len()
}

/// Replays a transcript as the server; returns the number of checks made.
fn replay_as_server(t: &Value) -> usize {
    let tr = get(t, &["transcript"]);
    let chain = bytes(t, &["cert_chain", "cert_chain"]);
    let mut from_client = FrameDecoder::server_side(MAX_FRAME_LEN);
    let hello = next_frame(
        &mut from_client,
        &bytes(tr, &["client_hello", "frame_on_wire"]),
    );
    assert_eq!(
        from_client.routing_info().map(<[u8]>::to_vec),
        routing_info(t)
    );
    let prologue = from_client.intro_header().expect("intro read");
    assert_eq!(prologue, WA_HEADER);
    let mut server = ServerHandshake::new(
        key_pair(t, "server_static"),
        key_pair(t, "server_ephemeral"),
        chain,
    )
    .with_prologue(prologue);
    let server_hello = server
        .read_client_hello(&hello)
        .expect("client hello accepted");
    assert_eq!(
        server_hello,
        bytes(tr, &["server_hello", "frame_on_wire"]),
        "server hello"
    );
    let finish = next_frame(
        &mut from_client,
        &bytes(tr, &["client_finish", "frame_on_wire"]),
    );
    let identity = server
        .read_client_finish(&finish)
        .expect("client finish accepted");
    assert_eq!(
        identity.client_static.to_vec(),
        bytes(t, &["keys", "client_static_noise_key", "public"])
    );
    assert_eq!(
        identity.payload,
        bytes(tr, &["client_finish", "client_payload_plaintext"])
    );
    let mut transport = server.into_transport().expect("transport");
    let mut checks = 3;
    for f in get(t, &["client_frames"])
        .as_array()
        .expect("client frames")
    {
        let payload = next_frame(&mut from_client, &bytes(f, &["frame_on_wire"]));
        let plain = transport.decrypt(&payload);
        if f.get("server_decrypt_ok")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            assert_eq!(
                plain.expect("client frame decrypts"),
                bytes(f, &["plaintext"])
            );
        } else {
            assert!(plain.is_err());
        }
        checks += 1;
    }
    let mut concatenated = Vec::new();
    for f in get(t, &["server_frames"])
        .as_array()
        .expect("server frames")
    {
        let ct = transport
            .encrypt(&bytes(f, &["plaintext"]))
            .expect("encrypt");
        let wire = frame(&ct).expect("frame");
        assert_eq!(wire, bytes(f, &["frame_on_wire"]), "server frame");
        concatenated.extend_from_slice(&wire);
        checks += 1;
    }
    assert_eq!(concatenated, bytes(t, &["server_frames_concatenated"]));
    checks
}

const TRANSCRIPT_FIELDS: &[&str] = &[
    "label",
    "keys",
    "routing_info",
    "config",
    "cert_chain",
    "transcript",
    "symmetric_state_trace",
    "transport_keys",
    "client_frames",
    "server_frames",
    "server_frames_concatenated",
    "server_frames_chunk_cuts",
];

fn check_constants(c: &Value) {
    for (name, value) in c.as_object().expect("constants object") {
        match name.as_str() {
            "noise_mode_hex" => {
                assert_eq!(hex(value.as_str().expect("hex")), PROTOCOL_NAME.to_vec())
            }
            "wa_header" => assert_eq!(hex(value.as_str().expect("hex")), WA_HEADER.to_vec()),
            "ws_url" => assert_eq!(value.as_str(), Some(DEFAULT_URL)),
            _ => {} // prose descriptions
        }
    }
}

#[test]
fn noise() {
    let file = load("noise.json");
    let mut transcripts = 0;
    let mut checks = 0;
    for (name, section) in file.as_object().expect("noise.json is an object") {
        match name.as_str() {
            "generator" | "description" | "message_flow" => {}
            "constants" => check_constants(section),
            "transcripts" => {
                for t in section.as_array().expect("transcripts list") {
                    for key in t.as_object().expect("transcript object").keys() {
                        assert!(
                            TRANSCRIPT_FIELDS.contains(&key.as_str()),
                            "unknown transcript field `{key}`"
                        );
                    }
                    let label = get(t, &["label"]).as_str().unwrap_or("?");
                    let c = replay_as_client(t);
                    let s = replay_as_server(t);
                    println!("noise.json transcript {label}: {c} client checks, {s} server checks");
                    checks += c + s;
                    transcripts += 1;
                }
            }
            other => panic!("noise.json has a section this harness does not check: `{other}`"),
        }
    }
    assert!(transcripts > 0, "noise.json had no transcripts");
    println!("noise.json: {transcripts} transcripts replayed both ways, {checks} checks");
}

/// The next WebSocket message, which must be binary.
async fn next_binary(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Vec<u8> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    match ws.next().await {
        Some(Ok(Message::Binary(b))) => b,
        other => panic!("expected a binary message, got {other:?}"),
    }
}

/// Replays one transcript through the real WebSocket client over 127.0.0.1: a scripted server
/// checks every byte the client sends and answers with the recorded bytes, the ServerHello split
/// over two WebSocket messages and the server frames cut at the recorded points.
async fn replay_over_websocket(t: &Value) -> usize {
    use chattu::protocol::socket::{client_handshake, ClientConfig};
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let tr = get(t, &["transcript"]).clone();
    let t_server = t.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp).await.expect("upgrade");
        assert_eq!(
            next_binary(&mut ws).await,
            bytes(&tr, &["client_hello", "frame_on_wire"])
        );
        let hello = bytes(&tr, &["server_hello", "frame_on_wire"]);
        let (a, b) = hello.split_at(hello.len() / 3);
        ws.send(Message::Binary(a.to_vec())).await.expect("send");
        ws.send(Message::Binary(b.to_vec())).await.expect("send");
        assert_eq!(
            next_binary(&mut ws).await,
            bytes(&tr, &["client_finish", "frame_on_wire"])
        );
        for f in get(&t_server, &["client_frames"])
            .as_array()
            .expect("client frames")
        {
            assert_eq!(next_binary(&mut ws).await, bytes(f, &["frame_on_wire"]));
        }
        let wire = bytes(&t_server, &["server_frames_concatenated"]);
        let mut at = 0;
        let cuts = get(&t_server, &["server_frames_chunk_cuts"])
            .as_array()
            .expect("cuts")
            .clone();
        for cut in cuts
            .iter()
            .map(|c| c.as_u64().expect("cut") as usize)
            .chain([wire.len()])
        {
            ws.send(Message::Binary(wire[at..cut].to_vec()))
                .await
                .expect("send");
            at = cut;
        }
        let _ = ws.close(None).await;
    });

    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/chat"))
        .await
        .expect("connect");
    let chain = get(t, &["cert_chain"]);
    let config = ClientConfig {
        url: format!("ws://{addr}/ws/chat"),
        trusted_root: trusted_root(chain),
        routing_info: routing_info(t),
        now: Some(valid_time(chain)),
        ..ClientConfig::default()
    };
    let payload = bytes(
        get(t, &["transcript"]),
        &["client_finish", "client_payload_plaintext"],
    );
    let (mut socket, _chain) = client_handshake(
        ws,
        &config,
        key_pair(t, "client_static_noise_key"),
        key_pair(t, "client_ephemeral"),
        &payload,
    )
    .await
    .expect("handshake over websocket");
    let mut checks = 2;
    for f in get(t, &["client_frames"])
        .as_array()
        .expect("client frames")
    {
        socket.send(&bytes(f, &["plaintext"])).await.expect("send");
        checks += 1;
    }
    for f in get(t, &["server_frames"])
        .as_array()
        .expect("server frames")
    {
        let plain = socket.recv().await.expect("recv").expect("a frame");
        assert_eq!(plain, bytes(f, &["plaintext"]));
        checks += 1;
    }
    assert!(socket.recv().await.expect("clean close").is_none());
    server.await.expect("scripted server");
    checks
}

#[tokio::test]
async fn noise_over_websocket() {
    let file = load("noise.json");
    let transcripts = get(&file, &["transcripts"])
        .as_array()
        .expect("transcripts");
    let mut checks = 0;
    for t in transcripts {
        checks += replay_over_websocket(t).await;
    }
    assert!(!transcripts.is_empty());
    println!(
        "noise.json over WebSocket: {} transcripts, {checks} checks",
        transcripts.len()
    );
}
