//! The request pipeline: route lookup, rate limits, authentication, the cross-site check, the
//! handler, the dashboard fallback, error mapping, security events and the access log line.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use super::auth::{self, Credential};
use super::client_ip::{self, TrustedProxies};
use super::error::ApiError;
use super::handlers::Answer;
use super::rate_limit::{Limiter, RateLimits};
use super::request::{self, Fields};
use super::response::{self, Body};
use super::routes::{Access, Limit, Route, Router, Verb, ROUTES};
use crate::services::app_log::{push_memoized, Memo};
use crate::services::{App, Caller};

/// Refusals per IP per minute that are stored as security events (the rest are only logged).
const REFUSAL_EVENTS_PER_MINUTE: u32 = 30;

/// Everything the pipeline shares across requests.
pub struct HttpState {
    pub app: Arc<App>,
    pub router: Router,
    pub limits: RateLimits,
    pub trusted: TrustedProxies,
    pub max_body: usize,
    /// Caps how many refusals (401/403/429) per IP become stored security events, so a flood of
    /// bad requests cannot turn into a flood of database writes.
    pub refusal_events: Limiter,
    /// GET /healthz's answer: nothing in it changes while the process runs.
    pub health_body: Bytes,
}

impl HttpState {
    pub fn new(app: Arc<App>) -> Result<HttpState, String> {
        let cfg = &app.config;
        let rl = &cfg.rate_limits;
        Ok(HttpState {
            router: Router::build(ROUTES)?,
            limits: RateLimits::new(
                rl.sensitive_per_hour,
                rl.deletes_per_15min,
                rl.api_per_15min,
                rl.chat_per_minute,
            ),
            trusted: TrustedProxies::parse(&cfg.server.trusted_proxies)
                .map_err(|e| e.to_string())?,
            max_body: usize::try_from(cfg.server.max_body_bytes).unwrap_or(usize::MAX),
            refusal_events: Limiter::new(
                "refusal-events",
                REFUSAL_EVENTS_PER_MINUTE,
                Duration::from_secs(60),
            ),
            health_body: health_body(app.whatsapp.is_sandbox()),
            app,
        })
    }
}

fn health_body(sandbox: bool) -> Bytes {
    #[derive(serde::Serialize)]
    struct Health {
        status: &'static str,
        version: &'static str,
        sandbox: bool,
    }
    let health = Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        sandbox,
    };
    serde_json::to_vec(&health).map_or_else(|_| Bytes::new(), Bytes::from)
}

/// The pipeline's state as one connection holds it. Requests clone it, and every connection has
/// its own reference count ([`ConnState::for_new_connection`]): clones of one shared `Arc` from
/// every request made the worker threads take turns on that count's cache line.
#[derive(Clone)]
// The second allocation is the point: it is the connection's own count.
#[allow(clippy::redundant_allocation)]
pub struct ConnState(Arc<Arc<HttpState>>);

impl ConnState {
    pub fn new(state: Arc<HttpState>) -> ConnState {
        ConnState(Arc::new(state))
    }

    /// A handle with a count of its own, for a new connection.
    pub fn for_new_connection(&self) -> ConnState {
        ConnState(Arc::new(Arc::clone(&self.0)))
    }
}

impl std::ops::Deref for ConnState {
    type Target = HttpState;
    fn deref(&self) -> &HttpState {
        &self.0
    }
}

/// What a handler gets: the authenticated caller (if the route has one), path parameters, headers
/// and the whole body.
pub struct Ctx {
    pub state: ConnState,
    pub caller: Option<Caller>,
    pub params: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Bytes,
    pub ip: IpAddr,
    /// The client reached us over TLS (per a trusted proxy): cookies get `Secure`.
    pub tls: bool,
    /// The connection upgrade, for `GET /ws` (taken from the request's extensions).
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

impl Ctx {
    pub fn app(&self) -> &Arc<App> {
        &self.state.app
    }

    /// The caller of an authenticated route (the dispatcher guarantees it is set).
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("Authentication required."))
    }

    /// A path parameter by its name in the route table.
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::validation(name, format!("{name} is required.")))
    }

    pub fn json(&self) -> Result<Fields, ApiError> {
        request::json_object(&self.headers, &self.body)
    }

    pub fn json_or_form(&self) -> Result<Fields, ApiError> {
        request::json_or_form(&self.headers, &self.body)
    }

    /// Records a security event (failed login, key reset, deletion, ...).
    pub async fn security_event(&self, kind: &'static str, username: Option<&str>, detail: String) {
        record_security(
            &self.state,
            kind,
            self.ip,
            username.map(str::to_owned),
            detail,
        )
        .await;
    }
}

/// Runs blocking service work (redb transactions, argon2) off the async workers.
pub async fn blocking<T, F>(app: &Arc<App>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&App) -> Result<T, crate::services::Error> + Send + 'static,
{
    let app = app.clone();
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => {
            log::error!("service task failed: {e}");
            Err(ApiError::internal())
        }
    }
}

async fn record_security(
    state: &HttpState,
    kind: &'static str,
    ip: IpAddr,
    username: Option<String>,
    detail: String,
) {
    let app = state.app.clone();
    let event = crate::services::SecurityEvent {
        kind: kind.to_owned(),
        ip: Some(ip.to_string()),
        username,
        detail,
    };
    let stored = tokio::task::spawn_blocking(move || app.security.record(event)).await;
    match stored {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => log::warn!("could not record security event {kind}: {e}"),
        Err(e) => log::warn!("could not record security event {kind}: {e}"),
    }
}

/// Entry point from the connection layer.
///
/// Not an `async fn`, but one `async` block that borrows what it owns: an `async fn` keeps a
/// second copy of its by-value arguments, and hyper moves this future into place on every
/// request.
pub fn handle(
    state: ConnState,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> impl std::future::Future<Output = Response<Body>> + Send {
    let started = Instant::now();
    let (mut parts, body) = req.into_parts();
    // Forwarding headers only count from a trusted proxy; without one, do not even look them up.
    let forwarded = |name| match state.trusted.is_empty() {
        true => None,
        false => parts.headers.get(name).and_then(|v| v.to_str().ok()),
    };
    let ip = client_ip::client_ip(peer.ip(), forwarded("x-forwarded-for"), &state.trusted);
    let tls = client_ip::forwarded_tls(peer.ip(), forwarded("x-forwarded-proto"), &state.trusted);
    async move {
        let mut res = match route_request(&state, &mut parts, body, ip, tls, started).await {
            Ok(res) => res,
            Err(err) => {
                // Every refusal gets its access line; only the first few per IP and minute are
                // also stored, so a flood of bad requests is not a flood of database writes.
                let kind = security_kind(&err)
                    .filter(|_| !err.event_recorded)
                    .filter(|_| state.refusal_events.try_acquire_at(ip, started).is_ok());
                if let Some(kind) = kind {
                    Box::pin(record_security(
                        &state,
                        kind,
                        ip,
                        None,
                        format!("{} {} -> {}", parts.method, parts.uri.path(), err.code),
                    ))
                    .await;
                }
                err.into_response()
            }
        };
        finish(&state, &parts, &mut res, started, ip);
        res
    }
}

/// What every answer gets on its way out: the security headers and the access line.
fn finish(
    state: &HttpState,
    parts: &hyper::http::request::Parts,
    res: &mut Response<Body>,
    started: Instant,
    ip: IpAddr,
) {
    response::add_security_headers(res);
    if state.app.whatsapp.is_sandbox() {
        res.headers_mut()
            .insert("x-chattu-sandbox", HeaderValue::from_static("1"));
    }
    log_access(parts, res.status(), started.elapsed(), ip);
}

/// One line per request: `GET /api/profile 200 0ms 192.0.2.7`. Only the path is logged: query
/// strings may carry secrets. Written straight into the logger's line buffer, because it runs
/// for every request and the general formatter cost more than the rest of the line.
fn log_access(parts: &hyper::http::request::Parts, status: StatusCode, took: Duration, ip: IpAddr) {
    crate::services::app_log::write_line(log::Level::Info, module_path!(), |line| {
        write_access_line(line, parts, status, took, ip)
    });
}

fn write_access_line(
    line: &mut String,
    parts: &hyper::http::request::Parts,
    status: StatusCode,
    took: Duration,
    ip: IpAddr,
) {
    line.push_str(parts.method.as_str());
    line.push(' ');
    line.push_str(parts.uri.path());
    line.push(' ');
    line.push_str(status.as_str());
    line.push(' ');
    push_decimal(line, u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
    line.push_str("ms ");
    push_client(line, ip);
}

thread_local! {
    /// The client address this thread wrote last, and its text: a keep-alive connection sends
    /// request after request from one address, and formatting it was a third of the line's cost.
    static LAST_CLIENT: RefCell<Memo<IpAddr>> = const { RefCell::new(Memo::new()) };
}

fn push_client(line: &mut String, ip: IpAddr) {
    let made = |text: &mut String| {
        write_client(text, ip);
        true
    };
    if !push_memoized(&LAST_CLIENT, ip, line, made) {
        write_client(line, ip);
    }
}

fn write_client(line: &mut String, ip: IpAddr) {
    use std::fmt::Write as _;
    let _ = write!(line, "{ip}");
}

fn push_decimal(line: &mut String, value: u64) {
    // Most requests take under 10 ms: one digit.
    match u8::try_from(value) {
        Ok(digit @ 0..=9) => line.push(char::from(b'0' + digit)),
        _ => line.push_str(response::decimal_digits(value, &mut [0; 20])),
    }
}

/// Which errors are security events (401, 403, 429).
fn security_kind(err: &ApiError) -> Option<&'static str> {
    match err.status {
        StatusCode::UNAUTHORIZED => Some("auth_failed"),
        StatusCode::FORBIDDEN if err.code == "CROSS_SITE_REQUEST" => Some("cross_site_refused"),
        StatusCode::FORBIDDEN => Some("access_denied"),
        StatusCode::TOO_MANY_REQUESTS => Some("rate_limited"),
        _ => None,
    }
}

/// Routes one request. `parts` stays with the caller for the access log line; the handler gets
/// its headers (moved out) and extensions.
async fn route_request(
    state: &ConnState,
    parts: &mut hyper::http::request::Parts,
    body: Incoming,
    ip: IpAddr,
    tls: bool,
    arrived: Instant,
) -> Result<Response<Body>, ApiError> {
    let verb = Verb::from_method(&parts.method);
    let is_read = matches!(parts.method, Method::GET | Method::HEAD);
    let path = parts.uri.path();
    // The dashboard wants the query too (`/assets/app.css?v=<hash>` decides its caching).
    let path_and_query = parts.uri.path_and_query().map_or(path, |pq| pq.as_str());
    let dashboard_candidate = is_read && !path.starts_with("/api/") && path != "/api";
    // The simulator's control API exists only in sandbox mode (docs/sandbox.md).
    if path == "/sim" || path.starts_with("/sim/") {
        return match state.app.whatsapp.sandbox() {
            Some(sandbox) => {
                let req = Request::from_parts(clone_head(parts), body);
                // Boxed: this rare path's large future would otherwise enlarge every request's.
                Box::pin(super::handlers::whatsapp::sandbox_control(
                    sandbox.clone(),
                    req,
                    state.max_body,
                ))
                .await
            }
            None => Err(ApiError::route_not_found()),
        };
    }
    let Some(matched) = state.router.lookup(path) else {
        return if dashboard_candidate {
            dashboard(&parts.headers, path_and_query)
        } else {
            Err(ApiError::route_not_found())
        };
    };
    let Some(route) = verb.and_then(|v| matched.routes.find(v)) else {
        if dashboard_candidate {
            // e.g. GET /login: the route table has POST /login; the page itself is the dashboard's.
            if let Ok(res) = dashboard(&parts.headers, path_and_query) {
                return Ok(res);
            }
        }
        return Err(ApiError::method_not_allowed(matched.routes.allow_header()));
    };
    let params = matched.params;
    apply_limits(state, route, ip, arrived)?;
    let state_changing = auth::is_state_changing(&parts.method);
    let (caller, via_session) = authenticate(state, route, &parts.headers, state_changing)?;
    let login_route = route.access == Access::Public && route.verb == Verb::Post;
    if state_changing && (via_session || login_route) && auth::is_cross_site(&parts.headers) {
        return Err(ApiError::cross_site());
    }
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let body = if route.verb == Verb::Get {
        Bytes::new()
    } else {
        Box::pin(request::read_body(&parts.headers, body, state.max_body)).await?
    };
    let ctx = Ctx {
        state: state.clone(),
        caller,
        params,
        headers: std::mem::take(&mut parts.headers),
        query: parts.uri.query().map(str::to_owned),
        body,
        ip,
        tls,
        upgrade,
    };
    // A ready answer is returned here rather than awaited, so that it does not enlarge this
    // future: only the waiting kind's box is held across the await.
    match (route.handler)(ctx) {
        Answer::Ready(answer) => answer,
        Answer::Waiting(waiting) => waiting.await,
    }
}

/// A copy of a request head for a handler that needs a whole request (the simulator's control
/// API); the original stays with the pipeline for the access log. Extensions move across, so a
/// connection upgrade still reaches the handler.
fn clone_head(parts: &mut hyper::http::request::Parts) -> hyper::http::request::Parts {
    let (mut head, ()) = Request::new(()).into_parts();
    head.method = parts.method.clone();
    head.uri = parts.uri.clone();
    head.version = parts.version;
    head.headers = std::mem::take(&mut parts.headers);
    head.extensions = std::mem::take(&mut parts.extensions);
    head
}

/// Counts the request against its route's limits, as of when it arrived (one clock read per
/// request, shared with the access log).
fn apply_limits(
    state: &HttpState,
    route: &Route,
    ip: IpAddr,
    arrived: Instant,
) -> Result<(), ApiError> {
    for limit in route.limits {
        let l = &state.limits;
        let verdict = match limit {
            Limit::Api => l.api.try_acquire_at(ip, arrived),
            Limit::Sensitive => l.sensitive.try_acquire_at(ip, arrived),
            Limit::SensitiveFailures => l.sensitive.check_at(ip, arrived),
            Limit::Deletes => l.deletes.try_acquire_at(ip, arrived),
            Limit::Chat => l.chat.try_acquire_at(ip, arrived),
        };
        if let Err(retry) = verdict {
            return Err(ApiError::rate_limited(retry.secs()));
        }
    }
    Ok(())
}

/// Applies the route's access rule. Returns the caller and whether it came from the cookie (on
/// a public route: whether a cookie was sent with a state-changing request).
fn authenticate(
    state: &HttpState,
    route: &Route,
    headers: &HeaderMap,
    state_changing: bool,
) -> Result<(Option<Caller>, bool), ApiError> {
    let session_only = route.access == Access::SessionOnly;
    match route.access {
        Access::Public | Access::BodyCredentials => {
            // A cookie on a public route matters only to the cross-site check of a request that
            // changes state (logout); reads do not parse the Cookie header at all.
            Ok((
                None,
                state_changing && auth::session_token(headers).is_some(),
            ))
        }
        Access::KeyOrSession | Access::SessionOnly | Access::Admin => {
            // Key and session lookups are short redb reads: done inline, not on the blocking pool.
            let accounts = &state.app.accounts;
            let (caller, via_session) = match auth::credential(headers, session_only) {
                Credential::None => {
                    return Err(ApiError::unauthorized(if session_only {
                        "Log in to the dashboard: this route requires a session."
                    } else {
                        "Missing x-api-key header or session."
                    }))
                }
                Credential::ApiKey(_) if session_only => {
                    return Err(ApiError::unauthorized(
                        "This route requires a dashboard session; API keys are not accepted.",
                    ))
                }
                Credential::ApiKey(key) => (
                    accounts.authenticate_api_key(&key).map_err(ApiError::from),
                    false,
                ),
                Credential::Session(token) => (
                    accounts
                        .authenticate_session(&token)
                        .map_err(ApiError::from),
                    true,
                ),
            };
            let caller = caller.map_err(|e| {
                if e.code == "AUTH_ERROR" {
                    ApiError::unauthorized(if via_session {
                        "Session expired or invalid."
                    } else {
                        "Invalid API key."
                    })
                } else {
                    e
                }
            })?;
            if route.access == Access::Admin && !caller.is_admin() {
                return Err(ApiError::forbidden("Administrators only."));
            }
            Ok((Some(caller), via_session))
        }
    }
}

/// Serves a dashboard file, or 404 JSON.
fn dashboard(headers: &HeaderMap, path_and_query: &str) -> Result<Response<Body>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(asset) = super::assets::lookup(
        path_and_query,
        header("accept-encoding"),
        header("if-none-match"),
    ) else {
        return Err(ApiError::route_not_found());
    };
    let status = StatusCode::from_u16(asset.status).unwrap_or(StatusCode::OK);
    let mut res = response::bytes(status, asset.content_type, asset.body);
    for (name, value) in asset.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            res.headers_mut().append(n, v);
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_lines_name_method_path_status_time_and_client() {
        let head = |method: &str, uri: &str| {
            let req = Request::builder().method(method).uri(uri).body(()).unwrap();
            req.into_parts().0
        };
        // The line is appended to what the logger already wrote (time, level, target).
        let mut line = String::from("t INFO  x: ");
        let v4 = IpAddr::from([192, 0, 2, 7]);
        let get = head("GET", "/api/profile?secret=1");
        write_access_line(
            &mut line,
            &get,
            StatusCode::OK,
            Duration::from_micros(900),
            v4,
        );
        assert_eq!(line, "t INFO  x: GET /api/profile 200 0ms 192.0.2.7");
        line.clear();
        let delete = head("DELETE", "/clients/a%20b");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let took = Duration::from_millis(12_345);
        write_access_line(&mut line, &delete, StatusCode::TOO_MANY_REQUESTS, took, v6);
        assert_eq!(line, "DELETE /clients/a%20b 429 12345ms 2001:db8::1");
        line.clear();
        write_access_line(
            &mut line,
            &get,
            StatusCode::OK,
            Duration::ZERO,
            IpAddr::from([0; 4]),
        );
        assert_eq!(line, "GET /api/profile 200 0ms 0.0.0.0");
        // The text of the last address is reused; a different one replaces it.
        for (ip, text) in [(v4, "192.0.2.7"), (v4, "192.0.2.7"), (v6, "2001:db8::1")] {
            line.clear();
            write_access_line(&mut line, &get, StatusCode::OK, took, ip);
            assert_eq!(line, format!("GET /api/profile 200 12345ms {text}"));
        }
        let mut digits = String::new();
        for value in [0, 9, 10, 255, 1_000_007, u64::MAX] {
            digits.clear();
            push_decimal(&mut digits, value);
            assert_eq!(digits, value.to_string());
        }
    }

    /// hyper moves each request's future into its slot, so its size is paid on every request:
    /// an `async fn` in the chain keeps a second copy of its arguments, and that doubled it.
    #[test]
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn the_request_future_stays_small() {
        // Only the closure's type is used: it is never called.
        fn size_of_future<F>(_: impl FnOnce() -> F) -> usize {
            std::mem::size_of::<F>()
        }
        let served =
            size_of_future(|| crate::http::server::catch_panic(handle(todo!(), todo!(), todo!())));
        let head = std::mem::size_of::<hyper::http::request::Parts>();
        assert!(
            served < 4 * head,
            "the request future is {served} bytes ({head} for the head)"
        );
    }
}
