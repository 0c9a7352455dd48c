//! Randomness from the operating system and constant-time comparison.

use ring::rand::{SecureRandom, SystemRandom};

/// Fills `buf` with bytes from the operating system's CSPRNG.
///
/// If the OS generator fails there is no safe way to continue (any key made afterwards could be
/// predictable), so this is the one deliberate abort in the module. On Linux `getrandom(2)` does not
/// fail once the pool is initialised, and no peer or user input can reach this path.
pub fn fill_random(buf: &mut [u8]) {
    if SystemRandom::new().fill(buf).is_err() {
        panic!("the operating system random number generator failed; refusing to make keys");
    }
}

/// Returns `N` random bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Eight bytes at a time (every API request compares a key), then the rest.
    let word = |chunk: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        u64::from_ne_bytes(bytes)
    };
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a_words
        .remainder()
        .iter()
        .zip(b_words.remainder())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    let words = a_words
        .zip(b_words)
        .fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    std::hint::black_box(words | u64::from(tail)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_differ_between_calls() {
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
        // A difference in any byte, in the words and in the tail, of lengths around a word.
        for len in [1, 7, 8, 9, 16, 23, 64, 65] {
            let a: Vec<u8> = (0..len).map(|i| i as u8).collect();
            assert!(constant_time_eq(&a, &a.clone()));
            for at in 0..len {
                for flip in [0x01, 0x80] {
                    let mut b = a.clone();
                    b[at] ^= flip;
                    assert!(!constant_time_eq(&a, &b), "len {len}, byte {at}");
                }
            }
        }
    }
}
