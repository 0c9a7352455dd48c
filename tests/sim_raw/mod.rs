//! Raw protocol clients for the simulator tests (groups, presence): logging a paired companion in
//! over the wire, and waiting for the next stanza of a kind. The control API and engine pairing
//! are in tests/companion_support.
#![allow(dead_code)]

use chattu::engine::client_payload::login_payload;
use chattu::engine::wire::{self, ClientConn};
use chattu::engine::DeviceCreds;
use chattu::protocol::binary::Node;
use chattu::protocol::noise::TrustedRoot;
use std::time::Duration;

/// How long a test waits for any one step before failing.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Logs in as the paired device at `url`; returns the connection once the offline marker came,
/// with what came before it.
pub async fn login(url: &str, root: TrustedRoot, creds: &DeviceCreds) -> (ClientConn, Vec<Node>) {
    let paired = creds.paired.as_ref().unwrap();
    let payload = login_payload(paired.phone.parse().unwrap(), paired.device, None);
    let mut conn = wire::connect(url, &creds.noise_key, root, &payload, PATIENCE)
        .await
        .unwrap();
    assert_eq!(next(&mut conn).await.tag, "success");
    let mut before = Vec::new();
    loop {
        let node = next(&mut conn).await;
        if node.tag == "ib" && node.child("offline").is_some() {
            return (conn, before);
        }
        before.push(node);
    }
}

/// The next stanza; fails the test after [`PATIENCE`].
pub async fn next(conn: &mut ClientConn) -> Node {
    tokio::time::timeout(PATIENCE, conn.recv())
        .await
        .expect("nothing arrived in time")
        .unwrap()
}

/// The next stanza for which `wanted` holds (others are skipped).
pub async fn next_where(conn: &mut ClientConn, wanted: impl Fn(&Node) -> bool) -> Node {
    loop {
        let node = next(conn).await;
        if wanted(&node) {
            return node;
        }
    }
}

/// The next stanza with this tag.
pub async fn next_tagged(conn: &mut ClientConn, tag: &str) -> Node {
    next_where(conn, |n| n.tag == tag).await
}

/// The answer to the iq with this id.
pub async fn iq_answer(conn: &mut ClientConn, id: &str) -> Node {
    next_where(conn, |n| n.tag == "iq" && n.attr("id") == Some(id)).await
}

/// Sends an iq and waits for its answer.
pub async fn ask(conn: &mut ClientConn, iq: Node) -> Node {
    let id = iq.attr("id").expect("iq without id").to_string();
    conn.send(&iq).await.unwrap();
    iq_answer(conn, &id).await
}

/// Stanzas matching `wanted` that arrive within `window` (used to show that something did NOT
/// arrive: the caller first proves the connection is live with a stanza that must arrive).
pub async fn collect_within(
    conn: &mut ClientConn,
    window: Duration,
    wanted: impl Fn(&Node) -> bool,
) -> Vec<Node> {
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Ok(node)) = tokio::time::timeout_at(deadline, conn.recv()).await {
        if wanted(&node) {
            found.push(node);
        }
    }
    found
}
