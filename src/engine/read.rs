//! Read receipts ("seen") for incoming messages: what marking a chat as read sends.

use super::receive::read_receipt;
use super::send::SendError;
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use std::time::{SystemTime, UNIX_EPOCH};

/// Most message ids one receipt names (the rest go in further receipts).
const IDS_PER_RECEIPT: usize = 64;

/// `<receipt type="read" id=FIRST to=CHAT t>` with the other ids as `<list><item id>`.
fn read_receipt_for(chat: &Jid, ids: &[String], now: u64) -> Option<Node> {
    let (first, rest) = ids.split_first()?;
    let mut receipt = read_receipt(first, chat, "read", now);
    if !rest.is_empty() {
        let items = rest
            .iter()
            .map(|id| Node::new("item").with_attr("id", id.as_str()));
        receipt = receipt.with_children([Node::new("list").with_children(items)]);
    }
    Some(receipt)
}

impl super::EngineHandle {
    /// Tells the senders of `ids` (incoming messages of the 1:1 chat `chat`) that they were read.
    /// Fire and forget: the server acknowledges receipts, nobody answers them.
    pub fn send_read_receipt(&self, chat: &Jid, ids: &[String]) -> Result<(), SendError> {
        let messenger = self.messenger.as_ref().ok_or(SendError::NotConnected)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        for chunk in ids.chunks(IDS_PER_RECEIPT) {
            if let Some(receipt) = read_receipt_for(chat, chunk, now) {
                messenger.write(receipt)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_receipt_names_every_id() {
        let ids: Vec<String> = ["A", "B", "C"].iter().map(|s| s.to_string()).collect();
        let node = read_receipt_for(&Jid::phone("15550001111"), &ids, 7).unwrap();
        assert_eq!(node.attr_text("id").as_deref(), Some("A"));
        assert_eq!(node.attr_text("type").as_deref(), Some("read"));
        let listed: Vec<String> = node
            .child("list")
            .unwrap()
            .children_by_tag("item")
            .filter_map(|i| i.attr_text("id").map(|s| s.into_owned()))
            .collect();
        assert_eq!(listed, vec!["B".to_string(), "C".to_string()]);
        assert!(read_receipt_for(&Jid::phone("1"), &[], 7).is_none());
    }
}
