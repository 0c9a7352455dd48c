//! Looking up request and response headers on the hot path.

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;

/// Headers up to which [`first_value`] walks the map instead of hashing the name.
const SCAN_UP_TO: usize = 16;

/// The first value of header `name`, as `HeaderMap::get` finds it. API clients send a handful of
/// headers, and comparing that many names costs less than hashing a custom name like
/// `x-api-key`; a long header list is still looked up by hash.
pub fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    if headers.len() > SCAN_UP_TO {
        return headers.get(name);
    }
    headers
        .iter()
        .find_map(|(n, value)| (n == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{COOKIE, HOST, ORIGIN};

    fn x_api_key() -> HeaderName {
        HeaderName::from_static("x-api-key")
    }

    #[test]
    fn the_header_walk_finds_what_the_hashed_lookup_finds() {
        // Maps on both sides of the walk's limit, the wanted name absent, once, or repeated
        // (the first value counts), among standard and custom names.
        for size in [0, 1, 2, SCAN_UP_TO - 1, SCAN_UP_TO, SCAN_UP_TO + 1, 40] {
            for at in [None, Some(0), Some(size / 2), Some(size.saturating_sub(1))] {
                let mut h = HeaderMap::new();
                for i in 0..size {
                    if Some(i) == at {
                        h.append(x_api_key(), HeaderValue::from(i));
                        h.append(x_api_key(), HeaderValue::from_static("second"));
                    } else if i % 2 == 0 {
                        let name = HeaderName::from_bytes(format!("x-other-{i}").as_bytes());
                        h.append(name.unwrap_or(HOST), HeaderValue::from(i));
                    } else {
                        h.append(COOKIE, HeaderValue::from(i));
                    }
                }
                for name in [&x_api_key(), &COOKIE, &HOST, &ORIGIN] {
                    assert_eq!(
                        first_value(&h, name),
                        h.get(name),
                        "{name} in {size} headers, key at {at:?}"
                    );
                }
            }
        }
    }
}
