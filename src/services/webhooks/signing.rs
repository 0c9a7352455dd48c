//! Webhook signatures: `X-Chattu-Signature: sha256=<hex HMAC-SHA256("<timestamp>.<body>")>`, keyed
//! with the client's API key, with `X-Chattu-Timestamp: <unix seconds>`.
//!
//! Signing the timestamp with the body lets a receiver refuse old requests (a tolerance window)
//! without trusting an unsigned header; together with the event id (deduplicated by the receiver)
//! this refuses replays. [`verify`] is the receiver's side, used by our tests and shown in
//! docs/webhooks.md.

use ring::hmac;

/// The signature header value for a body sent at `timestamp_secs`.
pub fn sign(api_key: &str, timestamp_secs: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp_secs.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    let tag = ctx.sign();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Why a receiver refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The timestamp header is missing or not a number.
    BadTimestamp,
    /// The timestamp is further than the tolerance from the receiver's clock.
    Stale,
    /// The signature header is missing, malformed or does not match.
    BadSignature,
}

/// Checks a received webhook the way a receiver should: the signature over the raw body in
/// constant time, then the timestamp within `tolerance_secs` of `now_secs`.
pub fn verify(
    api_key: &str,
    timestamp_header: &str,
    body: &[u8],
    signature_header: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let timestamp: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let hex = signature_header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(VerifyError::BadSignature)?;
    let tag = decode_hex(hex).ok_or(VerifyError::BadSignature)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, api_key.as_bytes());
    let mut signed = Vec::with_capacity(body.len() + 21);
    signed.extend_from_slice(timestamp.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &tag).map_err(|_| VerifyError::BadSignature)?;
    if (now_secs - timestamp).abs() > tolerance_secs {
        return Err(VerifyError::Stale);
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac_sha256() {
        // The streamed construction equals a one-shot HMAC over "<timestamp>.<body>".
        let sig = sign("key", 1_700_000_000, "{\"event\":\"x\"}");
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"key"),
            b"1700000000.{\"event\":\"x\"}",
        );
        let hex: String = expected
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("sha256={hex}"));
    }

    #[test]
    fn verify_accepts_fresh_and_refuses_tampered_stale_or_malformed() {
        let body = "{\"event\":\"message_sent\"}";
        let sig = sign("secret", 1000, body);
        assert_eq!(
            verify("secret", "1000", body.as_bytes(), &sig, 1100, 300),
            Ok(())
        );
        assert_eq!(
            verify("secret", "1000", b"{\"event\":\"other\"}", &sig, 1000, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify("other-key", "1000", body.as_bytes(), &sig, 1000, 300),
            Err(VerifyError::BadSignature)
        );
        // A replayed request with a rewritten timestamp no longer matches its signature.
        assert_eq!(
            verify("secret", "2000", body.as_bytes(), &sig, 2000, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify("secret", "1000", body.as_bytes(), &sig, 1301, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify("secret", "x", body.as_bytes(), &sig, 1000, 300),
            Err(VerifyError::BadTimestamp)
        );
        for bad in ["", "sha256=", "sha256=zz", "md5=00", &sig[..sig.len() - 1]] {
            assert_eq!(
                verify("secret", "1000", body.as_bytes(), bad, 1000, 300),
                Err(VerifyError::BadSignature),
                "{bad}"
            );
        }
    }
}
