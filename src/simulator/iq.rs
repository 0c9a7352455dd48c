//! Answers to the iqs a logged-in companion sends (§6.3, §13.1 item 6). Anything not simulated gets a
//! `501 feature-not-implemented` error, never silence.

use super::registry::ConnId;
use super::Shared;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;

fn reply(id: &str, kind: &str) -> Node {
    Node::new("iq")
        .with_attr("from", Jid::server_jid())
        .with_attr("type", kind)
        .with_attr("id", id)
}

/// `<iq type="result"/>` answering `id`.
pub fn result_reply(id: &str) -> Node {
    reply(id, "result")
}

/// `<iq type="error"><error code text/></iq>` answering `id`.
pub fn error_reply(id: &str, code: u16, text: &str) -> Node {
    reply(id, "error").with_child(
        Node::new("error")
            .with_attr("code", code)
            .with_attr("text", text),
    )
}

/// The answer to a stanza from a logged-in client, if it needs one.
pub(super) fn answer_iq(shared: &Shared, conn: ConnId, node: &Node) -> Option<Node> {
    if node.tag == "presence" {
        if let Some(name) = node.attr("name") {
            shared.registry.set_push_name(conn, name);
        }
        return None;
    }
    if node.tag != "iq" {
        // Acks, receipts and the like need no answer in this slice.
        return None;
    }
    let kind = node.attr("type")?;
    if kind != "get" && kind != "set" {
        // A result or error for something we asked: nothing to do.
        return None;
    }
    let id = node.attr("id")?;
    let xmlns = node.attr("xmlns").unwrap_or_default();
    let answer = match (xmlns, kind) {
        // Keepalive ping and active/passive mode: an empty result is the whole answer.
        ("w:p", _) | ("passive", "set") | ("w:stats", _) | ("urn:xmpp:whatsapp:dirty", _) => {
            reply(id, "result")
        }
        ("encrypt", "get") if node.child("count").is_some() => {
            let count = shared.registry.prekey_count(conn).unwrap_or(0);
            reply(id, "result").with_child(Node::new("count").with_attr("value", count))
        }
        ("encrypt", "get") if node.child("digest").is_some() => {
            match shared.registry.key_digest(conn) {
                Some(digest) => reply(id, "result").with_child(digest),
                None => error_reply(id, 404, "item-not-found"),
            }
        }
        ("encrypt", "get") => match node.child("key") {
            Some(key) => reply(id, "result").with_child(shared.registry.fetch_bundles(key)),
            None => error_reply(id, 400, "bad-request"),
        },
        ("encrypt", "set") => {
            let accepted = match node.child("rotate") {
                Some(rotate) => shared.registry.rotate_keys(conn, rotate),
                None => shared.registry.upload_keys(conn, node),
            };
            if accepted {
                // A newly linked companion gets the app state key first, then its history.
                super::app_state::after_key_upload(shared, conn);
                // A newly linked companion gets its history once its keys are on the server.
                super::history::after_key_upload(shared, conn);
                reply(id, "result")
            } else {
                error_reply(id, 400, "bad-request")
            }
        }
        ("usync", "get") => match node.child("usync") {
            Some(usync) => reply(id, "result").with_child(shared.registry.usync(usync)),
            None => error_reply(id, 400, "bad-request"),
        },
        ("abt", "get") => {
            reply(id, "result").with_child(Node::new("props").with_attr("protocol", "1"))
        }
        // Baileys asks for AB props in the `w` namespace (protocol 2) and keeps the hash we give.
        ("w", "get") if node.child("props").is_some() => reply(id, "result").with_child(ab_props()),
        // Baileys reads these before every read receipt and sends `read-self` unless `readreceipts`
        // is `all`, so a missing answer means no read receipts at all.
        ("privacy", "get") if node.child("privacy").is_some() => {
            reply(id, "result").with_child(privacy_settings())
        }
        ("w:m", "set") if node.child("media_conn").is_some() => shared.media.media_conn_reply(id),
        ("w:sync:app:state", "set") => super::app_state::answer_sync(shared, conn, id, node),
        ("blocklist", "get") => reply(id, "result").with_child(Node::new("list")),
        ("md", "set") if node.child("remove-companion-device").is_some() => {
            // The companion logs itself out: forget it; the registry then ends this connection.
            shared.registry.unlink_connection(conn);
            reply(id, "result")
        }
        _ => error_reply(id, 501, "feature-not-implemented"),
    };
    Some(answer)
}

/// The account's privacy settings: every category at the value a fresh account has.
fn privacy_settings() -> Node {
    const CATEGORIES: [&str; 7] = [
        "readreceipts",
        "last",
        "online",
        "profile",
        "status",
        "groupadd",
        "calladd",
    ];
    CATEGORIES
        .iter()
        .fold(Node::new("privacy"), |privacy, name| {
            privacy.with_child(
                Node::new("category")
                    .with_attr("name", *name)
                    .with_attr("value", "all"),
            )
        })
}

/// The A/B experiment properties the server hands a client. Their values do not matter to a
/// simulated account; the hash is derived from them so it changes whenever they do.
fn ab_props() -> Node {
    const PROPS: [(&str, &str); 3] = [
        ("web_voip_enabled", "true"),
        ("max_group_size", "1024"),
        ("reactions_enabled", "true"),
    ];
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, value) in PROPS {
        context.update(name.as_bytes());
        context.update(b"=");
        context.update(value.as_bytes());
        context.update(b";");
    }
    let hash: String = context
        .finish()
        .as_ref()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    let props = Node::new("props")
        .with_attr("protocol", "2")
        .with_attr("hash", hash);
    PROPS.iter().fold(props, |props, (name, value)| {
        props.with_child(
            Node::new("prop")
                .with_attr("name", *name)
                .with_attr("value", *value),
        )
    })
}
