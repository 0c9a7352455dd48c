//! Receipts and retries for group messages (§8.6, §7.6) and who holds our sender keys.
//!
//! - Receipts for a group message name its sender: `<receipt to=GROUP participant=SENDER>`
//!   (delivery, read, retry).
//! - A group message we cannot decrypt (usually: we lack the sender's key) gets a retry receipt
//!   with `participant`; the sender answers with the message encrypted pairwise for our device
//!   together with a fresh SKDM, `<message to=GROUP participant=OUR_DEVICE><enc count=N>`.
//! - We answer such retries for our own group messages the same way, and remember that device as
//!   holding our key ([`crate::store::sender_key_holders`]).
//! - The holders survive restarts; a device list that lost a device since the last send (a member
//!   left or was removed) makes us drop our sender key and distribute a fresh one, and a device
//!   that asked for a retry of a 1:1 message (likely reinstalled) is forgotten as a holder.

use super::messaging::{unix_now, Messenger};
use super::send::{apply_bundles, enc_node, encrypt_for_devices, SendError};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::message::SenderKeyDistributionMessage as SkdmProto;
use crate::protocol::signal::{
    key_fetch_node, sender_key_distribution, MessageKind, OsRandom, ProtocolAddress, SenderKeyName,
    SenderKeyStore, SessionStore, SignalError, StoreError,
};
use crate::store::sender_key_holders;
use crate::store::signal::{with_signal_txn, SignalTxn};
use std::collections::HashSet;

/// Retries answered per message and device; later ones are ignored.
const MAX_RETRIES: u32 = 5;
/// Most message ids one read receipt names.
const IDS_PER_RECEIPT: usize = 64;

fn store_error(e: crate::store::StoreError) -> SignalError {
    SignalError::Store(StoreError(e.to_string()))
}

/// `<receipt type="retry" id to=GROUP participant=SENDER>` asking the sender of a group message
/// we could not read to send it again (with its sender key).
pub fn group_retry_receipt(
    id: &str,
    group: &Jid,
    sender: &Jid,
    registration_id: u32,
    count: u32,
    now: u64,
) -> Node {
    Node::new("receipt")
        .with_attr("id", id)
        .with_attr("to", group.to_non_ad())
        .with_attr("participant", sender.clone())
        .with_attr("type", "retry")
        .with_children([
            Node::new("retry")
                .with_attr("count", count)
                .with_attr("id", id)
                .with_attr("t", now)
                .with_attr("v", "1"),
            Node::new("registration").with_bytes(registration_id.to_be_bytes().to_vec()),
        ])
}

/// `<receipt type="read" id=FIRST to=GROUP participant=SENDER t>` with further ids as
/// `<list><item id>` (all by the same sender).
pub fn group_read_receipt(group: &Jid, sender: &Jid, ids: &[String], now: u64) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let mut receipt = Node::new("receipt")
        .with_attr("id", first.as_str())
        .with_attr("to", group.to_non_ad())
        .with_attr("participant", sender.clone())
        .with_attr("type", "read")
        .with_attr("t", now);
    if !rest.is_empty() {
        let items = rest
            .iter()
            .map(|id| Node::new("item").with_attr("id", id.as_str()));
        receipt.push_child(Node::new("list").with_children(items));
    }
    Some(receipt)
}

/// Which of `devices` lack our sender key for `group`. When a device that held it is no longer
/// among `devices` (someone left), our key is dropped and every device lacks the new one.
pub(super) fn devices_lacking_key(
    txn: &mut SignalTxn,
    namespace: &str,
    group: &str,
    own_key: &SenderKeyName,
    devices: &[Jid],
) -> Result<Vec<Jid>, SignalError> {
    let holders: HashSet<String> = sender_key_holders::holders_in(txn.txn(), namespace, group)
        .map_err(store_error)?
        .into_iter()
        .collect();
    let current: HashSet<String> = devices.iter().map(Jid::to_string).collect();
    if holders.iter().any(|h| !current.contains(h)) {
        // A removed member must not read what we send next: a new key for everyone.
        txn.delete_sender_key(own_key)?;
        sender_key_holders::clear_group_in(txn.txn(), namespace, group).map_err(store_error)?;
        return Ok(devices.to_vec());
    }
    Ok(devices
        .iter()
        .filter(|d| !holders.contains(&d.to_string()))
        .cloned()
        .collect())
}

/// Devices that may have lost our sender keys, from a notification: every device a `devices`
/// notification adds or removes (a re-used device id is a new install), or for an identity change
/// (`type="encrypt"` with `<identity/>`) the whole user (`None` as the device: all of them).
pub fn holders_to_forget(node: &Node) -> Vec<(String, Option<u16>)> {
    if node.tag != "notification" {
        return Vec::new();
    }
    let Some(from) = node.attr_jid("from").filter(|j| !j.user.is_empty()) else {
        return Vec::new();
    };
    match node.attr("type") {
        Some("encrypt") if node.child("identity").is_some() => vec![(from.user, None)],
        Some("devices") => node
            .children()
            .iter()
            .filter(|c| c.tag == "add" || c.tag == "remove")
            .flat_map(|c| c.children_by_tag("device"))
            .filter_map(|d| d.attr_jid("jid"))
            .map(|j| (j.user.clone(), Some(j.device)))
            .collect(),
        _ => Vec::new(),
    }
}

impl Messenger {
    /// Forgets the holders a notification names (see [`holders_to_forget`]).
    pub(super) fn on_holder_notification(&self, node: &Node) {
        let gone = holders_to_forget(node);
        if gone.is_empty() {
            return;
        }
        let matches = |device: &str| {
            Jid::parse(device).is_ok_and(|d| {
                gone.iter()
                    .any(|(user, id)| d.user == *user && (id.is_none() || *id == Some(d.device)))
            })
        };
        let outcome = (|| {
            let txn = self.setup.db.database().begin_write()?;
            sender_key_holders::forget_devices_in(&txn, &self.setup.namespace, matches)?;
            txn.commit()?;
            Ok::<_, crate::store::StoreError>(())
        })();
        if let Err(e) = outcome {
            log::warn!("engine: cannot forget sender-key holders: {e}");
        }
    }

    /// Answers a retry receipt for one of our group messages: the message again, pairwise to the
    /// asking device with a fresh SKDM (new session from a fresh bundle), `<enc count=N>`.
    pub(super) async fn resend_group(&self, receipt: &Node) -> Result<(), SendError> {
        let (Some(group), Some(device), Some(id)) = (
            receipt.attr_jid("from"),
            receipt.attr_jid("participant"),
            receipt.attr_text("id").map(|i| i.into_owned()),
        ) else {
            return Ok(());
        };
        let count: u32 = receipt
            .child("retry")
            .and_then(|r| r.attr_parse("count"))
            .unwrap_or(1);
        let Some((chat, message)) = self.sent.get(&id) else {
            log::info!("engine: group retry for {id}, which is no longer kept");
            return Ok(());
        };
        if chat != group.to_non_ad() || count > MAX_RETRIES {
            return Ok(());
        }
        let own = self.own().ok_or(SendError::NotConnected)?;
        let address = ProtocolAddress::from_jid(&device);
        self.in_txn(move |txn| Ok(txn.delete_session(&address)?))
            .await?;
        let answer = self
            .iq(key_fetch_node(std::slice::from_ref(&device), None))
            .await?;
        let group_id = group.to_non_ad().to_string();
        let me = ProtocolAddress::from_jid(&Jid::phone(own.phone.clone()).with_device(own.device));
        let name = SenderKeyName::new(group_id.clone(), me);
        let namespace = self.setup.namespace.clone();
        let (target, own_phone) = (device.clone(), own.phone.clone());
        let mut sealed = self
            .in_txn(move |txn| {
                apply_bundles(txn, &answer)?;
                let skdm = sender_key_distribution(txn, &name, &mut OsRandom)?;
                let mut carrier = message;
                carrier.sender_key_distribution_message = Some(SkdmProto {
                    group_id: Some(group_id.clone()),
                    axolotl_sender_key_distribution_message: Some(skdm.serialized().to_vec()),
                });
                let sealed = encrypt_for_devices(
                    txn,
                    &carrier,
                    &carrier,
                    std::slice::from_ref(&target),
                    &own_phone,
                )?;
                sender_key_holders::add_in(txn.txn(), &namespace, &group_id, &[target.to_string()])
                    .map_err(store_error)?;
                Ok(sealed)
            })
            .await?;
        let Some(sealed) = sealed.pop() else {
            return Err(SendError::NoDevices);
        };
        let mut node = Node::new("message")
            .with_attr("id", id.as_str())
            .with_attr("to", group.to_non_ad())
            .with_attr("participant", device)
            .with_attr("type", "text")
            .with_attr("t", unix_now())
            .with_child(enc_node(&sealed.message).with_attr("count", count));
        if sealed.message.kind == MessageKind::PreKey {
            node.push_child(Node::new("device-identity").with_bytes(own.signed_identity));
        }
        log::info!("engine: resending group message {id} after retry {count}");
        self.write(node)
    }

    /// Forgets `device` as a holder of our sender keys in every group (it may have reinstalled).
    pub(super) fn forget_sender_key_holder(&self, device: &Jid) {
        let gone = device.to_string();
        let outcome = (|| {
            let txn = self.setup.db.database().begin_write()?;
            sender_key_holders::forget_devices_in(&txn, &self.setup.namespace, |d| d == gone)?;
            txn.commit()?;
            Ok::<_, crate::store::StoreError>(())
        })();
        if let Err(e) = outcome {
            log::warn!("engine: cannot forget the sender-key holder {device}: {e}");
        }
    }

    /// Forgets every holder of our sender key for `group` and drops the key itself (its
    /// membership changed): the next send distributes a new key to every device.
    pub fn forget_sender_key_holders(&self, group: &Jid) {
        let group = group.to_non_ad().to_string();
        let own_key = self.own().map(|own| {
            let me = Jid::phone(own.phone).with_device(own.device);
            SenderKeyName::new(group.clone(), ProtocolAddress::from_jid(&me))
        });
        let outcome = with_signal_txn(self.setup.db.database(), &self.setup.namespace, |txn| {
            if let Some(name) = &own_key {
                txn.delete_sender_key(name)?;
            }
            sender_key_holders::clear_group_in(txn.txn(), &self.setup.namespace, &group)
                .map_err(store_error)
        });
        if let Err(e) = outcome {
            log::warn!("engine: cannot reset the sender-key holders of {group}: {e}");
        }
    }
}

impl super::EngineHandle {
    /// Tells `sender` (the device that sent them) that messages `ids` of `group` were read.
    /// Fire and forget, like 1:1 read receipts.
    pub fn send_group_read_receipt(
        &self,
        group: &Jid,
        sender: &Jid,
        ids: &[String],
    ) -> Result<(), SendError> {
        let messenger = self.messenger.as_ref().ok_or(SendError::NotConnected)?;
        for chunk in ids.chunks(IDS_PER_RECEIPT) {
            if let Some(receipt) = group_read_receipt(group, sender, chunk, unix_now()) {
                messenger.write(receipt)?;
            }
        }
        Ok(())
    }

    /// Devices that hold our sender key for `group`, as stored (JID texts).
    pub fn sender_key_holders(&self, group: &Jid) -> Vec<String> {
        let Some(m) = self.messenger.as_ref() else {
            return Vec::new();
        };
        sender_key_holders::holders(
            m.setup.db.database(),
            &m.setup.namespace,
            &group.to_non_ad().to_string(),
        )
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_receipts_name_the_sender() {
        let group = Jid::group("120363000000000001");
        let sender = Jid::phone("15550001111").with_device(2);
        let retry = group_retry_receipt("ID", &group, &sender, 7, 1, 9);
        assert_eq!(retry.attr("type"), Some("retry"));
        assert_eq!(retry.attr_jid("participant"), Some(sender.clone()));
        assert_eq!(retry.attr_jid("to"), Some(group.clone()));
        assert_eq!(
            retry.child("registration").and_then(Node::content_bytes),
            Some(&[0u8, 0, 0, 7][..])
        );
        let ids: Vec<String> = ["A", "B"].iter().map(|s| s.to_string()).collect();
        let read = group_read_receipt(&group, &sender, &ids, 5).unwrap();
        assert_eq!(read.attr("type"), Some("read"));
        assert_eq!(read.attr_jid("participant"), Some(sender));
        assert_eq!(read.child("list").map(|l| l.children().len()), Some(1));
        assert!(group_read_receipt(&group, &Jid::phone("1"), &[], 5).is_none());
    }

    #[test]
    fn notifications_name_devices_that_lost_our_keys() {
        let identity = Node::new("notification")
            .with_attr("type", "encrypt")
            .with_attr("from", Jid::phone("111"))
            .with_child(Node::new("identity"));
        assert_eq!(
            holders_to_forget(&identity),
            vec![("111".to_string(), None)]
        );
        let count = Node::new("notification")
            .with_attr("type", "encrypt")
            .with_attr("from", Jid::server_jid())
            .with_child(Node::new("count").with_attr("value", "3"));
        assert!(holders_to_forget(&count).is_empty());
        let devices = Node::new("notification")
            .with_attr("type", "devices")
            .with_attr("from", Jid::phone("222"))
            .with_child(Node::new("remove").with_child(
                Node::new("device").with_attr("jid", Jid::phone("222").with_device(3)),
            ));
        assert_eq!(
            holders_to_forget(&devices),
            vec![("222".to_string(), Some(3))]
        );
    }
}
