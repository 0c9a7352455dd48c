//! Answering retry receipts (§8.6): a device that could not decrypt one of our messages asks again;
//! we drop our session with that device, fetch a fresh bundle, encrypt the message again (a pkmsg) and
//! send it to that device alone with `<enc count=N>`.

use super::messaging::Messenger;
use super::send::{apply_bundles, device_sent, enc_node, encrypt_for_devices, SendError};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::Message;
use crate::protocol::signal::{key_fetch_node, MessageKind, ProtocolAddress, SessionStore};
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many sent messages are kept for retries.
const KEPT: usize = 256;
/// Retries answered per message and device; later ones are ignored.
const MAX_RETRIES: u32 = 5;

/// The last sent messages (id, chat, message), oldest first.
#[derive(Default)]
pub(super) struct SentCache {
    inner: Mutex<VecDeque<(String, Jid, Message)>>,
}

impl SentCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, Jid, Message)>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn remember(&self, id: &str, chat: &Jid, message: &Message) {
        let mut kept = self.lock();
        if kept.len() >= KEPT {
            kept.pop_front();
        }
        kept.push_back((id.to_string(), chat.clone(), message.clone()));
    }

    pub(super) fn get(&self, id: &str) -> Option<(Jid, Message)> {
        self.lock()
            .iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, chat, message)| (chat.clone(), message.clone()))
    }
}

impl Messenger {
    /// Resends the message a retry receipt names to the device that sent the receipt.
    pub(super) async fn resend(&self, receipt: &Node) -> Result<(), SendError> {
        if receipt.attr_jid("from").is_some_and(|j| j.is_group()) {
            return self.resend_group(receipt).await;
        }
        let (Some(id), Some(device)) = (receipt.attr_text("id"), receipt.attr_jid("from")) else {
            return Ok(());
        };
        let id = id.into_owned();
        let count: u32 = receipt
            .child("retry")
            .and_then(|r| r.attr_parse("count"))
            .unwrap_or(1);
        let Some((chat, message)) = self.sent.get(&id) else {
            log::info!("engine: retry for {id}, which is no longer kept");
            return Ok(());
        };
        if count > MAX_RETRIES {
            return Ok(());
        }
        let own = self.own().ok_or(SendError::NotConnected)?;
        // A device that lost our session probably lost our group sender keys too.
        self.forget_sender_key_holder(&device);
        let address = ProtocolAddress::from_jid(&device);
        self.in_txn(move |txn| Ok(txn.delete_session(&address)?))
            .await?;
        let answer = self
            .iq(key_fetch_node(std::slice::from_ref(&device), None))
            .await?;
        self.in_txn(move |txn| apply_bundles(txn, &answer)).await?;
        let own_copy = device_sent(&chat, &message, None);
        let content = message.clone();
        let target = vec![device.clone()];
        let own_phone = own.phone.clone();
        let mut sealed = self
            .in_txn(move |txn| encrypt_for_devices(txn, &message, &own_copy, &target, &own_phone))
            .await?;
        let Some(sealed) = sealed.pop() else {
            return Err(SendError::NoDevices);
        };
        let mut node = Node::new("message")
            .with_attr("id", id.as_str())
            .with_attr("to", device)
            .with_attr("type", "text")
            .with_child(enc_node(&sealed.message).with_attr("count", count));
        if sealed.message.kind == MessageKind::PreKey {
            node.push_child(Node::new("device-identity").with_bytes(own.signed_identity));
        }
        super::media::content::mark_stanza(&mut node, &content);
        log::info!("engine: resending {id} after retry {count}");
        self.write(node)
    }
}
