//! Checks on user-supplied fields, each returning [`Error::Validation`] naming the field.

use super::Error;

/// Longest text message WhatsApp accepts from the API (characters).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Usernames: 1–64 of letters, digits, `.`, `_`, `-` (they appear in URLs and logs).
pub fn username(name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "username",
            "use 1-64 letters, digits, '.', '_' or '-'",
        ))
    }
}

/// Passwords: 8–1024 characters (long enough to matter, short enough to hash cheaply).
pub fn password(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < 8 {
        Err(Error::validation(
            "password",
            "must be at least 8 characters",
        ))
    } else if n > 1024 {
        Err(Error::validation(
            "password",
            "must be at most 1024 characters",
        ))
    } else {
        Ok(())
    }
}

/// Client ids: 1–64 of letters, digits, `_`, `-` (they are path segments of the API).
pub fn client_id(id: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "clientId",
            "use 1-64 letters, digits, '_' or '-'",
        ))
    }
}

/// A phone number with country code: optional leading `+`, then 7–15 digits (E.164).
/// Returns the digits without the `+`.
pub fn phone_digits<'a>(field: &'static str, number: &'a str) -> Result<&'a str, Error> {
    let digits = number.trim().strip_prefix('+').unwrap_or(number.trim());
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(Error::validation(
            field,
            "must be 7-15 digits with country code, optionally starting with +",
        ))
    }
}

/// A text message: not blank, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn message_text(field: &'static str, text: &str) -> Result<(), Error> {
    if text.trim().is_empty() {
        Err(Error::validation(field, "must not be empty"))
    } else if text.chars().count() > MAX_MESSAGE_CHARS {
        Err(Error::validation(
            field,
            format!("must be at most {MAX_MESSAGE_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert_eq!(phone_digits("number", "+9721234567").unwrap(), "9721234567");
        assert_eq!(phone_digits("number", "1234567").unwrap(), "1234567");
        assert_eq!(
            phone_digits("number", "123456789012345").unwrap(),
            "123456789012345"
        );
        for bad in [
            "",
            "+",
            "123456",
            "1234567890123456",
            "++1234567",
            "12 34567",
            "972-123-4567",
            "+97212345a7",
        ] {
            assert!(phone_digits("number", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages() {
        assert!(message_text("message", "hi").is_ok());
        assert!(
            message_text("message", &"ש".repeat(4096)).is_ok(),
            "counted in characters, not bytes"
        );
        assert!(message_text("message", &"a".repeat(4097)).is_err());
        assert!(message_text("message", " \n").is_err());
    }

    #[test]
    fn names() {
        assert!(username("admin").is_ok());
        assert!(username("a.b-c_d").is_ok());
        assert!(username("").is_err());
        assert!(username("a b").is_err());
        assert!(username(&"a".repeat(65)).is_err());
        assert!(client_id("client-id_2").is_ok());
        assert!(client_id("client.id").is_err());
        assert!(client_id("a/b").is_err());
        assert!(password("12345678").is_ok());
        assert!(password("1234567").is_err());
    }
}
