//! Building responses: JSON bodies, the error shape, and the headers every answer carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use hyper::{HeaderMap, Response, StatusCode};
use serde::Serialize;

pub type Body = Full<Bytes>;

// Built at compile time: `HeaderValue::from_static` checks every byte when called at run time.
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");

/// Answers up to this size are encoded in a per-thread buffer and copied out at their exact
/// size; bigger ones keep their own buffer (and the scratch buffer is not left that big).
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A JSON response with `status`.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    match encode(|buf| serde_json::to_writer(buf, value)) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => {
            log::error!("could not serialise a response: {e}");
            json_bytes(
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(
                    br#"{"error":"Internal server error.","code":"INTERNAL_ERROR"}"#,
                ),
            )
        }
    }
}

/// Runs `write` on this thread's scratch buffer and copies the result out at its exact size
/// (bigger answers keep their own buffer, so the scratch buffer is not left that big). Without
/// the scratch buffer (thread-local gone, or in use further up this stack): a plain Vec.
fn encode<E>(write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<Bytes, E> {
    let mut write = Some(write);
    let in_scratch = SCRATCH
        .try_with(|scratch| {
            let mut buf = scratch.try_borrow_mut().ok()?;
            buf.clear();
            Some((write.take()?)(&mut buf).map(|()| {
                if buf.len() <= SCRATCH_BYTES {
                    // One allocation of the exact size: no growth, no spare capacity to track.
                    Bytes::copy_from_slice(&buf)
                } else {
                    Bytes::from(std::mem::take(&mut *buf))
                }
            }))
        })
        .ok()
        .flatten();
    match (in_scratch, write) {
        (Some(encoded), _) => encoded,
        (None, Some(write)) => {
            let mut buf = Vec::new();
            write(&mut buf).map(|()| Bytes::from(buf))
        }
        // `write` ran, so the scratch answer is there: not reached.
        (None, None) => Ok(Bytes::new()),
    }
}

/// A response whose body is already-encoded JSON.
pub fn json_bytes(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    *res.headers_mut() = JSON_HEADERS.with(HeaderMap::clone);
    res
}

thread_local! {
    /// The headers of every JSON answer, made once per thread and cloned for each answer: with
    /// the security headers that is five, and inserting them one by one cost more than cloning.
    static JSON_HEADERS: HeaderMap = {
        let mut h = HeaderMap::with_capacity(6);
        h.insert(CONTENT_TYPE, JSON);
        // API answers carry keys and personal data: never let a shared cache keep them.
        h.insert(CACHE_CONTROL, NO_STORE);
        h.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        h.insert(X_FRAME_OPTIONS, DENY);
        h.insert(REFERRER_POLICY, SAME_ORIGIN);
        h
    };
}

/// A member name with its quotes and colon (`"name":`), made and checked at compile time by
/// [`json_key!`], so that writing it is one copy.
#[derive(Debug, Clone, Copy)]
pub struct JsonKey(&'static str);

impl JsonKey {
    /// `quoted` must be `"name":` with a plain ASCII name (letters, digits, `_`); anything else
    /// fails the build when called from [`json_key!`], which is const.
    pub const fn quoted(quoted: &'static str) -> JsonKey {
        let b = quoted.as_bytes();
        assert!(b.len() >= 4 && b[0] == b'"' && b[b.len() - 2] == b'"' && b[b.len() - 1] == b':');
        let mut i = 1;
        while i < b.len() - 2 {
            assert!(b[i].is_ascii_alphanumeric() || b[i] == b'_');
            i += 1;
        }
        JsonKey(quoted)
    }
}

/// The [`JsonKey`] for a literal member name: `json_key!("apiKey")` writes `"apiKey":`.
macro_rules! json_key {
    ($name:literal) => {{
        const KEY: $crate::http::response::JsonKey =
            $crate::http::response::JsonKey::quoted(concat!("\"", $name, "\":"));
        KEY
    }};
}
pub(crate) use json_key;

/// A JSON object written field by field into a buffer, for answers on the hottest routes where
/// serde's general machinery was a large part of the request's cost. String values are escaped
/// as JSON requires.
pub struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    fields: usize,
}

impl<'a> JsonObject<'a> {
    pub fn begin(out: &'a mut Vec<u8>) -> JsonObject<'a> {
        out.push(b'{');
        JsonObject { out, fields: 0 }
    }

    fn name(&mut self, name: JsonKey) {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        self.out.extend_from_slice(name.0.as_bytes());
    }

    pub fn string(&mut self, name: JsonKey, value: &str) {
        self.name(name);
        if needs_no_escape(value.as_bytes()) {
            self.out.push(b'"');
            self.out.extend_from_slice(value.as_bytes());
            self.out.push(b'"');
        } else if serde_json::to_writer(&mut *self.out, value).is_err() {
            // Writing to a Vec cannot fail; keep the document valid regardless.
            self.out.extend_from_slice(b"null");
        }
    }

    pub fn number(&mut self, name: JsonKey, value: u64) {
        self.name(name);
        self.out
            .extend_from_slice(decimal_digits(value, &mut [0; 20]).as_bytes());
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Whether `value` goes into a JSON string as it is: no control character, quote or backslash.
/// Eight bytes at a time, because API keys and names pass through here on every profile request.
fn needs_no_escape(value: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Some byte of `word` is below `n` (exact for n <= 0x80; see "Bit Twiddling Hacks").
    let has_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH != 0;
    let has_byte = |word: u64, b: u8| has_below(word ^ (ONES * u64::from(b)), 1);
    let mut words = value.chunks_exact(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(bytes);
        if has_below(word, 0x20) || has_byte(word, b'"') || has_byte(word, b'\\') {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// The decimal digits of `value`, written into the end of `buf`: for numbers in answers and log
/// lines, without the formatting machinery.
pub fn decimal_digits(mut value: u64, buf: &mut [u8; 20]) -> &str {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // ASCII digits: always UTF-8.
    std::str::from_utf8(&buf[start..]).unwrap_or_default()
}

/// A JSON response whose body `write` writes (see [`JsonObject`]), in the per-thread buffer.
pub fn json_written(status: StatusCode, write: impl FnOnce(&mut Vec<u8>)) -> Response<Body> {
    let encoded = encode(|buf| {
        write(buf);
        Ok::<(), std::convert::Infallible>(())
    });
    json_bytes(status, encoded.unwrap_or_else(|never| match never {}))
}

/// A non-JSON response (dashboard assets, the OpenAPI document is JSON but static).
pub fn bytes(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Headers that every response gets, whatever produced it. JSON answers ([`json_bytes`]) carry
/// them from the start.
pub fn add_security_headers(res: &mut Response<Body>) {
    let h = res.headers_mut();
    if super::headers::first_value(h, &X_CONTENT_TYPE_OPTIONS).is_some() {
        return;
    }
    // Known header names (no parsing or lower-casing per response).
    h.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    h.entry(X_FRAME_OPTIONS).or_insert(DENY);
    h.entry(REFERRER_POLICY).or_insert(SAME_ORIGIN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_names_and_odd_names_are_refused() {
        assert_eq!(json_key!("clientCount").0, "\"clientCount\":");
        let mut out = Vec::new();
        let mut object = JsonObject::begin(&mut out);
        object.number(json_key!("a_1"), 7);
        object.string(json_key!("b"), "x\"y");
        object.end();
        assert_eq!(out, br#"{"a_1":7,"b":"x\"y"}"#);
        for odd in ["\"a b\":", "\"a\"", "a:", "\"\":", "\"caf\u{e9}\":"] {
            let made = std::panic::catch_unwind(|| JsonKey::quoted(odd));
            assert!(made.is_err(), "{odd} was accepted");
        }
    }

    #[test]
    fn escaping_is_needed_exactly_for_controls_quotes_and_backslashes() {
        let plain_byte = |b: u8| b >= 0x20 && b != b'"' && b != b'\\';
        // Each byte value at each place of strings shorter and longer than a word.
        for len in [1, 7, 8, 9, 16, 17, 64] {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut value = vec![b'a'; len];
                    value[at] = b;
                    assert_eq!(
                        needs_no_escape(&value),
                        plain_byte(b),
                        "byte {b:#x} at {at} of {len}"
                    );
                }
            }
        }
        assert!(needs_no_escape(b""));
        assert!(needs_no_escape(
            "ünïcødé ✓ and more than eight bytes".as_bytes()
        ));
    }
}
