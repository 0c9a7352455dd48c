//! The engine behind the scheduler and the webhook replies: [`EngineSenders`] implements the
//! scheduler's [`ScheduledSender`] and the webhook worker's [`ReplySender`] over the
//! [`EngineManager`](super::EngineManager) of a running server.
//!
//! Exactly-once for scheduled messages: before the engine may write a scheduled message to the
//! socket, it is recorded (sent-history row and chat message with ack `pending`, under the
//! scheduler's message id). So at a restart, [`ScheduledSender::reconcile`] can answer from the
//! store: no record means the engine never had it (`NotSent`); an ack from the server or later
//! means `Sent`; a record still `pending` may have left (`Unknown`), and the scheduler sends it
//! again under the same id, which WhatsApp drops as a repeat from the same device.

use crate::engine::receive::AckLevel;
use crate::engine::send::SendError as EngineError;
use crate::engine::{EngineHandle, EngineStatus};
use crate::protocol::jid::Jid;
use crate::services::chats::ack_name;
use crate::services::scheduler::{Reconciled, ScheduledSender, ScheduledText, SendError, SentRef};
use crate::services::webhooks::{ReplyError, ReplySender};
use crate::services::{App, ClientStatus};
use crate::store::chats::MAX_MESSAGES_PER_CHAT;
use std::sync::{Arc, Weak};
use tokio::runtime::Handle;

/// Sends scheduled messages and webhook replies through the clients' engines.
pub struct EngineSenders {
    app: Weak<App>,
    runtime: Handle,
}

impl EngineSenders {
    /// Senders for `app`'s engines; must be called on the tokio runtime the engines run on
    /// (both traits are called from blocking threads and hand the sends to that runtime).
    pub fn new(app: &Arc<App>) -> EngineSenders {
        EngineSenders {
            app: Arc::downgrade(app),
            runtime: Handle::current(),
        }
    }

    fn app(&self) -> Result<Arc<App>, String> {
        self.app
            .upgrade()
            .ok_or_else(|| "the server is shutting down".to_string())
    }

    /// The client's engine when it is connected.
    fn connected_engine(app: &App, client_id: &str) -> Result<Arc<EngineHandle>, String> {
        let manager = (app.whatsapp.manager()).ok_or("WhatsApp engines are not running")?;
        let engine = manager
            .handle(client_id)
            .ok_or_else(|| format!("client {client_id} has no running engine"))?;
        match engine.status() {
            EngineStatus::Connected { .. } => Ok(engine),
            other => Err(format!("client {client_id} is not connected ({other:?})")),
        }
    }

    /// The recorded ack of the chat message `message_id` of `client_id`, `None` when the id was
    /// never recorded.
    fn recorded_ack(
        app: &App,
        client_id: &str,
        message_id: &str,
    ) -> Result<Option<String>, String> {
        // Raising to `pending` never lowers an ack; it is the store's lookup by message id.
        let update = (app.store)
            .set_chat_ack(client_id, message_id, "pending")
            .map_err(|e| e.to_string())?;
        let Some(update) = update else {
            return Ok(None);
        };
        let messages = (app.store)
            .chat_messages(client_id, &update.chat, MAX_MESSAGES_PER_CHAT)
            .map_err(|e| e.to_string())?;
        Ok(Some(
            messages
                .into_iter()
                .find(|m| m.id == message_id)
                .map_or_else(|| "pending".to_string(), |m| m.ack),
        ))
    }
}

/// The phone number (digits) of "+972…", "972…@c.us", "972…:3@s.whatsapp.net".
pub fn recipient_digits(recipient: &str) -> Option<String> {
    let (user, server) = recipient.split_once('@').unwrap_or((recipient, "c.us"));
    if !matches!(server, "c.us" | "s.whatsapp.net") {
        return None;
    }
    let user = user.split(':').next().unwrap_or(user);
    let digits = user.trim().trim_start_matches('+');
    let valid = (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.to_string())
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl ScheduledSender for EngineSenders {
    fn send_text(&self, message: &ScheduledText) -> Result<SentRef, SendError> {
        let app = self.app().map_err(SendError::Unavailable)?;
        let client_id = message.client_id.as_str();
        match app.store.client(client_id) {
            Ok(Some(client)) if client.status == ClientStatus::LoggedOut => {
                return Err(SendError::Rejected("the client is logged out".into()))
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(SendError::Rejected("the client was deleted".into())),
            Err(e) => return Err(SendError::Unavailable(e.to_string())),
        }
        let digits = recipient_digits(&message.recipient).ok_or_else(|| {
            SendError::Rejected(format!("not a phone number: {}", message.recipient))
        })?;
        let engine = Self::connected_engine(&app, client_id).map_err(SendError::Unavailable)?;
        let id = message.message_id.as_str();
        // Recorded before the engine can write it (see the module docs); a retry finds it.
        let recorded = Self::recorded_ack(&app, client_id, id).map_err(SendError::Unavailable)?;
        if recorded.is_none() {
            (app.chats)
                .record_sent(
                    client_id,
                    &digits,
                    id,
                    &message.text,
                    "pending",
                    unix_secs(),
                )
                .map_err(|e| SendError::Unavailable(e.to_string()))?;
        }
        let to = Jid::phone(digits);
        let outcome = self
            .runtime
            .block_on(engine.send_text_with_id(&to, &message.text, id));
        match outcome {
            // Later ack levels reach the history through the engine follower (chats.rs).
            Ok(sent) => Ok(SentRef {
                server_ms: i64::try_from(sent.timestamp.saturating_mul(1000)).ok(),
            }),
            Err(
                e @ (EngineError::NotConnected | EngineError::Timeout | EngineError::Crypto(_)),
            ) => Err(SendError::Unavailable(e.to_string())),
            Err(e) => {
                // Refused, not on WhatsApp, not a user: it will never go out.
                app.chats
                    .apply_ack(&app, client_id, id, ack_name(AckLevel::Error));
                Err(SendError::Rejected(e.to_string()))
            }
        }
    }

    fn reconcile(&self, client_id: &str, message_id: &str) -> Reconciled {
        let Ok(app) = self.app() else {
            return Reconciled::Unknown;
        };
        match Self::recorded_ack(&app, client_id, message_id) {
            // Recorded before any write: no record, never sent.
            Ok(None) => Reconciled::NotSent,
            Ok(Some(ack)) => match ack.as_str() {
                "server" | "delivered" | "read" | "played" => Reconciled::Sent,
                // Refused by WhatsApp: it was not delivered.
                "failed" => Reconciled::NotSent,
                _ => Reconciled::Unknown,
            },
            Err(e) => {
                log::warn!("cannot reconcile message {message_id} of {client_id}: {e}");
                Reconciled::Unknown
            }
        }
    }
}

impl ReplySender for EngineSenders {
    /// Hands the reply to the client's engine and returns; the send and its history row happen
    /// on the runtime.
    fn send_text(&self, client_id: &str, to: &str, text: &str) -> Result<(), ReplyError> {
        let app = self.app().map_err(ReplyError)?;
        let digits =
            recipient_digits(to).ok_or_else(|| ReplyError(format!("cannot reply to {to}")))?;
        let engine = Self::connected_engine(&app, client_id).map_err(ReplyError)?;
        let (client_id, text) = (client_id.to_string(), text.to_string());
        self.runtime.spawn(async move {
            let sent = match engine.send_text(&Jid::phone(digits.clone()), &text).await {
                Ok(sent) => sent,
                Err(e) => return log::warn!("webhook reply of {client_id} not sent: {e}"),
            };
            let record = move || {
                app.chats.record_sent(
                    &client_id,
                    &digits,
                    &sent.id,
                    &text,
                    ack_name(sent.ack),
                    sent.timestamp,
                )
            };
            match tokio::task::spawn_blocking(record).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => log::warn!("webhook reply sent but not recorded: {e}"),
                Err(e) => log::warn!("webhook reply sent but not recorded: {e}"),
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::tests::harness;
    use crate::services::Role;

    fn scheduled(client_id: &str, recipient: &str, message_id: &str) -> ScheduledText {
        ScheduledText {
            schedule_id: 1,
            client_id: client_id.into(),
            recipient: recipient.into(),
            text: "hello".into(),
            message_id: message_id.into(),
        }
    }

    #[test]
    fn recipients_in_every_form_give_their_digits() {
        assert_eq!(
            recipient_digits("+972501234567").as_deref(),
            Some("972501234567")
        );
        assert_eq!(
            recipient_digits("972501234567@c.us").as_deref(),
            Some("972501234567")
        );
        assert_eq!(
            recipient_digits("972501234567:3@s.whatsapp.net").as_deref(),
            Some("972501234567")
        );
        assert_eq!(recipient_digits("12ab@c.us"), None);
        assert_eq!(recipient_digits("+1"), None);
        assert_eq!(recipient_digits("120363123456@g.us"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reconciliation_reads_the_recorded_ack_and_sends_need_a_connected_engine() {
        let h = harness();
        let (_, key) = (h.app.accounts)
            .create_user_local("ops", Role::User, "ops-password-1")
            .unwrap();
        let caller = h.app.accounts.authenticate_api_key(&key).unwrap();
        h.app
            .clients
            .create(&caller, "desk", "15550010001")
            .unwrap();
        let senders = Arc::new(EngineSenders::new(&h.app));
        let app = h.app.clone();
        let check = senders.clone();
        tokio::task::spawn_blocking(move || {
            // Never recorded: the engine never had it.
            assert_eq!(check.reconcile("desk", "3EB0AA"), Reconciled::NotSent);
            (app.chats)
                .record_sent("desk", "15550010002", "3EB0AA", "hi", "pending", 1)
                .unwrap();
            assert_eq!(check.reconcile("desk", "3EB0AA"), Reconciled::Unknown);
            app.chats.apply_ack(&app, "desk", "3EB0AA", "server");
            assert_eq!(check.reconcile("desk", "3EB0AA"), Reconciled::Sent);
            app.chats.apply_ack(&app, "desk", "3EB0AA", "read");
            assert_eq!(check.reconcile("desk", "3EB0AA"), Reconciled::Sent);
            (app.chats)
                .record_sent("desk", "15550010002", "3EB0BB", "hi", "pending", 2)
                .unwrap();
            app.chats.apply_ack(&app, "desk", "3EB0BB", "failed");
            assert_eq!(check.reconcile("desk", "3EB0BB"), Reconciled::NotSent);

            // No engines in this App: retried later, and nothing recorded for the id.
            let outcome =
                ScheduledSender::send_text(&*check, &scheduled("desk", "+15550010002", "3EB0CC"));
            assert!(
                matches!(outcome, Err(SendError::Unavailable(_))),
                "{outcome:?}"
            );
            assert_eq!(check.reconcile("desk", "3EB0CC"), Reconciled::NotSent);
            // A deleted client or a non-number never goes out.
            let outcome =
                ScheduledSender::send_text(&*check, &scheduled("gone", "+15550010002", "3EB0DD"));
            assert!(
                matches!(outcome, Err(SendError::Rejected(_))),
                "{outcome:?}"
            );
            let outcome = ScheduledSender::send_text(&*check, &scheduled("desk", "+12", "3EB0EE"));
            assert!(
                matches!(outcome, Err(SendError::Rejected(_))),
                "{outcome:?}"
            );
            // A reply without an engine is refused at once.
            assert!(ReplySender::send_text(&*check, "desk", "15550010002@c.us", "hi").is_err());
        })
        .await
        .unwrap();
    }
}
