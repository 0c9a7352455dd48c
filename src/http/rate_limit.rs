//! In-memory, per-IP rate limiters with bounded memory.
//!
//! Each limiter is a fixed window per key: the window opens at a key's first counted hit and allows
//! `limit` hits until it closes. A fixed window is what the API doc's wording ("5 attempts/hour")
//! describes and it answers `Retry-After` exactly (the seconds until the window closes).
//!
//! Memory is bounded: at most `max_keys` keys are tracked. When the table is full, expired windows
//! are dropped first; if none expired, the key whose window opened earliest is evicted (it is the one
//! closest to being allowed again anyway).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default cap on tracked keys per limiter (~64 bytes each: well under 1 MiB).
pub const DEFAULT_MAX_KEYS: usize = 10_000;

/// The refusal: how long until the caller may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the `Retry-After` header, rounded up and at least 1.
    pub fn secs(self) -> u64 {
        let d = self.0;
        let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        whole.max(1)
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    count: u32,
}

/// One named limiter ("sensitive", "deletes", "api", "chat").
#[derive(Debug)]
pub struct Limiter {
    name: &'static str,
    limit: u32,
    window: Duration,
    max_keys: usize,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl Limiter {
    pub fn new(name: &'static str, limit: u32, window: Duration) -> Self {
        Self::with_capacity(name, limit, window, DEFAULT_MAX_KEYS)
    }

    pub fn with_capacity(
        name: &'static str,
        limit: u32,
        window: Duration,
        max_keys: usize,
    ) -> Self {
        Limiter {
            name,
            limit,
            window,
            max_keys: max_keys.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts one hit for `key`; refuses (without counting) once the window's budget is spent.
    pub fn try_acquire(&self, key: IpAddr) -> Result<(), RetryAfter> {
        self.try_acquire_at(key, Instant::now())
    }

    /// Refuses when `key` has spent its budget, without counting a hit (used before a login attempt,
    /// where only failures count).
    pub fn check(&self, key: IpAddr) -> Result<(), RetryAfter> {
        self.check_at(key, Instant::now())
    }

    /// Counts one hit for `key` unconditionally (a failed login).
    pub fn record(&self, key: IpAddr) {
        self.record_at(key, Instant::now())
    }

    /// Number of keys currently tracked (for tests and diagnostics).
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn try_acquire_at(&self, key: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let mut map = self.lock();
        if let Some(w) = map.get_mut(&key) {
            if now.saturating_duration_since(w.opened) < self.window {
                if w.count >= self.limit {
                    return Err(self.retry_after(w, now));
                }
                w.count += 1;
                return Ok(());
            }
            *w = Window {
                opened: now,
                count: 0,
            };
        }
        if self.limit == 0 {
            return Err(RetryAfter(self.window));
        }
        self.insert(&mut map, key, now);
        Ok(())
    }

    pub(crate) fn check_at(&self, key: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let map = self.lock();
        match map.get(&key) {
            Some(w)
                if now.saturating_duration_since(w.opened) < self.window
                    && w.count >= self.limit =>
            {
                Err(self.retry_after(w, now))
            }
            _ if self.limit == 0 => Err(RetryAfter(self.window)),
            _ => Ok(()),
        }
    }

    pub(crate) fn record_at(&self, key: IpAddr, now: Instant) {
        let mut map = self.lock();
        if let Some(w) = map.get_mut(&key) {
            if now.saturating_duration_since(w.opened) < self.window {
                w.count = w.count.saturating_add(1);
                return;
            }
            *w = Window {
                opened: now,
                count: 0,
            };
        }
        self.insert(&mut map, key, now);
    }

    /// Inserts (or restarts) `key` with one hit, evicting to stay within `max_keys`.
    fn insert(&self, map: &mut HashMap<IpAddr, Window>, key: IpAddr, now: Instant) {
        if !map.contains_key(&key) && map.len() >= self.max_keys {
            let window = self.window;
            map.retain(|_, w| now.saturating_duration_since(w.opened) < window);
            if map.len() >= self.max_keys {
                let oldest = map.iter().min_by_key(|(_, w)| w.opened).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            key,
            Window {
                opened: now,
                count: 1,
            },
        );
    }

    fn retry_after(&self, w: &Window, now: Instant) -> RetryAfter {
        let elapsed = now.saturating_duration_since(w.opened);
        RetryAfter(self.window.saturating_sub(elapsed))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        // A poisoned lock only means another request panicked mid-update of a counter; the map is
        // still usable, and refusing all traffic would be worse.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The four limiters the API doc names, built from `[rate_limits]`.
#[derive(Debug)]
pub struct RateLimits {
    /// Sensitive operations: reset-api-key, delete client, failed logins.
    pub sensitive: Limiter,
    /// Delete operations: cancel scheduled message, delete client.
    pub deletes: Limiter,
    /// The global API limiter on every /api/* request.
    pub api: Limiter,
    /// The chat limiter (chat routes, added with the engine).
    pub chat: Limiter,
}

impl RateLimits {
    pub fn new(
        sensitive_per_hour: u32,
        deletes_per_15min: u32,
        api_per_15min: u32,
        chat_per_minute: u32,
    ) -> Self {
        const MIN: u64 = 60;
        RateLimits {
            sensitive: Limiter::new(
                "sensitive",
                sensitive_per_hour,
                Duration::from_secs(60 * MIN),
            ),
            deletes: Limiter::new("deletes", deletes_per_15min, Duration::from_secs(15 * MIN)),
            api: Limiter::new("api", api_per_15min, Duration::from_secs(15 * MIN)),
            chat: Limiter::new("chat", chat_per_minute, Duration::from_secs(MIN)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn allows_exactly_limit_then_refuses_until_window_closes() {
        let l = Limiter::new("t", 3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.try_acquire_at(ip(1), t0).is_ok());
        }
        let refused = l.try_acquire_at(ip(1), t0 + Duration::from_secs(10));
        assert_eq!(refused, Err(RetryAfter(Duration::from_secs(50))));
        assert!(
            l.try_acquire_at(ip(2), t0).is_ok(),
            "other keys are independent"
        );
        assert!(
            l.try_acquire_at(ip(1), t0 + Duration::from_secs(60))
                .is_ok(),
            "window reopened"
        );
    }

    #[test]
    fn check_does_not_count_and_record_does() {
        let l = Limiter::new("t", 2, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.check_at(ip(1), t0).is_ok());
        }
        l.record_at(ip(1), t0);
        assert!(l.check_at(ip(1), t0).is_ok());
        l.record_at(ip(1), t0);
        assert!(l.check_at(ip(1), t0).is_err());
    }

    #[test]
    fn memory_stays_bounded_and_evicts_oldest() {
        let l = Limiter::with_capacity("t", 1, Duration::from_secs(60), 4);
        let t0 = Instant::now();
        for n in 0..50u8 {
            let _ = l.try_acquire_at(ip(n), t0 + Duration::from_millis(u64::from(n)));
            assert!(l.tracked_keys() <= 4);
        }
        // The newest key is still limited; the oldest was evicted.
        assert!(l
            .try_acquire_at(ip(49), t0 + Duration::from_millis(60))
            .is_err());
        assert!(l
            .try_acquire_at(ip(0), t0 + Duration::from_millis(60))
            .is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1500)).secs(), 2);
        assert_eq!(RetryAfter(Duration::from_millis(0)).secs(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(900)).secs(), 900);
    }
}
