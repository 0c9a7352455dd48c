//! The HTTP side of media (§9): uploading an encrypted file (`POST /mms/{type}/{token}`), uploading a
//! channel file in the clear (`POST /newsletter/newsletter-{type}/{token}`), and downloading a
//! `directPath` from the media hosts with a size cap. Blocking (ureq): callers run these on tokio's
//! blocking pool.
//!
//! Downloads only ever go to the hosts of our own `media_conn` answer: the peer chooses the path,
//! never the host.

use super::conn::MediaConn;
use super::{MediaError, MediaScheme};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use std::io::Read;
use std::time::Duration;

/// WhatsApp Web's origin, sent with uploads as its client does.
const ORIGIN: &str = "https://web.whatsapp.com";
/// Largest upload answer read (it is a small JSON object).
const MAX_ANSWER: u64 = 64 * 1024;
/// Longest direct path accepted from a message.
const MAX_PATH_LEN: usize = 2048;
/// Bound on one whole upload or download: a host that trickles bytes cannot hold the engine's
/// receive worker longer than this.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// Where an uploaded file can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub url: String,
    pub direct_path: String,
    /// Channel uploads: the handle sent as `media_id` on the message.
    pub handle: Option<String>,
}

/// Why an upload failed: the host refused our auth (refresh `media_conn` and try again) or else.
#[derive(Debug)]
pub enum UploadFailure {
    AuthRefused,
    Failed(MediaError),
}

/// `base64url` without padding, as the `token` of an upload and the `hash` of a download.
pub fn token(hash: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(hash)
}

/// Percent-encodes a query value (unreserved characters pass).
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The upload URL of an encrypted file (`newsletter` false) or a channel file (`newsletter` true);
/// `kind_path` is the media type's upload path (`image`, `video`, …).
pub fn upload_url(
    scheme: MediaScheme,
    host: &str,
    kind_path: &str,
    token: &str,
    auth: &str,
    newsletter: bool,
) -> String {
    let prefix = if newsletter {
        format!("/newsletter/newsletter-{kind_path}")
    } else {
        format!("/mms/{kind_path}")
    };
    format!(
        "{}://{host}{prefix}/{token}?auth={}&token={token}",
        scheme.as_str(),
        query_escape(auth)
    )
}

/// A direct path as it may be appended to a host: starts with one `/`, printable ASCII only.
pub fn safe_direct_path(path: &str) -> Option<&str> {
    let ok = path.len() <= MAX_PATH_LEN
        && path.starts_with('/')
        && !path.starts_with("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'#'));
    ok.then_some(path)
}

/// The path (and query) of a media URL, for messages that carry a `url` but no `directPath`.
pub fn path_of_url(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let slash = rest.find('/')?;
    safe_direct_path(&rest[slash..])
}

/// The download URL: the direct path on `host`, with the hash and type queries WhatsApp's web client
/// adds (media hosts ignore what they do not need).
pub fn download_url(
    scheme: MediaScheme,
    host: &str,
    direct_path: &str,
    enc_sha256: &[u8],
    mms_type: &str,
) -> String {
    let joiner = if direct_path.contains('?') { '&' } else { '?' };
    format!(
        "{}://{host}{direct_path}{joiner}hash={}&mms-type={mms_type}&__wa-mms=",
        scheme.as_str(),
        token(enc_sha256)
    )
}

fn transfer_error(e: ureq::Error) -> Result<ureq::Response, (Option<u16>, String)> {
    match e {
        ureq::Error::Status(code, _) => Err((Some(code), format!("HTTP {code}"))),
        // Not `t.to_string()`: it names the URL, whose query holds the upload auth.
        ureq::Error::Transport(t) => {
            let cause = std::error::Error::source(&t).map(|c| format!(" ({c})"));
            let message = t.message().unwrap_or("");
            Err((
                None,
                format!("{}: {message}{}", t.kind(), cause.unwrap_or_default()),
            ))
        }
    }
}

fn read_answer(response: ureq::Response) -> Result<Uploaded, MediaError> {
    let mut text = String::new();
    response
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_string(&mut text)
        .map_err(|e| MediaError::Transfer(e.to_string()))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| MediaError::BadAnswer(e.to_string()))?;
    let field = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_string);
    let direct_path = field("direct_path")
        .ok_or_else(|| MediaError::BadAnswer("no direct_path in the upload answer".into()))?;
    Ok(Uploaded {
        url: field("url").unwrap_or_default(),
        direct_path,
        handle: field("handle"),
    })
}

/// Uploads `body` to the first host that takes it.
pub fn upload(
    agent: &ureq::Agent,
    scheme: MediaScheme,
    conn: &MediaConn,
    kind_path: &str,
    token: &str,
    body: &[u8],
    newsletter: bool,
) -> Result<Uploaded, UploadFailure> {
    let mut last = MediaError::NoHost("no media host".into());
    for host in &conn.hosts {
        let url = upload_url(scheme, host, kind_path, token, &conn.auth, newsletter);
        let sent = agent
            .post(&url)
            .timeout(TRANSFER_TIMEOUT)
            .set("Origin", ORIGIN)
            .set("Referer", &format!("{ORIGIN}/"))
            .set("Content-Type", "application/octet-stream")
            .send_bytes(body);
        match sent.or_else(transfer_error) {
            Ok(response) => return read_answer(response).map_err(UploadFailure::Failed),
            Err((Some(401 | 403), _)) => return Err(UploadFailure::AuthRefused),
            Err((Some(code), e)) if code < 500 => {
                return Err(UploadFailure::Failed(MediaError::Transfer(e)))
            }
            // A server error or an unreachable host: the next host may do better.
            Err((_, e)) => last = MediaError::Transfer(format!("{host}: {e}")),
        }
    }
    Err(UploadFailure::Failed(last))
}

/// Downloads `direct_path` from the first host that has it and hands the body to `consume` as it
/// arrives (so it can be decrypted without holding the encrypted copy). Bodies over `max_bytes` are
/// refused: a declared length at once, a longer stream once it passes the cap.
#[allow(clippy::too_many_arguments)]
pub fn download<T>(
    agent: &ureq::Agent,
    scheme: MediaScheme,
    hosts: &[String],
    direct_path: &str,
    enc_sha256: &[u8],
    mms_type: &str,
    max_bytes: u64,
    consume: impl FnOnce(&mut dyn Read) -> Result<T, MediaError>,
) -> Result<T, MediaError> {
    let path = safe_direct_path(direct_path)
        .ok_or_else(|| MediaError::BadMessage("unsafe direct path".into()))?;
    let mut last = MediaError::NoHost("no media host".into());
    for host in hosts {
        let url = download_url(scheme, host, path, enc_sha256, mms_type);
        let response = match agent
            .get(&url)
            .timeout(TRANSFER_TIMEOUT)
            .call()
            .or_else(transfer_error)
        {
            Ok(r) => r,
            Err((code, e)) => {
                last = MediaError::Transfer(match code {
                    Some(403 | 404 | 410) => format!("media expired or unknown ({e})"),
                    _ => format!("{host}: {e}"),
                });
                continue;
            }
        };
        let declared: Option<u64> = response
            .header("Content-Length")
            .and_then(|l| l.trim().parse().ok());
        if declared.is_some_and(|n| n > max_bytes) {
            return Err(MediaError::Size(declared.unwrap_or_default()));
        }
        let mut body = response.into_reader().take(max_bytes.saturating_add(1));
        let outcome = consume(&mut body);
        if body.limit() == 0 {
            return Err(MediaError::Size(max_bytes.saturating_add(1)));
        }
        return outcome;
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A one-request HTTP host on loopback answering `head` then `body`; returns `host:port`.
    fn one_shot_host(head: &'static str, body: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut socket, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request);
                let _ = socket.write_all(head.as_bytes());
                let _ = socket.write_all(&body);
            }
        });
        addr
    }

    fn fetch(host: String, max: u64) -> Result<Vec<u8>, MediaError> {
        let agent = ureq::AgentBuilder::new().build();
        let read_all = |r: &mut dyn Read| {
            let mut out = Vec::new();
            r.read_to_end(&mut out)
                .map_err(|e| MediaError::Transfer(e.to_string()))?;
            Ok(out)
        };
        download(
            &agent,
            MediaScheme::Http,
            &[host],
            "/v/t62/1.enc?ccb=1",
            &[0u8; 32],
            "image",
            max,
            read_all,
        )
    }

    #[test]
    fn downloads_stop_at_the_cap_whatever_the_host_declares() {
        let body = vec![7u8; 5000];
        let plain = one_shot_host("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", body.clone());
        assert_eq!(fetch(plain, 5000).unwrap(), body);
        // No length declared: the stream is cut one byte past the cap.
        let endless = one_shot_host("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", body.clone());
        assert!(matches!(fetch(endless, 4999), Err(MediaError::Size(5000))));
        // A declared length over the cap is refused before reading.
        let declared = one_shot_host(
            "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
            body,
        );
        assert!(matches!(fetch(declared, 100), Err(MediaError::Size(5000))));
        let gone = one_shot_host(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            Vec::new(),
        );
        match fetch(gone, 100) {
            Err(MediaError::Transfer(e)) => assert!(e.contains("expired"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upload_urls_follow_the_protocol() {
        let enc = [0xfbu8; 32];
        let t = token(&enc);
        assert!(
            !t.contains('=') && !t.contains('+') && !t.contains('/'),
            "{t}"
        );
        assert_eq!(
            upload_url(
                MediaScheme::Https,
                "mmg.whatsapp.net",
                "image",
                &t,
                "a/b+c=",
                false
            ),
            format!("https://mmg.whatsapp.net/mms/image/{t}?auth=a%2Fb%2Bc%3D&token={t}")
        );
        assert_eq!(
            upload_url(MediaScheme::Http, "127.0.0.1:9", "video", "T", "x", true),
            "http://127.0.0.1:9/newsletter/newsletter-video/T?auth=x&token=T"
        );
    }

    #[test]
    fn download_urls_append_to_the_existing_query() {
        let url = download_url(
            MediaScheme::Https,
            "mmg.whatsapp.net",
            "/v/t62.7118-24/1.enc?ccb=11-4&oh=x",
            &[0u8; 32],
            "image",
        );
        assert!(url.starts_with("https://mmg.whatsapp.net/v/t62.7118-24/1.enc?ccb=11-4&oh=x&hash="));
        assert!(url.ends_with("&mms-type=image&__wa-mms="));
        let bare = download_url(MediaScheme::Http, "h:1", "/v/x.enc", &[0u8; 32], "audio");
        assert!(bare.starts_with("http://h:1/v/x.enc?hash="), "{bare}");
    }

    #[test]
    fn peer_paths_cannot_change_the_host() {
        assert!(safe_direct_path("/v/t62/abc.enc?ccb=1").is_some());
        for bad in [
            "",
            "v/no-slash",
            "//evil.com/x",
            "/\\evil.com",
            "/a b",
            "/a#frag",
            "/a\n",
        ] {
            assert!(safe_direct_path(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            path_of_url("https://mmg.whatsapp.net/v/t62/1.enc?x=1"),
            Some("/v/t62/1.enc?x=1")
        );
        assert_eq!(path_of_url("ftp://h/x"), None);
        assert_eq!(path_of_url("https://host-without-path"), None);
    }
}
