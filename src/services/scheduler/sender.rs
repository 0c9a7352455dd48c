//! What the scheduler needs from the WhatsApp engine: send a text with a message id chosen in
//! advance, and say afterwards whether a message id was sent.

use ring::rand::{SecureRandom, SystemRandom};

/// One scheduled text, ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledText {
    pub schedule_id: u64,
    pub client_id: String,
    /// "+<digits>", as the schedule stored it.
    pub recipient: String,
    pub text: String,
    /// The WhatsApp message id to send it under; stored before the first attempt and reused
    /// by every retry, so WhatsApp drops repeats.
    pub message_id: String,
}

/// What the engine reports about an accepted send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentRef {
    /// WhatsApp's server time for the message, when the engine knows it.
    pub server_ms: Option<i64>,
}

/// Why a send did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Not now (client not connected, timeout, socket closed): retried with backoff, with the
    /// same message id, until the schedule is more than the missed grace late, then failed.
    Unavailable(String),
    /// Never (client deleted or logged out, recipient refused): the schedule fails at once.
    Rejected(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Unavailable(why) => write!(f, "not sent now: {why}"),
            SendError::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

impl std::error::Error for SendError {}

/// The answer to "was this message id sent?" after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// WhatsApp acknowledged it (the engine's sent-message record or server ack says so).
    Sent,
    /// Certainly not sent (e.g. the engine never got it: no record of the id at all, and the
    /// engine records every id before writing it to the socket).
    NotSent,
    /// Cannot tell (written to the socket, no ack seen). The scheduler sends it again under
    /// the same id; WhatsApp drops a duplicate message id from the same device.
    Unknown,
}

/// Sends scheduled texts. The WhatsApp engine implements it; tests use a recording double.
///
/// Both methods are called from blocking threads. Sends for one client come one at a time, in
/// due order; different clients may be sent concurrently (`send_parallelism`). `send_text` should
/// return once WhatsApp has accepted the message (server ack), or with an error; it must send
/// under `message.message_id` exactly, because exactly-once rests on that id (docs/scheduler.md).
pub trait ScheduledSender: Send + Sync {
    fn send_text(&self, message: &ScheduledText) -> Result<SentRef, SendError>;

    /// Whether `message_id` was sent by `client_id`; asked at start for each schedule found in
    /// `sending` (the process stopped between claiming it and recording the outcome).
    fn reconcile(&self, client_id: &str, message_id: &str) -> Reconciled;
}

/// The sender until the engine provides one: every send is `Unavailable` (so schedules wait,
/// and fail once past the grace), reconciliation is `Unknown`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEngine;

impl ScheduledSender for NoEngine {
    fn send_text(&self, message: &ScheduledText) -> Result<SentRef, SendError> {
        log::warn!(
            "scheduled message {} for client {} not sent: no WhatsApp sender is wired",
            message.schedule_id,
            message.client_id
        );
        Err(SendError::Unavailable("no WhatsApp sender".into()))
    }

    fn reconcile(&self, _client_id: &str, _message_id: &str) -> Reconciled {
        Reconciled::Unknown
    }
}

/// A new WhatsApp message id in the form WhatsApp Web uses: "3EB0" and 18 upper-case hex
/// digits (9 random bytes).
pub fn new_message_id() -> String {
    let mut bytes = [0u8; 9];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // The system RNG does not fail on supported platforms; a time-based id keeps us going.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (nanos >> (i * 8)) as u8;
        }
    }
    let mut id = String::with_capacity(22);
    id.push_str("3EB0");
    for byte in bytes {
        id.push_str(&format!("{byte:02X}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_look_like_whatsapp_web_ids_and_differ() {
        let a = new_message_id();
        let b = new_message_id();
        assert_eq!(a.len(), 22);
        assert!(a.starts_with("3EB0"));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
