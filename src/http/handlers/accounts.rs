//! The caller's account: GET /api/profile and POST /api/reset-api-key.

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::response;

boxed_handlers! {
    profile => profile_impl;
    reset_api_key => reset_api_key_impl;
}

async fn profile_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?;
    // Profile serialises to the documented shape: username, role, apiKey, clientCount.
    let presented_key = crate::http::auth::api_key(&ctx.headers);
    let profile = ctx.app().accounts.profile(caller, presented_key)?;
    Ok(response::json(StatusCode::OK, &profile))
}

/// Authenticated by the body (`username` + `currentApiKey`), not by header or cookie.
async fn reset_api_key_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let username = fields.string("username")?;
    let current = fields.string("currentApiKey")?;
    let name = username.clone();
    let outcome = blocking(ctx.app(), move |app| {
        app.accounts.reset_api_key(&name, &current)
    })
    .await;
    match outcome {
        Ok(new_key) => {
            ctx.security_event(
                "api_key_reset",
                Some(&username),
                "account API key replaced".into(),
            )
            .await;
            Ok(response::json(
                StatusCode::OK,
                &json!({"message": "API key reset successfully.", "newApiKey": new_key}),
            ))
        }
        Err(e) => Err(e),
    }
}
