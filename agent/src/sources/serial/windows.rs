//! Tumbling windows over accelerometer frames, and the events of each window.
//!
//! Window `i` is samples `i·W .. (i+1)·W` of the stream's sample counter (`W` = the stream's
//! `window`), whatever the frame size: windows are aligned to the counter, not to the moment
//! the agent connected, so two agents on one sensor, or one agent before and after a
//! reconnect, cut the same windows.
//!
//! Invariants:
//! - a window is emitted only if it holds exactly its `W` consecutive samples, all at one
//!   rate and scale; a window that misses any (joined mid-window, frames lost or damaged, a
//!   restarted sensor, a change of rate or scale) is dropped and counted as incomplete;
//! - per window and axis: one [`FeatureSet`] (`<id>.<axis>`) and one [`Reading`] per feature
//!   (`<id>.<axis>.<feature>`), all stamped with the time of the window's last sample
//!   ([`SampleClock`]); quality is `Uncertain` if a frame of the window had clipped samples;
//! - O(1) work per sample and no allocation except the events themselves.

use super::accel_frame::AccelFrame;
use super::features::{AxisSums, FEATURE_NAMES, MAX_WINDOW};
use super::sample_clock::{Observed, SampleClock};
use crate::event::{Event, EventBody, FeatureSet, Quality, Reading};

/// The axes in sample order.
pub const AXES: [&str; 3] = ["x", "y", "z"];

/// What one frame did to the windows, for the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowTally {
    pub emitted: u64,
    pub incomplete: u64,
    pub clock_resyncs: u64,
}

/// The windows of one stream; see the module docs.
#[derive(Debug)]
pub struct Windows {
    window: u32,
    /// `<id>.<axis>` per axis.
    axis_sensors: [String; 3],
    /// `<id>.<axis>.<feature>` per axis and feature.
    reading_sensors: [[String; 5]; 3],
    sums: [AxisSums; 3],
    /// Samples still to come before the current window's boundary.
    left: u32,
    /// Whether the current window began on its boundary.
    aligned: bool,
    clipped: bool,
    /// The sample index the next frame must start at to continue the current window.
    next_sample: Option<u64>,
    lsb_ug: u32,
    rate_hz: u32,
    clock: SampleClock,
}

impl Windows {
    /// Windows of `window` samples for stream `id`; `None` unless `1 ≤ window ≤ 65536`.
    pub fn new(id: &str, window: u32) -> Option<Self> {
        if !(1..=MAX_WINDOW).contains(&window) {
            return None;
        }
        let axis_sensors = AXES.map(|axis| format!("{id}.{axis}"));
        let reading_sensors = AXES.map(|axis| FEATURE_NAMES.map(|f| format!("{id}.{axis}.{f}")));
        Some(Self {
            window,
            axis_sensors,
            reading_sensors,
            sums: Default::default(),
            left: 0,
            aligned: false,
            clipped: false,
            next_sample: None,
            lsb_ug: 0,
            rate_hz: 0,
            clock: SampleClock::default(),
        })
    }

    /// Forgets the window in progress and the clock's anchor (after the port was reopened).
    pub fn reset(&mut self) -> WindowTally {
        let mut tally = WindowTally::default();
        self.drop_partial(&mut tally);
        self.next_sample = None;
        self.clock.reset();
        tally
    }

    /// Adds a frame received at `received_ms`; pushes the events of the windows it completes.
    pub fn push(
        &mut self,
        frame: &AccelFrame,
        received_ms: i64,
        out: &mut Vec<Event>,
    ) -> WindowTally {
        let mut tally = WindowTally::default();
        let Some(last) = frame
            .end_sample()
            .checked_sub(1)
            .filter(|_| !frame.samples.is_empty())
        else {
            return tally;
        };
        if self.clock.observe(last, frame.sample_rate_hz, received_ms) == Observed::Resynced {
            tally.clock_resyncs += 1;
        }
        let continues = self.next_sample == Some(frame.first_sample)
            && frame.lsb_ug == self.lsb_ug
            && frame.sample_rate_hz == self.rate_hz;
        if !continues {
            self.drop_partial(&mut tally);
        }
        self.lsb_ug = frame.lsb_ug;
        self.rate_hz = frame.sample_rate_hz;
        let mut index = frame.first_sample;
        let mut rest = frame.samples.as_slice();
        while !rest.is_empty() {
            if self.sums[0].is_empty() {
                let phase = (index % u64::from(self.window)) as u32;
                self.left = self.window - phase;
                self.aligned = phase == 0;
                self.clipped = false;
            }
            self.clipped |= frame.clipped();
            let take = rest.len().min(self.left as usize);
            let (now, later) = rest.split_at(take);
            let [x, y, z] = &mut self.sums;
            for s in now {
                x.push(s[0]);
                y.push(s[1]);
                z.push(s[2]);
            }
            rest = later;
            // Wrapping: a counter at the very end of u64 must not panic (it only ever
            // happens with a broken sensor, whose windows then simply do not line up).
            index = index.wrapping_add(take as u64);
            self.left -= take as u32;
            if self.left == 0 {
                if self.aligned {
                    let last = index.wrapping_sub(1);
                    let ts = self.clock.stamp(last).unwrap_or(received_ms);
                    self.emit(ts, out);
                    tally.emitted += 1;
                } else {
                    tally.incomplete += 1;
                }
                self.sums.iter_mut().for_each(AxisSums::clear);
            }
        }
        self.next_sample = Some(index);
        tally
    }

    fn drop_partial(&mut self, tally: &mut WindowTally) {
        if !self.sums[0].is_empty() {
            tally.incomplete += 1;
            self.sums.iter_mut().for_each(AxisSums::clear);
        }
    }

    fn emit(&self, ts_ms: i64, out: &mut Vec<Event>) {
        let quality = if self.clipped {
            Quality::Uncertain
        } else {
            Quality::Good
        };
        for (axis, sums) in self.sums.iter().enumerate() {
            let Some(moments) = sums.moments() else {
                continue;
            };
            let features = moments.features(self.lsb_ug).by_index();
            let mut values = Vec::with_capacity(features.len());
            for (at, value) in features.into_iter().enumerate() {
                let Some(value) = value else { continue };
                values.push((FEATURE_NAMES[at].to_string(), value));
                // mean, rms and peak are accelerations; crest factor and kurtosis are ratios.
                let unit = (at < 3).then(|| "g".to_string());
                out.push(Event {
                    ts_ms,
                    body: EventBody::Reading(Reading {
                        sensor: self.reading_sensors[axis][at].clone(),
                        value,
                        unit,
                        quality,
                    }),
                });
            }
            out.push(Event {
                ts_ms,
                body: EventBody::Features(FeatureSet {
                    sensor: self.axis_sensors[axis].clone(),
                    window: self.window,
                    values,
                }),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u32, first: u64, samples: Vec<[i16; 3]>) -> AccelFrame {
        AccelFrame {
            version: 1,
            seq,
            first_sample: first,
            sample_rate_hz: 1000,
            lsb_ug: 1000,
            flags: 0,
            samples,
        }
    }

    fn ramp(first: u64, n: usize) -> Vec<[i16; 3]> {
        (0..n as i16)
            .map(|i| {
                let v = first as i16 + i;
                [v, 1000 + v % 7, -v]
            })
            .collect()
    }

    fn features_of(events: &[Event]) -> Vec<&FeatureSet> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                EventBody::Features(f) => Some(f),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn windows_follow_the_sample_counter_across_frames_and_drop_the_partial_first() {
        let mut windows = Windows::new("m.accel", 8).expect("valid window");
        let mut out = Vec::new();
        let mut tally = WindowTally::default();
        // Joins at sample 4: samples 4..8 are a partial window; 8..16 and 16..24 are whole.
        for (k, (first, n)) in [(4u64, 6), (10, 6), (16, 8)].into_iter().enumerate() {
            let t = windows.push(&frame(k as u32, first, ramp(first, n)), 0, &mut out);
            tally.emitted += t.emitted;
            tally.incomplete += t.incomplete;
        }
        assert_eq!((tally.emitted, tally.incomplete), (2, 1));
        let sets = features_of(&out);
        assert_eq!(sets.len(), 6);
        assert_eq!(sets[0].sensor, "m.accel.x");
        assert_eq!(sets[0].window, 8);
        // Window 8..16 of x is 8, 9, …, 15: mean 11.5 mg.
        assert_eq!(sets[0].values[0], ("mean".to_string(), 0.0115));
        let readings = out
            .iter()
            .filter(
                |e| matches!(&e.body, EventBody::Reading(r) if r.sensor == "m.accel.z.kurtosis"),
            )
            .count();
        assert_eq!(readings, 2);
    }

    #[test]
    fn a_gap_in_the_samples_drops_the_window_it_falls_in() {
        let mut windows = Windows::new("a", 8).expect("valid window");
        let mut out = Vec::new();
        let t1 = windows.push(&frame(0, 0, ramp(0, 4)), 0, &mut out);
        let t2 = windows.push(&frame(2, 8, ramp(8, 4)), 0, &mut out);
        let t3 = windows.push(&frame(3, 12, ramp(12, 4)), 0, &mut out);
        assert_eq!(t1, WindowTally::default());
        assert_eq!(t2.incomplete, 1);
        assert_eq!(t3.emitted, 1);
        assert_eq!(features_of(&out).len(), 3);
    }

    #[test]
    fn clipped_samples_make_the_window_uncertain() {
        let mut windows = Windows::new("a", 4).expect("valid window");
        let mut out = Vec::new();
        let mut clipped = frame(0, 0, ramp(0, 4));
        clipped.flags = 1;
        windows.push(&clipped, 0, &mut out);
        assert!(out.iter().all(|e| match &e.body {
            EventBody::Reading(r) => r.quality == Quality::Uncertain,
            _ => true,
        }));
    }
}
