//! Plant time.
//!
//! A [`SimClock`] maps wall time to plant time. The scaled clock runs `speed` plant seconds
//! per wall second from its origin (plant time 0 = the moment it was made); it reads
//! `tokio::time::Instant`, so a test under `tokio::time::pause()` (tokio's `test-util`)
//! steps it with `tokio::time::advance`. The manual clock stands still until told otherwise, for tests that
//! compare what a Modbus master read with what the plant says at that exact plant time.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::time::Instant;

/// A shared plant clock; clones see the same time.
#[derive(Debug, Clone)]
pub struct SimClock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    origin_unix: SystemTime,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scaled {
        speed: f64,
    },
    /// Plant time as the bits of an f64.
    Manual {
        plant_bits: AtomicU64,
    },
}

impl SimClock {
    /// A clock running `speed` plant seconds per wall second, starting at plant time 0 now.
    /// A `speed` that is not positive and finite is taken as 1.
    pub fn scaled(speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Self::new(Kind::Scaled { speed })
    }

    /// A clock that stays at `plant_s` until [`SimClock::set`] moves it.
    pub fn manual(plant_s: f64) -> Self {
        Self::new(Kind::Manual {
            plant_bits: AtomicU64::new(plant_s.to_bits()),
        })
    }

    fn new(kind: Kind) -> Self {
        Self {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                origin_unix: SystemTime::now(),
                kind,
            }),
        }
    }

    /// Current plant time, seconds since the start of the run.
    pub fn now(&self) -> f64 {
        match &self.inner.kind {
            Kind::Scaled { speed } => self.inner.origin.elapsed().as_secs_f64() * speed,
            Kind::Manual { plant_bits } => f64::from_bits(plant_bits.load(Ordering::Acquire)),
        }
    }

    /// Moves a manual clock to `plant_s`; no effect on a scaled clock.
    pub fn set(&self, plant_s: f64) {
        if let Kind::Manual { plant_bits } = &self.inner.kind {
            plant_bits.store(plant_s.to_bits(), Ordering::Release);
        }
    }

    /// Plant seconds per wall second; `None` for a manual clock.
    pub fn speed(&self) -> Option<f64> {
        match self.inner.kind {
            Kind::Scaled { speed } => Some(speed),
            Kind::Manual { .. } => None,
        }
    }

    /// The wall instant of plant time 0.
    pub fn origin(&self) -> Instant {
        self.inner.origin
    }

    /// Wall-clock time (ms since the Unix epoch) at which plant time `plant_s` is reached
    /// on a scaled clock; for a manual clock, the time it is read.
    pub fn unix_ms_at(&self, plant_s: f64) -> u64 {
        let at = match self.inner.kind {
            Kind::Scaled { speed } => {
                self.inner.origin_unix + Duration::from_secs_f64((plant_s / speed).max(0.0))
            }
            Kind::Manual { .. } => SystemTime::now(),
        };
        at.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scaled_clock_runs_speed_times_faster_than_the_wall() {
        let wall = std::time::Instant::now();
        let clock = SimClock::scaled(1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let plant = clock.now();
        assert!(plant >= 20.0, "{plant}");
        assert!(
            plant <= wall.elapsed().as_secs_f64() * 1000.0 + 1e-6,
            "{plant}"
        );
    }

    #[test]
    fn a_manual_clock_moves_only_when_set() {
        let clock = SimClock::manual(10.0);
        assert_eq!(clock.now(), 10.0);
        clock.clone().set(3600.5);
        assert_eq!(clock.now(), 3600.5);
    }
}
