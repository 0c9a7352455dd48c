//! Credentials on a request (x-api-key or the session cookie), the session cookie itself, and the
//! cross-site check that protects cookie-authenticated state changes.

use std::borrow::Cow;

use hyper::header::{HeaderName, COOKIE, HOST, ORIGIN};
use hyper::{HeaderMap, Method};

use super::headers::first_value;

/// Header names looked up on every request, made once (a `&str` name is parsed at each lookup).
const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Name of the dashboard session cookie.
pub const SESSION_COOKIE: &str = "chattu_session";

/// What the request offers to prove who it is. The API key is borrowed from the request's header
/// where it can be (every API request has one); [`Credential::into_owned`] keeps it longer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    ApiKey(Cow<'a, str>),
    Session(String),
    None,
}

impl Credential<'_> {
    pub fn into_owned(self) -> Credential<'static> {
        match self {
            Credential::ApiKey(key) => Credential::ApiKey(Cow::Owned(key.into_owned())),
            Credential::Session(token) => Credential::Session(token),
            Credential::None => Credential::None,
        }
    }
}

/// The API key header, trimmed; an empty header counts as absent.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    // Any UTF-8 passes here (keys are hex; anything else fails authentication), which is one
    // fast check instead of `to_str`'s byte-by-byte visible-ASCII loop on every request. Header
    // whitespace is ASCII (RFC 9110 OWS), so the bytes are trimmed before, not `str::trim`'s
    // Unicode tables after.
    let v = std::str::from_utf8(first_value(headers, &X_API_KEY)?.as_bytes().trim_ascii()).ok()?;
    (!v.is_empty()).then_some(v)
}

/// The session token from the Cookie header(s).
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

/// The credential to use. `prefer_session` is set for routes that require a session: there the
/// cookie wins and an API key alone is not enough; elsewhere an explicit API key wins.
pub fn credential(headers: &HeaderMap, prefer_session: bool) -> Credential<'_> {
    // The common case (an API client sending x-api-key) never parses the Cookie header.
    if !prefer_session {
        if let Some(found) = api_key(headers) {
            return Credential::ApiKey(Cow::Borrowed(found));
        }
    }
    match (session_token(headers), prefer_session) {
        (Some(s), _) => Credential::Session(s),
        (None, true) => api_key(headers).map_or(Credential::None, |found| {
            Credential::ApiKey(Cow::Borrowed(found))
        }),
        (None, false) => Credential::None,
    }
}

/// Whether a method changes state (and so must not be triggered cross-site with a cookie).
pub fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when the browser tells us the request comes from another site: `Sec-Fetch-Site:
/// cross-site`, or an `Origin` whose host differs from `Host` (an opaque `Origin: null` included).
/// Requests without either header (curl, server-side clients) are not cross-site.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get(SEC_FETCH_SITE).and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|s| s.trim().eq_ignore_ascii_case("cross-site")) {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'));
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h.trim()),
        _ => true,
    }
}

/// `Set-Cookie` value that installs a session.
pub fn session_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn finds_the_session_cookie_among_others() {
        let h = headers(&[("cookie", "a=1; chattu_session=tok123; b=2")]);
        assert_eq!(session_token(&h).as_deref(), Some("tok123"));
        assert_eq!(
            session_token(&headers(&[("cookie", "chattu_session=")])),
            None
        );
    }

    #[test]
    fn session_routes_prefer_the_cookie() {
        let h = headers(&[("cookie", "chattu_session=s"), ("x-api-key", "k")]);
        assert_eq!(credential(&h, true), Credential::Session("s".into()));
        assert_eq!(credential(&h, false), Credential::ApiKey("k".into()));
        assert_eq!(credential(&HeaderMap::new(), false), Credential::None);
        assert_eq!(credential(&HeaderMap::new(), true), Credential::None);
        // Only one of the two present: it is used whatever the preference.
        let key_only = headers(&[("x-api-key", "k")]);
        assert_eq!(credential(&key_only, true), Credential::ApiKey("k".into()));
        let cookie_only = headers(&[("cookie", "chattu_session=s")]);
        assert_eq!(
            credential(&cookie_only, false),
            Credential::Session("s".into())
        );
    }

    #[test]
    fn the_api_key_is_trimmed_and_an_empty_one_is_absent() {
        let h = headers(&[("host", "pi"), ("x-api-key", "  abc  ")]);
        assert_eq!(api_key(&h), Some("abc"));
        assert_eq!(api_key(&headers(&[("x-api-key", "\t ")])), None);
        assert_eq!(api_key(&headers(&[("host", "pi")])), None);
    }

    #[test]
    fn cross_site_detection() {
        assert!(!is_cross_site(&headers(&[("host", "pi:8080")])));
        assert!(!is_cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "http://pi:8080")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "pi:8080"),
            ("origin", "null")
        ])));
        assert!(is_cross_site(&headers(&[
            ("host", "pi:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!is_cross_site(&headers(&[
            ("host", "pi:8080"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn cookie_attributes() {
        let c = session_cookie("t", 60, true);
        assert!(
            c.contains("HttpOnly")
                && c.contains("SameSite=Strict")
                && c.contains("Path=/")
                && c.ends_with("Secure")
        );
        assert!(!session_cookie("t", 60, false).contains("Secure"));
    }
}
