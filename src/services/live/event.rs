//! What travels to the sockets: [`LiveEvent`], one event of one client, serialised once as the
//! JSON text frame the dashboard reads (docs/api.md "/ws", docs/dashboard.md "Live updates").

use crate::services::webhooks::events::{display_number, AckLevel};
use crate::store::ClientStatus;
use serde_json::{json, Map, Value};

/// Message text beyond this many characters is cut in live events (the full text is in the chat).
pub const MAX_BODY_CHARS: usize = 1024;

/// One event for one client, already serialised as the JSON text frame sockets send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    owner: String,
    client_id: String,
    kind: &'static str,
    json: String,
}

impl LiveEvent {
    /// An event of type `kind` with `fields`; `type` and `clientId` are added.
    pub fn new(owner: &str, client_id: &str, kind: &'static str, fields: Value) -> LiveEvent {
        let mut object = Map::new();
        object.insert("type".into(), Value::from(kind));
        object.insert("clientId".into(), Value::from(client_id));
        if let Value::Object(extra) = fields {
            for (k, v) in extra {
                if k != "type" && k != "clientId" {
                    object.insert(k, v);
                }
            }
        }
        LiveEvent {
            owner: owner.to_string(),
            client_id: client_id.to_string(),
            kind,
            json: Value::Object(object).to_string(),
        }
    }

    /// `client_status`: the client's connection state changed (`status` as GET /api/clients shows it).
    pub fn client_status(
        owner: &str,
        client_id: &str,
        status: ClientStatus,
        connected_number: Option<&str>,
        timestamp_ms: i64,
    ) -> LiveEvent {
        let fields = json!({
            "status": status.label(),
            "connectedNumber": connected_number,
            "timestamp": timestamp_ms,
        });
        LiveEvent::new(owner, client_id, "client_status", fields)
    }

    /// `qr`: a new QR code (a `data:image/png;base64,…` URL) and, when one was asked for, the
    /// pairing code.
    pub fn qr(
        owner: &str,
        client_id: &str,
        qr_data_url: &str,
        pairing_code: Option<&str>,
        timestamp_ms: i64,
    ) -> LiveEvent {
        let fields = json!({
            "qrCode": qr_data_url,
            "pairingCode": pairing_code,
            "timestamp": timestamp_ms,
        });
        LiveEvent::new(owner, client_id, "qr", fields)
    }

    /// `message`: a message was received (`from_me` false; `peer` is the sender) or sent
    /// (`from_me` true; `peer` is the recipient) in the chat with `peer`.
    pub fn message(
        owner: &str,
        client_id: &str,
        peer: &str,
        from_me: bool,
        message_id: Option<&str>,
        body: &str,
        timestamp_ms: i64,
    ) -> LiveEvent {
        let (from, to) = if from_me {
            (client_id.to_string(), display_number(peer))
        } else {
            (display_number(peer), client_id.to_string())
        };
        let truncated = body.chars().count() > MAX_BODY_CHARS;
        let body: String = body.chars().take(MAX_BODY_CHARS).collect();
        let fields = json!({
            "chatId": chat_id(peer),
            "messageId": message_id,
            "fromMe": from_me,
            "from": from,
            "to": to,
            "body": body,
            "truncated": truncated,
            "timestamp": timestamp_ms,
        });
        LiveEvent::new(owner, client_id, "message", fields)
    }

    /// `ack`: a sent message's delivery state changed (`ack`: server, delivered, read, played,
    /// failed).
    pub fn ack(
        owner: &str,
        client_id: &str,
        peer: &str,
        message_id: &str,
        ack: AckLevel,
        timestamp_ms: i64,
    ) -> LiveEvent {
        let fields = json!({
            "chatId": chat_id(peer),
            "messageId": message_id,
            "ack": ack.as_str(),
            "timestamp": timestamp_ms,
        });
        LiveEvent::new(owner, client_id, "ack", fields)
    }

    /// `reaction`: `sender` reacted to a message in the chat with `peer` (an empty `reaction`
    /// removes it).
    pub fn reaction(
        owner: &str,
        client_id: &str,
        peer: &str,
        message_id: &str,
        reaction: &str,
        sender: &str,
        timestamp_ms: i64,
    ) -> LiveEvent {
        let fields = json!({
            "chatId": chat_id(peer),
            "messageId": message_id,
            "reaction": reaction,
            "senderId": chat_id(sender),
            "timestamp": timestamp_ms,
        });
        LiveEvent::new(owner, client_id, "reaction", fields)
    }

    /// `webhook_test`: a test webhook event was queued (`POST /api/webhooks/:clientId/test`).
    pub fn webhook_test(
        owner: &str,
        client_id: &str,
        event_id: &str,
        timestamp_ms: i64,
    ) -> LiveEvent {
        let fields = json!({"eventId": event_id, "timestamp": timestamp_ms});
        LiveEvent::new(owner, client_id, "webhook_test", fields)
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The `type` field.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The JSON text frame.
    pub fn json(&self) -> &str {
        &self.json
    }
}

/// The chat id the chat routes use: `<digits>@c.us` for a person (whatever form the number or
/// JID came in), groups, channels and other JIDs as they are.
pub fn chat_id(jid_or_number: &str) -> String {
    match jid_or_number.split_once('@') {
        Some((_, server)) if server != "s.whatsapp.net" && server != "c.us" => {
            jid_or_number.to_string()
        }
        _ => format!("{}@c.us", display_number(jid_or_number)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_shapes_match_what_the_dashboard_reads() {
        let e = LiveEvent::qr(
            "alice",
            "a1",
            "data:image/png;base64,AA",
            Some("ABCD-EFGH"),
            5,
        );
        let v: Value = serde_json::from_str(e.json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "qr", "clientId": "a1", "qrCode": "data:image/png;base64,AA",
                "pairingCode": "ABCD-EFGH", "timestamp": 5})
        );
        let e = LiveEvent::message(
            "alice",
            "a1",
            "972501234567:3@s.whatsapp.net",
            false,
            None,
            "hi",
            7,
        );
        let v: Value = serde_json::from_str(e.json()).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["chatId"], "972501234567@c.us");
        assert_eq!(v["from"], "972501234567");
        assert_eq!(v["to"], "a1");
        assert_eq!(v["fromMe"], false);
        let e = LiveEvent::ack(
            "alice",
            "a1",
            "120363000000000001@g.us",
            "M1",
            AckLevel::Read,
            9,
        );
        let v: Value = serde_json::from_str(e.json()).unwrap();
        assert_eq!(v["chatId"], "120363000000000001@g.us");
        assert_eq!(v["ack"], "read");
        let long = "ש".repeat(MAX_BODY_CHARS + 5);
        let e = LiveEvent::message("alice", "a1", "+1 555", true, Some("X"), &long, 1);
        let v: Value = serde_json::from_str(e.json()).unwrap();
        assert_eq!(v["body"].as_str().unwrap().chars().count(), MAX_BODY_CHARS);
        assert_eq!(v["truncated"], true);
        assert_eq!(v["to"], "1 555");
        let v: Value = serde_json::from_str(
            LiveEvent::client_status("a", "c", ClientStatus::Authenticated, None, 1).json(),
        )
        .unwrap();
        assert_eq!(v["status"], "Authenticated");
        assert_eq!(v["type"], "client_status");
    }
}
