//! Incoming calls (§11): a text-only companion cannot answer, so it acknowledges every `<call>`
//! stanza, tells its owner about offers and endings ([`CallEvent`]), and, when auto-reject is on,
//! declines the offer with a `<reject>` so the caller's phone stops ringing at once.
//!
//! The [`CallDesk`] is shared by the connection task (which feeds it stanzas) and the
//! [`EngineHandle`](super::EngineHandle) (whose owner subscribes and switches auto-reject).

use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// An incoming call offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOffer {
    /// The call's own id (`call-id`), shared by every stanza of the call.
    pub call_id: String,
    /// The device that placed the call (`call-creator`, else the stanza's `from`).
    pub creator: Jid,
    /// The caller's phone number (digits): `caller_pn` when the call is LID-addressed; `None`
    /// when a LID-addressed offer does not carry it.
    pub caller_phone: Option<String>,
    pub video: bool,
    /// Server time of the offer, Unix seconds.
    pub timestamp: u64,
    /// True when replayed from the offline queue (the call is most likely over).
    pub offline: bool,
}

impl CallOffer {
    /// The caller as the API shows it: `NUMBER@c.us` (the bare LID JID when the number is
    /// unknown).
    pub fn caller_c_us(&self) -> String {
        match &self.caller_phone {
            Some(phone) => format!("{phone}@c.us"),
            None => self.creator.to_non_ad().to_string(),
        }
    }
}

/// How a call ended, as far as this companion learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// The caller hung up or the call timed out (`<terminate reason>`).
    Terminated { reason: Option<String> },
    /// Another device of our account declined it.
    RejectedElsewhere,
    /// Another device of our account took it.
    AcceptedElsewhere,
}

/// What the engine reports about calls. Subscribe with [`CallDesk::subscribe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A call was offered; `rejected` is true when this engine declined it (auto-reject).
    Offered { offer: CallOffer, rejected: bool },
    /// A call ended.
    Ended { call_id: String, end: CallEnd },
}

/// Auto-reject switch and the call event channel of one engine.
pub struct CallDesk {
    auto_reject: AtomicBool,
    events: broadcast::Sender<CallEvent>,
}

impl CallDesk {
    /// A desk with auto-reject `auto_reject`.
    pub fn new(auto_reject: bool) -> Arc<CallDesk> {
        Arc::new(CallDesk {
            auto_reject: AtomicBool::new(auto_reject),
            events: broadcast::channel(64).0,
        })
    }

    /// Whether offers are declined at once.
    pub fn auto_reject(&self) -> bool {
        self.auto_reject.load(Ordering::Relaxed)
    }

    /// Switches auto-reject for the offers that arrive from now on.
    pub fn set_auto_reject(&self, on: bool) {
        self.auto_reject.store(on, Ordering::Relaxed);
    }

    /// A receiver of every later call event.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.events.subscribe()
    }

    /// The stanzas to write for a `<call>` from the server: its ack, and a reject for an offer
    /// when auto-reject is on (`own` is our device JID, `new_id` makes a stanza id).
    pub(super) fn answer(
        &self,
        node: &Node,
        own: Option<Jid>,
        new_id: impl FnOnce() -> String,
    ) -> Vec<Node> {
        let mut out = vec![call_ack(node)];
        match parse_call(node) {
            Some(Incoming::Offer(offer)) => {
                let reject = own.filter(|_| self.auto_reject());
                let rejected = reject.is_some();
                if let Some(own) = reject {
                    out.push(reject_stanza(&offer, &own, &new_id()));
                }
                // No subscriber is fine: the ack and reject went out regardless.
                let _ = self.events.send(CallEvent::Offered { offer, rejected });
            }
            Some(Incoming::Ended { call_id, end }) => {
                let _ = self.events.send(CallEvent::Ended { call_id, end });
            }
            None => {}
        }
        out
    }
}

impl super::EngineHandle {
    /// This engine's calls: events and the auto-reject switch.
    pub fn calls(&self) -> &Arc<CallDesk> {
        &self.calls
    }
}

/// What a `<call>` stanza means to us.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Incoming {
    Offer(CallOffer),
    Ended { call_id: String, end: CallEnd },
}

fn parse_call(node: &Node) -> Option<Incoming> {
    let child = node.children().first()?;
    let call_id = child.attr_text("call-id")?.into_owned();
    let end = match child.tag.as_str() {
        "offer" => return parse_offer(node, child, call_id).map(Incoming::Offer),
        "terminate" => CallEnd::Terminated {
            reason: child.attr_text("reason").map(|r| r.into_owned()),
        },
        "reject" => CallEnd::RejectedElsewhere,
        "accept" => CallEnd::AcceptedElsewhere,
        _ => return None,
    };
    Some(Incoming::Ended { call_id, end })
}

fn parse_offer(node: &Node, offer: &Node, call_id: String) -> Option<CallOffer> {
    let creator = offer
        .attr_jid("call-creator")
        .or_else(|| node.attr_jid("from"))?;
    let caller_phone = match offer.attr_jid("caller_pn") {
        Some(pn) => Some(pn.user),
        None if creator.is_phone_user() => Some(creator.user.clone()),
        None => None,
    };
    Some(CallOffer {
        call_id,
        creator,
        caller_phone,
        video: offer.child("video").is_some(),
        timestamp: node.attr_parse("t").unwrap_or_default(),
        offline: node.has_attr("offline"),
    })
}

/// `<ack class="call" id to [type]/>` for any `<call>` stanza (§8.6, §11).
fn call_ack(node: &Node) -> Node {
    let mut ack = Node::new("ack")
        .with_attr("class", "call")
        .with_attr("id", node.attr_text("id").unwrap_or_default().into_owned());
    if let Some(from) = node.attr_jid("from") {
        ack.set_attr("to", from);
    }
    // Like whatsmeow: `type` only when the stanza has one (offers carry none).
    if let Some(kind) = node.attr_text("type") {
        ack.set_attr("type", kind.into_owned());
    }
    ack
}

/// `<call id from=OWN to=CALLER><reject call-id call-creator count="0"/></call>`, device parts
/// stripped as whatsmeow does.
fn reject_stanza(offer: &CallOffer, own: &Jid, id: &str) -> Node {
    Node::new("call")
        .with_attr("id", id)
        .with_attr("from", own.to_non_ad())
        .with_attr("to", offer.creator.to_non_ad())
        .with_child(
            Node::new("reject")
                .with_attr("call-id", offer.call_id.as_str())
                .with_attr("call-creator", offer.creator.to_non_ad())
                .with_attr("count", "0"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_stanza(video: bool) -> Node {
        let mut offer = Node::new("offer")
            .with_attr("call-id", "CID1")
            .with_attr("call-creator", Jid::phone("15550001111"));
        if video {
            offer.push_child(Node::new("video"));
        }
        Node::new("call")
            .with_attr("from", Jid::phone("15550001111"))
            .with_attr("id", "S1")
            .with_attr("t", "1700000000")
            .with_child(offer)
    }

    #[test]
    fn an_offer_is_acked_rejected_and_reported() {
        let desk = CallDesk::new(true);
        let mut events = desk.subscribe();
        let own = Jid::phone("15559990000").with_device(3);
        let out = desk.answer(&offer_stanza(true), Some(own), || "R1".into());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].tag, "ack");
        assert_eq!(out[0].attr_text("class").as_deref(), Some("call"));
        assert_eq!(out[0].attr_text("id").as_deref(), Some("S1"));
        assert_eq!(out[0].attr_jid("to"), Some(Jid::phone("15550001111")));
        let reject = out[1].child("reject").expect("reject child");
        assert_eq!(reject.attr_text("call-id").as_deref(), Some("CID1"));
        assert_eq!(
            out[1].attr_jid("from"),
            Some(Jid::phone("15559990000")),
            "own device part stripped"
        );
        match events.try_recv() {
            Ok(CallEvent::Offered { offer, rejected }) => {
                assert!(rejected);
                assert!(offer.video);
                assert_eq!(offer.caller_c_us(), "15550001111@c.us");
                assert_eq!(offer.timestamp, 1_700_000_000);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn with_auto_reject_off_the_offer_is_only_acked() {
        let desk = CallDesk::new(false);
        let mut events = desk.subscribe();
        let out = desk.answer(&offer_stanza(false), Some(Jid::phone("1555")), || {
            panic!("no id needed")
        });
        assert_eq!(out.len(), 1);
        assert!(matches!(
            events.try_recv(),
            Ok(CallEvent::Offered {
                rejected: false,
                ..
            })
        ));
    }

    #[test]
    fn a_terminate_is_reported_as_an_ending() {
        let desk = CallDesk::new(true);
        let mut events = desk.subscribe();
        let node = Node::new("call")
            .with_attr("from", Jid::phone("15550001111"))
            .with_attr("id", "S2")
            .with_child(
                Node::new("terminate")
                    .with_attr("call-id", "CID1")
                    .with_attr("reason", "timeout"),
            );
        let out = desk.answer(&node, None, String::new);
        assert_eq!(out.len(), 1);
        assert_eq!(
            events.try_recv().ok(),
            Some(CallEvent::Ended {
                call_id: "CID1".into(),
                end: CallEnd::Terminated {
                    reason: Some("timeout".into())
                }
            })
        );
    }

    #[test]
    fn a_lid_addressed_offer_names_the_caller_by_caller_pn() {
        let lid = Jid::lid("123456789012345");
        let stanza = |pn: Option<Jid>| {
            Node::new("call")
                .with_attr("from", lid.clone())
                .with_attr("id", "S3")
                .with_attr("t", "1700000001")
                .with_attr("offline", "0")
                .with_child(
                    Node::new("offer")
                        .with_attr("call-id", "CID2")
                        .with_attr("call-creator", lid.clone().with_device(0))
                        .with_opt_attr("caller_pn", pn),
                )
        };
        let desk = CallDesk::new(true);
        let mut events = desk.subscribe();
        let out = desk.answer(
            &stanza(Some(Jid::phone("15550002222"))),
            Some(Jid::phone("1555")),
            || "R2".into(),
        );
        assert_eq!(out.len(), 2, "acked and rejected");
        assert_eq!(
            out[1].attr_jid("to"),
            Some(lid.clone()),
            "the reject goes to the creator"
        );
        match events.try_recv() {
            Ok(CallEvent::Offered { offer, .. }) => {
                assert_eq!(offer.caller_c_us(), "15550002222@c.us");
                assert!(offer.offline);
                assert!(!offer.video);
            }
            other => panic!("unexpected {other:?}"),
        }
        // Without a phone number it is still rejected; the caller is shown by LID.
        let out = desk.answer(&stanza(None), Some(Jid::phone("1555")), || "R3".into());
        assert_eq!(out.len(), 2);
        match events.try_recv() {
            Ok(CallEvent::Offered { offer, rejected }) => {
                assert!(rejected);
                assert_eq!(offer.caller_c_us(), "123456789012345@lid");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_calls_are_acked_and_ignored() {
        let desk = CallDesk::new(true);
        let mut events = desk.subscribe();
        let out = desk.answer(&Node::new("call"), None, String::new);
        assert_eq!(out.len(), 1);
        assert!(events.try_recv().is_err());
    }
}
