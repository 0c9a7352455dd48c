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

use super::{boxed_handlers, HandlerResult};
use crate::engine::messaging::EngineEvent;
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

fn send_error(e: &SendError) -> ApiError {
    match e {
        SendError::NotConnected => ApiError::new(
            StatusCode::CONFLICT,
            "CLIENT_NOT_CONNECTED",
            "The client's WhatsApp session is not connected.",
        ),
        SendError::BadRecipient(_) => {
            ApiError::validation("number", "number is not a phone number.")
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
            log::error!("send-message: {detail}");
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
        return Err(send_error(&SendError::NotConnected));
    }
    let recipient = format!("{digits}@c.us");
    let outcome = handle.send_text(&Jid::phone(digits), &text).await;
    let status = match &outcome {
        Ok(sent) => sent.ack.as_str(),
        Err(SendError::Refused(_)) => "failed",
        Err(e) => return Err(send_error(e)),
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
    let sent = outcome.map_err(|e| send_error(&e))?;
    follow_acks(ctx.app(), &client_id, &handle, &sent.id, row.id);
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

/// Which history row each sent WhatsApp message id belongs to, and the listener feeding them.
struct Follower {
    engine: Weak<EngineHandle>,
    rows: Arc<Mutex<HashMap<String, u64>>>,
}

fn followers() -> &'static Mutex<HashMap<String, Follower>> {
    static FOLLOWERS: OnceLock<Mutex<HashMap<String, Follower>>> = OnceLock::new();
    FOLLOWERS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Makes later ack changes of `message_id` update history row `row`. One listener per engine.
fn follow_acks(
    app: &Arc<App>,
    client_id: &str,
    handle: &Arc<EngineHandle>,
    message_id: &str,
    row: u64,
) {
    let mut all = followers().lock().unwrap_or_else(|e| e.into_inner());
    let current = all
        .get(client_id)
        .is_some_and(|f| f.engine.upgrade().is_some_and(|e| Arc::ptr_eq(&e, handle)));
    if !current {
        let Some(events) = handle.events() else {
            return;
        };
        let rows = Arc::new(Mutex::new(HashMap::new()));
        tokio::spawn(listen(Arc::downgrade(app), events, Arc::clone(&rows)));
        all.insert(
            client_id.to_string(),
            Follower {
                engine: Arc::downgrade(handle),
                rows,
            },
        );
    }
    if let Some(f) = all.get(client_id) {
        let mut rows = f.rows.lock().unwrap_or_else(|e| e.into_inner());
        if rows.len() >= MAX_FOLLOWED {
            rows.clear();
        }
        rows.insert(message_id.to_string(), row);
    }
}

async fn listen(
    app: Weak<App>,
    mut events: tokio::sync::broadcast::Receiver<EngineEvent>,
    rows: Arc<Mutex<HashMap<String, u64>>>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(n)) => {
                log::warn!("send-message: missed {n} engine events");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let EngineEvent::AckChanged { id, level, .. } = event else {
            continue;
        };
        let row = rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied();
        let (Some(row), Some(app)) = (row, app.upgrade()) else {
            continue;
        };
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
