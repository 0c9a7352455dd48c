//! WhatsApp clients: add, list, delete, webhook URL.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;
use crate::services::ClientStatus;

boxed_handlers! {
    add_number => add_number_impl;
    list => list_impl;
    delete => delete_impl;
    update_webhook => update_webhook_impl;
}

/// Creates the client record and its key. Until the WhatsApp engine exists there is no QR code:
/// the answer is `pending_auth` with `qrCode: null` (docs/api.md).
async fn add_number_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    let phone = fields.string_or_number("phoneNumber")?;
    let caller = ctx.caller()?.clone();
    let (client, _created) = blocking(ctx.app(), move |app| {
        app.clients.create(&caller, &client_id, &phone)
    })
    .await?;
    let connected = client.status == ClientStatus::Authenticated.label();
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "status": if connected { "connected" } else { "pending_auth" },
            "message": if connected {
                "Client is already connected."
            } else {
                "Client created; waiting for WhatsApp authentication."
            },
            "qrCode": Value::Null,
            "apiKey": client.api_key,
        }),
    ))
}

async fn list_impl(ctx: Ctx) -> HandlerResult {
    let clients = ctx.app().clients.list(ctx.caller()?)?;
    Ok(response::json(StatusCode::OK, &clients))
}

/// Session only, password-confirmed, counted by the sensitive and delete limiters.
async fn delete_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_owned();
    let fields = ctx.json()?;
    let password = fields.opt_string("password")?.unwrap_or_default();
    let caller = ctx.caller()?.clone();
    let username = caller.user.username.clone();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| {
        app.clients.delete(&caller, &id, &password)
    })
    .await?;
    ctx.security_event(
        "client_deleted",
        Some(&username),
        format!("client {client_id} deleted"),
    )
    .await;
    Ok(response::json(
        StatusCode::OK,
        &json!({"message": "Client deleted successfully."}),
    ))
}

async fn update_webhook_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    // An empty string or null removes the webhook.
    if !fields.0.contains_key("webhookUrl") {
        return Err(ApiError::validation(
            "webhookUrl",
            "webhookUrl is required.",
        ));
    }
    let url = fields.opt_string("webhookUrl")?.unwrap_or_default();
    let caller = ctx.caller()?.clone();
    let client = blocking(ctx.app(), move |app| {
        app.clients.update_webhook(&caller, &client_id, &url)
    })
    .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "message": "Webhook URL updated successfully.",
            "clientId": client.client_id,
            "webhookUrl": client.webhook_url,
        }),
    ))
}
