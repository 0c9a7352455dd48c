//! `POST /api/send-message`: a text to a phone number through the client's WhatsApp engine. The
//! answer carries the WhatsApp message id and its ack level; the message is recorded in the sent
//! history (status `server`, or `failed` when WhatsApp refused it) and later receipts raise that
//! status (`delivered`, `read`, `played`) through a per-client listener on the engine's events.
//!
//! Media (`mediaUrl`) is not sent yet: such requests get 400 `MEDIA_ERROR`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use hyper::StatusCode;
use serde_json::json;
use tokio::sync::mpsc;

use super::{boxed_handlers, HandlerResult};
use crate::engine::messaging::EngineEvent;
use crate::engine::receive::AckLevel;
use crate::engine::send::SendError;
use crate::engine::{EngineHandle, EngineStatus};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;
use crate::protocol::jid::Jid;
use crate::services::App;

boxed_handlers! {
    send => send_impl;
}

/// Sent messages whose history row follows the receipts, per client.
const MAX_FOLLOWED: usize = 10_000;

/// The digits of a phone number (`+1 555-000 1111` → `15550001111`), if it looks like one.
fn phone_digits(number: &str) -> Option<String> {
    let user = number.split('@').next().unwrap_or(number);
    let digits: String = user
        .chars()
        .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
        .collect();
    ((5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// Maps an engine send failure to the API's error once for every send route; `field` names the
/// request field that held the recipient (`number`, `chatId`, …).
pub(super) fn send_error(e: &SendError, field: &str) -> ApiError {
    match e {
        SendError::NotConnected => ApiError::new(
            StatusCode::CONFLICT,
            "CLIENT_NOT_CONNECTED",
            "The client's WhatsApp session is not connected.",
        ),
        SendError::BadRecipient(_) => {
            ApiError::validation(field, format!("{field} is not a phone number."))
        }
        SendError::NoDevices => ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_ON_WHATSAPP",
            "This number is not on WhatsApp.",
        ),
        SendError::Refused(code) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "WHATSAPP_ERROR",
            format!("WhatsApp refused the message (error {code})."),
        ),
        SendError::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "WHATSAPP_TIMEOUT",
            "WhatsApp did not acknowledge the message in time.",
        ),
        SendError::Crypto(detail) => {
            log::error!("send to {field}: {detail}");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "WHATSAPP_ERROR",
                "The message could not be encrypted.",
            )
        }
    }
}

/// POST /api/send-message `{clientId, number, message, mediaUrl?}`.
async fn send_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    let number = fields.string_or_number("number")?;
    let text = fields.opt_string("message")?.unwrap_or_default();
    if fields
        .opt_string("mediaUrl")?
        .is_some_and(|u| !u.trim().is_empty())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MEDIA_ERROR",
            "Sending media is not supported yet; send the text without mediaUrl.",
        ));
    }
    if text.trim().is_empty() {
        return Err(ApiError::validation(
            "message",
            "Either a text message or media attachment must be included.",
        ));
    }
    let digits = phone_digits(&number)
        .ok_or_else(|| ApiError::validation("number", "number must be a phone number (digits)."))?;
    let caller = ctx.caller()?.clone();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| app.clients.record(&caller, &id)).await?;
    let Some(manager) = ctx.app().whatsapp.manager().cloned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "CLIENT_NOT_CONNECTED",
            "WhatsApp sessions are not running on this server.",
        ));
    };
    let handle = manager
        .ensure_running(&client_id)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "CLIENT_NOT_CONNECTED", e.to_string()))?;
    if !matches!(handle.status(), EngineStatus::Connected { .. }) {
        return Err(send_error(&SendError::NotConnected, "number"));
    }
    let recipient = format!("{digits}@c.us");
    let register = follower(ctx.app(), &client_id, &handle);
    let outcome = handle.send_text(&Jid::phone(digits), &text).await;
    let status = match &outcome {
        Ok(sent) => sent.ack.as_str(),
        Err(SendError::Refused(_)) => "failed",
        Err(e) => return Err(send_error(e, "number")),
    };
    let (cid, to, body, st) = (
        client_id.clone(),
        recipient.clone(),
        text.clone(),
        status.to_string(),
    );
    let row = blocking(ctx.app(), move |app| {
        app.history.record_sent(&cid, &to, &body, &st)
    })
    .await?;
    let sent = outcome.map_err(|e| send_error(&e, "number"))?;
    if let Some(register) = register {
        // The listener catches up with receipts that arrived before this registration.
        let _ = register.send((sent.id.clone(), row.id, sent.ack));
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "messageId": sent.id,
            "ack": sent.ack.as_str(),
            "message": {
                "id": { "_serialized": format!("true_{recipient}_{}", sent.id), "id": sent.id },
                "to": recipient,
                "body": text,
                "timestamp": sent.timestamp,
                "type": "chat",
                "ack": sent.ack.as_str(),
            },
        }),
    ))
}

/// Feeds one engine's ack changes into the history rows of the messages sent through this route.
struct Follower {
    engine: Weak<EngineHandle>,
    register: mpsc::UnboundedSender<(String, u64, AckLevel)>,
}

fn followers() -> &'static Mutex<HashMap<String, Follower>> {
    static FOLLOWERS: OnceLock<Mutex<HashMap<String, Follower>>> = OnceLock::new();
    FOLLOWERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The registration channel of the client's follower, started (subscribed to the engine's events)
/// when none follows this engine yet. Called BEFORE sending, so no ack change is missed.
fn follower(
    app: &Arc<App>,
    client_id: &str,
    handle: &Arc<EngineHandle>,
) -> Option<mpsc::UnboundedSender<(String, u64, AckLevel)>> {
    let mut all = followers().lock().unwrap_or_else(|e| e.into_inner());
    let current = all.get(client_id).filter(|f| {
        !f.register.is_closed() && f.engine.upgrade().is_some_and(|e| Arc::ptr_eq(&e, handle))
    });
    if let Some(f) = current {
        return Some(f.register.clone());
    }
    let events = handle.events()?;
    let (register, registrations) = mpsc::unbounded_channel();
    tokio::spawn(listen(
        Arc::downgrade(app),
        Arc::downgrade(handle),
        events,
        registrations,
    ));
    all.insert(
        client_id.to_string(),
        Follower {
            engine: Arc::downgrade(handle),
            register: register.clone(),
        },
    );
    Some(register)
}

/// The only writer of the followed rows' statuses, so a status never goes back: each row keeps the
/// best level written. A registration also catches up with receipts that came before it.
async fn listen(
    app: Weak<App>,
    engine: Weak<EngineHandle>,
    mut events: tokio::sync::broadcast::Receiver<EngineEvent>,
    mut registrations: mpsc::UnboundedReceiver<(String, u64, AckLevel)>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let mut rows: HashMap<String, (u64, AckLevel)> = HashMap::new();
    loop {
        let (id, level) = tokio::select! {
            registration = registrations.recv() => {
                let Some((id, row, recorded)) = registration else { return };
                if rows.len() >= MAX_FOLLOWED {
                    rows.clear();
                }
                rows.insert(id.clone(), (row, recorded));
                let Some(level) = engine.upgrade().and_then(|e| e.ack_level(&id)) else {
                    continue;
                };
                (id, level)
            }
            event = events.recv() => match event {
                Ok(EngineEvent::AckChanged { id, level, .. }) => (id, level),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    log::warn!("send-message: missed {n} engine events");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        let Some(entry) = rows.get_mut(&id) else {
            continue;
        };
        if level <= entry.1 {
            continue;
        }
        entry.1 = level;
        let row = entry.0;
        let Some(app) = app.upgrade() else { return };
        let status = level.as_str().to_string();
        let updated =
            tokio::task::spawn_blocking(move || app.history.update_sent_status(row, &status)).await;
        if let Ok(Err(e)) = updated {
            log::warn!("send-message: cannot update the status of {id}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_reduced_to_digits() {
        assert_eq!(
            phone_digits("+1 555-000 1111").as_deref(),
            Some("15550001111")
        );
        assert_eq!(
            phone_digits("15550001111@c.us").as_deref(),
            Some("15550001111")
        );
        assert_eq!(phone_digits("abc"), None);
        assert_eq!(phone_digits("123"), None);
    }
}
