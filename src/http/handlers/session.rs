//! Dashboard sessions: POST /login (JSON or form) and POST /logout.

use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::auth;
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;

boxed_handlers! {
    login => login_impl;
    logout => logout_impl;
}

async fn login_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json_or_form()?;
    let username = fields.string("username")?;
    let password = fields.string("password")?;
    let name = username.clone();
    let outcome = blocking(ctx.app(), move |app| app.accounts.login(&name, &password)).await;
    match outcome {
        Ok((caller, token)) => {
            let max_age = ctx
                .app()
                .config
                .accounts
                .session_ttl_hours
                .saturating_mul(3600);
            let cookie = auth::session_cookie(&token, max_age, ctx.tls);
            let mut res = response::json(
                StatusCode::OK,
                &json!({
                    "message": "Logged in.",
                    "username": caller.user.username,
                    "role": caller.user.role.as_str(),
                }),
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(SET_COOKIE, v);
            }
            Ok(res)
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            // Only failures spend the sensitive-operations budget.
            ctx.state.limits.sensitive.record(ctx.ip);
            ctx.security_event(
                "login_failed",
                Some(&username),
                "wrong username or password".into(),
            )
            .await;
            Err(ApiError::unauthorized("Invalid username or password.").recorded())
        }
        Err(e) => Err(e),
    }
}

async fn logout_impl(ctx: Ctx) -> HandlerResult {
    if let Some(token) = auth::session_token(&ctx.headers) {
        blocking(ctx.app(), move |app| app.accounts.logout(&token)).await?;
    }
    let mut res = response::json(StatusCode::OK, &json!({"message": "Logged out."}));
    if let Ok(v) = HeaderValue::from_str(&auth::clear_session_cookie(ctx.tls)) {
        res.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(res)
}
