//! Building responses: JSON bodies, the error shape, and the headers every answer carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub type Body = Full<Bytes>;

// Built at compile time: `HeaderValue::from_static` checks every byte when called at run time.
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");

/// Answers up to this size are encoded in a per-thread buffer and copied out at their exact
/// size; bigger ones keep their own buffer (and the scratch buffer is not left that big).
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    // Without the scratch buffer (thread-local gone, or in use further up this stack): a Vec.
    let encoded = SCRATCH
        .try_with(|scratch| {
            let mut buf = scratch.try_borrow_mut().ok()?;
            buf.clear();
            Some(serde_json::to_writer(&mut *buf, value).map(|()| {
                if buf.len() <= SCRATCH_BYTES {
                    // One allocation of the exact size: no growth, no spare capacity to track.
                    Bytes::copy_from_slice(&buf)
                } else {
                    Bytes::from(std::mem::take(&mut *buf))
                }
            }))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| serde_json::to_vec(value).map(Bytes::from));
    match encoded {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => {
            log::error!("could not serialise a response: {e}");
            json_bytes(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(
                    br#"{"error":"Internal server error.","code":"INTERNAL_ERROR"}"#,
                ),
            )
        }
    }
}

/// A response whose body is already-encoded JSON.
pub fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, JSON);
    // API answers carry keys and personal data: never let a shared cache keep them.
    h.insert(CACHE_CONTROL, NO_STORE);
    res
}

/// A non-JSON response (dashboard assets, the OpenAPI document is JSON but static).
pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Headers that every response gets, whatever produced it.
pub fn add_security_headers(res: &mut Response<Body>) {
    let h = res.headers_mut();
    // Known header names (no parsing or lower-casing per response).
    h.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.entry(X_FRAME_OPTIONS).or_insert(DENY);
    h.entry(REFERRER_POLICY).or_insert(SAME_ORIGIN);
}
