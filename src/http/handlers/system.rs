//! Service routes: health and the OpenAPI document.

use hyper::StatusCode;
use serde_json::json;

use super::{boxed_handlers, HandlerResult};
use crate::http::dispatch::Ctx;
use crate::http::{openapi, response};

boxed_handlers! {
    healthz => healthz_impl;
    openapi => openapi_impl;
}

async fn healthz_impl(ctx: Ctx) -> HandlerResult {
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "sandbox": ctx.app().whatsapp.is_sandbox(),
        }),
    ))
}

async fn openapi_impl(_ctx: Ctx) -> HandlerResult {
    Ok(response::json_bytes(
        StatusCode::OK,
        openapi::document_bytes(),
    ))
}
