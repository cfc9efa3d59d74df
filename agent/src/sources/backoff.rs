//! Capped, jittered exponential backoff for reconnects, so that a plant full of gateways does
//! not reconnect in lockstep after a switch reboots.

use std::time::Duration;

use rand::Rng;

/// Waits that double from `min` up to `max`, each drawn uniformly from its upper half
/// ("equal jitter"): never shorter than half the nominal wait, never longer than `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    nominal: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            nominal: min,
        }
    }

    /// The next wait; the one after it is (nominally) twice as long, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let nominal = self.nominal;
        self.nominal = (self.nominal * 2).min(self.max);
        let half = nominal / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// After a success: the next failure starts again from `min`.
    pub fn reset(&mut self) {
        self.nominal = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_stay_in_the_upper_half() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let nominal = [100, 200, 400, 800, 1600, 2000, 2000];
        for ms in nominal {
            let wait = backoff.next_wait();
            let nominal = Duration::from_millis(ms);
            assert!(
                wait >= nominal / 2 && wait <= nominal,
                "{wait:?} for nominal {nominal:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_wait() <= Duration::from_millis(100));
    }
}
