//! The dashboard's files, embedded in the binary and served with compression and content-hash caching.
//!
//! Every file under `assets/` is listed in [`FILES`] (a unit test fails when one is missing), so a plain
//! `cargo build` carries the whole dashboard and nothing is read from disk at run time.
//!
//! Caching: the HTML shell is served `no-cache` with an ETag, and every `/assets/...` reference inside it
//! is rewritten to `/assets/...?v=<content hash>`. A request that carries the current hash gets
//! `immutable` caching for a year; one without it (or with a stale hash) is revalidated by ETag, so a
//! browser never keeps an old script after an upgrade.
//!
//! Compression: text files are gzip-compressed once, on first use, and kept in a `OnceLock`.

use std::io::Write;
use std::sync::OnceLock;

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;

/// What the HTTP layer writes back for a dashboard path.
#[derive(Debug, Clone)]
pub struct AssetResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
    pub headers: Vec<(&'static str, String)>,
}

/// The single-page app's shell; every page path serves it and the script picks the page.
const SHELL: &str = "index.html";

/// Paths the dashboard's client-side router knows; all of them return the shell.
const PAGE_PATHS: &[&str] = &[
    "/",
    "/login",
    "/chat",
    "/groups",
    "/scheduled",
    "/logs",
    "/profile",
    "/admin",
    "/docs",
    "/clients",
];

/// URL prefix under which the files of `assets/` are served.
const URL_PREFIX: &str = "/assets/";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Files smaller than this are not worth a gzip header and a CPU pass.
const MIN_GZIP_BYTES: usize = 256;

macro_rules! embed {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)) as &[u8])),*]
    };
}

/// Every file under `assets/`, by its path relative to that directory.
const FILES: &[(&str, &[u8])] = embed!(
    "index.html",
    "app.css",
    "favicon.svg",
    "api-docs.json",
    "js/core.js",
    "js/tz.js",
    "js/live.js",
    "js/app.js",
    "js/pages/login.js",
    "js/pages/clients.js",
    "js/pages/chat.js",
    "js/pages/groups.js",
    "js/pages/scheduled.js",
    "js/pages/logs.js",
    "js/pages/profile.js",
    "js/pages/admin.js",
    "js/pages/docs.js",
);

/// One file ready to serve: its bytes (the shell after hash rewriting), hash and lazily built gzip form.
struct Prepared {
    path: &'static str,
    body: Bytes,
    hash: String,
    gzip: OnceLock<Option<Bytes>>,
}

impl Prepared {
    fn new(path: &'static str, body: Bytes) -> Self {
        let hash = content_hash(&body);
        Prepared {
            path,
            body,
            hash,
            gzip: OnceLock::new(),
        }
    }

    /// The gzip body, or None when compression would not help (binary formats, tiny or incompressible files).
    fn gzip(&self) -> Option<&Bytes> {
        self.gzip
            .get_or_init(|| {
                if !is_compressible(self.path) || self.body.len() < MIN_GZIP_BYTES {
                    return None;
                }
                let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
                encoder.write_all(&self.body).ok()?;
                let packed = encoder.finish().ok()?;
                (packed.len() < self.body.len()).then(|| Bytes::from(packed))
            })
            .as_ref()
    }
}

fn prepared() -> &'static [Prepared] {
    static PREPARED: OnceLock<Vec<Prepared>> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let mut files: Vec<Prepared> = FILES
            .iter()
            .filter(|(path, _)| *path != SHELL)
            .map(|(path, bytes)| Prepared::new(path, Bytes::from_static(bytes)))
            .collect();
        let shell = FILES
            .iter()
            .find(|(path, _)| *path == SHELL)
            .map(|(_, bytes)| *bytes)
            .unwrap_or_default();
        let rewritten = add_version_queries(&String::from_utf8_lossy(shell), &files);
        files.push(Prepared::new(SHELL, Bytes::from(rewritten)));
        files
    })
}

/// Serves a dashboard path. `path` may carry a query string (`/assets/app.css?v=...`); the HTTP layer
/// should pass the request's path and query. Returns None for paths the dashboard does not own.
pub fn lookup(
    path: &str,
    accept_encoding: Option<&str>,
    if_none_match: Option<&str>,
) -> Option<AssetResponse> {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let files = prepared();
    let (file, cache_control) = if is_page_path(path) {
        (files.iter().find(|file| file.path == SHELL)?, REVALIDATE)
    } else {
        let relative = path.strip_prefix(URL_PREFIX)?;
        let file = files
            .iter()
            .find(|file| file.path == relative && file.path != SHELL)?;
        let versioned = query
            .and_then(version_param)
            .is_some_and(|v| v == file.hash);
        (file, if versioned { IMMUTABLE } else { REVALIDATE })
    };
    Some(respond(file, cache_control, accept_encoding, if_none_match))
}

fn respond(
    file: &Prepared,
    cache_control: &'static str,
    accept_encoding: Option<&str>,
    if_none_match: Option<&str>,
) -> AssetResponse {
    let gzip = accepts_gzip(accept_encoding).then(|| file.gzip()).flatten();
    let etag = match gzip {
        Some(_) => format!("\"{}-gz\"", file.hash),
        None => format!("\"{}\"", file.hash),
    };
    let mut headers = vec![("cache-control", cache_control.to_string()), ("etag", etag)];
    if is_compressible(file.path) {
        headers.push(("vary", "Accept-Encoding".to_string()));
    }
    if file.path == SHELL {
        // The shell never needs to be framed or sniffed; the API lives on the same origin.
        headers.push(("x-frame-options", "DENY".to_string()));
        headers.push(("referrer-policy", "same-origin".to_string()));
        headers.push((
            "content-security-policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
             style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'"
                .to_string(),
        ));
    }
    headers.push(("x-content-type-options", "nosniff".to_string()));
    let content_type = content_type(file.path);
    if if_none_match.is_some_and(|header| etag_matches(header, &file.hash)) {
        return AssetResponse {
            status: 304,
            content_type,
            body: Bytes::new(),
            headers,
        };
    }
    let body = match gzip {
        Some(packed) => {
            headers.push(("content-encoding", "gzip".to_string()));
            packed.clone()
        }
        None => file.body.clone(),
    };
    AssetResponse {
        status: 200,
        content_type,
        body,
        headers,
    }
}

fn is_page_path(path: &str) -> bool {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    PAGE_PATHS.contains(&trimmed)
}

/// Appends `?v=<hash>` to every quoted `/assets/<file>` reference in the shell that names a known file.
fn add_version_queries(html: &str, files: &[Prepared]) -> String {
    let mut out = String::with_capacity(html.len() + 512);
    let mut rest = html;
    let needle = "\"/assets/";
    while let Some(start) = rest.find(needle) {
        let value_start = start + 1;
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        let end = rest.find('"').unwrap_or(rest.len());
        let reference = &rest[..end];
        out.push_str(reference);
        let relative = reference.strip_prefix(URL_PREFIX).unwrap_or_default();
        if let Some(file) = files.iter().find(|file| file.path == relative) {
            out.push_str("?v=");
            out.push_str(&file.hash);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn version_param(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| pair.strip_prefix("v="))
}

/// First 16 hex digits of the SHA-256 of the content: short enough for URLs, far beyond collision range here.
fn content_hash(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    digest
        .as_ref()
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Whether an Accept-Encoding header allows gzip (`gzip` or `*` with a non-zero quality).
fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else { return false };
    let mut gzip = None;
    let mut wildcard = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let allowed = parts
            .filter_map(|param| param.trim().strip_prefix("q="))
            .all(|q| q.trim().parse::<f32>().map(|q| q > 0.0).unwrap_or(false));
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(allowed),
            "*" => wildcard = Some(allowed),
            _ => {}
        }
    }
    gzip.or(wildcard).unwrap_or(false)
}

/// If-None-Match: `*` or a list of (possibly weak) entity tags; either encoding's tag counts (weak comparison).
fn etag_matches(header: &str, hash: &str) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        let tag = tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"');
        tag == hash || tag.strip_suffix("-gz") == Some(hash)
    })
}

fn extension(path: &str) -> &str {
    path.rsplit_once('.')
        .map(|(_, ext)| ext)
        .unwrap_or_default()
}

fn content_type(path: &str) -> &'static str {
    match extension(path) {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn is_compressible(path: &str) -> bool {
    matches!(
        extension(path),
        "html" | "css" | "js" | "mjs" | "json" | "svg" | "txt" | "md"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a AssetResponse, name: &str) -> Option<&'a str> {
        response
            .headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    fn gunzip(body: &[u8]) -> Vec<u8> {
        use std::io::Read;
        let mut out = Vec::new();
        let read = flate2::read::GzDecoder::new(body).read_to_end(&mut out);
        assert!(read.is_ok(), "gzip body must decode");
        out
    }

    fn shell_text() -> String {
        let response = lookup("/", None, None);
        assert!(response.is_some());
        let body = response.map(|r| r.body).unwrap_or_default();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[test]
    fn every_file_under_assets_is_embedded() {
        fn walk(dir: &std::path::Path, base: &std::path::Path, found: &mut Vec<String>) {
            let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
            for entry in entries {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, base, found);
                } else if let Ok(relative) = path.strip_prefix(base) {
                    found.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut found = Vec::new();
        walk(&base, &base, &mut found);
        assert!(!found.is_empty());
        for file in &found {
            assert!(
                FILES.iter().any(|(path, _)| path == file),
                "assets/{file} is not listed in FILES"
            );
        }
        assert_eq!(
            found.len(),
            FILES.len(),
            "FILES lists a file that is not under assets/"
        );
    }

    #[test]
    fn page_paths_serve_the_shell_as_html_with_no_cache() {
        for path in PAGE_PATHS.iter().copied().chain(["/chat/", "/docs?q=send"]) {
            let response = lookup(path, None, None);
            let Some(response) = response else {
                panic!("{path} must be served")
            };
            assert_eq!(response.status, 200, "{path}");
            assert_eq!(response.content_type, "text/html; charset=utf-8");
            assert_eq!(header(&response, "cache-control"), Some("no-cache"));
            assert!(header(&response, "etag").is_some_and(|tag| tag.starts_with('"')));
            assert!(String::from_utf8_lossy(&response.body).contains("<!doctype html>"));
        }
    }

    #[test]
    fn unknown_paths_are_not_ours() {
        for path in [
            "/nope",
            "/api/clients",
            "/assets/missing.js",
            "/assets/",
            "/assets/index.html",
            "/chatx",
        ] {
            assert!(lookup(path, None, None).is_none(), "{path}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        let cases = [
            ("/assets/app.css", "text/css; charset=utf-8"),
            ("/assets/js/core.js", "text/javascript; charset=utf-8"),
            ("/assets/api-docs.json", "application/json; charset=utf-8"),
            ("/assets/favicon.svg", "image/svg+xml"),
        ];
        for (path, expected) in cases {
            let response = lookup(path, None, None);
            assert_eq!(response.map(|r| r.content_type), Some(expected), "{path}");
        }
    }

    #[test]
    fn gzip_only_when_accepted_and_decodes_to_the_original() {
        let plain = lookup("/assets/js/core.js", None, None);
        let Some(plain) = plain else {
            panic!("core.js must exist")
        };
        assert_eq!(header(&plain, "content-encoding"), None);
        assert_eq!(header(&plain, "vary"), Some("Accept-Encoding"));

        let packed = lookup("/assets/js/core.js", Some("br;q=1.0, gzip;q=0.8"), None);
        let Some(packed) = packed else {
            panic!("core.js must exist")
        };
        assert_eq!(header(&packed, "content-encoding"), Some("gzip"));
        assert!(packed.body.len() < plain.body.len());
        assert_eq!(gunzip(&packed.body), plain.body.to_vec());
        assert_ne!(header(&packed, "etag"), header(&plain, "etag"));

        for refused in ["gzip;q=0", "br", "identity", "*;q=0"] {
            let response = lookup("/assets/js/core.js", Some(refused), None);
            assert_eq!(
                response.and_then(|r| header(&r, "content-encoding").map(str::to_owned)),
                None,
                "{refused}"
            );
        }
        let wildcard = lookup("/assets/app.css", Some("*"), None);
        assert_eq!(
            wildcard.and_then(|r| header(&r, "content-encoding").map(str::to_owned)),
            Some("gzip".into())
        );
    }

    #[test]
    fn if_none_match_gives_304_without_a_body() {
        let first = lookup("/", Some("gzip"), None);
        let Some(first) = first else {
            panic!("shell must exist")
        };
        let etag = header(&first, "etag").unwrap_or_default().to_string();
        let again = lookup("/clients", Some("gzip"), Some(&etag));
        let Some(again) = again else {
            panic!("shell must exist")
        };
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        assert_eq!(header(&again, "etag"), Some(etag.as_str()));
        // The identity tag, a weak tag and a list also match; a stale tag does not.
        let identity = etag.replace("-gz", "");
        for header_value in [
            identity.clone(),
            format!("W/{identity}"),
            format!("\"old\", {etag}"),
            "*".into(),
        ] {
            assert_eq!(
                lookup("/", None, Some(&header_value)).map(|r| r.status),
                Some(304),
                "{header_value}"
            );
        }
        assert_eq!(
            lookup("/", None, Some("\"0123456789abcdef\"")).map(|r| r.status),
            Some(200)
        );
    }

    #[test]
    fn shell_references_static_files_by_content_hash() {
        let shell = shell_text();
        let css = prepared()
            .iter()
            .find(|file| file.path == "app.css")
            .map(|file| file.hash.clone());
        let Some(css) = css else {
            panic!("app.css must be prepared")
        };
        assert!(
            shell.contains(&format!("\"/assets/app.css?v={css}\"")),
            "shell must reference the hashed css"
        );
        assert!(
            !shell.contains("\"/assets/js/app.js\""),
            "every script reference carries a version"
        );

        let versioned = lookup(&format!("/assets/app.css?v={css}"), None, None);
        assert_eq!(
            versioned.as_ref().and_then(|r| header(r, "cache-control")),
            Some(IMMUTABLE)
        );
        let stale = lookup("/assets/app.css?v=0000000000000000", None, None);
        assert_eq!(
            stale.as_ref().and_then(|r| header(r, "cache-control")),
            Some("no-cache")
        );
        let bare = lookup("/assets/app.css", None, None);
        assert_eq!(
            bare.as_ref().and_then(|r| header(r, "cache-control")),
            Some("no-cache")
        );
    }

    #[test]
    fn every_hashed_reference_in_the_shell_resolves() {
        let shell = shell_text();
        let mut count = 0;
        for piece in shell.split("\"/assets/").skip(1) {
            let reference = piece.split('"').next().unwrap_or_default();
            let response = lookup(&format!("/assets/{reference}"), None, None);
            assert_eq!(
                response.as_ref().and_then(|r| header(r, "cache-control")),
                Some(IMMUTABLE),
                "{reference}"
            );
            count += 1;
        }
        assert!(
            count >= 5,
            "the shell loads its css and scripts from /assets/"
        );
    }

    #[test]
    fn hash_is_stable_and_content_dependent() {
        assert_eq!(content_hash(b"abc"), content_hash(b"abc"));
        assert_ne!(content_hash(b"abc"), content_hash(b"abd"));
        assert_eq!(content_hash(b"abc").len(), 16);
    }
}
