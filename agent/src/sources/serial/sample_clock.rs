//! The wall-clock time of a sample, from the stream's own sample counter.
//!
//! The frames carry a sample index and a rate but no wall time. Stamping each window with the
//! time its frame happened to arrive would add the jitter of the serial driver and the
//! scheduler; instead the clock keeps an **anchor** (a sample index and the Unix ms it was
//! received at) and stamps sample `s` with `anchor_ms + (s − anchor_sample) · 1000 / rate`.
//!
//! Invariants:
//! - a frame's last sample is never stamped later than the frame was received: a frame that
//!   arrives earlier than the anchor predicts (the anchor's frame was delayed) becomes the
//!   new anchor, so the anchor converges to the least-delayed frame;
//! - the stamps never lag the wall clock by more than [`MAX_LAG_MS`]: a sensor whose crystal
//!   runs slow, or a backlog, re-anchors (counted as a resync);
//! - a new rate or a sample counter that went backwards (the sensor restarted) re-anchors.

/// How far the stamps may fall behind the arrival times before the clock re-anchors.
pub const MAX_LAG_MS: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    sample: u64,
    ms: i64,
    rate_hz: u32,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct SampleClock {
    anchor: Option<Anchor>,
}

/// What [`SampleClock::observe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// The anchor held, or moved to this earlier-arriving frame.
    Kept,
    /// First frame, new rate or restarted counter: anchored afresh.
    Anchored,
    /// The stamps lagged the wall clock by more than [`MAX_LAG_MS`]: re-anchored.
    Resynced,
}

impl SampleClock {
    /// Forgets the anchor (after the port was reopened).
    pub fn reset(&mut self) {
        self.anchor = None;
    }

    /// A frame whose last sample is `last_sample` arrived at `received_ms`.
    pub fn observe(&mut self, last_sample: u64, rate_hz: u32, received_ms: i64) -> Observed {
        let fresh = Anchor {
            sample: last_sample,
            ms: received_ms,
            rate_hz,
        };
        let Some(anchor) = self
            .anchor
            .filter(|a| a.rate_hz == rate_hz && a.sample <= last_sample)
        else {
            self.anchor = Some(fresh);
            return Observed::Anchored;
        };
        let predicted = stamp(anchor, last_sample);
        if predicted > received_ms {
            self.anchor = Some(fresh);
            Observed::Kept
        } else if received_ms - predicted > MAX_LAG_MS {
            self.anchor = Some(fresh);
            Observed::Resynced
        } else {
            Observed::Kept
        }
    }

    /// The Unix ms of `sample`; `None` before the first frame.
    pub fn stamp(&self, sample: u64) -> Option<i64> {
        self.anchor.map(|a| stamp(a, sample))
    }
}

fn stamp(anchor: Anchor, sample: u64) -> i64 {
    let samples = i128::from(sample) - i128::from(anchor.sample);
    let offset_ms = (samples * 1000).div_euclid(i128::from(anchor.rate_hz.max(1)));
    let ms = i128::from(anchor.ms) + offset_ms;
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_stamped_from_the_anchor_at_the_stream_rate() {
        let mut clock = SampleClock::default();
        assert_eq!(clock.observe(3199, 3200, 10_000), Observed::Anchored);
        assert_eq!(clock.stamp(3199), Some(10_000));
        assert_eq!(clock.stamp(3199 + 3200), Some(11_000));
        assert_eq!(clock.stamp(3199 - 32), Some(9_990));
    }

    #[test]
    fn a_frame_that_arrives_earlier_than_predicted_becomes_the_anchor() {
        let mut clock = SampleClock::default();
        clock.observe(31, 3200, 1_050); // delayed by 40 ms
        assert_eq!(clock.observe(63, 3200, 1_020), Observed::Kept);
        assert_eq!(clock.stamp(63), Some(1_020));
        // A late frame does not move it.
        assert_eq!(clock.observe(95, 3200, 1_100), Observed::Kept);
        assert_eq!(clock.stamp(95), Some(1_030));
    }

    #[test]
    fn a_lag_beyond_the_limit_a_new_rate_or_a_restart_re_anchors() {
        let mut clock = SampleClock::default();
        clock.observe(99, 100, 0);
        assert_eq!(clock.observe(199, 100, 3_500), Observed::Resynced);
        assert_eq!(clock.stamp(199), Some(3_500));
        assert_eq!(clock.observe(299, 200, 3_600), Observed::Anchored);
        assert_eq!(clock.observe(5, 200, 3_700), Observed::Anchored);
        assert_eq!(clock.stamp(5), Some(3_700));
    }
}
