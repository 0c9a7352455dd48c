//! Secrets: API keys, session tokens, generated passwords and password hashing.
//!
//! Keys and tokens are 256 random bits from the OS (ring's `SystemRandom`), written as 64
//! lowercase hex characters. Passwords are hashed with argon2id; the default parameters
//! (19 MiB, 2 passes, 1 lane — OWASP's baseline) take roughly 0.1–0.3 s on a Raspberry Pi 4 and
//! are configurable in `[accounts]`. The PHC string stores its own parameters, so changing them
//! later still verifies old hashes.

use super::Error;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use ring::rand::{SecureRandom, SystemRandom};

/// Length in hex characters of keys and tokens we issue.
pub const KEY_HEX_LEN: usize = 64;

pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| Error::Internal("operating system random generator failed".into()))?;
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new account or client API key (256 bits, hex).
pub fn new_api_key() -> Result<String, Error> {
    Ok(hex(&random_bytes::<32>()?))
}

/// A new login session token (256 bits, hex).
pub fn new_session_token() -> Result<String, Error> {
    Ok(hex(&random_bytes::<32>()?))
}

/// A generated password: 20 characters from an unambiguous 57-letter alphabet (~116 bits).
pub fn new_password() -> Result<String, Error> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        for b in random_bytes::<32>()? {
            // Rejection sampling keeps every letter equally likely.
            let limit = 256 - 256 % ALPHABET.len();
            if usize::from(b) < limit && out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// Whether a presented key has the shape of one we issue (cheap rejection before any lookup;
/// also accepts longer keys, and shorter ones down to 128 bits, for imported accounts).
pub fn looks_like_key(key: &str) -> bool {
    (32..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Password hashing with fixed argon2id parameters.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
}

impl PasswordHashing {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<PasswordHashing, Error> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        Ok(PasswordHashing { params })
    }

    /// The PHC string of a password with a fresh 128-bit salt.
    pub fn hash(&self, password: &str) -> Result<String, Error> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    }

    /// Whether `password` matches a stored PHC string (false for a malformed string).
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the same time as a verification, for unknown usernames (no user enumeration by timing).
    pub fn burn(&self, password: &str) {
        let _ = self.hash(password);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_hex_and_distinct() {
        let keys: Vec<String> = (0..200).map(|_| new_api_key().unwrap()).collect();
        for key in &keys {
            assert_eq!(key.len(), KEY_HEX_LEN);
            assert!(looks_like_key(key));
            assert!(key
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        let unique: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
        // Every hex digit shows up across 200 keys of 64 digits; a broken generator would not.
        let digits: std::collections::HashSet<u8> = keys.iter().flat_map(|k| k.bytes()).collect();
        assert_eq!(digits.len(), 16);
        assert_ne!(new_session_token().unwrap(), new_session_token().unwrap());
    }

    #[test]
    fn key_shape_check() {
        assert!(!looks_like_key(""));
        assert!(
            !looks_like_key("1f92bf99680b32fedeb1"),
            "80 bits is too short"
        );
        assert!(!looks_like_key(&"g".repeat(64)));
        assert!(!looks_like_key(&"a".repeat(129)));
        assert!(looks_like_key(&"A".repeat(32)));
    }

    #[test]
    fn generated_passwords() {
        let a = new_password().unwrap();
        assert_eq!(a.chars().count(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, new_password().unwrap());
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn password_hash_verifies_only_the_right_password() {
        let hashing = PasswordHashing::new(1024, 1).unwrap();
        let phc = hashing.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(hashing.verify("correct horse", &phc));
        assert!(!hashing.verify("correct horse ", &phc));
        assert!(!hashing.verify("", &phc));
        assert!(!hashing.verify("correct horse", "not a hash"));
        assert_ne!(phc, hashing.hash("correct horse").unwrap(), "salted");
        // A hash made with other parameters still verifies.
        let stronger = PasswordHashing::new(2048, 2).unwrap();
        assert!(stronger.verify("correct horse", &phc));
    }
}
