//! Secrets: API keys, session tokens, generated passwords and password hashing.
//!
//! Keys and tokens are 256 random bits from the OS (ring's `SystemRandom`), written as 64
//! lowercase hex characters. Passwords are hashed with argon2id; the default parameters
//! (19 MiB, 2 passes, 1 lane — OWASP's baseline) take roughly 0.1–0.3 s on a Raspberry Pi 4 and
//! are configurable in `[accounts]`. The PHC string stores its own parameters, so changing them
//! later still verifies old hashes.
//!
//! Every hash and verification fills one shared, reused block buffer (behind a mutex) instead of
//! allocating 19 MiB per call: with glibc, freed buffers of that size stay in whichever
//! per-thread arena the blocking thread used, so a server that checked a few dozen passwords
//! grew by hundreds of MiB. The cost is that hashes run one at a time, which is fine because
//! logins are rate-limited anyway. musl's allocator has no such arenas and returns a freed buffer
//! of this size to the system at once, so static musl builds free the buffer after each use.

use super::Error;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use ring::rand::{SecureRandom, SystemRandom};
use std::sync::{Arc, Mutex};

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

/// Compares two secrets in time independent of where they differ (one implementation for the
/// whole program, in the protocol's crypto module).
pub use crate::protocol::crypto::constant_time_eq;

/// Password hashing with fixed argon2id parameters and one reused working buffer.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    params: Params,
    /// argon2 working memory shared by all hashes; grows to the largest `m` ever needed.
    blocks: Arc<Mutex<Vec<Block>>>,
}

impl PasswordHashing {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<PasswordHashing, Error> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        Ok(PasswordHashing {
            params,
            blocks: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// The PHC string of a password with a fresh 128-bit salt.
    pub fn hash(&self, password: &str) -> Result<String, Error> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()?)
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let output = self
            .compute(&argon2, password, salt.as_salt())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
        let params = ParamsString::try_from(&self.params)
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches a stored PHC string (false for a malformed string).
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        self.check(password, phc).unwrap_or(false)
    }

    fn check(&self, password: &str, phc: &str) -> Result<bool, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(phc)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(parsed.algorithm)?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v)?,
            None => Version::default(),
        };
        // Carries the stored m, t, p and output length, so old parameters keep verifying.
        let params = Params::try_from(&parsed)?;
        let output = self.compute(&Argon2::new(algorithm, version, params), password, salt)?;
        // `Output`'s equality is constant-time.
        Ok(output == expected)
    }

    /// Runs argon2 in the shared buffer (serialising concurrent hashes).
    fn compute(
        &self,
        argon2: &Argon2<'_>,
        password: &str,
        salt: Salt<'_>,
    ) -> Result<Output, argon2::password_hash::Error> {
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf)?;
        let params = argon2.params();
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let needed = params.block_count();
        // A panic elsewhere cannot leave the buffer in a state that matters: argon2 overwrites it.
        let mut blocks = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if blocks.len() < needed {
            blocks.resize(needed, Block::default());
        }
        let output = Output::init_with(output_len, |out| {
            argon2
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    salt_bytes,
                    out,
                    &mut blocks[..],
                )
                .map_err(argon2::password_hash::Error::from)
        });
        // musl (the static release builds) maps a buffer this large on its own and unmaps it when
        // freed, so there keeping it would only pin 19 MiB for a rare login.
        if cfg!(target_env = "musl") {
            *blocks = Vec::new();
        }
        output
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

    #[test]
    fn hashes_interoperate_with_the_argon2_crate_defaults() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let hashing = PasswordHashing::new(1024, 1).unwrap();
        // A hash made the old way (the crate allocating its own memory) verifies with ours...
        let params = Params::new(1024, 1, 1, None).unwrap();
        let salt = SaltString::encode_b64(&random_bytes::<16>().unwrap()).unwrap();
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"s3cret pass", &salt)
            .unwrap()
            .to_string();
        assert!(hashing.verify("s3cret pass", &old));
        assert!(!hashing.verify("s3cret pas", &old));
        // ...and ours verifies the old way, with the same PHC layout.
        let new = hashing.hash("s3cret pass").unwrap();
        let parsed = PasswordHash::new(&new).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret pass", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"other", &parsed)
            .is_err());
        assert_eq!(parsed.hash.map(|h| h.len()), Some(32));
        // An argon2i hash with a bigger m grows the shared buffer and still verifies.
        let params = Params::new(4096, 1, 1, None).unwrap();
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"s3cret pass", &salt)
            .unwrap()
            .to_string();
        assert!(hashing.verify("s3cret pass", &argon2i));
        assert!(!hashing.verify("nope", &argon2i));
    }

    fn vm_rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Hashing with the default 19 MiB parameters on many threads must not keep a 19 MiB
    /// buffer per thread arena (the old behaviour grew RSS by hundreds of MiB).
    #[test]
    fn default_parameter_hashing_on_many_threads_keeps_rss_bounded() {
        let hashing = PasswordHashing::new(19_456, 2).unwrap();
        let phc = hashing.hash("warm up").unwrap();
        let before = vm_rss_kib();
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let hashing = hashing.clone();
                let phc = phc.clone();
                std::thread::spawn(move || {
                    for i in 0..5 {
                        if (t + i) % 2 == 0 {
                            assert!(hashing.verify("warm up", &phc));
                        } else {
                            assert!(hashing.hash("another").is_ok());
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let after = vm_rss_kib();
        println!("VmRSS before {before:?} KiB, after 30 hashes on 6 threads {after:?} KiB");
        if let (Some(before), Some(after)) = (before, after) {
            // Other tests run in this process at the same time, so allow generous slack.
            assert!(
                after.saturating_sub(before) < 64 * 1024,
                "RSS grew from {before} KiB to {after} KiB"
            );
        }
    }
}
