//! Webhook deliveries of a client: list pending events, dead letters and recent attempts; replay
//! a dead letter; queue a test event (docs/webhooks.md, "Routes").

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::response;
use crate::services::webhooks::Webhooks;

boxed_handlers! {
    deliveries => deliveries_impl;
    replay => replay_impl;
    test => test_impl;
}

async fn deliveries_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_owned();
    let caller = ctx.caller()?.clone();
    let view = blocking(ctx.app(), move |app| {
        Webhooks::new(app).deliveries(&caller, &client_id)
    })
    .await?;
    Ok(response::json(StatusCode::OK, &view))
}

async fn replay_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_owned();
    let event_id = ctx.param("eventId")?.to_owned();
    let caller = ctx.caller()?.clone();
    let delivery = blocking(ctx.app(), move |app| {
        Webhooks::new(app).replay(&caller, &client_id, &event_id)
    })
    .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"status": "success", "message": "Event queued again.", "delivery": delivery}),
    ))
}

async fn test_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_owned();
    let caller = ctx.caller()?.clone();
    let delivery = blocking(ctx.app(), move |app| {
        Webhooks::new(app).send_test(&caller, &client_id)
    })
    .await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"status": "success", "message": "Test event queued.", "delivery": delivery}),
    ))
}
