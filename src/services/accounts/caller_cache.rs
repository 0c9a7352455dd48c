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
//! Security: entries are found by the SHA-256 digest of the key (never by the key itself, so a
//! hash-table probe reveals nothing about a secret) and the stored key is then compared in
//! constant time. Failed lookups are never remembered, so guessing keys still costs a store read
//! and is still counted by the rate limiter. A fill that raced with a change is dropped: a fill
//! carries the [`Generation`] it saw before reading the store, and every change moves the
//! generation on.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::services::secrets;
use crate::services::{AuthVia, Caller};

/// Account keys kept at most: one per account that called recently, so plenty for an
/// appliance, and small (about 150 bytes each).
pub const CAPACITY: usize = 256;

/// The cache state a store read started from; see [`CallerCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

struct Entry {
    key: Box<[u8]>,
    caller: Caller,
}

struct Inner {
    generation: u64,
    entries: HashMap<[u8; 32], Entry>,
}

pub struct CallerCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl CallerCache {
    pub fn new(capacity: usize) -> CallerCache {
        CallerCache {
            capacity,
            inner: Mutex::new(Inner {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }

    /// The caller for `key` (whose SHA-256 is `digest`), if it authenticated since the last change.
    pub fn get(&self, digest: &[u8; 32], key: &str) -> Option<Caller> {
        let inner = self.lock();
        let entry = inner.entries.get(digest)?;
        secrets::constant_time_eq(&entry.key, key.as_bytes()).then(|| entry.caller.clone())
    }

    /// Taken before reading the store for a key, and handed to [`CallerCache::insert`].
    pub fn generation(&self) -> Generation {
        Generation(self.lock().generation)
    }

    /// Remembers an account-key caller read from the store, unless an account changed since
    /// `seen` (the read may then predate the change) or the caller is not an enabled account key.
    pub fn insert(&self, seen: Generation, digest: [u8; 32], key: &str, caller: &Caller) {
        if caller.via != AuthVia::AccountKey || caller.user.disabled || self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != seen.0 {
            return;
        }
        if inner.entries.len() >= self.capacity && !inner.entries.contains_key(&digest) {
            // Any entry will do: an evicted key just costs one store read on its next request.
            if let Some(victim) = inner.entries.keys().next().copied() {
                inner.entries.remove(&victim);
            }
        }
        inner.entries.insert(
            digest,
            Entry {
                key: key.as_bytes().into(),
                caller: caller.clone(),
            },
        );
    }

    /// Forgets every entry and makes fills that started before now fail. Called after every
    /// change to an account (key, disabled, plan, password, deletion).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
    }

    /// Entries kept now (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic while holding it; the map itself is always consistent
        // (each operation is a single insert/remove/clear), so keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::User;
    use crate::store::{digest, Role};

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
        cache.insert(g, digest(KEY), KEY, &caller("bob", AuthVia::AccountKey));
        assert_eq!(
            cache.get(&digest(KEY), KEY).map(|c| c.user.username),
            Some("bob".into())
        );
        // Same digest slot, different key (a stale or forged entry): no answer.
        let other = "f0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert!(cache.get(&digest(KEY), other).is_none());
        assert!(cache.get(&digest(other), other).is_none());
    }

    #[test]
    fn never_keeps_client_keys_sessions_or_disabled_accounts() {
        let cache = CallerCache::new(4);
        let g = cache.generation();
        cache.insert(
            g,
            digest(KEY),
            KEY,
            &caller("b", AuthVia::ClientKey("c1".into())),
        );
        cache.insert(g, digest(KEY), KEY, &caller("b", AuthVia::Session));
        let mut disabled = caller("b", AuthVia::AccountKey);
        disabled.user.disabled = true;
        cache.insert(g, digest(KEY), KEY, &disabled);
        assert!(cache.len() == 0);
    }

    #[test]
    fn a_fill_that_raced_with_a_change_is_dropped() {
        let cache = CallerCache::new(4);
        let before = cache.generation();
        cache.clear(); // an account changed while the store was being read
        cache.insert(
            before,
            digest(KEY),
            KEY,
            &caller("bob", AuthVia::AccountKey),
        );
        assert!(cache.get(&digest(KEY), KEY).is_none());
        let after = cache.generation();
        cache.insert(after, digest(KEY), KEY, &caller("bob", AuthVia::AccountKey));
        assert!(cache.get(&digest(KEY), KEY).is_some());
        cache.clear();
        assert!(cache.get(&digest(KEY), KEY).is_none() && cache.len() == 0);
    }

    #[test]
    fn stays_within_capacity() {
        let cache = CallerCache::new(3);
        for n in 0..20u8 {
            let key = format!("{n:02x}{}", &KEY[2..]);
            let g = cache.generation();
            cache.insert(g, digest(&key), &key, &caller("bob", AuthVia::AccountKey));
            assert!(cache.len() <= 3);
            assert!(cache.get(&digest(&key), &key).is_some(), "newest is kept");
        }
        let off = CallerCache::new(0);
        off.insert(
            off.generation(),
            digest(KEY),
            KEY,
            &caller("b", AuthVia::AccountKey),
        );
        assert!(off.len() == 0, "capacity 0 turns the cache off");
    }
}
