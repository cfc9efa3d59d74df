//! Serial streams: sensors that talk on their own, one task per port.
//!
//! Two formats, both specified byte by byte in `firmware-sim/PROTOCOL.md` and decoded here by
//! the agent's own code (firmware-sim is only a dev-dependency, so the simulator's encoder
//! and this decoder check each other):
//!
//! - **accelerometer frames** (`accel_frames`): `COBS(postcard(frame) ++ CRC-32) ++ 0x00`,
//!   kHz three-axis samples turned into features over tumbling windows;
//! - **text lines** (`text_lines`): one number per line, matched against a `{value}` template.
//!
//! Layers, from the bytes up, none of them doing I/O except the last:
//!
//! | file | job |
//! |---|---|
//! | [`cobs`] | COBS decoding and CRC-32/ISO-HDLC |
//! | [`delimited`] | a byte stream cut at delimiters, with a cap: frames and lines alike |
//! | [`accel_frame`] | the frame struct, one frame's checks, the streaming deframer |
//! | [`features`] | exact per-axis window sums and the features read off them |
//! | [`windows`] | tumbling windows over frames: which samples form a window, its events |
//! | [`sample_clock`] | the wall-clock time of a sample, from the frames' sample counter |
//! | [`text`] | the line splitter and the `{value}` template |
//! | [`decoder`] | bytes in, events and counts out: the synchronous core of a stream |
//! | [`counters`] | what went right and wrong, per kind, shared with whoever watches |
//! | [`stream`] | the task: open the port, read with a silence timeout, reconnect, health |
//!
//! Invariants kept throughout:
//! - **Any bytes, any split.** Bytes arrive in whatever chunks the port gives; the decoders
//!   buffer at most a bounded frame or line, never panic, and always resynchronise at the
//!   next delimiter (`0x00` for frames, a line end for lines). A chunk split at any byte
//!   boundary decodes to the same events (property-tested in `agent/tests/serial_fuzz.rs`).
//! - **Every dropped frame or line is counted** under exactly one kind in
//!   [`StreamCounters`]; nothing is skipped silently except empty lines and empty frames
//!   (back-to-back delimiters), which carry nothing.
//! - **Health per period, not per frame**: a stream at 100 frames a second with one bad
//!   frame in five would otherwise flip online/degraded forty times a second.
//!   [`DeviceHealth`](crate::sources::health::DeviceHealth) sees one outcome per health
//!   period; the per-frame counts live in [`StreamCounters`].

pub mod accel_frame;
pub mod cobs;
pub mod counters;
pub mod decoder;
pub mod delimited;
pub mod features;
pub mod sample_clock;
pub mod stream;
pub mod text;
pub mod windows;

pub use accel_frame::{AccelFrame, Deframer, FrameError};
pub use counters::{CountersSnapshot, StreamCounters};
pub use decoder::{DecoderError, StreamDecoder};
pub use stream::{StreamSource, StreamTiming};
