//! The simulator's key and directory iqs over a real logged-in connection, driven with the project's
//! own Signal node builders and parsers: prekey count, upload, digest, bundle fetch (one-time keys
//! handed out once), usync devices/LID/contact, and 501 for anything unknown.

use chattu::engine::client_payload::login_payload;
use chattu::engine::wire::{self, ClientConn};
use chattu::engine::{self, DeviceCreds, EngineConfig, EngineStatus, MemoryCredentialStore};
use chattu::protocol::binary::Node;
use chattu::protocol::crypto::KeyPair;
use chattu::protocol::jid::Jid;
use chattu::protocol::signal::prekeys::{
    digest_query_node, key_fetch_node, parse_key_bundles, parse_pre_key_count, pre_key_count_node,
    upload_pre_keys_node,
};
use chattu::protocol::signal::{LocalIdentity, PreKeyRecord, SignedPreKeyRecord};
use chattu::simulator::{Simulator, SimulatorHandle};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

mod companion_support;
use companion_support::{paired_creds, PATIENCE};

/// Logs in as the paired device and reads the `success` and offline marker.
async fn login(sim: &SimulatorHandle, creds: &DeviceCreds) -> ClientConn {
    let paired = creds.paired.as_ref().unwrap();
    let payload = login_payload(paired.phone.parse().unwrap(), paired.device, None);
    let mut conn = wire::connect(
        &sim.ws_url(),
        &creds.noise_key,
        sim.trusted_root(),
        &payload,
        PATIENCE,
    )
    .await
    .unwrap();
    assert_eq!(conn.recv().await.unwrap().tag, "success");
    conn
}

/// Sends `iq` with `id` and returns the answer with that id.
async fn ask(conn: &mut ClientConn, iq: Node, id: &str) -> Node {
    conn.send(&iq.with_attr("id", id)).await.unwrap();
    loop {
        let node = tokio::time::timeout(PATIENCE, conn.recv())
            .await
            .unwrap()
            .unwrap();
        if node.tag == "iq" && node.attr("id") == Some(id) {
            return node;
        }
    }
}

#[tokio::test]
async fn prekeys_bundles_and_usync() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(listener).unwrap();
    let creds = paired_creds(&sim, "15550001212").await;
    let paired = creds.paired.clone().unwrap();
    let mut conn = login(&sim, &creds).await;

    let count = ask(&mut conn, pre_key_count_node(), "c1").await;
    assert_eq!(parse_pre_key_count(&count), Some(0));

    let identity = LocalIdentity {
        key_pair: creds.identity_key.clone(),
        registration_id: creds.registration_id,
    };
    let signed = SignedPreKeyRecord {
        id: creds.signed_prekey.id,
        key_pair: creds.signed_prekey.key_pair.clone(),
        signature: creds.signed_prekey.signature,
        created_at: 0,
    };
    let pre_keys: Vec<PreKeyRecord> = (1..=3)
        .map(|id| PreKeyRecord {
            id,
            key_pair: KeyPair::generate(),
        })
        .collect();
    let uploaded = ask(
        &mut conn,
        upload_pre_keys_node(&identity, &signed, &pre_keys),
        "u1",
    )
    .await;
    assert_eq!(uploaded.attr("type"), Some("result"));
    let count = ask(&mut conn, pre_key_count_node(), "c2").await;
    assert_eq!(parse_pre_key_count(&count), Some(3));

    let digest = ask(&mut conn, digest_query_node(), "d1").await;
    let listed = digest
        .child_path(&["digest", "list"])
        .unwrap()
        .children()
        .len();
    assert_eq!(listed, 3);

    // Bundles: our own device twice (each one-time key once), the phone (device 0) without one.
    let me = Jid::phone(paired.phone.clone()).with_device(paired.device);
    let phone0 = Jid::phone(paired.phone.clone());
    let mut taken = Vec::new();
    for round in 0..2 {
        let answer = ask(
            &mut conn,
            key_fetch_node(&[me.clone(), phone0.clone()], None),
            &format!("k{round}"),
        )
        .await;
        let bundles = parse_key_bundles(&answer);
        assert_eq!(bundles.len(), 2);
        let own = bundles[0].1.as_ref().unwrap();
        assert_eq!(own.identity_key, creds.identity_key.public);
        assert_eq!(own.registration_id, creds.registration_id);
        taken.push(own.pre_key.map(|(id, _)| id));
        let phone_bundle = bundles[1].1.as_ref().unwrap();
        assert_eq!(phone_bundle.identity_key, paired.account_signature_key);
        assert!(phone_bundle.pre_key.is_none());
    }
    assert_eq!(taken, [Some(1), Some(2)]);
    let count = ask(&mut conn, pre_key_count_node(), "c3").await;
    assert_eq!(parse_pre_key_count(&count), Some(1));

    // usync: our account's devices with key indexes, its LID, and contact existence.
    let usync = Node::new("iq")
        .with_attr("xmlns", "usync")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid())
        .with_child(
            Node::new("usync")
                .with_attr("sid", "s1")
                .with_attr("mode", "query")
                .with_attr("context", "message")
                .with_children([
                    Node::new("query").with_children([
                        Node::new("devices").with_attr("version", "2"),
                        Node::new("lid"),
                        Node::new("contact"),
                    ]),
                    Node::new("list").with_children([
                        Node::new("user").with_attr("jid", phone0.clone()),
                        Node::new("user")
                            .with_child(Node::new("contact").with_text("+19999999999")),
                    ]),
                ]),
        );
    let answer = ask(&mut conn, usync, "s1").await;
    let users: Vec<&Node> = answer
        .child_path(&["usync", "list"])
        .unwrap()
        .children_by_tag("user")
        .collect();
    assert_eq!(users.len(), 2);
    let devices: Vec<(Option<String>, Option<String>)> = users[0]
        .child_path(&["devices", "device-list"])
        .unwrap()
        .children()
        .iter()
        .map(|d| {
            (
                d.attr("id").map(str::to_string),
                d.attr("key-index").map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        devices,
        [
            (Some("0".to_string()), None),
            (
                Some(paired.device.to_string()),
                Some(paired.key_index.to_string())
            )
        ]
    );
    let lid = users[0]
        .child("lid")
        .and_then(|l| l.attr_jid("val"))
        .unwrap();
    assert_eq!(Some(lid.user), paired.lid);
    assert_eq!(
        users[0].child("contact").and_then(|c| c.attr("type")),
        Some("in")
    );
    assert_eq!(
        users[1].child("contact").and_then(|c| c.attr("type")),
        Some("out")
    );

    // Anything not simulated gets a 501, never silence. (Groups, `w:g2`, are simulated now; business
    // profiles are not.)
    let unknown = Node::new("iq")
        .with_attr("xmlns", "w:biz")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid())
        .with_child(Node::new("business_profile").with_attr("v", "244"));
    let answer = ask(&mut conn, unknown, "x1").await;
    assert_eq!(answer.attr("type"), Some("error"));
    assert_eq!(
        answer.child("error").and_then(|e| e.attr("code")),
        Some("501")
    );
    conn.close().await;
    sim.shutdown().await;
}

async fn prekeys_on_server(sim: &SimulatorHandle, phone: &str) -> u64 {
    let url = format!("{}/sim/phones/{phone}", sim.http_base());
    let body = tokio::task::spawn_blocking(move || {
        ureq::get(&url)
            .call()
            .unwrap()
            .into_json::<serde_json::Value>()
            .unwrap()
    })
    .await
    .unwrap();
    body["devices"][0]["prekeys"].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn engine_uploads_prekeys_after_login_only_when_low() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(listener).unwrap();
    let creds = paired_creds(&sim, "15550001313").await;
    assert_eq!(prekeys_on_server(&sim, "15550001313").await, 0);

    let source = Arc::new(engine::MemoryPreKeys::new());
    let store = Arc::new(MemoryCredentialStore::with(creds));
    let config = EngineConfig::simulator(sim.ws_url(), sim.trusted_root());
    let engine = engine::start_with_prekeys(config.clone(), store.clone(), source.clone());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while prekeys_on_server(&sim, "15550001313").await < u64::from(engine::prekeys::INITIAL_UPLOAD)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "prekeys never arrived; engine {:?}",
            engine.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(source.stored(), engine::prekeys::INITIAL_UPLOAD as usize);
    engine.shutdown().await;

    // Enough keys on the server: a new login uploads nothing.
    let engine = engine::start_with_prekeys(config, store, source.clone());
    let status = tokio::time::timeout(
        PATIENCE,
        engine.wait_for(|s| matches!(s, EngineStatus::Connected { .. })),
    )
    .await;
    assert!(matches!(status, Ok(EngineStatus::Connected { .. })));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(source.stored(), engine::prekeys::INITIAL_UPLOAD as usize);
    assert_eq!(
        prekeys_on_server(&sim, "15550001313").await,
        u64::from(engine::prekeys::INITIAL_UPLOAD)
    );
    engine.shutdown().await;
    sim.shutdown().await;
}

/// The next `<notification type="devices">` on `conn`, skipping anything else.
async fn next_devices_notification(conn: &mut ClientConn) -> Node {
    loop {
        let node = tokio::time::timeout(PATIENCE, conn.recv())
            .await
            .unwrap()
            .unwrap();
        if node.tag == "notification" && node.attr("type") == Some("devices") {
            return node;
        }
    }
}

#[tokio::test]
async fn other_devices_hear_of_links_and_unlinks() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(listener).unwrap();
    let first = paired_creds(&sim, "15550001414").await;
    let mut conn = login(&sim, &first).await;

    let second = paired_creds(&sim, "15550001414").await;
    let device = second.paired.as_ref().unwrap().device;
    assert_ne!(device, first.paired.as_ref().unwrap().device);
    let added = next_devices_notification(&mut conn).await;
    let jid = added
        .child_path(&["add", "device"])
        .and_then(|d| d.attr_jid("jid"))
        .unwrap();
    assert_eq!((jid.user.as_str(), jid.device), ("15550001414", device));

    let url = format!(
        "{}/sim/phones/15550001414/devices/{device}",
        sim.http_base()
    );
    let status = tokio::task::spawn_blocking(move || ureq::delete(&url).call().unwrap().status())
        .await
        .unwrap();
    assert_eq!(status, 200);
    let removed = next_devices_notification(&mut conn).await;
    let jid = removed
        .child_path(&["remove", "device"])
        .and_then(|d| d.attr_jid("jid"))
        .unwrap();
    assert_eq!(jid.device, device);
    conn.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn unpaired_companions_get_answers_too() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(listener).unwrap();
    let creds = DeviceCreds::generate();
    let payload = chattu::engine::client_payload::registration_payload(&creds, None);
    let mut conn = wire::connect(
        &sim.ws_url(),
        &creds.noise_key,
        sim.trusted_root(),
        &payload,
        PATIENCE,
    )
    .await
    .unwrap();
    let pair_device = tokio::time::timeout(PATIENCE, conn.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(pair_device.child("pair-device").is_some());
    let ping = Node::new("iq")
        .with_attr("xmlns", "w:p")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid())
        .with_child(Node::new("ping"));
    assert_eq!(
        ask(&mut conn, ping, "p1").await.attr("type"),
        Some("result")
    );
    let answer = ask(&mut conn, pre_key_count_node(), "c1").await;
    assert_eq!(answer.attr("type"), Some("error"));
    assert_eq!(
        answer.child("error").and_then(|e| e.attr("code")),
        Some("501")
    );
    conn.close().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn privacy_settings_and_ab_props_are_answered() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(listener).unwrap();
    let creds = paired_creds(&sim, "15550001313").await;
    let mut conn = login(&sim, &creds).await;

    // Privacy settings, which Baileys reads before every read receipt.
    let privacy = Node::new("iq")
        .with_attr("xmlns", "privacy")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid())
        .with_child(Node::new("privacy"));
    let answer = ask(&mut conn, privacy, "pv1").await;
    assert_eq!(answer.attr("type"), Some("result"));
    let categories: Vec<(&str, &str)> = answer
        .child("privacy")
        .expect("a <privacy> child")
        .children_by_tag("category")
        .map(|c| (c.attr("name").unwrap(), c.attr("value").unwrap()))
        .collect();
    for name in [
        "readreceipts",
        "last",
        "online",
        "profile",
        "status",
        "groupadd",
        "calladd",
    ] {
        assert!(
            categories.iter().any(|(n, _)| *n == name),
            "{name} missing from {categories:?}"
        );
    }
    assert!(
        categories.contains(&("readreceipts", "all")),
        "{categories:?}"
    );

    // AB props in the `w` namespace, protocol 2, the way Baileys asks for them.
    let props = Node::new("iq")
        .with_attr("xmlns", "w")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid())
        .with_child(
            Node::new("props")
                .with_attr("protocol", "2")
                .with_attr("hash", ""),
        );
    let answer = ask(&mut conn, props, "ab1").await;
    assert_eq!(answer.attr("type"), Some("result"));
    let props = answer.child("props").expect("a <props> child");
    assert_eq!(props.attr("protocol"), Some("2"));
    assert!(!props.attr("hash").unwrap_or_default().is_empty());
    let entries: Vec<&Node> = props.children_by_tag("prop").collect();
    assert!(!entries.is_empty());
    assert!(entries
        .iter()
        .all(|p| p.attr("name").is_some() && p.attr("value").is_some()));
    conn.close().await;
    sim.shutdown().await;
}
