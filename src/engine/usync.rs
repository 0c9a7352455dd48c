//! Device lists (§8.1): the usync device query, its answer, and a per-user cache that `devices`
//! notifications invalidate.

use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use std::collections::HashMap;
use std::sync::Mutex;

/// `<iq xmlns="usync" type="get"><usync mode="query" context="message">…` asking for the devices of
/// `users` (plain user JIDs). The caller adds the iq `id`.
pub fn device_query(users: &[Jid], sid: &str) -> Node {
    let list = users
        .iter()
        .map(|u| Node::new("user").with_attr("jid", u.to_non_ad()));
    Node::new("iq")
        .with_attr("xmlns", "usync")
        .with_attr("type", "get")
        .with_attr("to", Jid::server_jid())
        .with_child(
            Node::new("usync")
                .with_attr("sid", sid)
                .with_attr("mode", "query")
                .with_attr("context", "message")
                .with_attr("index", "0")
                .with_attr("last", "true")
                .with_children([
                    // `<lid/>` too: every device fetch also teaches the PN ↔ LID mapping.
                    Node::new("query").with_children([
                        Node::new("devices").with_attr("version", "2"),
                        Node::new("lid"),
                    ]),
                    Node::new("list").with_children(list),
                ]),
        )
}

/// Every device in a usync answer, as device JIDs (`user:device@server`). Companions without a
/// `key-index` are skipped (they are not signed by the phone), as Baileys does.
pub fn parse_devices(answer: &Node) -> HashMap<String, Vec<Jid>> {
    let mut out = HashMap::new();
    let Some(list) = answer.child_path(&["usync", "list"]) else {
        return out;
    };
    for user in list.children_by_tag("user") {
        let Some(jid) = user.attr_jid("jid") else {
            continue;
        };
        let devices = user
            .child_path(&["devices", "device-list"])
            .map(|l| {
                l.children_by_tag("device")
                    .filter_map(|d| {
                        let id: u16 = d.attr_parse("id")?;
                        (id == 0 || d.has_attr("key-index"))
                            .then(|| jid.to_non_ad().with_device(id))
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        out.insert(jid.user.clone(), devices);
    }
    out
}

/// Device lists by user, kept until a `devices` notification or a phash mismatch says otherwise.
#[derive(Default)]
pub struct DeviceCache {
    by_user: Mutex<HashMap<String, Vec<Jid>>>,
}

impl DeviceCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Jid>>> {
        self.by_user.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, user: &str) -> Option<Vec<Jid>> {
        self.lock().get(user).cloned()
    }

    pub fn put(&self, user: &str, devices: Vec<Jid>) {
        self.lock().insert(user.to_string(), devices);
    }

    pub fn invalidate(&self, user: &str) {
        self.lock().remove(user);
    }
}

/// The user a `<notification type="devices" from=USER>` is about, if it is one.
pub fn devices_notification_user(node: &Node) -> Option<String> {
    (node.tag == "notification" && node.attr_text("type").as_deref() == Some("devices"))
        .then(|| node.attr_jid("from").map(|j| j.user))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_signed_devices_only() {
        let answer = Node::new("iq").with_child(
            Node::new("usync").with_child(
                Node::new("list").with_child(
                    Node::new("user")
                        .with_attr("jid", Jid::phone("111"))
                        .with_child(
                            Node::new("devices").with_child(
                                Node::new("device-list").with_children([
                                    Node::new("device").with_attr("id", "0"),
                                    Node::new("device")
                                        .with_attr("id", "4")
                                        .with_attr("key-index", "2"),
                                    Node::new("device").with_attr("id", "9"),
                                ]),
                            ),
                        ),
                ),
            ),
        );
        let devices = parse_devices(&answer);
        assert_eq!(
            devices.get("111").cloned().unwrap_or_default(),
            vec![Jid::phone("111"), Jid::phone("111").with_device(4)]
        );
    }
}
