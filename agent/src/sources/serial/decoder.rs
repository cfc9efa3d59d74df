//! The synchronous core of a stream: bytes in, events and counts out, no I/O, no clock of its
//! own (the caller passes the arrival time), so that tests, the fuzzer and the benchmark drive
//! exactly what the task runs.
//!
//! Invariants:
//! - every frame or line completed by the bytes is counted once in [`StreamCounters`], as a
//!   success or under one error kind, and once in the current [`PeriodTally`];
//! - after [`StreamDecoder::reopened`] the first frame or line, if it fails, counts as
//!   `partial_at_open` and not as an error: it is normally the tail of something sent before
//!   the port was opened;
//! - sequence numbers: a forward gap of less than 2³¹ counts that many lost frames, anything
//!   else (a step backwards) counts a restart of the sensor.

use std::sync::Arc;

use thiserror::Error;

use super::accel_frame::{AccelFrame, Deframer, DEFAULT_MAX_ENCODED};
use super::counters::StreamCounters;
use super::features::MAX_WINDOW;
use super::text::{LineSplitter, LineTemplate, TemplateError, DEFAULT_MAX_LINE};
use super::windows::Windows;
use crate::config::{Stream, StreamFormat};
use crate::event::{Event, EventBody, Quality, Reading};

/// Why a stream's configuration cannot be decoded (`edge-agent check` refuses these too).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecoderError {
    #[error("stream {stream}: window {window} is outside 1..={MAX_WINDOW}")]
    Window { stream: String, window: usize },
    #[error("stream {stream}: {source}")]
    Pattern {
        stream: String,
        #[source]
        source: TemplateError,
    },
}

/// Successes and errors since the health period began.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeriodTally {
    pub good: u64,
    /// Errors by kind, in the order first seen.
    pub errors: Vec<(&'static str, u64)>,
}

impl PeriodTally {
    fn error(&mut self, kind: &'static str) {
        match self.errors.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((kind, 1)),
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().map(|(_, n)| n).sum()
    }

    /// E.g. `3 of 103 frames dropped (crc 2, cobs 1)`.
    pub fn summary(&self, what: &str) -> String {
        let errors = self.error_count();
        let kinds: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        format!(
            "{errors} of {} {what} dropped ({})",
            errors + self.good,
            kinds.join(", ")
        )
    }
}

#[derive(Debug)]
enum Format {
    Accel {
        deframer: Deframer,
        /// Boxed: its sensor names make it far larger than the text variant.
        windows: Box<Windows>,
        last_seq: Option<u32>,
    },
    Text {
        splitter: LineSplitter,
        template: LineTemplate,
        sensor: String,
        unit: Option<String>,
    },
}

/// See the module docs.
#[derive(Debug)]
pub struct StreamDecoder {
    format: Format,
    counters: Arc<StreamCounters>,
    at_open: bool,
    tally: PeriodTally,
}

impl StreamDecoder {
    pub fn new(stream: &Stream) -> Result<Self, DecoderError> {
        let format = match &stream.format {
            StreamFormat::AccelFrames { window } => {
                let windows = u32::try_from(*window)
                    .ok()
                    .and_then(|w| Windows::new(&stream.id, w))
                    .map(Box::new)
                    .ok_or_else(|| DecoderError::Window {
                        stream: stream.id.clone(),
                        window: *window,
                    })?;
                Format::Accel {
                    deframer: Deframer::new(DEFAULT_MAX_ENCODED),
                    windows,
                    last_seq: None,
                }
            }
            StreamFormat::TextLines {
                pattern,
                sensor,
                unit,
            } => Format::Text {
                splitter: LineSplitter::new(DEFAULT_MAX_LINE),
                template: LineTemplate::parse(pattern).map_err(|source| DecoderError::Pattern {
                    stream: stream.id.clone(),
                    source,
                })?,
                sensor: sensor.clone(),
                unit: unit.clone(),
            },
        };
        Ok(Self {
            format,
            counters: Arc::default(),
            at_open: true,
            tally: PeriodTally::default(),
        })
    }

    pub fn counters(&self) -> Arc<StreamCounters> {
        Arc::clone(&self.counters)
    }

    /// What the stream carries: `frames` or `lines`.
    pub fn unit_name(&self) -> &'static str {
        match self.format {
            Format::Accel { .. } => "frames",
            Format::Text { .. } => "lines",
        }
    }

    /// The port was (re)opened: forget every partial frame, line and window.
    pub fn reopened(&mut self) {
        self.at_open = true;
        StreamCounters::add(&self.counters.opens, 1);
        match &mut self.format {
            Format::Accel {
                deframer,
                windows,
                last_seq,
            } => {
                deframer.reset();
                let tally = windows.reset();
                StreamCounters::add(&self.counters.windows_incomplete, tally.incomplete);
                *last_seq = None;
            }
            Format::Text { splitter, .. } => splitter.reset(),
        }
    }

    /// The outcomes since the last call.
    pub fn take_tally(&mut self) -> PeriodTally {
        std::mem::take(&mut self.tally)
    }

    /// Decodes `bytes`, received at `now_ms`, pushing the events they complete onto `out`.
    pub fn push(&mut self, bytes: &[u8], now_ms: i64, out: &mut Vec<Event>) {
        let Self {
            format,
            counters,
            at_open,
            tally,
        } = self;
        StreamCounters::add(&counters.bytes, bytes.len() as u64);
        match format {
            Format::Accel {
                deframer,
                windows,
                last_seq,
            } => deframer.push(bytes, |result| {
                let first = std::mem::take(at_open);
                match result {
                    Ok(frame) => {
                        tally.good += 1;
                        accept_frame(counters, windows, last_seq, &frame, now_ms, out);
                    }
                    Err(_) if first => StreamCounters::add(&counters.partial_at_open, 1),
                    Err(error) => {
                        tally.error(error.kind());
                        StreamCounters::add(counters.frame_error(&error), 1);
                    }
                }
            }),
            Format::Text {
                splitter,
                template,
                sensor,
                unit,
            } => splitter.push(bytes, |line| {
                let first = std::mem::take(at_open);
                match line.and_then(|l| template.value(l)) {
                    Ok(value) => {
                        tally.good += 1;
                        StreamCounters::add(&counters.lines_ok, 1);
                        out.push(Event {
                            ts_ms: now_ms,
                            body: EventBody::Reading(Reading {
                                sensor: sensor.clone(),
                                value,
                                unit: unit.clone(),
                                quality: Quality::Good,
                            }),
                        });
                    }
                    Err(_) if first => StreamCounters::add(&counters.partial_at_open, 1),
                    Err(error) => {
                        tally.error(error.kind());
                        StreamCounters::add(counters.line_error(&error), 1);
                    }
                }
            }),
        }
    }
}

fn accept_frame(
    counters: &StreamCounters,
    windows: &mut Windows,
    last_seq: &mut Option<u32>,
    frame: &AccelFrame,
    now_ms: i64,
    out: &mut Vec<Event>,
) {
    StreamCounters::add(&counters.frames_ok, 1);
    StreamCounters::add(&counters.samples, frame.samples.len() as u64);
    if let Some(previous) = last_seq.replace(frame.seq) {
        let gap = frame.seq.wrapping_sub(previous).wrapping_sub(1);
        if gap < 1 << 31 {
            StreamCounters::add(&counters.frames_lost, u64::from(gap));
        } else {
            StreamCounters::add(&counters.stream_restarts, 1);
        }
    }
    let tally = windows.push(frame, now_ms, out);
    StreamCounters::add(&counters.windows, tally.emitted);
    StreamCounters::add(&counters.windows_incomplete, tally.incomplete);
    StreamCounters::add(&counters.clock_resyncs, tally.clock_resyncs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Parity, SerialLine};

    fn stream(format: StreamFormat) -> Stream {
        Stream {
            id: "s".into(),
            line: SerialLine {
                path: "/dev/null".into(),
                baud: 9600,
                parity: Parity::None,
                data_bits: 8,
                stop_bits: 1,
            },
            format,
        }
    }

    fn text_decoder() -> StreamDecoder {
        StreamDecoder::new(&stream(StreamFormat::TextLines {
            pattern: "T={value}C".into(),
            sensor: "oil".into(),
            unit: Some("°C".into()),
        }))
        .expect("valid stream")
    }

    #[test]
    fn the_first_broken_line_after_opening_is_a_partial_not_an_error() {
        let mut d = text_decoder();
        let mut out = Vec::new();
        d.push(b"5C\r\nT=1.5C\r\nT=xC\r\n", 7, &mut out);
        let c = d.counters().snapshot();
        assert_eq!(
            (c.partial_at_open, c.lines_ok, c.lines_bad_number),
            (1, 1, 1)
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].ts_ms, 7);
        assert_eq!(
            d.take_tally().summary("lines"),
            "1 of 2 lines dropped (bad_number 1)"
        );
        assert_eq!(d.take_tally(), PeriodTally::default());
    }

    #[test]
    fn sequence_gaps_count_lost_frames_and_a_step_back_a_restart() {
        let mut d = StreamDecoder::new(&stream(StreamFormat::AccelFrames { window: 64 }))
            .expect("valid stream");
        let mut out = Vec::new();
        for seq in [10u32, 11, 14, 15, 2] {
            let frame = firmware_sim::protocol::accel_frame::AccelFrame::new(
                seq,
                u64::from(seq) * 32,
                3200,
                1000,
                vec![[0, 1000, 0]; 32],
            );
            d.push(&frame.encode(), 0, &mut out);
        }
        let c = d.counters().snapshot();
        assert_eq!((c.frames_ok, c.frames_lost, c.stream_restarts), (5, 2, 1));
    }

    #[test]
    fn an_invalid_window_or_pattern_is_refused_with_the_stream_named() {
        let err = StreamDecoder::new(&stream(StreamFormat::AccelFrames { window: 0 }))
            .expect_err("window 0");
        assert!(err.to_string().starts_with("stream s: window 0"), "{err}");
        let err = StreamDecoder::new(&stream(StreamFormat::TextLines {
            pattern: "T=".into(),
            sensor: "t".into(),
            unit: None,
        }))
        .expect_err("no placeholder");
        assert!(err.to_string().contains("{value}"), "{err}");
    }
}
