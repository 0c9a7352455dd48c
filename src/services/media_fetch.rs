//! Media by URL (`mediaUrl` on the send routes): Chattu downloads the file itself, checks it and
//! hands the bytes to the engine.
//!
//! Fetching a URL a user chose is the same risk as a webhook (SSRF), so the same address rule
//! applies ([`webhook_url::is_public_ip`]): http or https only; every host name is resolved and
//! each address checked, and the connection goes only to a checked address (the agent's resolver
//! is the check, so there is no second lookup an attacker's DNS could answer differently). Loopback,
//! private, link-local, unique-local and other reserved addresses are refused unless
//! `[media] allow_private_addresses` (or the address is in `[media] allowed_private_ips`).
//! Redirects are followed by hand, at most `[media] max_redirects`, each hop checked again.
//! The whole fetch has one deadline (`[media] timeout_secs`) and the body is read through a
//! bounded reader (`[media] max_bytes`).
//!
//! Only .jpg .jpeg .png .gif .webp .pdf .mp4 .mp3 are accepted, judged by the extension of the
//! requested URL's path AND by the content's magic bytes; both must agree. The extension is taken
//! from the URL the caller gave (redirects often lead to CDN names without one); the content is
//! what the last hop served.

mod sniff;
#[cfg(test)]
mod tests;

pub use sniff::{FileType, MediaKind, ACCEPTED_EXTENSIONS};

use super::webhook_url;
use crate::config::MediaConfig;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fetched and checked file, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMedia {
    pub bytes: Vec<u8>,
    pub file_type: FileType,
    pub mimetype: String,
    /// The last segment of the requested URL's path (decoded, made safe).
    pub filename: String,
    pub kind: MediaKind,
}

/// What a fetch may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    pub allow_private: bool,
    /// Non-public addresses allowed anyway.
    pub allowed_private_ips: Vec<IpAddr>,
    pub max_bytes: u64,
    /// For the whole fetch: every hop and the body.
    pub timeout: Duration,
    pub max_redirects: u32,
}

impl FetchPolicy {
    pub fn from_config(config: &MediaConfig) -> FetchPolicy {
        FetchPolicy {
            allow_private: config.allow_private_addresses,
            // Config validation refused anything that does not parse.
            allowed_private_ips: (config.allowed_private_ips.iter())
                .filter_map(|ip| ip.parse().ok())
                .collect(),
            max_bytes: config.max_bytes,
            timeout: Duration::from_secs(config.timeout_secs),
            max_redirects: config.max_redirects,
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            // `::ffff:10.0.0.1` is 10.0.0.1 for the allow-list as it is for the public check.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allow_private
            || webhook_url::is_public_ip(ip)
            || self.allowed_private_ips.contains(&ip)
    }
}

/// Why a URL's media could not be used; every variant is the API's 400 `MEDIA_ERROR`, and the
/// text is safe to show to the caller (it describes their URL, nothing of ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaFetchError {
    /// Not an http(s) URL, or malformed.
    InvalidUrl(String),
    /// The URL's path does not end in an accepted extension.
    UnsupportedExtension,
    /// The content is not one of the accepted types.
    UnrecognisedContent,
    /// The extension and the content name different types.
    ContentMismatch {
        extension: FileType,
        content: FileType,
    },
    /// The host is (or resolves only to) a non-public address.
    RefusedAddress,
    /// More redirects than allowed.
    TooManyRedirects(u32),
    /// A redirect without a usable `Location`.
    BadRedirect,
    /// A final status outside 2xx.
    HttpStatus(u16),
    /// Larger than the size cap.
    TooLarge {
        max_bytes: u64,
    },
    Empty,
    Timeout,
    /// DNS failure, connection refused, TLS failure, reset...
    Unreachable(String),
}

impl std::fmt::Display for MediaFetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use MediaFetchError::*;
        match self {
            InvalidUrl(why) => write!(f, "mediaUrl {why}."),
            UnsupportedExtension => write!(
                f,
                "mediaUrl must end in one of {ACCEPTED_EXTENSIONS} (case-insensitive)."
            ),
            UnrecognisedContent => write!(
                f,
                "The file at mediaUrl is not a JPEG, PNG, GIF, WebP, PDF, MP4 or MP3 file."
            ),
            ContentMismatch { extension, content } => write!(
                f,
                "The file at mediaUrl is {} but its name says .{}.",
                content.mimetype(),
                extension.extension()
            ),
            RefusedAddress => write!(
                f,
                "mediaUrl points to a loopback, private, link-local or reserved address, which is \
                 not allowed."
            ),
            TooManyRedirects(max) => write!(f, "mediaUrl redirects more than {max} times."),
            BadRedirect => write!(f, "mediaUrl redirects without a valid Location."),
            HttpStatus(status) => write!(f, "Fetching mediaUrl failed with HTTP status {status}."),
            TooLarge { max_bytes } => {
                write!(f, "The file at mediaUrl is larger than {max_bytes} bytes.")
            }
            Empty => write!(f, "The file at mediaUrl is empty."),
            Timeout => write!(f, "Fetching mediaUrl timed out."),
            Unreachable(why) => write!(f, "mediaUrl could not be fetched: {why}."),
        }
    }
}

impl std::error::Error for MediaFetchError {}

impl From<MediaFetchError> for super::Error {
    fn from(e: MediaFetchError) -> Self {
        super::Error::Media(e.to_string())
    }
}

/// Fetches `url` under `policy` (blocking: call it from `spawn_blocking`).
pub fn fetch_media(url: &str, policy: &FetchPolicy) -> Result<FetchedMedia, MediaFetchError> {
    let url = url.trim();
    let first = MediaUrl::parse(url)?;
    let (extension, filename) = first.file_name()?;
    let deadline = Instant::now() + policy.timeout;
    let agent = ureq::AgentBuilder::new()
        .resolver(AddressGate {
            policy: Arc::new(policy.clone()),
        })
        .redirects(0)
        .timeout_connect(policy.timeout.min(Duration::from_secs(10)))
        .max_idle_connections(0)
        .user_agent(concat!("chattu-media/", env!("CARGO_PKG_VERSION")))
        .build();
    let mut current = first;
    let mut redirects = 0u32;
    let response = loop {
        let remaining = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(MediaFetchError::Timeout)?;
        let result = agent.get(&current.text).timeout(remaining).call();
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(status, _)) => return Err(MediaFetchError::HttpStatus(status)),
            Err(ureq::Error::Transport(t)) => return Err(transport_error(&t)),
        };
        let status = response.status();
        if !(300..400).contains(&status) {
            break response;
        }
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            return Err(MediaFetchError::HttpStatus(status));
        }
        if redirects >= policy.max_redirects {
            return Err(MediaFetchError::TooManyRedirects(policy.max_redirects));
        }
        redirects += 1;
        let location = response
            .header("location")
            .ok_or(MediaFetchError::BadRedirect)?;
        current = current.join(location)?;
    };
    if !(200..300).contains(&response.status()) {
        return Err(MediaFetchError::HttpStatus(response.status()));
    }
    let declared = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > policy.max_bytes) {
        return Err(MediaFetchError::TooLarge {
            max_bytes: policy.max_bytes,
        });
    }
    let bytes = read_capped(response.into_reader(), policy.max_bytes, declared)?;
    if bytes.is_empty() {
        return Err(MediaFetchError::Empty);
    }
    let content = FileType::sniff(&bytes).ok_or(MediaFetchError::UnrecognisedContent)?;
    if content != extension {
        return Err(MediaFetchError::ContentMismatch { extension, content });
    }
    Ok(FetchedMedia {
        bytes,
        file_type: content,
        mimetype: content.mimetype().to_string(),
        filename,
        kind: content.kind(),
    })
}

/// Reads at most `max` bytes; one more means the file is too large.
fn read_capped(
    reader: impl Read,
    max: u64,
    declared: Option<u64>,
) -> Result<Vec<u8>, MediaFetchError> {
    // Trust a declared length only as a capacity hint, and only up to the cap.
    let hint = declared.unwrap_or(64 * 1024).min(max);
    let mut bytes = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    reader
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&e))?;
    if bytes.len() as u64 > max {
        return Err(MediaFetchError::TooLarge { max_bytes: max });
    }
    Ok(bytes)
}

/// The resolver of the fetch agent: only addresses the policy permits are handed to the
/// connection, so what was checked is what gets connected to.
#[derive(Clone)]
struct AddressGate {
    policy: Arc<FetchPolicy>,
}

/// The text of the refusal, recognised again in [`transport_error`].
const REFUSED: &str = "refused: media host resolves only to non-public addresses";

impl ureq::Resolver for AddressGate {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let resolved: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        let permitted: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|a| self.policy.permits(a.ip()))
            .collect();
        if permitted.is_empty() {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, REFUSED));
        }
        Ok(permitted)
    }
}

fn io_error(e: &io::Error) -> MediaFetchError {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => MediaFetchError::Timeout,
        io::ErrorKind::PermissionDenied if e.to_string() == REFUSED => {
            MediaFetchError::RefusedAddress
        }
        _ => MediaFetchError::Unreachable(e.kind().to_string()),
    }
}

/// Our refusal, a timeout, or a short description of ureq's failure (no addresses of ours).
fn transport_error(t: &ureq::Transport) -> MediaFetchError {
    let mut source = std::error::Error::source(t);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            match io_error(io) {
                MediaFetchError::Unreachable(_) => {}
                found => return found,
            }
        }
        source = cause.source();
    }
    let why = match t.kind() {
        ureq::ErrorKind::Dns => "the host name cannot be resolved",
        ureq::ErrorKind::ConnectionFailed => "the connection failed",
        ureq::ErrorKind::TooManyRedirects => "too many redirects",
        ureq::ErrorKind::BadStatus | ureq::ErrorKind::BadHeader => {
            "the server's answer is not HTTP"
        }
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => "the URL is invalid",
        _ => "the transfer failed",
    };
    MediaFetchError::Unreachable(why.to_string())
}

/// An http(s) URL that passed the syntax check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaUrl {
    text: String,
    https: bool,
    /// `host[:port]` as written (the part between `//` and the path).
    authority: String,
    /// From the first `/` on, query included, fragment removed.
    path_and_query: String,
}

impl MediaUrl {
    fn parse(text: &str) -> Result<MediaUrl, MediaFetchError> {
        let text = text.split('#').next().unwrap_or(text);
        webhook_url::parse(text).map_err(|e| {
            let why = match e {
                super::Error::Validation { msg, .. } => msg,
                other => other.to_string(),
            };
            MediaFetchError::InvalidUrl(why)
        })?;
        let lower = text.to_ascii_lowercase();
        let https = lower.starts_with("https://");
        let rest = text.get(if https { 8 } else { 7 }..).unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        let path_and_query = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        Ok(MediaUrl {
            text: format!(
                "{}://{authority}{path_and_query}",
                if https { "https" } else { "http" }
            ),
            https,
            authority: authority.to_string(),
            path_and_query,
        })
    }

    fn path(&self) -> &str {
        self.path_and_query
            .split('?')
            .next()
            .unwrap_or(&self.path_and_query)
    }

    /// The accepted type the path's extension names, and the file name to send.
    fn file_name(&self) -> Result<(FileType, String), MediaFetchError> {
        let last = self.path().rsplit('/').next().unwrap_or("");
        let decoded = percent_decode(last);
        let ext = decoded.rsplit_once('.').map(|(_, ext)| ext).unwrap_or("");
        let file_type =
            FileType::from_extension(ext).ok_or(MediaFetchError::UnsupportedExtension)?;
        Ok((file_type, safe_file_name(&decoded, file_type)))
    }

    /// The URL a `Location` header points to, checked like the first one.
    fn join(&self, location: &str) -> Result<MediaUrl, MediaFetchError> {
        let location = location.trim();
        if location.is_empty() {
            return Err(MediaFetchError::BadRedirect);
        }
        let lower = location.to_ascii_lowercase();
        let scheme = if self.https { "https" } else { "http" };
        let absolute = if lower.starts_with("http://") || lower.starts_with("https://") {
            location.to_string()
        } else if location.starts_with("//") {
            format!("{scheme}:{location}")
        } else if location.starts_with('/') {
            format!("{scheme}://{}{location}", self.authority)
        } else if lower.split(['/', '?']).next().unwrap_or("").contains(':') {
            // Another scheme (file:, ftp:, data:...).
            return Err(MediaFetchError::InvalidUrl(
                "redirects to a URL that is not http or https".into(),
            ));
        } else {
            let dir = self.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            format!("{scheme}://{}{dir}/{location}", self.authority)
        };
        MediaUrl::parse(&absolute)
    }
}

/// `%XX` decoded (invalid escapes kept as written); not UTF-8 → lossy.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(value as u8);
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file name the receiving phone can show: no path separators or control characters, at most
/// 120 characters, never empty (then `file.<ext>`).
fn safe_file_name(name: &str, file_type: FileType) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.');
    if cleaned.chars().count() <= 120 && !cleaned.is_empty() {
        return cleaned.to_string();
    }
    let stem: String = cleaned.chars().take(100).collect();
    if stem.is_empty() {
        format!("file.{}", file_type.extension())
    } else {
        format!("{stem}.{}", file_type.extension())
    }
}
