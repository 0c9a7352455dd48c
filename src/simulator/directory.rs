//! What the server tells devices about each other: prekey bundles (`encrypt` iqs) and device lists,
//! LIDs and contact existence (`usync`, §8.1).

use super::keys::user_error;
use super::registry::{unix_now, Account, ConnId, Registry};
use crate::protocol::binary::Node;
use crate::protocol::crypto::xeddsa_sign_random;
use crate::protocol::jid::{Jid, Server};
use crate::protocol::proto::generated::{AdvKeyIndexList, AdvSignedKeyIndexList};
use crate::protocol::proto::ProtoMessage;
use std::collections::BTreeMap;

/// Prefix of the account signature over an `ADVKeyIndexList` **[inferred from whatsmeow]**.
const KEY_INDEX_LIST_PREFIX: [u8; 2] = [6, 2];
/// Most users answered in one usync or key fetch.
const MAX_USERS: usize = 512;

fn account_for<'a>(
    accounts: &'a mut BTreeMap<String, Account>,
    jid: &Jid,
) -> Option<&'a mut Account> {
    if jid.server == Server::Lid {
        accounts.values_mut().find(|a| a.phone.lid == jid.user)
    } else {
        accounts.get_mut(&jid.user)
    }
}

/// `ADVSignedKeyIndexList` for an account: which key indexes (companions) are valid now.
fn key_index_list(account: &Account) -> Vec<u8> {
    let details = AdvKeyIndexList {
        raw_id: Some(account.phone.raw_id),
        timestamp: Some(unix_now()),
        current_index: account.devices.values().map(|d| d.key_index).max(),
        valid_indexes: account.devices.values().map(|d| d.key_index).collect(),
        account_type: None,
    }
    .encode_to_vec();
    let message = [&KEY_INDEX_LIST_PREFIX[..], &details].concat();
    AdvSignedKeyIndexList {
        account_signature: Some(
            xeddsa_sign_random(&account.phone.identity.private, &message).to_vec(),
        ),
        account_signature_key: Some(account.phone.identity.public.to_vec()),
        details: Some(details),
    }
    .encode_to_vec()
}

fn devices_node(account: &Account) -> Node {
    let mut list = vec![Node::new("device").with_attr("id", "0")];
    list.extend(account.devices.values().map(|d| {
        Node::new("device")
            .with_attr("id", d.device)
            .with_attr("key-index", d.key_index)
    }));
    Node::new("devices").with_children([
        Node::new("device-list").with_children(list),
        Node::new("key-index-list")
            .with_attr("ts", unix_now())
            .with_bytes(key_index_list(account)),
    ])
}

/// The phone number a usync `<user>` names: its `jid`, or its `<contact>` (`+1555…`, `…@c.us`).
fn usync_target(user: &Node) -> Option<(Jid, Option<String>)> {
    if let Some(jid) = user.attr_jid("jid") {
        return Some((jid, None));
    }
    let contact = user.child("contact")?.content_text()?.into_owned();
    let digits: String = contact
        .split('@')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| (Jid::phone(digits), Some(contact)))
}

impl Registry {
    fn with_own_keys<T>(
        &self,
        conn: ConnId,
        f: impl FnOnce(&mut super::keys::DeviceKeys) -> T,
    ) -> Option<T> {
        let (phone, device) = self.logged_in_as(conn)?;
        let mut inner = self.lock();
        let linked = inner.accounts.get_mut(&phone)?.devices.get_mut(&device)?;
        Some(f(&mut linked.keys))
    }

    /// Records the push name a device announced with `<presence name>`.
    pub fn set_push_name(&self, conn: ConnId, name: &str) {
        let Some((phone, device)) = self.logged_in_as(conn) else {
            return;
        };
        let mut inner = self.lock();
        if let Some(linked) = inner
            .accounts
            .get_mut(&phone)
            .and_then(|a| a.devices.get_mut(&device))
        {
            linked.push_name = Some(name.chars().take(64).collect());
        }
    }

    /// How many one-time prekeys the device logged in on `conn` has on the server.
    pub fn prekey_count(&self, conn: ConnId) -> Option<usize> {
        self.with_own_keys(conn, |keys| keys.one_time.len())
    }

    /// A prekey upload by the device on `conn`; `false` when refused.
    pub fn upload_keys(&self, conn: ConnId, iq: &Node) -> bool {
        self.with_own_keys(conn, |keys| keys.apply_upload(iq).is_some())
            .unwrap_or(false)
    }

    /// A signed-prekey rotation by the device on `conn`; `false` when refused.
    pub fn rotate_keys(&self, conn: ConnId, rotate: &Node) -> bool {
        self.with_own_keys(conn, |keys| keys.apply_rotate(rotate).is_some())
            .unwrap_or(false)
    }

    /// The `<digest>` of the device on `conn`'s keys.
    pub fn key_digest(&self, conn: ConnId) -> Option<Node> {
        self.with_own_keys(conn, |keys| keys.digest()).flatten()
    }

    /// Answers `<key><user jid/>…</key>` with `<list>` of bundles; one-time prekeys are handed out once.
    pub fn fetch_bundles(&self, key: &Node) -> Node {
        let mut inner = self.lock();
        let users = key
            .children_by_tag("user")
            .take(MAX_USERS)
            .filter_map(|u| u.attr_jid("jid"))
            .map(|jid| {
                let Some(account) = account_for(&mut inner.accounts, &jid) else {
                    return user_error(jid, 404, "item-not-found");
                };
                if jid.device == 0 {
                    let phone = &account.phone;
                    return phone.signal.public(&phone.identity).take_bundle(jid);
                }
                match account.devices.get_mut(&jid.device) {
                    Some(linked) => linked.keys.take_bundle(jid),
                    None => user_error(jid, 404, "item-not-found"),
                }
            })
            .collect::<Vec<_>>();
        Node::new("list").with_children(users)
    }

    /// Answers a `<usync>` query: for each user, the device list (with key indexes and the signed
    /// key-index list), the LID and whether the number is on WhatsApp, as the query asks.
    pub fn usync(&self, usync: &Node) -> Node {
        let query = usync.child("query");
        let wants = |tag: &str| query.and_then(|q| q.child(tag)).is_some();
        let (devices, lid, contact) = (wants("devices"), wants("lid"), wants("contact"));
        let mut inner = self.lock();
        let users = usync
            .child("list")
            .map(|l| {
                l.children_by_tag("user")
                    .take(MAX_USERS)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(usync_target)
            .map(|(jid, asked_contact)| {
                let account = account_for(&mut inner.accounts, &jid);
                let known = account.is_some();
                let pn = account
                    .as_ref()
                    .map(|a| Jid::phone(a.phone.phone.clone()))
                    .unwrap_or_else(|| jid.to_non_ad());
                let mut user = Node::new("user").with_attr("jid", pn);
                if let Some(account) = account {
                    if devices {
                        user.push_child(devices_node(account));
                    }
                    if lid {
                        user.push_child(
                            Node::new("lid").with_attr("val", Jid::lid(account.phone.lid.clone())),
                        );
                    }
                }
                if contact {
                    let text = asked_contact.unwrap_or_else(|| format!("+{}", jid.user));
                    user.push_child(
                        Node::new("contact")
                            .with_attr("type", if known { "in" } else { "out" })
                            .with_bytes(text.into_bytes()),
                    );
                }
                user
            })
            .collect::<Vec<_>>();
        let mut answer = Node::new("usync");
        for attr in ["sid", "mode", "context", "index", "last"] {
            if let Some(value) = usync.attr_value(attr) {
                answer.set_attr(attr, value.clone());
            }
        }
        answer.with_child(Node::new("list").with_children(users))
    }
}
