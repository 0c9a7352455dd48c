//! History and logs: sent and received messages, calls, application log lines. The service
//! views already carry the API doc's field names.

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::Ctx;
use crate::http::response;

boxed_handlers! {
    sent => sent_impl;
    received => received_impl;
    incoming_calls => incoming_calls_impl;
    call_logs => call_logs_impl;
    logs => logs_impl;
}

async fn sent_impl(ctx: Ctx) -> HandlerResult {
    let items = ctx.app().history.sent(ctx.caller()?)?;
    Ok(response::json(StatusCode::OK, &items))
}

async fn received_impl(ctx: Ctx) -> HandlerResult {
    let items = ctx
        .app()
        .history
        .received(ctx.caller()?, ctx.param("clientId")?)?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"status": "success", "messages": items}),
    ))
}

async fn incoming_calls_impl(ctx: Ctx) -> HandlerResult {
    let items = ctx
        .app()
        .history
        .calls(ctx.caller()?, ctx.param("clientId")?)?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"status": "success", "calls": items}),
    ))
}

/// The doc shows no body: same shape as incoming-calls, across all the caller's clients.
async fn call_logs_impl(ctx: Ctx) -> HandlerResult {
    let items = ctx.app().history.call_logs(ctx.caller()?)?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"status": "success", "calls": items}),
    ))
}

async fn logs_impl(ctx: Ctx) -> HandlerResult {
    let lines = ctx.app().app_log.recent(ctx.caller()?)?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"status": "success", "logs": lines}),
    ))
}
