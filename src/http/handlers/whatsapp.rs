//! The routes that drive a client's WhatsApp engine: add a number (QR or pairing code), fetch the
//! current QR image, delete a client (which unlinks it), and the sandbox's `/sim/` control API.
//!
//! When the server runs without engines (in-process tests that only build the App), adding a
//! number still stores the client and answers `pending_auth` with `qrCode: null`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::{boxed_handlers, HandlerResult};
use crate::engine::{qr_image, EngineStatus};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::request;
use crate::http::response::{self, Body};
use crate::services::whatsapp::{EngineManager, ManagerError, Sandbox};

boxed_handlers! {
    add_number => add_number_impl;
    qr => qr_impl;
    delete => delete_impl;
}

/// How long add-number and the QR route wait for the engine's first QR code (or its login).
const QR_WAIT: Duration = Duration::from_secs(8);

/// Sandbox mode: the QR text travels in this response header of `GET /api/qr/:clientId`, so a
/// simulated phone can scan it without decoding the image.
pub const QR_TEXT_HEADER: &str = "x-chattu-qr-text";

fn manager_error(e: ManagerError) -> ApiError {
    match e {
        ManagerError::ShuttingDown => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SHUTTING_DOWN",
            "The server is shutting down.",
        ),
        ManagerError::NotRunning | ManagerError::NotPendingAuth(_) => not_pending(&e.to_string()),
        ManagerError::Engine(message) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "WHATSAPP_ERROR", message)
        }
    }
}

fn not_pending(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "NOT_PENDING_AUTH",
        format!("No QR code: {detail}."),
    )
}

/// `pairingMethod`: "qr" (the default) or "code" (a pairing code for `phoneNumber`).
fn wants_pairing_code(fields: &request::Fields) -> Result<bool, ApiError> {
    match fields.opt_string("pairingMethod")?.as_deref() {
        None | Some("") | Some("qr") => Ok(false),
        Some("code") => Ok(true),
        Some(_) => Err(ApiError::validation(
            "pairingMethod",
            "pairingMethod must be \"qr\" or \"code\".",
        )),
    }
}

/// POST /api/add-number: stores the client, starts its engine and answers with its first QR
/// code (or `connected`); with `"pairingMethod": "code"` also a pairing code for `phoneNumber`.
async fn add_number_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    let phone = fields.string_or_number("phoneNumber")?;
    let by_code = wants_pairing_code(&fields)?;
    let caller = ctx.caller()?.clone();
    let (client, _created) = blocking(ctx.app(), move |app| {
        app.clients.create(&caller, &client_id, &phone)
    })
    .await?;
    let mut answer = Map::new();
    answer.insert("apiKey".into(), json!(client.api_key));
    let Some(manager) = ctx.app().whatsapp.manager().cloned() else {
        answer.insert("status".into(), json!("pending_auth"));
        answer.insert(
            "message".into(),
            json!("Client created; WhatsApp sessions are not running on this server."),
        );
        answer.insert("qrCode".into(), Value::Null);
        return Ok(response::json(StatusCode::OK, &answer));
    };
    manager
        .ensure_running(&client.client_id)
        .map_err(manager_error)?;
    let status = manager
        .settled_status(&client.client_id, QR_WAIT)
        .await
        .map_err(manager_error)?;
    match status {
        EngineStatus::Connected { .. } => {
            answer.insert("status".into(), json!("connected"));
            answer.insert("message".into(), json!("Client is already connected."));
            answer.insert("qrCode".into(), Value::Null);
        }
        EngineStatus::PendingAuth { qr, qr_png, .. } => {
            answer.insert("status".into(), json!("pending_auth"));
            answer.insert("qrCode".into(), json!(qr_png));
            if by_code {
                let code = manager
                    .pair_with_code(&client.client_id, &client.phone_number)
                    .await
                    .map_err(manager_error)?;
                answer.insert(
                    "message".into(),
                    json!("Pairing code generated: on the phone open Linked devices, Link with phone number, and type it."),
                );
                answer.insert("pairingCode".into(), json!(code));
            } else {
                answer.insert(
                    "message".into(),
                    json!("QR Code generated for authentication"),
                );
            }
            if ctx.app().whatsapp.is_sandbox() {
                answer.insert("qrText".into(), json!(qr));
            }
        }
        other => {
            if by_code {
                return Err(not_pending(&format!(
                    "the WhatsApp connection is {}; try again shortly",
                    other.name()
                )));
            }
            answer.insert("status".into(), json!("pending_auth"));
            answer.insert(
                "message".into(),
                json!(format!(
                    "Connecting to WhatsApp ({}); fetch the QR code from GET /api/qr/{} shortly.",
                    other.name(),
                    client.client_id
                )),
            );
            answer.insert("qrCode".into(), Value::Null);
        }
    }
    Ok(response::json(StatusCode::OK, &answer))
}

/// GET /api/qr/:clientId: the QR code the client shows now, as a PNG. An engine that stopped
/// (QR codes expired, logged out) is started again for fresh codes.
async fn qr_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_owned();
    let caller = ctx.caller()?.clone();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| app.clients.record(&caller, &id)).await?;
    let Some(manager) = ctx.app().whatsapp.manager().cloned() else {
        return Err(not_pending(
            "WhatsApp sessions are not running on this server",
        ));
    };
    let status = current_or_restarted(&manager, &client_id).await?;
    let EngineStatus::PendingAuth { qr, .. } = status else {
        return Err(not_pending(&format!(
            "the client is {}, not waiting for a scan",
            status.name()
        )));
    };
    let png = qr_image::qr_png(&qr).map_err(|e| {
        log::error!("client {client_id}: cannot render the QR code: {e}");
        ApiError::internal()
    })?;
    let mut res = response::bytes(StatusCode::OK, "image/png", Bytes::from(png));
    let headers = res.headers_mut();
    // A QR code is a one-time secret: never cache it.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if ctx.app().whatsapp.is_sandbox() {
        if let Ok(value) = HeaderValue::from_str(&qr) {
            headers.insert(QR_TEXT_HEADER, value);
        }
    }
    Ok(res)
}

async fn current_or_restarted(
    manager: &Arc<EngineManager>,
    client_id: &str,
) -> Result<EngineStatus, ApiError> {
    match manager.status(client_id) {
        Some(status) if !status.is_final() && !matches!(status, EngineStatus::Connecting) => {
            Ok(status)
        }
        _ => {
            manager.ensure_running(client_id).map_err(manager_error)?;
            manager
                .settled_status(client_id, QR_WAIT)
                .await
                .map_err(manager_error)
        }
    }
}

/// DELETE /clients/:clientId (session, password): removes the client and its data, then unlinks
/// the companion from the phone, stops the engine and wipes its keys.
async fn delete_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_owned();
    let fields = ctx.json()?;
    let password = fields.opt_string("password")?.unwrap_or_default();
    let caller = ctx.caller()?.clone();
    let username = caller.user.username.clone();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| {
        app.clients.delete(&caller, &id, &password)
    })
    .await?;
    if let Some(manager) = ctx.app().whatsapp.manager() {
        manager.remove(&client_id).await;
    }
    ctx.security_event(
        "client_deleted",
        Some(&username),
        format!("client {client_id} deleted"),
    )
    .await;
    Ok(response::json(
        StatusCode::OK,
        &json!({"message": "Client deleted successfully."}),
    ))
}

/// Sandbox mode: a `/sim/...` request goes to the in-process simulator's control API, unchanged.
pub async fn sandbox_control(
    sandbox: Arc<Sandbox>,
    req: Request<Incoming>,
    max_body: usize,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let (parts, body) = req.into_parts();
    let body = request::read_body(&parts.headers, body, max_body).await?;
    Ok(sandbox.control(method, &target, body).await)
}
