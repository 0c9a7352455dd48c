//! The simulator's control API under `/sim/` (JSON): create phones, scan QR codes, list and unlink
//! devices. Every route is documented in `docs/simulator.md`.

use super::registry::SimError;
use super::Shared;
use crate::protocol::binary::Node;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// How long `scan` waits for the companion to countersign.
const LINK_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message, "code": code }))
}

fn sim_error(e: &SimError) -> Response<Full<Bytes>> {
    let (status, code) = match e {
        SimError::PhoneExists => (StatusCode::CONFLICT, "PHONE_EXISTS"),
        SimError::PhoneNotFound => (StatusCode::NOT_FOUND, "PHONE_NOT_FOUND"),
        SimError::DeviceNotFound => (StatusCode::NOT_FOUND, "DEVICE_NOT_FOUND"),
        SimError::BadQr(_) | SimError::QrKeysMismatch => (StatusCode::BAD_REQUEST, "INVALID_QR"),
        SimError::UnknownRef => (StatusCode::NOT_FOUND, "QR_NOT_FOUND"),
        SimError::LinkInProgress => (StatusCode::CONFLICT, "LINK_IN_PROGRESS"),
        SimError::NoCodePending => (StatusCode::NOT_FOUND, "NO_CODE_PENDING"),
        SimError::Link(_) => (StatusCode::UNPROCESSABLE_ENTITY, "LINK_FAILED"),
    };
    error_response(status, code, &e.to_string())
}

fn parse_body<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn invalid_json(message: &str) -> Response<Full<Bytes>> {
    error_response(StatusCode::BAD_REQUEST, "INVALID_JSON", message)
}

#[derive(Deserialize)]
struct NewPhone {
    phone: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct FailureSpec {
    reason: u16,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    expire: Option<u64>,
}

#[derive(Deserialize)]
struct LinkCode {
    code: String,
}

type LinkReceiver = tokio::sync::oneshot::Receiver<Result<super::registry::LinkedDevice, String>>;

#[derive(Deserialize)]
struct Scan {
    qr: String,
}

fn valid_phone(phone: &str) -> bool {
    (5..=20).contains(&phone.len()) && phone.bytes().all(|b| b.is_ascii_digit())
}

/// Serves one control request; `path` is the full request path (starting with `/sim/`).
pub(super) async fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let rest = path.trim_start_matches("/sim/").trim_end_matches('/');
    let segments: Vec<&str> = rest.split('/').collect();
    if let Some(response) = super::phone_media::control_route(shared, method, &segments, body).await
    {
        return response;
    }
    if let Some(response) = super::phone_messages::control_route(shared, method, &segments, body) {
        return response;
    }
    if let Some(response) = super::app_state::control_route(shared, method, &segments, body) {
        return response;
    }
    if let Some(response) = super::history::control_route(shared, method, &segments, body) {
        return response;
    }
    if let Some(response) = super::group_delivery::control_route(shared, method, &segments) {
        return response;
    }
    if let Some(response) = super::calls::control_route(shared, method, &segments, body) {
        return response;
    }
    if let Some(response) = super::faults::control_route(shared, method, &segments, body) {
        return response;
    }
    if let Some(response) = super::presence::control_route(shared, method, &segments, body) {
        return response;
    }
    if let Some(response) = super::groups::control_route(shared, method, &segments, body) {
        return response;
    }
    match (method, segments.as_slice()) {
        (&Method::GET, ["info"]) => json_response(
            StatusCode::OK,
            &json!({
                "rootPublicKey": hex(&shared.identity.trusted_root().public),
                "wsPath": "/ws/chat",
            }),
        ),
        (&Method::GET, ["phones"]) => {
            json_response(StatusCode::OK, &json!(shared.registry.phones()))
        }
        (&Method::POST, ["phones"]) => {
            let new: NewPhone = match parse_body(body) {
                Ok(v) => v,
                Err(e) => return invalid_json(&e),
            };
            if !valid_phone(&new.phone) {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "phone must be 5 to 20 digits",
                );
            }
            let name = new.name.unwrap_or_else(|| new.phone.clone());
            match shared.registry.create_phone(&new.phone, &name) {
                Ok(view) => json_response(StatusCode::CREATED, &json!(view)),
                Err(e) => sim_error(&e),
            }
        }
        (&Method::GET, ["phones", phone]) => match shared.registry.phone(phone) {
            Some(view) => json_response(StatusCode::OK, &json!(view)),
            None => sim_error(&SimError::PhoneNotFound),
        },
        (&Method::POST, ["phones", phone, "scan"]) => {
            let scan: Scan = match parse_body(body) {
                Ok(v) => v,
                Err(e) => return invalid_json(&e),
            };
            match shared.registry.scan(phone, &scan.qr) {
                Ok(waiter) => await_link(phone, waiter).await,
                Err(e) => sim_error(&e),
            }
        }
        (&Method::POST, ["phones", phone, "link-code"]) => {
            let entered: LinkCode = match parse_body(body) {
                Ok(v) => v,
                Err(e) => return invalid_json(&e),
            };
            match shared.registry.enter_code(phone, &entered.code) {
                Ok(waiter) => await_link(phone, waiter).await,
                Err(e) => sim_error(&e),
            }
        }
        (&Method::POST, ["phones", phone, "devices", device, "drop"]) => {
            let Ok(device) = device.parse::<u16>() else {
                return sim_error(&SimError::DeviceNotFound);
            };
            match shared.registry.drop_connections(phone, device) {
                Ok(dropped) => json_response(StatusCode::OK, &json!({ "dropped": dropped })),
                Err(e) => sim_error(&e),
            }
        }
        (&Method::POST, ["phones", phone, "devices", device, "failure"]) => {
            let Ok(device) = device.parse::<u16>() else {
                return sim_error(&SimError::DeviceNotFound);
            };
            let spec: FailureSpec = match parse_body(body) {
                Ok(v) => v,
                Err(e) => return invalid_json(&e),
            };
            if !(400..=599).contains(&spec.reason) {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    "reason must be a failure code between 400 and 599",
                );
            }
            let node = Node::new("failure")
                .with_attr("reason", spec.reason)
                .with_attr("location", "sim")
                .with_opt_attr("code", spec.code)
                .with_opt_attr("expire", spec.expire);
            match shared.registry.inject_failure(phone, device, node) {
                Ok(()) => json_response(StatusCode::OK, &json!({ "injected": spec.reason })),
                Err(e) => sim_error(&e),
            }
        }
        (&Method::DELETE, ["phones", phone, "devices", device]) => {
            let Ok(device) = device.parse::<u16>() else {
                return sim_error(&SimError::DeviceNotFound);
            };
            match shared.registry.unlink(phone, device) {
                Ok(()) => json_response(StatusCode::OK, &json!({ "unlinked": device })),
                Err(e) => sim_error(&e),
            }
        }
        _ => error_response(
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
            "no such simulator route",
        ),
    }
}

/// Waits for the companion to finish linking and reports the outcome.
async fn await_link(phone: &str, waiter: LinkReceiver) -> Response<Full<Bytes>> {
    match tokio::time::timeout(LINK_TIMEOUT, waiter).await {
        Ok(Ok(Ok(linked))) => json_response(
            StatusCode::OK,
            &json!({
                "device": linked.device,
                "jid": format!("{phone}:{}@s.whatsapp.net", linked.device),
            }),
        ),
        Ok(Ok(Err(message))) => {
            error_response(StatusCode::UNPROCESSABLE_ENTITY, "LINK_FAILED", &message)
        }
        Ok(Err(_)) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "LINK_FAILED",
            "the companion disconnected before countersigning",
        ),
        Err(_) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "LINK_TIMEOUT",
            "the companion did not answer pair-success",
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
