//! Delayed frames (fault injection, §13.1 item 15): `POST /sim/faults/delay` holds the next `count`
//! frames of the matching connections for `ms` milliseconds each, as a slow or congested link
//! would. A frame is one stanza the server reads from the connection (its answer, such as the
//! server ack of a message, waits with it) or one stanza pushed to it (a message, receipt or
//! notification from someone else). A connection handles its frames in order, so everything
//! behind a held frame waits too. Delays target every connection, one account's, or one device's.

use super::control::{error_response, json_response};
use super::registry::ConnId;
use super::Shared;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;

/// Longest delay one frame may get.
const MAX_DELAY_MS: u64 = 60_000;
/// Most frames one injection may delay.
const MAX_COUNT: u32 = 10_000;
/// Most delay injections pending at once.
const MAX_PENDING: usize = 100;

/// A pending delay injection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delay {
    pub ms: u64,
    /// Frames still to delay.
    pub remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<u16>,
}

/// The body of `POST /sim/faults/delay`.
#[derive(Deserialize)]
struct DelayRequest {
    ms: u64,
    #[serde(default = "one_frame")]
    count: u32,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    device: Option<u16>,
}

fn one_frame() -> u32 {
    1
}

impl Delay {
    fn matches(&self, who: Option<&(String, u16)>) -> bool {
        match (&self.phone, who) {
            (None, _) => self.device.is_none(),
            (Some(phone), Some((p, d))) => phone == p && self.device.is_none_or(|dev| dev == *d),
            (Some(_), None) => false,
        }
    }
}

#[derive(Default)]
struct FaultState {
    delays: Vec<Delay>,
    /// Frames delayed so far.
    delayed: u64,
}

/// Pending fault injections.
#[derive(Default)]
pub(crate) struct Faults {
    inner: Mutex<FaultState>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long the next frame of a connection logged in as `who` must wait (one delayed frame is
    /// used up), if at all.
    fn take(&self, who: Option<&(String, u16)>) -> Option<Duration> {
        let mut state = self.lock();
        let position = state.delays.iter().position(|d| d.matches(who))?;
        let delay = state.delays.get_mut(position)?;
        let ms = delay.ms;
        delay.remaining = delay.remaining.saturating_sub(1);
        if delay.remaining == 0 {
            state.delays.remove(position);
        }
        state.delayed += 1;
        Some(Duration::from_millis(ms))
    }
}

/// Holds one frame of connection `conn` when a delay injection matches it.
pub(super) async fn hold(shared: &Shared, conn: ConnId) {
    if shared.faults.lock().delays.is_empty() {
        return;
    }
    let who = shared.registry.logged_in_as(conn);
    if let Some(wait) = shared.faults.take(who.as_ref()) {
        tokio::time::sleep(wait).await;
    }
}

/// `/sim/faults…` routes; `None` when the path is not ours.
pub(super) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let answer = match (method, segments) {
        (&Method::GET, ["faults"]) => {
            let state = shared.faults.lock();
            json_response(
                StatusCode::OK,
                &json!({ "delays": state.delays, "delayed": state.delayed }),
            )
        }
        (&Method::DELETE, ["faults"]) => {
            let mut state = shared.faults.lock();
            let cleared = state.delays.len();
            state.delays.clear();
            json_response(StatusCode::OK, &json!({ "cleared": cleared }))
        }
        (&Method::POST, ["faults", "delay"]) => add_delay(shared, body),
        _ => return None,
    };
    Some(answer)
}

fn add_delay(shared: &Shared, body: &[u8]) -> Response<Full<Bytes>> {
    let request: DelayRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "INVALID_JSON", &e.to_string()),
    };
    let delay = Delay {
        ms: request.ms,
        remaining: request.count,
        phone: request.phone,
        device: request.device,
    };
    if !(1..=MAX_DELAY_MS).contains(&delay.ms) || !(1..=MAX_COUNT).contains(&delay.remaining) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "ms must be 1 to 60000 and count 1 to 10000",
        );
    }
    if delay.device.is_some() && delay.phone.is_none() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "device needs phone",
        );
    }
    if let Some(phone) = &delay.phone {
        let known = {
            let inner = shared.registry.lock();
            inner.accounts.get(phone).map(|a| {
                delay
                    .device
                    .is_none_or(|d| d == 0 || a.devices.contains_key(&d))
            })
        };
        match known {
            None => {
                return error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone")
            }
            Some(false) => {
                return error_response(StatusCode::NOT_FOUND, "DEVICE_NOT_FOUND", "no such device")
            }
            Some(true) => {}
        }
    }
    let mut state = shared.faults.lock();
    if state.delays.len() >= MAX_PENDING {
        return error_response(
            StatusCode::CONFLICT,
            "TOO_MANY_FAULTS",
            "too many delays pending; DELETE /sim/faults first",
        );
    }
    state.delays.push(delay.clone());
    json_response(StatusCode::CREATED, &json!(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delay(phone: Option<&str>, device: Option<u16>, count: u32) -> Delay {
        Delay {
            ms: 5,
            remaining: count,
            phone: phone.map(str::to_string),
            device,
        }
    }

    #[test]
    fn delays_match_their_target_and_run_out() {
        let faults = Faults::default();
        faults.lock().delays.push(delay(Some("1"), Some(2), 2));
        let device = ("1".to_string(), 2);
        let other = ("1".to_string(), 3);
        assert!(faults.take(Some(&other)).is_none());
        assert!(faults.take(None).is_none());
        assert_eq!(faults.take(Some(&device)), Some(Duration::from_millis(5)));
        assert!(faults.take(Some(&device)).is_some());
        assert!(faults.take(Some(&device)).is_none());
        faults.lock().delays.push(delay(None, None, 1));
        assert!(faults.take(None).is_some());
        assert_eq!(faults.lock().delayed, 3);
    }
}
