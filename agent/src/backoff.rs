//! Capped, jittered exponential backoff between connection attempts, for every reconnecting
//! part of the agent: the MQTT sink, Modbus TCP devices, RTU buses and serial streams.
//!
//! Attempt `n` (counting failures since the last working connection) waits a
//! delay drawn uniformly from `[d/2, d]`, with `d = min(max, min * 2^(n-1))`.
//! The jitter keeps a plant full of gateways from reconnecting in lockstep
//! after the broker comes back. The generator is a small SplitMix64 seeded
//! from the clock and the client id: no dependency, and tests seed it.

use std::time::Duration;

/// Reconnection delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// `min` is the first delay's upper end, `max` the cap; `seed` feeds the jitter.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            rng: seed,
        }
    }

    /// `min` to `max`, jitter seeded from the clock and `name` (a device or client id), so
    /// that gateways and devices restarted together spread their attempts.
    pub fn seeded(min: Duration, max: Duration, name: &str) -> Self {
        Self::new(min, max, Self::seed_from(name))
    }

    /// A seed from the wall clock and a name (the client id).
    pub fn seed_from(name: &str) -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        name.bytes()
            .fold(nanos, |h, b| h.rotate_left(5) ^ u64::from(b))
    }

    /// Failed attempts since the last working connection.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a failed attempt and returns how long to wait before the next.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let doublings = self.failures.saturating_sub(1).min(32);
        let ceiling = self
            .min
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max);
        let half = ceiling / 2;
        let span = (ceiling - half).as_nanos() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.next_random() % (span + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// The connection works again: the next failure starts from `min`.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn next_random(&mut self) -> u64 {
        // SplitMix64.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_from_min_and_stop_at_max() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS, 7);
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
        for ceiling in ceilings {
            let delay = backoff.next_delay();
            let ceiling = ceiling * MS;
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} not in [{:?}, {ceiling:?}]",
                ceiling / 2
            );
        }
        assert_eq!(backoff.failures(), 7);
    }

    #[test]
    fn jitter_spreads_the_delays_of_different_seeds() {
        let delays: std::collections::HashSet<Duration> = (0..20)
            .map(|seed| Backoff::new(MS * 1000, MS * 1000, seed).next_delay())
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn a_reset_starts_again_from_min() {
        let mut backoff = Backoff::new(100 * MS, 10_000 * MS, 1);
        for _ in 0..10 {
            backoff.next_delay();
        }
        backoff.reset();
        assert!(backoff.next_delay() <= 100 * MS);
    }

    #[test]
    fn many_failures_never_overflow() {
        let mut backoff = Backoff::new(500 * MS, 60_000 * MS, 3);
        for _ in 0..100_000 {
            assert!(backoff.next_delay() <= 60_000 * MS);
        }
    }
}
