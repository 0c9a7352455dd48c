//! The token dictionaries (version 3): frequent strings sent as one byte (`single`) or two (`double`).
//!
//! The table is data (`wa-tokens.json`, compiled into the binary). It is parsed once, on first use, into
//! plain vectors for decoding and one hash map for encoding; both live for the rest of the process.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// The dictionary version these tables belong to (the 4th byte of the connection header).
pub const DICTIONARY_VERSION: u8 = 3;

const TOKENS_JSON: &str = include_str!("wa-tokens.json");

/// How a string is written when it is a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// One byte, 1..=235.
    Single(u8),
    /// `DICTIONARY_0 + dict`, then `index`.
    Double { dict: u8, index: u8 },
}

struct Tables {
    single: Vec<String>,
    double: Vec<Vec<String>>,
    lookup: HashMap<String, Token, BuildHasherDefault<FnvHasher>>,
    /// Longest token in bytes: longer strings skip the hash entirely.
    longest: usize,
}

/// FNV-1a: tokens are short, and the default SipHash costs more than the lookup it guards.
#[derive(Default)]
struct FnvHasher(u64);

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build_tables)
}

fn string_list(value: Option<&serde_json::Value>) -> Vec<String> {
    value
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn build_tables() -> Tables {
    // The JSON is compiled in and checked by the tests below, so a parse failure can only mean a broken
    // build; an empty table then makes every string go out raw instead of crashing.
    let json: serde_json::Value = serde_json::from_str(TOKENS_JSON).unwrap_or_default();
    let single = string_list(json.get("single"));
    let double: Vec<Vec<String>> = json
        .get("double")
        .and_then(|v| v.as_array())
        .map(|dicts| dicts.iter().map(|d| string_list(Some(d))).collect())
        .unwrap_or_default();
    let mut lookup = HashMap::with_capacity_and_hasher(1300, BuildHasherDefault::default());
    // Single-byte tokens win over double-byte ones, as in every client; entry 0 is a placeholder.
    for (dict, words) in double.iter().enumerate().take(4) {
        for (index, word) in words.iter().enumerate().take(256) {
            if !word.is_empty() {
                let token = Token::Double {
                    dict: dict as u8,
                    index: index as u8,
                };
                lookup.insert(word.clone(), token);
            }
        }
    }
    for (index, word) in single.iter().enumerate().take(236).skip(1) {
        if !word.is_empty() {
            lookup.insert(word.clone(), Token::Single(index as u8));
        }
    }
    let longest = lookup.keys().map(String::len).max().unwrap_or(0);
    Tables {
        single,
        double,
        lookup,
        longest,
    }
}

/// The token for `text`, if it has one.
pub fn lookup(text: &str) -> Option<Token> {
    let t = tables();
    if text.len() > t.longest {
        return None;
    }
    t.lookup.get(text).copied()
}

/// The single-byte token for a tag byte in 1..=235.
pub fn single(byte: u8) -> Option<&'static str> {
    match byte {
        0 => None,
        b => tables().single.get(usize::from(b)).map(String::as_str),
    }
}

/// The double-byte token `double[dict][index]`.
pub fn double(dict: u8, index: u8) -> Option<&'static str> {
    tables()
        .double
        .get(usize::from(dict))?
        .get(usize::from(index))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shape_matches_dictionary_version_3() {
        let t = tables();
        assert_eq!(t.single.len(), 236);
        assert_eq!(t.double.len(), 4);
        assert!(t.double.iter().all(|d| d.len() == 256));
        assert_eq!(t.lookup.len(), 235 + 4 * 256);
    }

    #[test]
    fn known_tokens() {
        assert_eq!(lookup("s.whatsapp.net"), Some(Token::Single(3)));
        assert_eq!(lookup("iq"), Some(Token::Single(25)));
        assert_eq!(
            lookup("2:47DEQpj8"),
            Some(Token::Double { dict: 0, index: 8 })
        );
        assert_eq!(lookup(""), None);
        assert_eq!(single(29), Some("enc"));
        assert_eq!(single(0), None);
        assert_eq!(single(236), None);
        assert_eq!(double(0, 8), Some("2:47DEQpj8"));
        assert_eq!(double(4, 0), None);
    }

    #[test]
    fn every_token_round_trips() {
        for b in 1..=235u8 {
            let word = single(b).unwrap_or_default();
            assert_eq!(lookup(word), Some(Token::Single(b)), "{word}");
        }
        for d in 0..4u8 {
            for i in 0..=255u8 {
                let word = double(d, i).unwrap_or_default();
                assert_eq!(
                    lookup(word),
                    Some(Token::Double { dict: d, index: i }),
                    "{word}"
                );
            }
        }
    }
}
