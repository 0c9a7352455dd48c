//! The webhook events and their payloads: `{"event": <name>, "data": {...}}`.
//!
//! The three documented events (`message_received`, `message_sent`, `call_rejected`) carry exactly
//! the documented fields; `message_ack` and `client_status` are ours (docs/webhooks.md).
//! Numbers are shown as digits ("1234567890"), the way the API documentation shows them, even when
//! the engine knows the full JID; timestamps are Unix milliseconds.

use crate::store::outbox::NewOutboxEvent;
use crate::store::ClientStatus;
use serde_json::{json, Value};

pub const MESSAGE_RECEIVED: &str = "message_received";
pub const MESSAGE_SENT: &str = "message_sent";
pub const CALL_REJECTED: &str = "call_rejected";
pub const MESSAGE_ACK: &str = "message_ack";
pub const CLIENT_STATUS: &str = "client_status";
/// Sent by `POST /api/webhooks/:clientId/test`.
pub const WEBHOOK_TEST: &str = "webhook_test";

/// Delivery state of a sent message, lowest to highest (WhatsApp's ack levels), or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckLevel {
    /// Accepted by the WhatsApp server (one tick).
    Server,
    /// Delivered to the recipient's device (two ticks).
    Delivered,
    /// Read (blue ticks).
    Read,
    /// A voice message or video was played.
    Played,
    /// Sending failed; see the error code.
    Failed,
}

impl AckLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AckLevel::Server => "server",
            AckLevel::Delivered => "delivered",
            AckLevel::Read => "read",
            AckLevel::Played => "played",
            AckLevel::Failed => "failed",
        }
    }

    /// Reads a stored sent-message status ("sent" is the server ack).
    pub fn parse(status: &str) -> Option<AckLevel> {
        match status {
            "server" | "sent" => Some(AckLevel::Server),
            "delivered" => Some(AckLevel::Delivered),
            "read" => Some(AckLevel::Read),
            "played" => Some(AckLevel::Played),
            "failed" => Some(AckLevel::Failed),
            _ => None,
        }
    }
}

/// The number part of a JID or phone number: "972501234567:3@s.whatsapp.net" → "972501234567",
/// "+1234567890" → "1234567890".
pub fn display_number(jid_or_number: &str) -> String {
    let user = jid_or_number.split('@').next().unwrap_or(jid_or_number);
    let user = user.split(':').next().unwrap_or(user);
    user.strip_prefix('+').unwrap_or(user).to_string()
}

/// A new random event id: "evt_" and 32 hex digits (128 random bits).
pub fn new_event_id() -> String {
    let bytes = match crate::services::secrets::random_bytes::<16>() {
        Ok(b) => b,
        // The system RNG failing is not recoverable in any useful way; a time-and-counter id is
        // still unique within this process and never reused.
        Err(_) => fallback_id_bytes(),
    };
    let mut id = String::with_capacity(36);
    id.push_str("evt_");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

fn fallback_id_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&nanos.to_be_bytes());
    out[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    out
}

fn build(event: &str, data: Value, reply_to: Option<&str>) -> NewOutboxEvent {
    let body = json!({ "event": event, "data": data }).to_string();
    NewOutboxEvent {
        event_id: new_event_id(),
        event: event.to_string(),
        body,
        reply_to: reply_to.map(str::to_string),
    }
}

/// A message arrived at the client. A `response` in the webhook's answer goes back to `sender`.
pub fn message_received(
    client_id: &str,
    sender: &str,
    text: &str,
    timestamp_ms: i64,
) -> NewOutboxEvent {
    let data = json!({
        "from": display_number(sender),
        "to": client_id,
        "body": text,
        "message": text,
        "timestamp": timestamp_ms,
        "type": "received_message",
    });
    build(MESSAGE_RECEIVED, data, Some(sender))
}

/// What a received media message carries, for its `message_received` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaNote<'a> {
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub kind: &'a str,
    pub mimetype: &'a str,
    pub filename: Option<&'a str>,
    /// False when the file could not be downloaded (the message is described, its bytes missing).
    pub downloaded: bool,
}

/// A media message arrived: `message_received` (body = the caption, possibly empty) plus
/// `hasMedia`, `mediaType`, `mimetype`, `filename` and `mediaDownloaded` (ours, docs/webhooks.md).
pub fn media_received(
    client_id: &str,
    sender: &str,
    caption: &str,
    timestamp_ms: i64,
    media: &MediaNote<'_>,
) -> NewOutboxEvent {
    let data = json!({
        "from": display_number(sender),
        "to": client_id,
        "body": caption,
        "message": caption,
        "timestamp": timestamp_ms,
        "type": "received_message",
        "hasMedia": true,
        "mediaType": media.kind,
        "mimetype": media.mimetype,
        "filename": media.filename,
        "mediaDownloaded": media.downloaded,
    });
    build(MESSAGE_RECEIVED, data, Some(sender))
}

/// The client sent a message.
pub fn message_sent(
    client_id: &str,
    recipient: &str,
    text: &str,
    timestamp_ms: i64,
) -> NewOutboxEvent {
    let data = json!({
        "from": client_id,
        "to": display_number(recipient),
        "body": text,
        "message": text,
        "timestamp": timestamp_ms,
        "type": "sent_message",
    });
    build(MESSAGE_SENT, data, None)
}

/// The client sent a file: `message_sent` (body = the caption, possibly empty) plus `hasMedia`,
/// `mediaType`, `mimetype` and `filename`, as [`media_received`] describes received files.
pub fn media_sent(
    client_id: &str,
    recipient: &str,
    caption: &str,
    timestamp_ms: i64,
    media: &MediaNote<'_>,
) -> NewOutboxEvent {
    let data = json!({
        "from": client_id,
        "to": display_number(recipient),
        "body": caption,
        "message": caption,
        "timestamp": timestamp_ms,
        "type": "sent_message",
        "hasMedia": true,
        "mediaType": media.kind,
        "mimetype": media.mimetype,
        "filename": media.filename,
    });
    build(MESSAGE_SENT, data, None)
}

/// An incoming call was rejected. The answer's `rejectionMessage` (or the default text) goes to
/// `caller`.
pub fn call_rejected(
    client_id: &str,
    caller: &str,
    is_video: bool,
    timestamp_ms: i64,
) -> NewOutboxEvent {
    let data = json!({
        "from": display_number(caller),
        "to": client_id,
        "isVideo": is_video,
        "timestamp": timestamp_ms,
        "type": "call_rejected",
    });
    build(CALL_REJECTED, data, Some(caller))
}

/// A sent message's delivery state changed.
pub fn message_ack(
    client_id: &str,
    message_id: &str,
    recipient: &str,
    ack: AckLevel,
    error_code: Option<i64>,
    timestamp_ms: i64,
) -> NewOutboxEvent {
    let data = json!({
        "messageId": message_id,
        "from": client_id,
        "to": display_number(recipient),
        "ack": ack.as_str(),
        "errorCode": error_code,
        "timestamp": timestamp_ms,
        "type": "message_ack",
    });
    build(MESSAGE_ACK, data, None)
}

/// The client's connection status changed.
pub fn client_status(
    client_id: &str,
    status: ClientStatus,
    connected_number: Option<&str>,
    timestamp_ms: i64,
) -> NewOutboxEvent {
    let data = json!({
        "clientId": client_id,
        "status": status.label(),
        "connectedNumber": connected_number,
        "timestamp": timestamp_ms,
        "type": "client_status",
    });
    build(CLIENT_STATUS, data, None)
}

/// A test event asked for through the API.
pub fn webhook_test(client_id: &str, timestamp_ms: i64) -> NewOutboxEvent {
    let data = json!({
        "clientId": client_id,
        "message": "Test event from Chattu.",
        "timestamp": timestamp_ms,
        "type": "webhook_test",
    });
    build(WEBHOOK_TEST, data, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(e: &NewOutboxEvent) -> Value {
        serde_json::from_str(&e.body).unwrap()
    }

    #[test]
    fn a_sent_file_is_described_like_a_received_one() {
        let note = MediaNote {
            kind: "image",
            mimetype: "image/jpeg",
            filename: Some("sunset.jpg"),
            downloaded: true,
        };
        let e = media_sent("shop", "15550001111@c.us", "the sunset", 5, &note);
        assert_eq!(e.event, "message_sent");
        let body = parse(&e);
        assert_eq!(body["data"]["to"], "15550001111");
        assert_eq!(body["data"]["body"], "the sunset");
        assert_eq!(body["data"]["type"], "sent_message");
        assert_eq!(body["data"]["hasMedia"], true);
        assert_eq!(body["data"]["mediaType"], "image");
        assert_eq!(body["data"]["filename"], "sunset.jpg");
        assert!(body["data"].get("mediaDownloaded").is_none());
    }

    #[test]
    fn documented_events_have_exactly_the_documented_fields() {
        let e = message_received("client-id", "1234567890@c.us", "Hello", 1_699_123_456_789);
        assert_eq!(
            parse(&e),
            json!({"event": "message_received", "data": {"from": "1234567890", "to": "client-id",
                "body": "Hello", "message": "Hello", "timestamp": 1_699_123_456_789i64,
                "type": "received_message"}})
        );
        assert_eq!(e.reply_to.as_deref(), Some("1234567890@c.us"));
        let e = message_sent("client-id", "+1234567890", "Hi", 5);
        assert_eq!(
            parse(&e),
            json!({"event": "message_sent", "data": {"from": "client-id", "to": "1234567890",
                "body": "Hi", "message": "Hi", "timestamp": 5, "type": "sent_message"}})
        );
        assert_eq!(e.reply_to, None);
        let e = call_rejected("client-id", "1234567890:7@s.whatsapp.net", true, 9);
        assert_eq!(
            parse(&e),
            json!({"event": "call_rejected", "data": {"from": "1234567890", "to": "client-id",
                "isVideo": true, "timestamp": 9, "type": "call_rejected"}})
        );
    }

    #[test]
    fn event_ids_are_unique_and_well_formed() {
        let a = new_event_id();
        let b = new_event_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(a.starts_with("evt_") && a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn ack_levels_round_trip() {
        for level in [
            AckLevel::Server,
            AckLevel::Delivered,
            AckLevel::Read,
            AckLevel::Played,
            AckLevel::Failed,
        ] {
            assert_eq!(AckLevel::parse(level.as_str()), Some(level));
        }
        assert_eq!(AckLevel::parse("sent"), Some(AckLevel::Server));
        assert_eq!(AckLevel::parse("bogus"), None);
    }
}
