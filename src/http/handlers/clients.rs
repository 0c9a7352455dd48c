//! WhatsApp clients: list and webhook URL (adding and deleting drive the engine: `whatsapp.rs`).

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;

boxed_handlers! {
    list => list_impl;
    update_webhook => update_webhook_impl;
}

async fn list_impl(ctx: Ctx) -> HandlerResult {
    let clients = ctx.app().clients.list(ctx.caller()?)?;
    Ok(response::json(StatusCode::OK, &clients))
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
