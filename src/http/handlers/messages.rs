//! `POST /api/send-message`: a text to a phone number through the client's WhatsApp engine. The
//! answer carries the WhatsApp message id and its ack level; the message is recorded like a chat
//! send (sent history, the chat's messages, `message_sent`), so it shows in `/api/chats` and the
//! chats service raises its status (`delivered`, `read`, `played`) from later receipts. A send
//! WhatsApp refused is kept in the sent history as `failed`.
//!
//! Media (`mediaUrl`) is not sent yet: such requests get 400 `MEDIA_ERROR`.

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::engine::send::SendError;
use std::sync::Arc;

use crate::engine::{EngineHandle, EngineStatus};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;
use crate::protocol::jid::Jid;

boxed_handlers! {
    send => send_impl;
}

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

fn not_connected(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "CLIENT_NOT_CONNECTED", detail)
}

/// The client's engine, started if needed and connected, or 409 `CLIENT_NOT_CONNECTED`: the one
/// check every sending route makes.
pub(super) fn connected_engine(ctx: &Ctx, client_id: &str) -> Result<Arc<EngineHandle>, ApiError> {
    let manager = ctx
        .app()
        .whatsapp
        .manager()
        .ok_or_else(|| not_connected("WhatsApp sessions are not running on this server."))?;
    let handle = manager
        .ensure_running(client_id)
        .map_err(|e| not_connected(e.to_string()))?;
    if !matches!(handle.status(), EngineStatus::Connected { .. }) {
        return Err(not_connected(
            "The client's WhatsApp session is not connected.",
        ));
    }
    Ok(handle)
}

/// Maps an engine send failure to the API's error once for every send route; `field` names the
/// request field that held the recipient (`number`, `chatId`, …).
pub(super) fn send_error(e: &SendError, field: &str) -> ApiError {
    match e {
        SendError::NotConnected => not_connected("The client's WhatsApp session is not connected."),
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
        SendError::Media(detail) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "MEDIA_ERROR",
            format!("The media could not be sent: {detail}."),
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
    let handle = connected_engine(&ctx, &client_id)?;
    let recipient = format!("{digits}@c.us");
    let sent = match handle.send_text(&Jid::phone(digits.as_str()), &text).await {
        Ok(sent) => sent,
        Err(e @ SendError::Refused(_)) => {
            // WhatsApp refused it: the attempt stays in the sent history as failed.
            let (cid, to, body) = (client_id.clone(), recipient.clone(), text.clone());
            blocking(ctx.app(), move |app| {
                app.history.record_sent(&cid, &to, &body, "failed")
            })
            .await?;
            return Err(send_error(&e, "number"));
        }
        Err(e) => return Err(send_error(&e, "number")),
    };
    super::chats::record_send(&ctx, &handle, &client_id, &digits, &sent, &text).await?;
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
