//! A bounded memory of account API keys that authenticated recently, so that a request with an
//! account key is answered without a redb read transaction (the key lookup was a third of the
//! cost of `GET /api/profile`).
//!
//! Only account-key callers are kept. Everything such a caller is (username, role, disabled,
//! plan) comes from the account record, and every change to an account record goes through
//! [`super::Accounts`], which empties this cache after each change. Client keys are not kept:
//! deleting a client happens in `services::clients`, and a deleted client's key must stop working
//! at once. Sessions are not kept either (they expire by the clock).
//!
//! Security: entries are found by a keyed hash of the key's first bytes (SipHash with random
//! keys made at start, never by the key itself, so a hash-table probe reveals nothing about a
//! secret; it is far cheaper than the SHA-256 the store's index needs) and the whole stored key
//! is then compared in constant time. Failed lookups are never remembered, so guessing keys still costs a store read
//! and is still counted by the rate limiter. A fill that raced with a change is dropped: a fill
//! carries the [`Generation`] it saw before reading the store, and every change moves the
//! generation on.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use crate::services::secrets;
use crate::services::{AuthVia, Caller};
use crate::store::ReadMostly;

/// Account keys kept at most: one per account that called recently, so plenty for an
/// appliance, and small (about 150 bytes each).
pub const CAPACITY: usize = 256;

/// Bytes of a key that choose its slot (see [`CallerCache::slot`]).
const SLOT_BYTES: usize = 16;

/// The cache state a store read started from; see [`CallerCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

#[derive(Clone)]
struct Entry {
    key: Box<[u8]>,
    caller: Caller,
}

#[derive(Clone, Default)]
struct Inner {
    generation: u64,
    /// By [`CallerCache::slot`]; two keys in one slot just means one of them is not cached.
    entries: HashMap<u64, Entry, BuildHasherDefault<SlotHasher>>,
}

/// A slot is already a keyed SipHash, uniform and unknown to callers: the map uses it as its
/// hash instead of hashing it a second time.
#[derive(Default)]
struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 slots are hashed here (`write_u64`); anything else is folded in, still correct.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, slot: u64) {
        self.0 = slot;
    }
}

/// Read on every request with an account key, written once per key after each account change:
/// readers take no lock, and a fill copies the (small) map.
pub struct CallerCache {
    capacity: usize,
    /// The secret SipHash keys that place a key in the map.
    slots: RandomState,
    inner: ReadMostly<Inner>,
}

impl CallerCache {
    pub fn new(capacity: usize) -> CallerCache {
        CallerCache {
            capacity,
            slots: RandomState::new(),
            inner: ReadMostly::new(Inner::default()),
        }
    }

    /// The slot of `key`: a keyed hash of its first [`SLOT_BYTES`] bytes. Our keys are random
    /// hex, so those bytes already tell them apart (64 bits), and hashing all 64 was a tenth of
    /// an authenticated request's cost; the whole key is compared in the slot.
    fn slot(&self, key: &str) -> u64 {
        let bytes = key.as_bytes();
        self.slots
            .hash_one(bytes.get(..SLOT_BYTES).unwrap_or(bytes))
    }

    /// The caller for `key`, if it authenticated since the last change.
    pub fn get(&self, key: &str) -> Option<Caller> {
        self.lookup(self.slot(key), key)
    }

    /// The entry in `slot`, if it holds `key`.
    fn lookup(&self, slot: u64, key: &str) -> Option<Caller> {
        self.inner.read(|inner| {
            let entry = inner.entries.get(&slot)?;
            secrets::constant_time_eq(&entry.key, key.as_bytes()).then(|| entry.caller.clone())
        })
    }

    /// Taken before reading the store for a key, and handed to [`CallerCache::insert`].
    pub fn generation(&self) -> Generation {
        Generation(self.inner.read(|inner| inner.generation))
    }

    /// Remembers an account-key caller read from the store, unless an account changed since
    /// `seen` (the read may then predate the change) or the caller is not an enabled account key.
    pub fn insert(&self, seen: Generation, key: &str, caller: &Caller) {
        if caller.via != AuthVia::AccountKey || caller.user.disabled || self.capacity == 0 {
            return;
        }
        let slot = self.slot(key);
        self.inner.update(|now| {
            if now.generation != seen.0 {
                return None;
            }
            let mut next = now.clone();
            if next.entries.len() >= self.capacity && !next.entries.contains_key(&slot) {
                // Any entry will do: an evicted key just costs one store read on its next request.
                if let Some(victim) = next.entries.keys().next().copied() {
                    next.entries.remove(&victim);
                }
            }
            next.entries.insert(
                slot,
                Entry {
                    key: key.as_bytes().into(),
                    caller: caller.clone(),
                },
            );
            Some(next)
        });
    }

    /// Forgets every entry and makes fills that started before now fail. Called after every
    /// change to an account (key, disabled, plan, password, deletion).
    pub fn clear(&self) {
        self.inner.update(|now| {
            Some(Inner {
                generation: now.generation.wrapping_add(1),
                entries: HashMap::default(),
            })
        });
    }

    /// Entries kept now (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.inner.read(|inner| inner.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::User;
    use crate::store::Role;

    fn caller(name: &str, via: AuthVia) -> Caller {
        Caller {
            user: User {
                username: name.into(),
                role: Role::User,
                disabled: false,
                max_clients: 3,
                created_ms: 0,
            },
            via,
        }
    }

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn keeps_an_account_key_caller_and_checks_the_key_itself() {
        let cache = CallerCache::new(4);
        let g = cache.generation();
        cache.insert(g, KEY, &caller("bob", AuthVia::AccountKey));
        assert_eq!(cache.get(KEY).map(|c| c.user.username), Some("bob".into()));
        // The same slot asked for a different key (a collision): no answer.
        let other = "f0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert!(cache.lookup(cache.slot(KEY), other).is_none());
        assert!(cache.get(other).is_none());
        // Keys that share the slot's bytes and differ after them, or are longer or shorter.
        for at in [SLOT_BYTES, 40, KEY.len() - 1] {
            let mut changed = KEY.as_bytes().to_vec();
            changed[at] = b'x';
            let changed = String::from_utf8(changed).unwrap_or_default();
            assert_eq!(cache.slot(&changed), cache.slot(KEY));
            assert!(cache.get(&changed).is_none(), "differs at {at}");
        }
        for near in [
            &KEY[..KEY.len() - 1],
            &KEY[..SLOT_BYTES],
            &format!("{KEY}0"),
        ] {
            assert!(cache.get(near).is_none(), "{near}");
        }
        // Short keys (they never authenticate) still get a slot.
        assert!(cache.get("").is_none() && cache.get("ab").is_none());
    }

    #[test]
    fn never_keeps_client_keys_sessions_or_disabled_accounts() {
        let cache = CallerCache::new(4);
        let g = cache.generation();
        cache.insert(g, KEY, &caller("b", AuthVia::ClientKey("c1".into())));
        cache.insert(g, KEY, &caller("b", AuthVia::Session));
        let mut disabled = caller("b", AuthVia::AccountKey);
        disabled.user.disabled = true;
        cache.insert(g, KEY, &disabled);
        assert!(cache.len() == 0);
    }

    #[test]
    fn a_fill_that_raced_with_a_change_is_dropped() {
        let cache = CallerCache::new(4);
        let before = cache.generation();
        cache.clear(); // an account changed while the store was being read
        cache.insert(before, KEY, &caller("bob", AuthVia::AccountKey));
        assert!(cache.get(KEY).is_none());
        let after = cache.generation();
        cache.insert(after, KEY, &caller("bob", AuthVia::AccountKey));
        assert!(cache.get(KEY).is_some());
        cache.clear();
        assert!(cache.get(KEY).is_none() && cache.len() == 0);
    }

    #[test]
    fn stays_within_capacity() {
        let cache = CallerCache::new(3);
        for n in 0..20u8 {
            let key = format!("{n:02x}{}", &KEY[2..]);
            let g = cache.generation();
            cache.insert(g, &key, &caller("bob", AuthVia::AccountKey));
            assert!(cache.len() <= 3);
            assert!(cache.get(&key).is_some(), "newest is kept");
        }
        let off = CallerCache::new(0);
        off.insert(off.generation(), KEY, &caller("b", AuthVia::AccountKey));
        assert!(off.len() == 0, "capacity 0 turns the cache off");
    }
}
