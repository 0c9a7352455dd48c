//! Shared by the tests that run the service layer in-process with a sandbox (`whatsapp::start(&app,
//! true)`): control-API calls to the embedded simulator, and linking a managed client by QR.

#![allow(dead_code)] // each test file uses a different part of this module

use bytes::Bytes;
use chattu::engine::{EngineHandle, EngineStatus};
use chattu::services::whatsapp::{EngineManager, Sandbox};
use http_body_util::BodyExt;
use hyper::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// One call to the sandbox's control API (`/sim/...`); a null `body` sends none.
pub async fn control(sandbox: &Sandbox, method: Method, path: &str, body: Value) -> (u16, Value) {
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let res = sandbox.control(method, path, bytes).await;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Waits for the managed client `client` to show its QR and has simulated `phone` scan it;
/// returns the client's engine (not yet necessarily connected).
pub async fn scan_client_qr(
    manager: &EngineManager,
    sandbox: &Sandbox,
    client: &str,
    phone: &str,
) -> Arc<EngineHandle> {
    let status = manager
        .settled_status(client, Duration::from_secs(10))
        .await
        .expect("engine running");
    let EngineStatus::PendingAuth { qr, .. } = status else {
        panic!("expected a QR code, got {status:?}");
    };
    let (status, body) = control(
        sandbox,
        Method::POST,
        &format!("/sim/phones/{phone}/scan"),
        json!({ "qr": qr }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    manager.handle(client).expect("engine")
}
