//! Scheduled messages (session only): create, list, cancel. Sending them is the scheduler's job.

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;

boxed_handlers! {
    create => create_impl;
    list => list_impl;
    cancel => cancel_impl;
}

async fn create_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    let number = fields.string_or_number("number")?;
    let message = fields.string("message")?;
    let when = fields.string("scheduleTime")?;
    let caller = ctx.caller()?.clone();
    let scheduled = blocking(ctx.app(), move |app| {
        app.schedules
            .create(&caller, &client_id, &number, &message, &when)
    })
    .await?;
    let body = json!({"message": "Message scheduled.", "id": scheduled.id, "scheduled": scheduled});
    Ok(response::json(StatusCode::CREATED, &body))
}

async fn list_impl(ctx: Ctx) -> HandlerResult {
    let items = ctx.app().schedules.list(ctx.caller()?)?;
    Ok(response::json(StatusCode::OK, &items))
}

async fn cancel_impl(ctx: Ctx) -> HandlerResult {
    let raw = ctx.param("id")?;
    let id: u64 = raw
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::validation("id", "id must be a positive integer."))?;
    let caller = ctx.caller()?.clone();
    let username = caller.user.username.clone();
    blocking(ctx.app(), move |app| app.schedules.cancel(&caller, id)).await?;
    ctx.security_event(
        "schedule_cancelled",
        Some(&username),
        format!("scheduled message {id} cancelled"),
    )
    .await;
    Ok(response::json(
        StatusCode::OK,
        &json!({"message": "Schedule cancelled."}),
    ))
}
