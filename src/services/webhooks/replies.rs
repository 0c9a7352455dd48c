//! Replies a webhook asks for in its answer: a `response` to `message_received` goes back to the
//! sender; a `rejectionMessage` to `call_rejected` goes to the caller, and when the answer has
//! none, [`DEFAULT_REJECTION_MESSAGE`] does.
//!
//! The worker only decides what to send; the WhatsApp engine sends it by implementing
//! [`ReplySender`]. Replies are sent after the delivery is committed, so a crash in between loses
//! the reply rather than sending it twice.

use super::events::{CALL_REJECTED, MESSAGE_RECEIVED};
use serde_json::Value;

/// The documented default text sent to a rejected caller.
pub const DEFAULT_REJECTION_MESSAGE: &str = "מצטער אינני זמין כעת.";

/// Longest reply we pass on (characters); longer answers are ignored with a warning.
pub const MAX_REPLY_CHARS: usize = 4096;

/// Sends a text message from a client. Implemented by the engine; the delivery worker calls it
/// from a blocking thread, so an implementation may block briefly (e.g. hand the message to the
/// client's task through a channel) but should not wait for WhatsApp's ack.
pub trait ReplySender: Send + Sync {
    /// `to` is the JID (or number) the event came from, as the engine reported it.
    fn send_text(&self, client_id: &str, to: &str, text: &str) -> Result<(), ReplyError>;
}

/// Why a reply could not be handed to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyError(pub String);

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReplyError {}

/// Used until the engine provides its sender: logs and drops replies.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOnlyReplies;

impl ReplySender for LogOnlyReplies {
    fn send_text(&self, client_id: &str, to: &str, _text: &str) -> Result<(), ReplyError> {
        log::warn!("webhook reply for client {client_id} to {to} dropped: no sender is wired");
        Err(ReplyError("no reply sender".into()))
    }
}

/// The text to send after a successful delivery of `event`, given the receiver's JSON answer.
pub fn reply_text(event: &str, answer: Option<&Value>) -> Option<String> {
    let field = |name: &str| {
        answer
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let text = match event {
        MESSAGE_RECEIVED => field("response")?,
        CALL_REJECTED => {
            field("rejectionMessage").unwrap_or_else(|| DEFAULT_REJECTION_MESSAGE.to_string())
        }
        _ => return None,
    };
    if text.chars().count() > MAX_REPLY_CHARS {
        log::warn!("webhook answer for {event} asks for a reply over {MAX_REPLY_CHARS} characters; not sent");
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn response_only_for_received_messages() {
        let answer = json!({"status": "success", "response": "Thanks!"});
        assert_eq!(
            reply_text(MESSAGE_RECEIVED, Some(&answer)).as_deref(),
            Some("Thanks!")
        );
        assert_eq!(reply_text("message_sent", Some(&answer)), None);
        assert_eq!(reply_text(MESSAGE_RECEIVED, None), None);
        assert_eq!(
            reply_text(MESSAGE_RECEIVED, Some(&json!({"response": "  "}))),
            None
        );
        assert_eq!(
            reply_text(MESSAGE_RECEIVED, Some(&json!({"response": 5}))),
            None
        );
    }

    #[test]
    fn calls_get_the_custom_or_the_default_rejection() {
        let custom = json!({"rejectionMessage": "Busy, text me"});
        assert_eq!(
            reply_text(CALL_REJECTED, Some(&custom)).as_deref(),
            Some("Busy, text me")
        );
        assert_eq!(
            reply_text(CALL_REJECTED, Some(&json!({"status": "success"}))).as_deref(),
            Some(DEFAULT_REJECTION_MESSAGE)
        );
        assert_eq!(
            reply_text(CALL_REJECTED, None).as_deref(),
            Some(DEFAULT_REJECTION_MESSAGE)
        );
    }

    #[test]
    fn overlong_replies_are_dropped() {
        let long = "x".repeat(MAX_REPLY_CHARS + 1);
        assert_eq!(
            reply_text(MESSAGE_RECEIVED, Some(&json!({ "response": long }))),
            None
        );
    }
}
