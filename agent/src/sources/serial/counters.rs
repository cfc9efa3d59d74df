//! What a stream received and dropped, per kind, shared through an `Arc` with whoever watches
//! (status page, metrics, tests). Relaxed atomics: each counter is exact, but a snapshot taken
//! while the stream runs is not one instant across counters.
//!
//! Every frame or line that does not become events is counted under exactly one kind:
//! `frames_oversize + frames_bad_cobs + frames_bad_crc + frames_bad_version +
//! frames_malformed + partial_at_open` are the dropped chunks of an accelerometer stream,
//! `lines_*` (but `lines_ok`) and `partial_at_open` those of a text stream.

use std::sync::atomic::{AtomicU64, Ordering};

use super::accel_frame::FrameError;
use super::text::LineError;

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters of one stream; see the module docs.
        #[derive(Debug, Default)]
        pub struct StreamCounters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of [`StreamCounters`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct CountersSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl StreamCounters {
            pub fn snapshot(&self) -> CountersSnapshot {
                CountersSnapshot {
                    $($name: self.$name.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

counters! {
    /// Bytes read from the port.
    bytes,
    /// Times the port was opened.
    opens,
    /// Frames that passed every check.
    frames_ok,
    /// Frames longer than the deframer's cap.
    frames_oversize,
    /// Frames with invalid COBS.
    frames_bad_cobs,
    /// Frames whose CRC did not match.
    frames_bad_crc,
    /// Frames of another protocol version.
    frames_bad_version,
    /// Frames too short, not decodable by postcard, with bytes left over, or with a zero rate
    /// or scale.
    frames_malformed,
    /// Frames missing from the sequence numbers of good frames (damaged frames included: a
    /// frame dropped for its CRC also leaves a gap). Gaps across a reopen are not counted.
    frames_lost,
    /// Sequence numbers that went backwards: the sensor restarted.
    stream_restarts,
    /// Samples per axis in good frames.
    samples,
    /// Feature windows emitted (one per window, for all three axes).
    windows,
    /// Windows dropped because samples were missing (joined mid-window, frames lost, restart,
    /// change of rate or scale, port reopened).
    windows_incomplete,
    /// Times the sample clock fell behind the wall clock and was re-anchored.
    clock_resyncs,
    /// Lines that gave a reading.
    lines_ok,
    /// Lines longer than the splitter's cap.
    lines_overlong,
    /// Lines that are not UTF-8.
    lines_not_text,
    /// Lines whose `*HH` checksum did not match.
    lines_bad_checksum,
    /// Lines that do not match the pattern's prefix and suffix.
    lines_no_match,
    /// Lines that match but whose value is not a finite number.
    lines_bad_number,
    /// The first frame or line after opening the port, when it failed: normally the tail of
    /// one sent before the port was opened, so not counted as an error.
    partial_at_open,
    /// Times nothing arrived for the silence timeout.
    silences,
}

impl StreamCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn frame_error(&self, error: &FrameError) -> &AtomicU64 {
        match error {
            FrameError::Oversize { .. } => &self.frames_oversize,
            FrameError::Cobs(_) => &self.frames_bad_cobs,
            FrameError::Crc { .. } => &self.frames_bad_crc,
            FrameError::Version { .. } => &self.frames_bad_version,
            FrameError::Malformed { .. } => &self.frames_malformed,
        }
    }

    pub(crate) fn line_error(&self, error: &LineError) -> &AtomicU64 {
        match error {
            LineError::Overlong { .. } => &self.lines_overlong,
            LineError::NotText => &self.lines_not_text,
            LineError::Checksum { .. } => &self.lines_bad_checksum,
            LineError::NoMatch { .. } => &self.lines_no_match,
            LineError::BadNumber { .. } => &self.lines_bad_number,
        }
    }
}

impl CountersSnapshot {
    /// Accelerometer frames dropped as damaged (not counting the partial one at open).
    pub fn frames_dropped(&self) -> u64 {
        self.frames_oversize
            + self.frames_bad_cobs
            + self.frames_bad_crc
            + self.frames_bad_version
            + self.frames_malformed
    }

    /// Lines dropped (not counting the partial one at open).
    pub fn lines_dropped(&self) -> u64 {
        self.lines_overlong
            + self.lines_not_text
            + self.lines_bad_checksum
            + self.lines_no_match
            + self.lines_bad_number
    }
}
