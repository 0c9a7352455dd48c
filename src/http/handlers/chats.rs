//! The chat interface (session only): chat list, a chat's messages, sending to a chat, marking it
//! read, and message media. The state lives in `services::chats`; sends and read receipts go
//! through the client's WhatsApp engine.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;

use super::messages::{connected_engine, send_error};
use super::{boxed_handlers, HandlerResult};
use crate::engine::messaging::SentMessage;
use crate::engine::EngineHandle;
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::request::percent_decode;
use crate::http::response;
use crate::protocol::jid::Jid;
use crate::services::chats::{self, ack_name, DEFAULT_MESSAGE_LIMIT, MAX_MESSAGE_LIMIT};

boxed_handlers! {
    list => list_impl;
    messages => messages_impl;
    send => send_impl;
    read => read_impl;
    media => media_impl;
}

/// The longest text one send accepts (WhatsApp's own limit is about 65 536 characters).
const MAX_TEXT_CHARS: usize = 65_536;

/// `limit` from the query string: absent → the default; not a positive integer → 400; above
/// the maximum → the maximum.
fn limit_param(query: Option<&str>) -> Result<usize, ApiError> {
    let raw = query.unwrap_or("").split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == "limit").then(|| percent_decode(value))
    });
    let Some(raw) = raw else {
        return Ok(DEFAULT_MESSAGE_LIMIT);
    };
    let bad = || {
        ApiError::validation(
            "limit",
            format!("limit must be a whole number from 1 to {MAX_MESSAGE_LIMIT}."),
        )
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 12 || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match trimmed.parse::<usize>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n.min(MAX_MESSAGE_LIMIT)),
    }
}

async fn list_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    let client_id = ctx.param("clientId")?.to_string();
    let chats = blocking(ctx.app(), move |app| app.chats.list(&caller, &client_id)).await?;
    Ok(response::json(StatusCode::OK, &json!({ "chats": chats })))
}

async fn messages_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    let client_id = ctx.param("clientId")?.to_string();
    let chat_id = ctx.param("chatId")?.to_string();
    let limit = limit_param(ctx.query.as_deref())?;
    let messages = blocking(ctx.app(), move |app| {
        app.chats.messages(&caller, &client_id, &chat_id, limit)
    })
    .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({ "messages": messages }),
    ))
}

async fn send_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    let client_id = ctx.param("clientId")?.to_string();
    let chat = chats::chat_number(ctx.param("chatId")?)?;
    let text = ctx.json()?.opt_string("message")?.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::validation("message", "message is required."));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::validation(
            "message",
            format!("message is longer than {MAX_TEXT_CHARS} characters."),
        ));
    }
    let id = client_id.clone();
    blocking(ctx.app(), move |app| app.chats.check_client(&caller, &id)).await?;
    let handle = connected_engine(&ctx, &client_id)?;
    let sent = (handle.send_text(&Jid::phone(chat.as_str()), &text).await)
        .map_err(|e| send_error(&e, "chatId"))?;
    record_send(&ctx, &handle, &client_id, &chat, &sent, &text, None).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": {
                "id": { "_serialized": sent.id },
                "body": text,
                "timestamp": sent.timestamp,
            },
        }),
    ))
}

/// A file the API sent, kept with its chat message (so the media route serves it).
pub(super) struct SentFile {
    pub kind: &'static str,
    pub mimetype: String,
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
}

/// Records a text (or a file with `text` as caption) the API sent: sent history, the chat's
/// message list and the `message_sent` webhook in one transaction (the chats service follows its
/// acks from then on), then catches up with a receipt that raised the level before the message
/// was recorded.
pub(super) async fn record_send(
    ctx: &Ctx,
    handle: &EngineHandle,
    client_id: &str,
    chat: &str,
    sent: &SentMessage,
    text: &str,
    file: Option<SentFile>,
) -> Result<(), ApiError> {
    let (cid, chat_number, message_id, body) = (
        client_id.to_string(),
        chat.to_string(),
        sent.id.clone(),
        text.to_string(),
    );
    let (status, timestamp) = (ack_name(sent.ack), sent.timestamp);
    blocking(ctx.app(), move |app| match &file {
        None => (app.chats).record_sent(&cid, &chat_number, &message_id, &body, status, timestamp),
        Some(f) => {
            let media = chats::SentMedia {
                kind: f.kind,
                mimetype: &f.mimetype,
                filename: f.filename.as_deref(),
                bytes: &f.bytes,
            };
            (app.chats).record_sent_media(
                &cid,
                &chat_number,
                &message_id,
                &body,
                status,
                timestamp,
                media,
            )
        }
    })
    .await?;
    if let Some(level) = handle.ack_level(&sent.id).filter(|l| *l > sent.ack) {
        let (cid, message_id) = (client_id.to_string(), sent.id.clone());
        let app = ctx.app().clone();
        let _ = tokio::task::spawn_blocking(move || {
            app.chats
                .apply_ack(&app, &cid, &message_id, ack_name(level))
        })
        .await;
    }
    Ok(())
}

async fn read_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    let client_id = ctx.param("clientId")?.to_string();
    let chat_id = ctx.param("chatId")?.to_string();
    let chat = chats::chat_number(&chat_id)?;
    let (c, id, cid) = (caller.clone(), client_id.clone(), chat_id.clone());
    let unread = blocking(ctx.app(), move |app| app.chats.unread_ids(&c, &id, &cid)).await?;
    if !unread.is_empty() {
        let handle = connected_engine(&ctx, &client_id)?;
        handle
            .send_read_receipt(&Jid::phone(chat.as_str()), &unread)
            .map_err(|e| send_error(&e, "chatId"))?;
        blocking(ctx.app(), move |app| {
            app.chats.mark_read(&caller, &client_id, &chat_id, &unread)
        })
        .await?;
    }
    Ok(response::json(StatusCode::OK, &json!({ "success": true })))
}

/// `inline; filename="..."` with anything that could break the header replaced.
fn content_disposition(filename: Option<&str>) -> HeaderValue {
    let Some(name) = filename else {
        return HeaderValue::from_static("inline");
    };
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(200)
        .collect();
    HeaderValue::from_str(&format!("inline; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("inline"))
}

async fn media_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    let client_id = ctx.param("clientId")?.to_string();
    let message_id = ctx.param("messageId")?.to_string();
    let found = blocking(ctx.app(), move |app| {
        app.chats.media(&caller, &client_id, &message_id)
    })
    .await?;
    let Some((info, bytes)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "MEDIA_NOT_FOUND",
            "This message has no stored media.",
        ));
    };
    let content_type = HeaderValue::from_str(&info.mimetype)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut res = Response::new(Full::new(Bytes::from(bytes)));
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(
        CONTENT_DISPOSITION,
        content_disposition(info.filename.as_deref()),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_bounds_and_refuses_garbage() {
        assert_eq!(limit_param(None).unwrap(), DEFAULT_MESSAGE_LIMIT);
        assert_eq!(limit_param(Some("x=1")).unwrap(), DEFAULT_MESSAGE_LIMIT);
        assert_eq!(limit_param(Some("limit=7")).unwrap(), 7);
        assert_eq!(
            limit_param(Some("limit=100000")).unwrap(),
            MAX_MESSAGE_LIMIT
        );
        for bad in ["limit=0", "limit=-1", "limit=abc", "limit=", "limit=1.5"] {
            assert!(limit_param(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn filenames_cannot_break_the_header() {
        let v = content_disposition(Some("a\"b\r\nc.jpg"));
        assert_eq!(v.to_str().unwrap(), "inline; filename=\"a_b__c.jpg\"");
        assert_eq!(content_disposition(None).to_str().unwrap(), "inline");
    }
}
