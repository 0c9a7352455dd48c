//! Service routes: health and the OpenAPI document.

use hyper::StatusCode;

use super::{ready_handlers, HandlerResult};
use crate::http::dispatch::Ctx;
use crate::http::{openapi, response};

ready_handlers! {
    healthz => healthz_impl;
    openapi => openapi_impl;
}

fn healthz_impl(ctx: Ctx) -> HandlerResult {
    Ok(response::json_bytes(
        StatusCode::OK,
        ctx.state.health_body.clone(),
    ))
}

fn openapi_impl(_ctx: Ctx) -> HandlerResult {
    Ok(response::json_bytes(
        StatusCode::OK,
        openapi::document_bytes(),
    ))
}
