//! Media for the simulated phones, done as a WhatsApp phone does it (§8.4, §9 of the protocol notes).
//!
//! Sending: the phone gets the file (a `mediaUrl` it fetches itself, or `mediaBase64`), picks a random
//! media key, encrypts with the HKDF info of the media type, uploads `enc ‖ mac` to its simulator's
//! media host and sends an `imageMessage`/`videoMessage`/`audioMessage`/`documentMessage`/
//! `stickerMessage` with url, mimetype, both hashes, length, media key, direct path and key timestamp
//! (a document with a caption goes inside `documentWithCaptionMessage`, as Baileys sends it), in a
//! `type="media"` stanza whose `<enc>` nodes carry `mediatype`.
//!
//! Receiving: a phone that gets a media message downloads it by direct path, checks `fileEncSha256`,
//! the MAC and `fileSha256`, and keeps the plaintext for `GET /sim/phones/{phone}/media/{id}`.

mod message;

use super::control::{error_response, json_response};
use super::phone_messages::{send_content, PhoneSendError};
use super::Shared;
use crate::protocol::crypto::{random_bytes, sha256};
use crate::protocol::media::{self, MediaKeys};
use crate::protocol::proto::generated::Message;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use message::{download_fields, media_message, Download, Kind, Outgoing, Uploaded};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// Largest control request body for a media send: base64 of a largest upload plus the JSON around it.
pub(crate) const MAX_MEDIA_CONTROL_BODY: usize = super::media_host::MAX_UPLOAD / 3 * 4 + 64 * 1024;
/// Most decrypted bytes the phones keep in total; the oldest files are forgotten beyond it.
const MAX_RECEIVED_BYTES: usize = 64 << 20;
/// How long a phone waits for a `mediaUrl`.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

/// What a received media message holds, as the control API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaSummary {
    /// `image`, `video`, `audio`, `document` or `sticker`.
    #[serde(rename = "type")]
    pub kind: String,
    pub mimetype: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// Plaintext length.
    pub size: u64,
    /// Lowercase hex SHA-256 of the plaintext.
    pub sha256: String,
    /// Why the download failed (then `size` and `sha256` are what the message declared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Default)]
struct Received {
    /// Decrypted files by (phone, message id), with their mimetype.
    files: HashMap<(String, String), (Bytes, String)>,
    order: VecDeque<(String, String)>,
    total: usize,
}

/// The media the phones received, decrypted, and the media messages they sent (one per simulator).
#[derive(Default)]
pub(crate) struct PhoneMedia {
    /// Fetches a `mediaUrl`; `None` = [`fetch`] (any http(s) address). An embedding server sets
    /// its own, so that a control API on its listener cannot reach addresses it refuses.
    url_fetcher: std::sync::RwLock<Option<UrlFetcher>>,
    received: Mutex<Received>,
    /// Media messages sent, by (phone, message id), oldest first, for resends after retry receipts.
    sent: Mutex<VecDeque<((String, String), Message)>>,
}

/// Most sent media messages remembered for resends.
const MAX_SENT: usize = 1000;

/// Remembers a media message `phone` sent, so a retry receipt resends the same content.
pub(super) fn remember_sent(shared: &Shared, phone: &str, id: &str, message: &Message) {
    let mut sent = shared
        .phone_media
        .sent
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if sent.len() >= MAX_SENT {
        sent.pop_front();
    }
    sent.push_back(((phone.to_string(), id.to_string()), message.clone()));
}

/// The media message `phone` sent as `id`, if it was one.
pub(super) fn sent_content(shared: &Shared, phone: &str, id: &str) -> Option<Message> {
    let sent = shared
        .phone_media
        .sent
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    sent.iter()
        .rev()
        .find(|((p, i), _)| p == phone && i == id)
        .map(|(_, m)| m.clone())
}

impl PhoneMedia {
    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, phone: &str, id: &str, data: Bytes, mimetype: String) {
        let mut r = self.lock();
        let key = (phone.to_string(), id.to_string());
        if let Some((old, _)) = r.files.remove(&key) {
            r.total -= old.len();
            r.order.retain(|k| k != &key);
        }
        while r.total + data.len() > MAX_RECEIVED_BYTES {
            let Some(oldest) = r.order.pop_front() else {
                break;
            };
            if let Some((old, _)) = r.files.remove(&oldest) {
                r.total -= old.len();
            }
        }
        r.total += data.len();
        r.order.push_back(key.clone());
        r.files.insert(key, (data, mimetype));
    }

    fn get(&self, phone: &str, id: &str) -> Option<(Bytes, String)> {
        self.lock()
            .files
            .get(&(phone.to_string(), id.to_string()))
            .cloned()
    }
}

/// Encrypts `file` with a fresh media key and stores it on the simulator's media host.
fn encrypt_and_upload(shared: &Shared, file: &Outgoing) -> Result<Uploaded, String> {
    let media_key = random_bytes::<32>();
    let media_type = file.kind.media_type();
    let encrypted = media::encrypt(&MediaKeys::derive(&media_key, media_type), &file.bytes);
    let stored = shared
        .media
        .store(
            media_type.upload_path(),
            Bytes::from(encrypted.data),
            "application/octet-stream",
        )
        .map_err(|_| "the media host refused the upload (too large)".to_string())?;
    Ok(Uploaded {
        url: stored.url,
        direct_path: stored.direct_path,
        media_key: media_key.to_vec(),
        file_sha256: encrypted.file_sha256.to_vec(),
        file_enc_sha256: encrypted.file_enc_sha256.to_vec(),
        file_length: encrypted.file_length,
        media_key_timestamp: i64::try_from(super::registry::unix_now()).unwrap_or_default(),
    })
}

/// The path part of a media `url` (`http://host/v/...?...` → `/v/...?...`).
fn url_path(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.find('/').and_then(|i| rest.get(i..))
}

/// Downloads, verifies and decrypts the media of `message` for `phone`, keeping the plaintext; `None`
/// when the message carries no media. Called for every message a phone puts in its inbox.
pub(super) fn on_received(
    shared: &Shared,
    phone: &str,
    id: &str,
    message: &Message,
) -> Option<MediaSummary> {
    let d = download_fields(message)?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut summary = MediaSummary {
        kind: d.kind.to_string(),
        mimetype: d.mimetype.map(str::to_string),
        filename: d.filename.map(str::to_string),
        caption: d.caption.map(str::to_string),
        size: d.file_length.unwrap_or_default(),
        sha256: d.file_sha256.map(hex).unwrap_or_default(),
        error: None,
    };
    match download(shared, &d) {
        Ok(plain) => {
            summary.size = plain.len() as u64;
            summary.sha256 = hex(&sha256(&plain));
            let mimetype = summary
                .mimetype
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_string());
            shared
                .phone_media
                .keep(phone, id, Bytes::from(plain), mimetype);
        }
        Err(e) => {
            log::info!("simulator: phone {phone} cannot download media of {id}: {e}");
            summary.error = Some(e);
        }
    }
    Some(summary)
}

fn download(shared: &Shared, d: &Download<'_>) -> Result<Vec<u8>, String> {
    let path = d
        .direct_path
        .or_else(|| d.url.and_then(url_path))
        .ok_or("the message has neither directPath nor url")?;
    let key: [u8; 32] = d
        .media_key
        .and_then(|k| k.try_into().ok())
        .ok_or("the message has no 32-byte mediaKey")?;
    let (data, _) = shared
        .media
        .fetch(path)
        .ok_or("the media host has nothing at that path (404)")?;
    let (Some(enc_sha), Some(plain_sha)) = (d.file_enc_sha256, d.file_sha256) else {
        return Err("the message lacks fileEncSha256 or fileSha256".to_string());
    };
    media::decrypt_verified(
        &MediaKeys::derive(&key, d.media_type),
        &data,
        enc_sha,
        plain_sha,
    )
    .map_err(|e| e.to_string())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaSend {
    to: String,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    media_url: Option<String>,
    #[serde(default)]
    media_base64: Option<String>,
    #[serde(default)]
    mimetype: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    /// Taken as the caption when `caption` is absent.
    #[serde(default)]
    text: Option<String>,
}

/// True when a control request body may be large (a media send with `mediaBase64`).
pub(crate) fn takes_large_body(path: &str) -> bool {
    path.starts_with("/sim/phones/") && path.trim_end_matches('/').ends_with("/messages")
}

/// The media control routes: a media send (`POST /sim/phones/{phone}/messages` with `mediaUrl`,
/// `mediaBase64` or `mediaType`) and `GET /sim/phones/{phone}/media/{id}`; `None` for anything else.
pub(super) async fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    match (method, segments) {
        (&Method::POST, ["phones", phone, "messages"]) => {
            let send: MediaSend = serde_json::from_slice(body).ok()?;
            if send.media_url.is_none() && send.media_base64.is_none() && send.media_type.is_none()
            {
                return None;
            }
            Some(send_media(shared, phone, send).await)
        }
        (&Method::POST, ["phones", phone, "reactions"]) => Some(send_reaction(shared, phone, body)),
        (&Method::GET, ["phones", phone, "media", id]) => {
            Some(match shared.phone_media.get(phone, id) {
                Some((data, mimetype)) => {
                    let mut response = Response::new(Full::new(data));
                    if let Ok(v) = hyper::header::HeaderValue::from_str(&mimetype) {
                        response
                            .headers_mut()
                            .insert(hyper::header::CONTENT_TYPE, v);
                    }
                    response
                }
                None => error_response(
                    StatusCode::NOT_FOUND,
                    "MEDIA_NOT_FOUND",
                    "the phone holds no downloaded media for this message id",
                ),
            })
        }
        _ => None,
    }
}

/// `POST /sim/phones/{phone}/reactions {"to", "id", "emoji", "fromMe"?}`: the phone reacts to
/// message `id` of its chat with `to` (`fromMe`: the phone sent that message; default false, a
/// message it received); an empty emoji takes the reaction back.
fn send_reaction(shared: &Shared, phone: &str, body: &[u8]) -> Response<Full<Bytes>> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ReactionSend {
        to: String,
        id: String,
        emoji: String,
        #[serde(default)]
        from_me: bool,
    }
    let send: ReactionSend = match serde_json::from_slice(body) {
        Ok(send) => send,
        Err(e) => return invalid("VALIDATION_ERROR", &format!("invalid body: {e}")),
    };
    if send.id.trim().is_empty() {
        return invalid("VALIDATION_ERROR", "id is required");
    }
    let chat = crate::protocol::jid::Jid::parse(&send.to)
        .unwrap_or_else(|_| crate::protocol::jid::Jid::phone(send.to.trim_start_matches('+')));
    let message = crate::engine::media::reaction::reaction_message(
        &chat,
        send.id.trim(),
        send.from_me,
        &send.emoji,
    );
    sent_answer(send_content(shared, phone, &send.to, message, &send.emoji))
}

/// The control API's answer to a phone's 1:1 send.
fn sent_answer(sent: Result<String, PhoneSendError>) -> Response<Full<Bytes>> {
    match sent {
        Ok(id) => json_response(StatusCode::CREATED, &json!({ "id": id })),
        Err(PhoneSendError::PhoneNotFound) => {
            error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone")
        }
        Err(PhoneSendError::RecipientNotFound) => error_response(
            StatusCode::NOT_FOUND,
            "RECIPIENT_NOT_FOUND",
            "the recipient is not a simulated account",
        ),
        Err(PhoneSendError::Crypto(e)) => {
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "CRYPTO_ERROR", &e)
        }
    }
}

fn invalid(code: &str, message: &str) -> Response<Full<Bytes>> {
    error_response(StatusCode::BAD_REQUEST, code, message)
}

async fn send_media(shared: &Shared, phone: &str, send: MediaSend) -> Response<Full<Bytes>> {
    if shared.registry.phone(phone).is_none() {
        return error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone");
    }
    let to_jid = crate::protocol::jid::Jid::parse(&send.to).ok();
    let to_group = to_jid
        .as_ref()
        .filter(|j| j.server == crate::protocol::jid::Server::Group)
        .map(|j| j.user.clone());
    if matches!(
        to_jid.as_ref().map(|j| &j.server),
        Some(crate::protocol::jid::Server::Newsletter | crate::protocol::jid::Server::Broadcast)
    ) {
        return invalid(
            "UNSUPPORTED_TARGET",
            "simulated phones send media to accounts and groups, not to channels or broadcasts",
        );
    }
    let declared_kind = match send.media_type.as_deref().map(Kind::parse) {
        Some(None) => {
            return invalid(
                "VALIDATION_ERROR",
                "mediaType must be image, video, audio, document or sticker",
            )
        }
        Some(Some(kind)) => Some(kind),
        None => None,
    };
    let fetched = match (&send.media_base64, &send.media_url) {
        (Some(b64), _) => match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(bytes) => Fetched {
                bytes,
                content_type: None,
                name: None,
            },
            Err(e) => return invalid("VALIDATION_ERROR", &format!("mediaBase64: {e}")),
        },
        (None, Some(url)) => {
            let url = url.clone();
            let fetcher = (shared.phone_media.url_fetcher.read())
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let fetched = tokio::task::spawn_blocking(move || match fetcher {
                Some(fetcher) => fetcher(&url),
                None => fetch(&url),
            })
            .await;
            match fetched {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    return error_response(StatusCode::BAD_REQUEST, "MEDIA_FETCH_FAILED", &e)
                }
                Err(_) => {
                    return error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "MEDIA_FETCH_FAILED",
                        "the fetch task failed",
                    )
                }
            }
        }
        (None, None) => return invalid("VALIDATION_ERROR", "mediaUrl or mediaBase64 is required"),
    };
    let Fetched {
        bytes,
        content_type,
        name,
    } = fetched;
    if bytes.is_empty() {
        return invalid("VALIDATION_ERROR", "the media is empty");
    }
    if bytes.len() > super::media_host::MAX_UPLOAD {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "MEDIA_TOO_LARGE",
            "the media is larger than the host accepts",
        );
    }
    let mimetype_hint = send.mimetype.clone().or(content_type);
    let kind = declared_kind
        .or_else(|| mimetype_hint.as_deref().map(Kind::from_mimetype))
        .unwrap_or(Kind::Document);
    let file = Outgoing {
        kind,
        mimetype: mimetype_hint.unwrap_or_else(|| kind.default_mimetype().to_string()),
        filename: send.filename.or(name),
        caption: send.caption.or(send.text),
        bytes,
    };
    let uploaded = match encrypt_and_upload(shared, &file) {
        Ok(up) => up,
        Err(e) => return error_response(StatusCode::PAYLOAD_TOO_LARGE, "MEDIA_TOO_LARGE", &e),
    };
    let message = media_message(&file, uploaded);
    let shown = file.caption.clone().unwrap_or_default();
    if let Some(group) = to_group {
        return match super::groups::phone_send_content(shared, phone, &group, &message) {
            Ok(id) => json_response(StatusCode::CREATED, &json!({ "id": id })),
            Err((status, code, message)) => error_response(status, code, &message),
        };
    }
    sent_answer(send_content(shared, phone, &send.to, message, &shown))
}

/// The file a phone is given: its bytes, and for a `mediaUrl` the Content-Type and the last path
/// segment (a file name).
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub name: Option<String>,
}

/// How phones fetch a `mediaUrl` (see [`crate::simulator::Simulator::set_url_fetcher`]).
pub type UrlFetcher = Arc<dyn Fn(&str) -> Result<Fetched, String> + Send + Sync>;

/// Replaces how phones fetch a `mediaUrl`.
pub(crate) fn set_url_fetcher(shared: &Shared, fetcher: UrlFetcher) {
    let mut slot = (shared.phone_media.url_fetcher.write()).unwrap_or_else(|e| e.into_inner());
    *slot = Some(fetcher);
}

/// Fetches `url` as the phone's browser would (http or https, any host: the simulator is a test
/// tool on loopback); returns the bytes, the Content-Type and the last path segment as a file name.
fn fetch(url: &str) -> Result<Fetched, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("mediaUrl must be an http:// or https:// URL".to_string());
    }
    let response = ureq::get(url)
        .timeout(FETCH_TIMEOUT)
        .call()
        .map_err(|e| format!("fetching mediaUrl failed: {e}"))?;
    let content_type = response
        .header("content-type")
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.starts_with("application/octet-stream"))
        .map(str::to_string);
    let limit = super::media_host::MAX_UPLOAD as u64 + 1;
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading mediaUrl failed: {e}"))?;
    let name = url
        .split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty() && !n.contains(':'))
        .map(str::to_string);
    Ok(Fetched {
        bytes,
        content_type,
        name,
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_and_kinds() {
        assert_eq!(
            url_path("http://127.0.0.1:5/v/t62.7118-24/a.enc?ccb=1"),
            Some("/v/t62.7118-24/a.enc?ccb=1")
        );
        assert_eq!(url_path("nonsense"), None);
        assert_eq!(Kind::from_mimetype("image/png"), Kind::Image);
        assert_eq!(Kind::from_mimetype("application/pdf"), Kind::Document);
        assert_eq!(Kind::parse("gif"), None);
    }

    #[test]
    fn received_files_are_bounded() {
        let media = PhoneMedia::default();
        media.keep(
            "1",
            "a",
            Bytes::from(vec![0u8; MAX_RECEIVED_BYTES / 2]),
            "x".into(),
        );
        media.keep(
            "1",
            "b",
            Bytes::from(vec![0u8; MAX_RECEIVED_BYTES / 2]),
            "x".into(),
        );
        media.keep("1", "c", Bytes::from(vec![0u8; 10]), "x".into());
        assert!(media.get("1", "a").is_none());
        assert!(media.get("1", "b").is_some());
        assert_eq!(media.get("1", "c").unwrap().1, "x");
    }
}
