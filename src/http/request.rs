//! Reading a request: the body under a size limit, JSON and form decoding, and typed field access
//! that names the offending field in a 400 answer.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::HeaderMap;
use serde_json::{Map, Value};

use super::error::ApiError;

/// Reads the whole body, refusing more than `limit` bytes with 413.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::body_too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::body_too_large(limit))
        }
        Err(e) => Err(ApiError::new(
            hyper::StatusCode::BAD_REQUEST,
            "INVALID_BODY",
            format!("Could not read the request body: {e}"),
        )),
    }
}

/// The media type of the body, lower-cased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    Some(
        raw.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// A JSON object body. An empty body counts as `{}` so that "missing field" is reported by name.
/// A body declared as something other than JSON is refused with 415, except that a missing
/// Content-Type is tolerated (curl without -H, and the doc's DELETE examples).
pub fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Fields, ApiError> {
    match media_type(headers).as_deref() {
        None | Some("application/json") | Some("") => {}
        Some(t) if t.ends_with("+json") => {}
        Some(_) if body.is_empty() => {}
        Some(_) => return Err(ApiError::unsupported_media_type()),
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Fields(Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Fields(map)),
        Ok(_) => Err(ApiError::validation(
            "body",
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::invalid_json(e)),
    }
}

/// A JSON or `application/x-www-form-urlencoded` body (the login form posts the latter).
pub fn json_or_form(headers: &HeaderMap, body: &[u8]) -> Result<Fields, ApiError> {
    if media_type(headers).as_deref() == Some("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::validation("body", "Form body is not UTF-8."))?;
        let mut map = Map::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(k), Value::String(percent_decode(v)));
        }
        return Ok(Fields(map));
    }
    json_object(headers, body)
}

/// Decodes `+` and `%XX` escapes; malformed escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'+') => out.push(b' '),
            Some(b'%') => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            Some(&b) => out.push(b),
            None => break,
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Typed access to the fields of a JSON object body.
#[derive(Debug, Default)]
pub struct Fields(pub Map<String, Value>);

impl Fields {
    /// A required, non-empty string field.
    pub fn string(&self, name: &str) -> Result<String, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => {
                Err(ApiError::validation(name, format!("{name} is required.")))
            }
            Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::validation(
                name,
                format!("{name} must not be empty."),
            )),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ApiError::validation(
                name,
                format!("{name} must be a string."),
            )),
        }
    }

    /// An optional string field: absent or null is None; another type is an error.
    pub fn opt_string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::validation(
                name,
                format!("{name} must be a string."),
            )),
        }
    }

    /// A string field that may also be given as a JSON number (phone numbers often are).
    pub fn string_or_number(&self, name: &str) -> Result<String, ApiError> {
        match self.0.get(name) {
            Some(Value::Number(n)) if n.is_u64() => Ok(n.to_string()),
            _ => self.string(name),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<bool, ApiError> {
        match self.0.get(name) {
            Some(Value::Bool(b)) => Ok(*b),
            None | Some(Value::Null) => {
                Err(ApiError::validation(name, format!("{name} is required.")))
            }
            Some(_) => Err(ApiError::validation(
                name,
                format!("{name} must be true or false."),
            )),
        }
    }

    /// A required non-negative integer.
    pub fn unsigned(&self, name: &str) -> Result<u64, ApiError> {
        match self.0.get(name) {
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                ApiError::validation(name, format!("{name} must be a non-negative integer."))
            }),
            None | Some(Value::Null) => {
                Err(ApiError::validation(name, format!("{name} is required.")))
            }
            Some(_) => Err(ApiError::validation(
                name,
                format!("{name} must be a non-negative integer."),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(ct: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        h
    }

    #[test]
    fn json_errors_name_the_field() {
        let f = json_object(&headers(Some("application/json")), br#"{"a": 1, "b": " "}"#).unwrap();
        assert_eq!(f.string("a").unwrap_err().field.as_deref(), Some("a"));
        assert_eq!(f.string("b").unwrap_err().field.as_deref(), Some("b"));
        assert_eq!(f.string("c").unwrap_err().code, "VALIDATION_ERROR");
        assert_eq!(f.string_or_number("a").unwrap(), "1");
        assert_eq!(
            json_object(&headers(None), b"{nope").unwrap_err().code,
            "INVALID_JSON"
        );
        assert_eq!(
            json_object(&headers(None), b"[1]").unwrap_err().code,
            "VALIDATION_ERROR"
        );
        assert_eq!(
            json_object(&headers(Some("text/plain")), b"{}")
                .unwrap_err()
                .code,
            "UNSUPPORTED_MEDIA_TYPE"
        );
        assert!(json_object(&headers(None), b"").unwrap().0.is_empty());
    }

    #[test]
    fn form_bodies_are_decoded() {
        let f = json_or_form(
            &headers(Some("application/x-www-form-urlencoded")),
            b"username=ad+min&password=p%40ss%2",
        )
        .unwrap();
        assert_eq!(f.string("username").unwrap(), "ad min");
        assert_eq!(f.string("password").unwrap(), "p@ss%2");
    }
}
