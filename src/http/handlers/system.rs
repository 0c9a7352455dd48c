//! Service routes: health and the OpenAPI document.

use hyper::StatusCode;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::Ctx;
use crate::http::{openapi, response};

boxed_handlers! {
    healthz => healthz_impl;
    openapi => openapi_impl;
}

async fn healthz_impl(ctx: Ctx) -> HandlerResult {
    Ok(response::json_bytes(
        StatusCode::OK,
        ctx.state.health_body.clone(),
    ))
}

async fn openapi_impl(_ctx: Ctx) -> HandlerResult {
    Ok(response::json_bytes(
        StatusCode::OK,
        openapi::document_bytes(),
    ))
}
