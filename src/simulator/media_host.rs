//! The simulator's media host (§9 and §13.1 item 10 of the protocol notes): what `mmg.whatsapp.net`
//! does for clients, on the simulator's own HTTP listener.
//!
//! - `media_conn` iq: a fresh upload `auth` token and the host (the address clients reached us on).
//! - `POST /mms/{type}/{token}?auth=..&token=..`: stores the body (`enc ‖ mac`) as it is — the server
//!   never holds a media key — after checking the auth token and that the path token is the body's
//!   SHA-256 (`fileEncSha256`, base64url with or without padding). Answers `{url, direct_path}`.
//! - `POST /newsletter/newsletter-{type}/{hash}?auth=..`: channel media, unencrypted; the hash is the
//!   plaintext's SHA-256. Answers `{url, direct_path, handle}`.
//! - `GET {direct_path}`: the stored bytes; the query (`ccb`, `oh`, `oe`, and whatever a client appends
//!   such as `hash`, `mms-type`, `__wa-mms`) is ignored.
//!
//! Stored bytes are bounded in total; the oldest uploads are evicted first, after which their direct
//! paths answer 404 (as expired media does on WhatsApp).

use super::control::{error_response, json_response};
use super::registry::unix_now;
use crate::protocol::binary::Node;
use crate::protocol::crypto::{constant_time_eq, random_bytes, sha256};
use crate::protocol::jid::Jid;
use crate::protocol::media::MediaType;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;

/// Largest single upload, in bytes (also announced as `maxContentLengthBytes`).
pub const MAX_UPLOAD: usize = 16 << 20;
/// Most bytes kept across all uploads; older ones are evicted beyond it.
pub const MAX_STORED: usize = 64 << 20;
/// `ttl` of a `media_conn` answer: how long a client may cache the host list.
const CONN_TTL: u64 = 300;
/// `auth_ttl`: how long an upload token stays valid.
const AUTH_TTL: u64 = 21_600;
/// `max_buckets` of a `media_conn` answer (what WhatsApp sends; clients only store it).
const MAX_BUCKETS: u32 = 12;
/// Upload tokens remembered at once; the oldest is forgotten beyond it.
const MAX_AUTHS: usize = 512;

const BASE64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Size limits of a media host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// Largest single upload.
    pub max_upload: usize,
    /// Most bytes stored in total.
    pub max_stored: usize,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_upload: MAX_UPLOAD,
            max_stored: MAX_STORED,
        }
    }
}

/// Where an upload was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMedia {
    /// `/v/t62.…/<id>.enc?ccb=…&oh=…&oe=…`, what a message's `directPath` carries.
    pub direct_path: String,
    /// `http://HOST{direct_path}`, what a message's `url` carries.
    pub url: String,
}

/// Why the host refused an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// Larger than [`MediaLimits::max_upload`].
    TooLarge,
}

struct Blob {
    data: Bytes,
    content_type: String,
}

#[derive(Default)]
struct HostState {
    /// Upload tokens handed out, with their expiry (Unix seconds), oldest first.
    auths: VecDeque<(String, u64)>,
    /// Stored bytes by direct path without its query.
    blobs: HashMap<String, Blob>,
    /// Keys of `blobs`, oldest first (eviction order).
    order: VecDeque<String>,
    stored_bytes: usize,
    /// The address the simulator listens on, when served by `Simulator::serve`.
    listener: Option<SocketAddr>,
    /// True when that listener speaks TLS (`https://` URLs).
    tls: bool,
    /// `host:port` a client named in its `Host` header, used when the listener address alone cannot
    /// be given out (bound to `0.0.0.0`, or embedded in another server).
    named: Option<String>,
}

/// The media host's state (one per simulator).
pub(crate) struct MediaHost {
    state: Mutex<HostState>,
    limits: MediaLimits,
}

impl Default for MediaHost {
    fn default() -> Self {
        MediaHost::with_limits(MediaLimits::default())
    }
}

impl MediaHost {
    pub(crate) fn with_limits(limits: MediaLimits) -> MediaHost {
        MediaHost {
            state: Mutex::new(HostState::default()),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HostState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the address the simulator listens on and whether it speaks TLS.
    pub(crate) fn set_listener(&self, addr: SocketAddr, tls: bool) {
        let mut state = self.lock();
        state.listener = Some(addr);
        state.tls = tls;
    }

    /// Considers the `Host` header of a client's request. A specific listener address always wins
    /// (so no client can point the others elsewhere); on an unspecified one (`0.0.0.0:PORT`) only a
    /// name with the listener's port is taken; embedded without a listener, any plausible name.
    pub(crate) fn note_request_host(&self, host: &str) {
        let host = host.trim();
        let plausible = !host.is_empty()
            && host.len() <= 255
            && host
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'@');
        if !plausible {
            return;
        }
        let mut state = self.lock();
        let accept = match state.listener {
            Some(addr) if !addr.ip().is_unspecified() => false,
            Some(addr) => host
                .rsplit_once(':')
                .is_some_and(|(_, port)| port == addr.port().to_string()),
            None => true,
        };
        if accept {
            state.named = Some(host.to_string());
        }
    }

    /// The `hostname` given to clients: the listener's `IP:PORT`, else the name a client used.
    pub(crate) fn host(&self) -> String {
        host_of(&self.lock())
    }

    /// A fresh upload token. Like WhatsApp's it is standard base64 (with `+`, `/`, `=`), so a client
    /// must URL-encode it in the query.
    pub(crate) fn issue_auth(&self) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(random_bytes::<30>());
        let now = unix_now();
        let mut state = self.lock();
        state.auths.retain(|(_, expires)| *expires > now);
        while state.auths.len() >= MAX_AUTHS {
            state.auths.pop_front();
        }
        state.auths.push_back((token.clone(), now + AUTH_TTL));
        token
    }

    fn auth_valid(&self, auth: &str) -> bool {
        let now = unix_now();
        self.lock().auths.iter().any(|(token, expires)| {
            *expires > now && constant_time_eq(token.as_bytes(), auth.as_bytes())
        })
    }

    /// `<iq type="result"><media_conn auth ttl auth_ttl max_buckets><host hostname/></media_conn></iq>`.
    pub(crate) fn media_conn_reply(&self, id: &str) -> Node {
        let conn = Node::new("media_conn")
            .with_attr("auth", self.issue_auth())
            .with_attr("ttl", CONN_TTL)
            .with_attr("auth_ttl", AUTH_TTL)
            .with_attr("max_buckets", MAX_BUCKETS)
            .with_child(
                Node::new("host")
                    .with_attr("hostname", self.host())
                    .with_attr("maxContentLengthBytes", self.limits.max_upload),
            );
        Node::new("iq")
            .with_attr("from", Jid::server_jid())
            .with_attr("type", "result")
            .with_attr("id", id)
            .with_child(conn)
    }

    /// Stores `data` under a fresh direct path for media of upload type `kind` (`image`, …).
    pub(crate) fn store(
        &self,
        kind: &str,
        data: Bytes,
        content_type: &str,
    ) -> Result<StoredMedia, UploadError> {
        if data.len() > self.limits.max_upload || data.len() > self.limits.max_stored {
            return Err(UploadError::TooLarge);
        }
        let id = BASE64URL.encode(random_bytes::<18>());
        let object = format!("/v/{}/{id}.enc", path_class(kind));
        let expires = unix_now() + 30 * 24 * 3600;
        let oh = BASE64URL.encode(&sha256(object.as_bytes())[..12]);
        let direct_path = format!("{object}?ccb=11-4&oh=01_{oh}&oe={expires:X}&_nc_sid=5e03e0");
        let mut state = self.lock();
        while state.stored_bytes + data.len() > self.limits.max_stored {
            let Some(oldest) = state.order.pop_front() else {
                break;
            };
            if let Some(blob) = state.blobs.remove(&oldest) {
                state.stored_bytes -= blob.data.len();
            }
        }
        state.stored_bytes += data.len();
        state.order.push_back(object.clone());
        state.blobs.insert(
            object,
            Blob {
                data,
                content_type: content_type.to_string(),
            },
        );
        let scheme = if state.tls { "https" } else { "http" };
        let url = format!("{scheme}://{}{direct_path}", host_of(&state));
        Ok(StoredMedia { direct_path, url })
    }

    /// The bytes stored at `path` (a direct path; its query is ignored) and their content type.
    pub(crate) fn fetch(&self, path: &str) -> Option<(Bytes, String)> {
        let object = path.split('?').next().unwrap_or_default();
        self.lock()
            .blobs
            .get(object)
            .map(|b| (b.data.clone(), b.content_type.clone()))
    }

    /// Bytes stored right now (all uploads still held).
    #[cfg(test)]
    pub(crate) fn stored_bytes(&self) -> usize {
        self.lock().stored_bytes
    }
}

fn host_of(state: &HostState) -> String {
    match (state.listener, &state.named) {
        (Some(addr), _) if !addr.ip().is_unspecified() => addr.to_string(),
        (_, Some(named)) => named.clone(),
        (Some(addr), None) => format!("127.0.0.1:{}", addr.port()),
        (None, None) => "127.0.0.1".to_string(),
    }
}

/// The `t62.*` class of a direct path; WhatsApp's differ by media type (the number has no meaning to
/// clients, which treat the direct path as opaque).
fn path_class(kind: &str) -> &'static str {
    match kind {
        "image" => "t62.7118-24",
        "video" => "t62.7161-24",
        "audio" => "t62.7114-24",
        "document" => "t62.7119-24",
        "md-msg-hist" | "md-app-state" => "t62.36145-24",
        _ => "t62.15575-24",
    }
}

/// True for the paths the media host serves.
pub(crate) fn is_media_path(path: &str) -> bool {
    path.starts_with("/mms/") || path.starts_with("/newsletter/") || path.starts_with("/v/")
}

/// One query parameter, percent-decoded (`+` is a space, as in forms).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves one media request (see the module docs).
pub(crate) async fn handle<B>(host: &MediaHost, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    if let Some(h) = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        host.note_request_host(h);
    }
    let method = req.method().clone();
    if path.starts_with("/v/") {
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed();
        }
        return match host.fetch(&path) {
            Some((data, content_type)) => {
                let body = if method == Method::HEAD {
                    Bytes::new()
                } else {
                    data.clone()
                };
                let mut response = Response::new(Full::new(body));
                let headers = response.headers_mut();
                if let Ok(v) = hyper::header::HeaderValue::from_str(&content_type) {
                    headers.insert(hyper::header::CONTENT_TYPE, v);
                }
                headers.insert(hyper::header::CONTENT_LENGTH, data.len().into());
                response
            }
            None => error_response(
                StatusCode::NOT_FOUND,
                "MEDIA_NOT_FOUND",
                "no media at this path",
            ),
        };
    }
    if method != Method::POST {
        return method_not_allowed();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (kind, token, plain) = match segments.as_slice() {
        ["mms", kind, token] if is_upload_type(kind) => {
            (kind.to_string(), token.to_string(), false)
        }
        ["newsletter", kind, hash] => match kind.strip_prefix("newsletter-") {
            Some(kind) if is_upload_type(kind) => (kind.to_string(), hash.to_string(), true),
            _ => return unknown_type(),
        },
        _ => return unknown_type(),
    };
    let auth = query_param(&query, "auth").unwrap_or_default();
    if !host.auth_valid(&auth) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "BAD_AUTH",
            "missing, unknown or expired auth token (ask media_conn for one)",
        );
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > host.limits.max_upload) {
        return too_large();
    }
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| plain && v.len() <= 100)
        .unwrap_or("application/octet-stream")
        .to_string();
    let body = match Limited::new(req.into_body(), host.limits.max_upload)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return too_large(),
    };
    let expected = BASE64URL
        .decode(token.trim_end_matches('='))
        .unwrap_or_default();
    if !constant_time_eq(&sha256(&body), &expected) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "HASH_MISMATCH",
            "the path token is not the base64url SHA-256 of the body",
        );
    }
    match host.store(&kind, body, &content_type) {
        Ok(stored) => {
            let mut answer = json!({ "url": stored.url, "direct_path": stored.direct_path });
            if plain {
                answer["handle"] = json!(BASE64URL.encode(random_bytes::<24>()));
            }
            json_response(StatusCode::OK, &answer)
        }
        Err(UploadError::TooLarge) => too_large(),
    }
}

fn is_upload_type(kind: &str) -> bool {
    MediaType::ALL.iter().any(|t| t.upload_path() == kind)
}

fn unknown_type() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::NOT_FOUND,
        "ROUTE_NOT_FOUND",
        "unknown media upload path",
    )
}

fn method_not_allowed() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "uploads are POST, downloads GET",
    )
}

fn too_large() -> Response<Full<Bytes>> {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "MEDIA_TOO_LARGE",
        "upload larger than the host accepts (see maxContentLengthBytes) or unreadable",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_uploads_are_evicted_beyond_the_total() {
        let host = MediaHost::with_limits(MediaLimits {
            max_upload: 100,
            max_stored: 250,
        });
        let first = host
            .store("image", Bytes::from(vec![1u8; 100]), "x")
            .unwrap();
        let second = host
            .store("image", Bytes::from(vec![2u8; 100]), "x")
            .unwrap();
        assert_eq!(host.stored_bytes(), 200);
        let third = host
            .store("video", Bytes::from(vec![3u8; 100]), "x")
            .unwrap();
        assert_eq!(host.stored_bytes(), 200);
        assert!(host.fetch(&first.direct_path).is_none());
        assert_eq!(host.fetch(&second.direct_path).unwrap().0[0], 2);
        assert_eq!(host.fetch(&third.direct_path).unwrap().0[0], 3);
        assert!(third.direct_path.starts_with("/v/t62.7161-24/"));
        assert_eq!(
            host.store("image", Bytes::from(vec![0u8; 101]), "x"),
            Err(UploadError::TooLarge)
        );
    }

    #[test]
    fn auth_tokens_are_the_issued_ones() {
        let host = MediaHost::default();
        let token = host.issue_auth();
        assert!(host.auth_valid(&token));
        assert!(!host.auth_valid(""));
        assert!(!host.auth_valid(&format!("{token}x")));
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let q = "auth=ab%2Bc%3D%3D&token=x&plus=a+b";
        assert_eq!(query_param(q, "auth").as_deref(), Some("ab+c=="));
        assert_eq!(query_param(q, "plus").as_deref(), Some("a b"));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn media_conn_names_the_host_and_a_valid_auth() {
        let host = MediaHost::default();
        host.set_listener("127.0.0.1:4567".parse().unwrap(), false);
        host.note_request_host("elsewhere.example:80");
        let reply = host.media_conn_reply("m1");
        let conn = reply.child("media_conn").unwrap();
        assert!(host.auth_valid(conn.attr("auth").unwrap()));
        assert_eq!(conn.attr("ttl"), Some("300"));
        assert_eq!(
            conn.child("host").and_then(|h| h.attr("hostname")),
            Some("127.0.0.1:4567")
        );
    }

    #[test]
    fn request_hosts_only_fill_in_what_the_listener_cannot_say() {
        let embedded = MediaHost::default();
        embedded.note_request_host("localhost:9000");
        assert_eq!(embedded.host(), "localhost:9000");
        let wildcard = MediaHost::default();
        wildcard.set_listener("0.0.0.0:7000".parse().unwrap(), true);
        assert_eq!(wildcard.host(), "127.0.0.1:7000");
        wildcard.note_request_host("10.0.0.5:8000");
        assert_eq!(wildcard.host(), "127.0.0.1:7000");
        wildcard.note_request_host("10.0.0.5:7000");
        assert_eq!(wildcard.host(), "10.0.0.5:7000");
        wildcard.note_request_host("bad host/");
        assert_eq!(wildcard.host(), "10.0.0.5:7000");
        let stored = wildcard
            .store("image", Bytes::from_static(b"x"), "x")
            .unwrap();
        assert!(
            stored.url.starts_with("https://10.0.0.5:7000/v/"),
            "{}",
            stored.url
        );
    }
}
