//! Administration (role admin): users, plans, security events.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;
use crate::services::time::format_rfc3339;
use crate::services::{Role, User};

boxed_handlers! {
    list_users => list_users_impl;
    create_user => create_user_impl;
    set_disabled => set_disabled_impl;
    set_plan => set_plan_impl;
    security_events => security_events_impl;
}

async fn list_users_impl(ctx: Ctx) -> HandlerResult {
    let users = ctx.app().accounts.list_users(ctx.caller()?)?;
    Ok(response::json(StatusCode::OK, &users))
}

async fn create_user_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let username = fields.string("username")?;
    let password = fields.string("password")?;
    let role = match fields.opt_string("role")?.as_deref() {
        None => Role::User,
        Some(r) => Role::parse(r)
            .ok_or_else(|| ApiError::validation("role", "role must be \"admin\" or \"user\"."))?,
    };
    let caller = ctx.caller()?.clone();
    let (user, key) = blocking(ctx.app(), move |app| {
        app.accounts
            .create_user(&caller, &username, role, &password)
    })
    .await?;
    let mut body = user_json(&user);
    body["apiKey"] = json!(key);
    Ok(response::json(StatusCode::CREATED, &body))
}

async fn set_disabled_impl(ctx: Ctx) -> HandlerResult {
    let username = ctx.param("username")?.to_owned();
    let disabled = ctx.json()?.boolean("disabled")?;
    let caller = ctx.caller()?.clone();
    let name = username.clone();
    blocking(ctx.app(), move |app| {
        app.accounts.set_disabled(&caller, &name, disabled)
    })
    .await?;
    ctx.security_event(
        "user_disabled",
        Some(&username),
        format!("disabled = {disabled}"),
    )
    .await;
    Ok(response::json(
        StatusCode::OK,
        &json!({"message": "User updated.", "username": username, "disabled": disabled}),
    ))
}

async fn set_plan_impl(ctx: Ctx) -> HandlerResult {
    let username = ctx.param("username")?.to_owned();
    let max = ctx.json()?.unsigned("maxClients")?;
    let max = u32::try_from(max)
        .map_err(|_| ApiError::validation("maxClients", "maxClients is too large."))?;
    let caller = ctx.caller()?.clone();
    let name = username.clone();
    blocking(ctx.app(), move |app| {
        app.accounts.set_plan(&caller, &name, max)
    })
    .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"message": "Plan updated.", "username": username, "maxClients": max}),
    ))
}

async fn security_events_impl(ctx: Ctx) -> HandlerResult {
    let events = ctx.app().security.list(ctx.caller()?)?;
    Ok(response::json(StatusCode::OK, &events))
}

/// An account as admin routes show it (never a password hash).
fn user_json(u: &User) -> Value {
    json!({
        "username": u.username,
        "role": u.role.as_str(),
        "disabled": u.disabled,
        "maxClients": u.max_clients,
        "createdAt": format_rfc3339(u.created_ms),
    })
}
