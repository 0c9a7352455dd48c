//! Randomised delays: reconnect backoff and keepalive intervals. Jitter keeps many engines (and many
//! Chattu boxes) from hitting the server in lockstep after an outage.

use crate::protocol::crypto::random_bytes;
use std::time::Duration;

/// A uniformly random fraction in [0, 1).
fn unit_random() -> f64 {
    let bytes: [u8; 4] = random_bytes();
    f64::from(u32::from_be_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// A random duration between `min` and `max` (inclusive of `min`).
pub fn between(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    min + (max - min).mul_f64(unit_random())
}

/// Delay before reconnect attempt `attempt` (0-based): `base · 2^attempt`, capped at `max`, then
/// scaled by a random factor in [0.5, 1) ("equal jitter").
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
    let capped = exp.min(max);
    capped.mul_f64(0.5 + unit_random() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps_and_stays_in_its_jitter_band() {
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(60);
        for attempt in 0..40 {
            let ceiling = base.saturating_mul(1 << attempt.min(20)).min(max);
            let d = backoff(attempt, base, max);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn between_stays_in_range() {
        let (lo, hi) = (Duration::from_secs(20), Duration::from_secs(30));
        for _ in 0..100 {
            let d = between(lo, hi);
            assert!(d >= lo && d <= hi);
        }
        assert_eq!(between(hi, lo), hi);
    }
}
