//! GET /ws: the live event stream (docs/api.md, "/ws").
//!
//! The dispatcher has authenticated the request (session cookie or x-api-key) before this runs.
//! Here: the cross-site check (a browser page on another site must not open a socket with the
//! user's cookie, CSWSH), the WebSocket handshake checks, a subscription on the App's live bus
//! (taken before answering 101, so nothing published after the handshake is missed), then one
//! task per socket that forwards the owner's events as JSON text frames, pings, re-checks the
//! credential and closes on logout, expiry, lag, abuse or shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{HeaderMap, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::time::{interval_at, timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::auth::{self, Credential};
use super::dispatch::Ctx;
use super::error::ApiError;
use super::handlers::{boxed_handlers, HandlerResult};
use super::response::Body;
use crate::services::live::{LiveError, LiveFilter, LiveSubscription, Received};
use crate::services::{App, AuthVia};

/// A ping goes out this often; browsers answer it with a pong.
pub const PING_EVERY: Duration = Duration::from_secs(25);
/// A socket silent (not even a pong) for this long is closed.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(70);
/// The session or key is checked again this often (and at once after any logout).
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// A frame that cannot be written within this time means a stuck client: the socket is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Clients have nothing to say: frames beyond this size close the socket...
const MAX_CLIENT_MESSAGE: usize = 4096;
/// ...and so do more than this many data frames per [`RECHECK_EVERY`] period.
const MAX_CLIENT_MESSAGES: u32 = 60;

boxed_handlers! {
    upgrade => upgrade_impl;
}

async fn upgrade_impl(mut ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    if auth::is_cross_site(&ctx.headers) {
        return Err(ApiError::cross_site());
    }
    let accept = handshake_accept(&ctx.headers)?;
    let Some(on_upgrade) = ctx.upgrade.take() else {
        return Err(upgrade_required());
    };
    let credential = auth::credential(&ctx.headers, false).into_owned();
    let filter = LiveFilter {
        owner: caller.user.username.clone(),
        client_id: match &caller.via {
            AuthVia::ClientKey(id) => Some(id.clone()),
            AuthVia::AccountKey | AuthVia::Session => None,
        },
    };
    let subscription = ctx.app().live.subscribe(filter).map_err(|e| match e {
        LiveError::ShuttingDown => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SHUTTING_DOWN",
            "The server is shutting down.",
        ),
        LiveError::TooMany | LiveError::TooManyForUser => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", e.to_string())
        }
    })?;
    let app = ctx.app().clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                let socket =
                    WebSocketStream::from_raw_socket(io, Role::Server, Some(socket_config())).await;
                serve_socket(socket, app, credential, subscription).await;
            }
            Err(e) => log::debug!("/ws upgrade failed: {e}"),
        }
    });
    let mut res = Response::new(Body::new(bytes::Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(res)
}

fn upgrade_required() -> ApiError {
    ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "UPGRADE_REQUIRED",
        "This route is a WebSocket: send a WebSocket handshake (Upgrade: websocket).",
    )
}

/// Checks the RFC 6455 handshake headers and returns the `Sec-WebSocket-Accept` value.
fn handshake_accept(headers: &HeaderMap) -> Result<String, ApiError> {
    let has_token = |name: hyper::header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(UPGRADE, "websocket") || !has_token(CONNECTION, "upgrade") {
        return Err(upgrade_required());
    }
    let version = headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some("13") {
        let mut e = upgrade_required();
        e.message = "Only WebSocket version 13 is supported.".into();
        return Err(e);
    }
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .map(|v| v.as_bytes())
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .ok_or_else(|| ApiError::validation("Sec-WebSocket-Key", "Missing WebSocket key."))?;
    Ok(derive_accept_key(key))
}

fn socket_config() -> WebSocketConfig {
    WebSocketConfig {
        max_message_size: Some(MAX_CLIENT_MESSAGE),
        max_frame_size: Some(MAX_CLIENT_MESSAGE),
        write_buffer_size: 16 * 1024,
        max_write_buffer_size: 256 * 1024,
        ..WebSocketConfig::default()
    }
}

/// Why a socket ended, as its close frame says it.
fn close_frame(code: CloseCode, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Whether the credential the socket was opened with still belongs to `owner`.
async fn still_valid(app: &Arc<App>, credential: &Credential<'static>, owner: &str) -> bool {
    let app = app.clone();
    let credential = credential.clone();
    let owner = owner.to_string();
    let checked = tokio::task::spawn_blocking(move || {
        let caller = match &credential {
            Credential::Session(token) => app.accounts.authenticate_session(token),
            Credential::ApiKey(key) => app.accounts.authenticate_api_key(key),
            Credential::None => return false,
        };
        caller.is_ok_and(|c| c.user.username == owner)
    });
    checked.await.unwrap_or(false)
}

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;
type Sink = futures_util::stream::SplitSink<Socket, Message>;

/// Writes one frame; false when the socket is gone or stuck.
async fn send(sink: &mut Sink, msg: Message) -> bool {
    matches!(timeout(SEND_TIMEOUT, sink.send(msg)).await, Ok(Ok(())))
}

/// Forwards the subscription's events until the socket or the subscription ends.
async fn serve_socket(
    socket: Socket,
    app: Arc<App>,
    credential: Credential<'static>,
    mut subscription: LiveSubscription,
) {
    let owner = subscription.owner().to_string();
    log::debug!("/ws: {owner} connected");
    let (mut sink, mut stream) = socket.split();
    let hello = json!({
        "type": "hello",
        "username": owner,
        "clientId": subscription.filter().client_id,
        "pingSecs": PING_EVERY.as_secs(),
    });
    let mut ping = interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut recheck = interval_at(Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    recheck.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut client_messages = 0u32;
    let mut closing: Option<Message> = None;
    if !send(&mut sink, Message::text(hello.to_string())).await {
        return;
    }
    loop {
        tokio::select! {
            received = subscription.next() => match received {
                Received::Event(event) => {
                    if !send(&mut sink, Message::text(event.json())).await {
                        break;
                    }
                }
                Received::Lagged(missed) => {
                    // Too slow to keep up: say how much was lost, then let the client resync.
                    let notice = json!({"type": "lagged", "missed": missed}).to_string();
                    if send(&mut sink, Message::text(notice)).await {
                        closing = Some(close_frame(CloseCode::Again, "too slow, reconnect"));
                    }
                    break;
                }
                Received::Recheck => {
                    if !still_valid(&app, &credential, &owner).await {
                        closing = Some(close_frame(CloseCode::Policy, "session ended"));
                        break;
                    }
                }
                Received::Closed => {
                    closing = Some(close_frame(CloseCode::Away, "server shutting down"));
                    break;
                }
            },
            incoming = stream.next() => match incoming {
                None | Some(Err(_)) => break,
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued the echo; flushing the sink sends it.
                    let _ = timeout(SEND_TIMEOUT, sink.flush()).await;
                    break;
                }
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    last_heard = Instant::now();
                    client_messages += 1;
                    if client_messages > MAX_CLIENT_MESSAGES {
                        closing = Some(close_frame(CloseCode::Policy, "too many messages"));
                        break;
                    }
                }
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    break;
                }
                if !send(&mut sink, Message::Ping(Vec::new())).await {
                    break;
                }
            }
            _ = recheck.tick() => {
                client_messages = 0;
                if !still_valid(&app, &credential, &owner).await {
                    closing = Some(close_frame(CloseCode::Policy, "session ended"));
                    break;
                }
            }
        }
    }
    if let Some(frame) = closing {
        let _ = send(&mut sink, frame).await;
        let _ = timeout(Duration::from_secs(2), sink.close()).await;
    }
    log::debug!("/ws: {owner} disconnected");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_handshake_needs_upgrade_version_and_key() {
        let good = [
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        // RFC 6455's own example.
        assert_eq!(
            handshake_accept(&headers(&good)).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let plain_get = handshake_accept(&headers(&[])).unwrap_err();
        assert_eq!(plain_get.status, StatusCode::UPGRADE_REQUIRED);
        let old = headers(&[
            ("upgrade", "websocket"),
            ("connection", "upgrade"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "x"),
        ]);
        assert_eq!(
            handshake_accept(&old).unwrap_err().status,
            StatusCode::UPGRADE_REQUIRED
        );
        let keyless = headers(&good[..3]);
        assert_eq!(
            handshake_accept(&keyless).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
