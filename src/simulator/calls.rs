//! Voice and video calls between a simulated phone and another account's companions (§11, §13.1
//! item 13). Only the signalling is simulated: the phone's offer rings every online companion of
//! the callee, a companion's `<reject>` is acked and ends the call with a `<terminate>` to the
//! caller, and a call nobody answers times out. Offers are never queued for offline devices (a
//! call is live or it is nothing). Control routes: `docs/simulator.md` ("Calls").

use super::registry::{unix_now, ConnRole, ToConnection};
use super::routing::{account_key, device_jid};
use super::Shared;
use crate::protocol::binary::Node;
use crate::protocol::crypto::random_bytes;
use crate::protocol::jid::Jid;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// How long an unanswered call rings (WhatsApp gives up after about 45 s).
const DEFAULT_RING_SECS: u64 = 45;
/// Longest ring a control request may ask for.
const MAX_RING_SECS: u64 = 600;
/// Calls kept per simulator; the oldest are forgotten first.
const MAX_CALLS: usize = 1000;

/// A call as the caller's phone sees it (`GET /sim/phones/{phone}/calls`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PhoneCall {
    pub call_id: String,
    /// The callee's phone number.
    pub to: String,
    pub video: bool,
    /// Unix seconds.
    pub started_at: u64,
    /// `ringing`, `rejected` (a callee device declined), `timeout`, `cancelled` (the caller hung up).
    pub status: &'static str,
    /// Unix seconds, once the call ended.
    pub ended_at: Option<u64>,
    /// The callee device that declined, for `rejected`.
    pub rejected_by: Option<String>,
    /// `<reject>` stanzas the server received for this call (the first one ends it).
    pub rejects: u32,
    /// How many companions the offer reached.
    pub offered_to: usize,
    /// True once the phone received the server's `<terminate>`.
    pub terminate_received: bool,
    #[serde(skip)]
    caller: String,
    #[serde(skip)]
    seq: u64,
}

/// Every call the simulator placed.
#[derive(Default)]
pub(crate) struct CallBook {
    inner: Arc<Mutex<BookState>>,
}

#[derive(Default)]
struct BookState {
    calls: HashMap<String, PhoneCall>,
    next_seq: u64,
}

fn lock(m: &Mutex<BookState>) -> std::sync::MutexGuard<'_, BookState> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallError {
    PhoneNotFound,
    CalleeNotFound,
}

fn hex_id() -> String {
    random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The senders of `phone`'s companions that are logged in now.
fn live_companions(shared: &Shared, phone: &str) -> Vec<UnboundedSender<ToConnection>> {
    let inner = shared.registry.lock();
    inner
        .connections
        .values()
        .filter(|c| matches!(&c.role, ConnRole::LoggedIn { phone: p, device } if p == phone && *device != 0))
        .map(|c| c.tx.clone())
        .collect()
}

fn terminate(from: &Jid, call_id: &str, creator: &Jid, reason: &str) -> Node {
    Node::new("call")
        .with_attr("from", from.clone())
        .with_attr("id", hex_id())
        .with_attr("t", unix_now())
        .with_child(
            Node::new("terminate")
                .with_attr("call-id", call_id)
                .with_attr("call-creator", creator.clone())
                .with_attr("reason", reason),
        )
}

/// `phone` calls `to` (a number or JID): the offer goes to the callee's online companions, and the
/// call times out after `ring` unless a companion rejects it first. Returns the call id.
pub(crate) fn place_call(
    shared: &Shared,
    phone: &str,
    to: &str,
    video: bool,
    ring: Duration,
) -> Result<String, CallError> {
    if shared.registry.phone(phone).is_none() {
        return Err(CallError::PhoneNotFound);
    }
    let to_jid = Jid::parse(to).unwrap_or_else(|_| Jid::phone(to.trim_start_matches('+')));
    let callee = {
        let inner = shared.registry.lock();
        account_key(&inner.accounts, &to_jid).ok_or(CallError::CalleeNotFound)?
    };
    if callee == phone {
        return Err(CallError::CalleeNotFound);
    }
    let call_id = hex_id();
    let caller = Jid::phone(phone);
    let mut offer = Node::new("offer")
        .with_attr("call-id", call_id.as_str())
        .with_attr("call-creator", caller.clone())
        .with_child(
            Node::new("audio")
                .with_attr("enc", "opus")
                .with_attr("rate", "16000"),
        );
    if video {
        offer.push_child(Node::new("video").with_attr("enc", "vp8"));
    }
    let stanza = Node::new("call")
        .with_attr("from", caller.clone())
        .with_attr("id", hex_id())
        .with_attr("t", unix_now())
        .with_child(offer);
    let companions = live_companions(shared, &callee);
    let offered_to = companions
        .iter()
        .filter(|tx| tx.send(ToConnection::Send(stanza.clone())).is_ok())
        .count();
    {
        let mut book = lock(&shared.calls.inner);
        if book.calls.len() >= MAX_CALLS {
            let oldest = book
                .calls
                .values()
                .min_by_key(|c| c.seq)
                .map(|c| c.call_id.clone());
            if let Some(oldest) = oldest {
                book.calls.remove(&oldest);
            }
        }
        book.next_seq += 1;
        let seq = book.next_seq;
        book.calls.insert(
            call_id.clone(),
            PhoneCall {
                call_id: call_id.clone(),
                to: callee.clone(),
                video,
                started_at: unix_now(),
                status: "ringing",
                ended_at: None,
                rejected_by: None,
                rejects: 0,
                offered_to,
                terminate_received: false,
                caller: phone.to_string(),
                seq,
            },
        );
    }
    // The ring timer holds the book and the companions' senders, not the simulator itself.
    let book = Arc::clone(&shared.calls.inner);
    let id = call_id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ring).await;
        if end_ringing(&book, &id, "timeout") {
            let node = terminate(&Jid::phone(callee), &id, &caller, "timeout");
            for tx in companions {
                let _ = tx.send(ToConnection::Send(node.clone()));
            }
        }
    });
    Ok(call_id)
}

/// Ends a ringing call with `status`; false when it was not ringing (already over, or unknown).
fn end_ringing(book: &Mutex<BookState>, call_id: &str, status: &'static str) -> bool {
    let mut book = lock(book);
    match book.calls.get_mut(call_id) {
        Some(call) if call.status == "ringing" => {
            call.status = status;
            call.ended_at = Some(unix_now());
            true
        }
        _ => false,
    }
}

/// The caller hangs up a ringing call: the callee's companions get `<terminate>`.
pub(crate) fn cancel_call(shared: &Shared, phone: &str, call_id: &str) -> bool {
    let callee = {
        let book = lock(&shared.calls.inner);
        match book.calls.get(call_id) {
            Some(call) if call.caller == phone => call.to.clone(),
            _ => return false,
        }
    };
    if !end_ringing(&shared.calls.inner, call_id, "cancelled") {
        return false;
    }
    let node = terminate(&Jid::phone(phone), call_id, &Jid::phone(phone), "cancelled");
    for tx in live_companions(shared, &callee) {
        let _ = tx.send(ToConnection::Send(node.clone()));
    }
    true
}

/// The calls `phone` placed, oldest first.
pub(crate) fn calls_of(shared: &Shared, phone: &str) -> Vec<PhoneCall> {
    let book = lock(&shared.calls.inner);
    let mut calls: Vec<PhoneCall> = book
        .calls
        .values()
        .filter(|c| c.caller == phone)
        .cloned()
        .collect();
    calls.sort_by_key(|c| c.seq);
    calls
}

/// A `<call>` from a logged-in companion (`phone`:`device`): always acked; a `<reject>` of a
/// ringing call ends it and sends `<terminate>` to the caller (the simulated phone records it).
pub(super) fn on_call(shared: &Shared, phone: &str, device: u16, node: &Node) -> Node {
    let child = node.children().first();
    let mut ack = Node::new("ack")
        .with_attr("class", "call")
        .with_attr("id", node.attr_text("id").unwrap_or_default().into_owned())
        .with_attr("t", unix_now());
    if let Some(child) = child {
        ack.set_attr("type", child.tag.as_str());
    }
    let Some(reject) = child.filter(|c| c.tag == "reject") else {
        return ack;
    };
    let Some(call_id) = reject.attr_text("call-id").map(|c| c.into_owned()) else {
        return ack;
    };
    let rejecter = device_jid(phone, device);
    let caller = {
        let mut book = lock(&shared.calls.inner);
        let Some(call) = book.calls.get_mut(&call_id).filter(|c| c.to == phone) else {
            return ack;
        };
        call.rejects += 1;
        if call.status != "ringing" {
            return ack;
        }
        call.status = "rejected";
        call.ended_at = Some(unix_now());
        call.rejected_by = Some(rejecter.to_string());
        call.caller.clone()
    };
    // The caller's phone (device 0, simulated here) records the terminate; the caller's
    // companions get it on the wire.
    if let Some(call) = lock(&shared.calls.inner).calls.get_mut(&call_id) {
        call.terminate_received = true;
    }
    let to_caller = terminate(&rejecter, &call_id, &Jid::phone(&caller), "reject");
    for tx in live_companions(shared, &caller) {
        let _ = tx.send(ToConnection::Send(to_caller.clone()));
    }
    // The callee's other companions stop ringing.
    let others = terminate(&Jid::phone(phone), &call_id, &Jid::phone(&caller), "reject");
    let inner = shared.registry.lock();
    let other_companions = inner.connections.values().filter(|c| {
        matches!(&c.role, ConnRole::LoggedIn { phone: p, device: d } if p == phone && *d != device && *d != 0)
    });
    for c in other_companions {
        let _ = c.tx.send(ToConnection::Send(others.clone()));
    }
    ack
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallBody {
    to: String,
    #[serde(default)]
    video: bool,
    #[serde(default)]
    ring_secs: Option<u64>,
}

/// The call control routes, or `None` when `segments` is none of them.
pub(super) fn control_route(
    shared: &Shared,
    method: &hyper::Method,
    segments: &[&str],
    body: &[u8],
) -> Option<hyper::Response<http_body_util::Full<bytes::Bytes>>> {
    use super::control::{error_response, json_response};
    use hyper::{Method, StatusCode};
    use serde_json::json;
    let not_found = || error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone");
    Some(match (method, segments) {
        (&Method::POST, ["phones", phone, "calls"]) => {
            let body: CallBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "INVALID_JSON",
                        &e.to_string(),
                    ))
                }
            };
            let ring = body.ring_secs.unwrap_or(DEFAULT_RING_SECS);
            if !(1..=MAX_RING_SECS).contains(&ring) {
                return Some(error_response(
                    StatusCode::BAD_REQUEST,
                    "INVALID_RING",
                    "ringSecs must be from 1 to 600",
                ));
            }
            let ring = Duration::from_secs(ring);
            match place_call(shared, phone, &body.to, body.video, ring) {
                Ok(id) => json_response(StatusCode::CREATED, &json!({ "callId": id })),
                Err(CallError::PhoneNotFound) => not_found(),
                Err(CallError::CalleeNotFound) => error_response(
                    StatusCode::NOT_FOUND,
                    "RECIPIENT_NOT_FOUND",
                    "the callee is not another simulated account",
                ),
            }
        }
        (&Method::GET, ["phones", phone, "calls"]) => {
            if shared.registry.phone(phone).is_none() {
                return Some(not_found());
            }
            json_response(StatusCode::OK, &json!({ "calls": calls_of(shared, phone) }))
        }
        (&Method::POST, ["phones", phone, "calls", call_id, "cancel"]) => {
            if cancel_call(shared, phone, call_id) {
                json_response(StatusCode::OK, &json!({ "cancelled": call_id }))
            } else {
                error_response(
                    StatusCode::NOT_FOUND,
                    "CALL_NOT_RINGING",
                    "this phone has no ringing call with this id",
                )
            }
        }
        _ => return None,
    })
}
