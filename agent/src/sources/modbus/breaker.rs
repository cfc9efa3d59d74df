//! A per-slave circuit breaker for a shared RTU bus: a slave that stops answering costs a
//! whole timeout of bus time per request, which would starve every other slave. After
//! [`OFFLINE_AFTER`] link failures in a row its breaker opens and its polls are skipped; once
//! the pause is over a single probe is let through (half-open); a success closes the breaker,
//! a failure opens it again for twice as long, up to a cap.

use std::time::Duration;

use tokio::time::Instant;

use crate::sources::health::OFFLINE_AFTER;

/// The first pause of an open breaker, and the cap.
pub const PAUSE_MIN: Duration = Duration::from_secs(1);
pub const PAUSE_MAX: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Breaker {
    failures_in_a_row: u32,
    open_until: Option<Instant>,
    pause: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            failures_in_a_row: 0,
            open_until: None,
            pause: PAUSE_MIN,
        }
    }
}

impl Breaker {
    /// Whether a request may go to the slave at `now`. While open, returns when it may.
    pub fn allows(&self, now: Instant) -> Result<(), Instant> {
        match self.open_until {
            Some(until) if now < until => Err(until),
            _ => Ok(()),
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until.is_some()
    }

    pub fn succeeded(&mut self) {
        *self = Self::default();
    }

    /// A link failure (timeout, garbled answer) at `now`.
    pub fn failed(&mut self, now: Instant) {
        self.failures_in_a_row += 1;
        if self.open_until.is_some() {
            // The probe failed: pause twice as long.
            self.pause = (self.pause * 2).min(PAUSE_MAX);
            self.open_until = Some(now + self.pause);
        } else if self.failures_in_a_row >= OFFLINE_AFTER {
            self.open_until = Some(now + self.pause);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_on_the_third_failure_in_a_row_and_lets_a_probe_through_after_the_pause() {
        let t0 = Instant::now();
        let mut breaker = Breaker::default();
        breaker.failed(t0);
        breaker.failed(t0);
        assert!(breaker.allows(t0).is_ok());
        breaker.failed(t0);
        assert_eq!(breaker.allows(t0), Err(t0 + PAUSE_MIN));
        assert!(
            breaker.allows(t0 + PAUSE_MIN).is_ok(),
            "half-open: one probe"
        );
        breaker.failed(t0 + PAUSE_MIN);
        assert_eq!(
            breaker.allows(t0 + PAUSE_MIN),
            Err(t0 + PAUSE_MIN + 2 * PAUSE_MIN)
        );
        breaker.succeeded();
        assert!(breaker.allows(t0).is_ok() && !breaker.is_open());
    }

    #[test]
    fn the_pause_is_capped() {
        let t0 = Instant::now();
        let mut breaker = Breaker::default();
        for _ in 0..20 {
            breaker.failed(t0);
        }
        assert_eq!(breaker.allows(t0), Err(t0 + PAUSE_MAX));
    }
}
