//! Plant time on the demo's terminal.
//!
//! The demo's plant runs `speed` times faster than the wall (30×: one wall minute is half an
//! hour of the motor's life), while the agent stamps readings and alerts with wall time. A
//! [`PlantClock`] maps a wall time back to the plant time it was, so that each line can say
//! both how long the demo has run and how far into the fault the plant was.

use firmware_sim::SimClock;

/// Wall time (Unix ms) to plant time, for a plant whose time 0 was at `start_ms` and that
/// runs `speed` plant seconds per wall second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PlantClock {
    start_ms: i64,
    speed: f64,
}

impl PlantClock {
    pub(super) fn new(start_ms: i64, speed: f64) -> Self {
        Self { start_ms, speed }
    }

    /// The clock of a running simulator: its plant time 0, at its speed (1 if it has none).
    pub(super) fn of(clock: &SimClock) -> Self {
        let start_ms = i64::try_from(clock.unix_ms_at(0.0)).unwrap_or(i64::MAX);
        Self::new(start_ms, clock.speed().unwrap_or(1.0))
    }

    /// Wall seconds from plant time 0 to `at_ms` (0 before it).
    pub(super) fn wall_s(&self, at_ms: i64) -> f64 {
        (at_ms.saturating_sub(self.start_ms) as f64 / 1000.0).max(0.0)
    }

    /// Plant seconds at wall time `at_ms`.
    pub(super) fn plant_s(&self, at_ms: i64) -> f64 {
        self.wall_s(at_ms) * self.speed
    }

    /// `t+ 72s plant 0:36`: wall seconds since the start, and plant time as hours:minutes.
    pub(super) fn stamp(&self, at_ms: i64) -> String {
        let minutes = (self.plant_s(at_ms) / 60.0) as u64;
        format!(
            "t+{:>3}s plant {}:{:02}",
            self.wall_s(at_ms) as u64,
            minutes / 60,
            minutes % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_time_is_the_wall_time_since_the_start_times_the_speed() {
        let clock = PlantClock::new(1_000_000, 30.0);
        assert_eq!(clock.wall_s(1_072_000), 72.0);
        assert_eq!(clock.plant_s(1_072_000), 2160.0);
        assert_eq!(clock.stamp(1_072_000), "t+ 72s plant 0:36");
        assert_eq!(clock.stamp(1_000_000 + 130_500), "t+130s plant 1:05");
        assert_eq!(
            clock.stamp(999_000),
            "t+  0s plant 0:00",
            "before the start"
        );
    }

    #[test]
    fn a_simulator_clock_gives_its_start_and_speed() {
        let sim = SimClock::scaled(30.0);
        let clock = PlantClock::of(&sim);
        let start = i64::try_from(sim.unix_ms_at(0.0)).expect("a time after 1970");
        assert_eq!(clock.plant_s(start + 10_000), 300.0);
    }
}
