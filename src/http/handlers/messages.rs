//! `POST /api/send-message`: a text to a phone number through the client's WhatsApp engine. The
//! answer carries the WhatsApp message id and its ack level; the message is recorded like a chat
//! send (sent history, the chat's messages, `message_sent`), so it shows in `/api/chats` and the
//! chats service raises its status (`delivered`, `read`, `played`) from later receipts. A send
//! WhatsApp refused is kept in the sent history as `failed`.
//!
//! Media: with `mediaUrl` Chattu fetches the file itself ([`crate::services::media_fetch`], off
//! the async runtime) and sends it as an image, video, audio or document with `message` as its
//! caption; any fetch or validation failure is 400 `MEDIA_ERROR`. The group routes share
//! [`fetch_outgoing`] and [`media_type_field`].

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::engine::send::SendError;
use std::sync::Arc;

use crate::engine::media::{MediaKind as EngineMediaKind, OutgoingMedia};
use crate::engine::messaging::SentMessage;
use crate::engine::{EngineHandle, EngineStatus};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;
use crate::protocol::jid::Jid;
use crate::services::media_fetch::{fetch_media, FetchPolicy, MediaKind};

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

/// `mediaType` from the request: absent or empty → None; otherwise one of `image`, `video`,
/// `audio`, `document` (400 `VALIDATION_ERROR`, field `mediaType`, for anything else).
pub(super) fn media_type_field(raw: Option<String>) -> Result<Option<MediaKind>, ApiError> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => MediaKind::parse(text).map(Some).ok_or_else(|| {
            ApiError::validation(
                "mediaType",
                "mediaType must be image, video, audio or document.",
            )
        }),
    }
}

/// A non-empty `mediaUrl`, if given.
pub(super) fn media_url_field(raw: Option<String>) -> Option<String> {
    raw.map(|u| u.trim().to_string()).filter(|u| !u.is_empty())
}

fn media_error(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "MEDIA_ERROR", message)
}

/// Fetches `url` under `[media]` on a blocking thread and makes it the engine's outgoing media.
/// `wanted` (the request's `mediaType`) must match what the file is, except that any file may
/// go as a `document`; `caption` is the request's text (none when blank).
pub(super) async fn fetch_outgoing(
    ctx: &Ctx,
    url: &str,
    wanted: Option<MediaKind>,
    caption: &str,
) -> Result<OutgoingMedia, ApiError> {
    let policy = FetchPolicy::from_config(&ctx.app().config.media);
    let url = url.to_string();
    let fetched = tokio::task::spawn_blocking(move || fetch_media(&url, &policy))
        .await
        .map_err(|e| {
            log::error!("media fetch task failed: {e}");
            ApiError::internal()
        })?
        .map_err(|e| media_error(e.to_string()))?;
    let kind = match wanted {
        None => fetched.kind,
        Some(MediaKind::Document) => MediaKind::Document,
        Some(kind) if kind == fetched.kind => kind,
        Some(kind) => {
            return Err(media_error(format!(
                "mediaType is {} but the file at mediaUrl is {} ({}); send it as {} or document.",
                kind.as_str(),
                fetched.kind.as_str(),
                fetched.mimetype,
                fetched.kind.as_str()
            )))
        }
    };
    Ok(OutgoingMedia {
        kind: match kind {
            MediaKind::Image => EngineMediaKind::Image,
            MediaKind::Video => EngineMediaKind::Video,
            MediaKind::Audio => EngineMediaKind::Audio,
            MediaKind::Document => EngineMediaKind::Document,
        },
        bytes: fetched.bytes,
        mimetype: fetched.mimetype,
        filename: Some(fetched.filename),
        caption: (!caption.trim().is_empty()).then(|| caption.to_string()),
    })
}

/// The API's message `type` of what was sent: `chat` for a text, else the media kind.
pub(super) fn message_type(media: Option<&OutgoingMedia>) -> &'static str {
    match media.map(|m| m.kind) {
        None => "chat",
        Some(EngineMediaKind::Image) => "image",
        Some(EngineMediaKind::Video) => "video",
        Some(EngineMediaKind::Audio) => "audio",
        Some(EngineMediaKind::Document) => "document",
        Some(EngineMediaKind::Sticker) => "sticker",
    }
}

/// POST /api/send-message `{clientId, number, message?, mediaUrl?, mediaType?}`.
async fn send_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    let number = fields.string_or_number("number")?;
    let text = fields.opt_string("message")?.unwrap_or_default();
    let media_url = media_url_field(fields.opt_string("mediaUrl")?);
    let media_type = media_type_field(fields.opt_string("mediaType")?)?;
    if text.trim().is_empty() && media_url.is_none() {
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
    let media = match &media_url {
        Some(url) => Some(fetch_outgoing(&ctx, url, media_type, &text).await?),
        None => None,
    };
    let kind = message_type(media.as_ref());
    let recipient = format!("{digits}@c.us");
    let to = Jid::phone(digits.as_str());
    // The chat store keeps a copy of a sent file for GET /api/chats/:clientId/media/:messageId.
    let file = media.as_ref().map(|m| super::chats::SentFile {
        kind,
        mimetype: m.mimetype.clone(),
        filename: m.filename.clone(),
        bytes: m.bytes.clone(),
    });
    let outcome: Result<SentMessage, SendError> = match media {
        Some(media) => handle.send_media(&to, media).await,
        None => handle.send_text(&to, &text).await,
    };
    let sent = match outcome {
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
    super::chats::record_send(&ctx, &handle, &client_id, &digits, &sent, &text, file).await?;
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
                "type": kind,
                "hasMedia": kind != "chat",
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

    #[test]
    fn media_types_are_the_four_documented_words() {
        assert_eq!(media_type_field(None).ok(), Some(None));
        assert_eq!(media_type_field(Some(" ".into())).ok(), Some(None));
        assert_eq!(
            media_type_field(Some("Image".into())).ok(),
            Some(Some(MediaKind::Image))
        );
        assert_eq!(
            media_type_field(Some("document".into())).ok(),
            Some(Some(MediaKind::Document))
        );
        for bad in ["sticker", "photo", "gif"] {
            let e = media_type_field(Some(bad.into())).err();
            assert_eq!(
                e.and_then(|e| e.field).as_deref(),
                Some("mediaType"),
                "{bad}"
            );
        }
        assert_eq!(media_url_field(Some("  ".into())), None);
        assert_eq!(
            media_url_field(Some(" http://x/a.jpg ".into())).as_deref(),
            Some("http://x/a.jpg")
        );
    }
}
