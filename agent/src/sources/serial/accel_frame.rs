//! The accelerometer frame (`firmware-sim/PROTOCOL.md` §1, version 1) and the streaming
//! deframer that cuts a byte stream into checked frames.
//!
//! A frame on the wire is `COBS(payload ++ crc) ++ 0x00` with `payload = postcard(frame)`;
//! one frame is accepted only if, in this order, its COBS is valid, it holds at least
//! 5 bytes, the CRC-32 of the payload matches the 4 bytes after it, the first byte is
//! version 1, and postcard decodes the payload into [`AccelFrame`] consuming it exactly
//! (and the frame's rate and scale are not zero, which would make its samples meaningless).
//!
//! [`Deframer`] invariants:
//! - it holds at most `max_encoded` bytes of the frame in progress; a frame that grows
//!   beyond that is reported once as [`FrameError::Oversize`] and its bytes are dropped up to
//!   the next delimiter;
//! - every delimiter ends the frame in progress: whatever came before it is either a frame
//!   or exactly one error, so one damaged frame costs one frame (two if its delimiter was
//!   lost), and decoding resumes with the next one;
//! - back-to-back delimiters (an empty frame) are skipped without a report;
//! - how the bytes are split into `push` calls makes no difference to what comes out.

use serde::Deserialize;
use thiserror::Error;

use super::cobs::{self, CobsError};
use super::delimited::{Delimited, Piece};

/// The only version this decoder reads.
pub const VERSION: u8 = 1;
/// The frame delimiter.
pub const DELIMITER: u8 = 0x00;
/// `flags` bit 0: at least one sample of the frame was clipped to the i16 range.
pub const FLAG_CLIPPED: u8 = 0x01;
/// Default cap on an encoded frame (COBS bytes before the delimiter): at up to 9 bytes a
/// sample that is room for 1800 samples, eight times the largest frame the simulator sends.
pub const DEFAULT_MAX_ENCODED: usize = 16 * 1024;

/// One frame of three-axis samples, fields in wire order (postcard is not self-describing:
/// the order *is* the format).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccelFrame {
    pub version: u8,
    /// Frame counter, +1 per frame, wrapping at 2³²: a gap means frames were lost.
    pub seq: u32,
    /// Index of `samples[0]` on the stream's sample clock.
    pub first_sample: u64,
    /// Samples per second per axis.
    pub sample_rate_hz: u32,
    /// Micro-g per count.
    pub lsb_ug: u32,
    /// See [`FLAG_CLIPPED`]; other bits are reserved and ignored.
    pub flags: u8,
    /// x (radial horizontal), y (radial vertical, carries gravity), z (axial), in counts.
    pub samples: Vec<[i16; 3]>,
}

impl AccelFrame {
    /// The index one past the frame's last sample.
    pub fn end_sample(&self) -> u64 {
        self.first_sample.saturating_add(self.samples.len() as u64)
    }

    pub fn clipped(&self) -> bool {
        self.flags & FLAG_CLIPPED != 0
    }
}

/// Why a frame was dropped. Each variant is one counter of
/// [`StreamCounters`](super::StreamCounters).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("frame longer than {limit} bytes before its delimiter")]
    Oversize { limit: usize },
    #[error("invalid COBS: {0}")]
    Cobs(#[from] CobsError),
    #[error("CRC mismatch: frame says {expected:#010x}, payload gives {actual:#010x} ({len} payload bytes)")]
    Crc {
        expected: u32,
        actual: u32,
        len: usize,
    },
    #[error("unknown frame version {found} (this agent reads version {VERSION})")]
    Version { found: u8 },
    #[error("malformed frame ({len} bytes after COBS): {why}")]
    Malformed { len: usize, why: String },
}

impl FrameError {
    /// A short name of the kind, for counters and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            FrameError::Oversize { .. } => "oversize",
            FrameError::Cobs(_) => "cobs",
            FrameError::Crc { .. } => "crc",
            FrameError::Version { .. } => "version",
            FrameError::Malformed { .. } => "malformed",
        }
    }
}

/// Checks and decodes one COBS-decoded frame (`payload ++ crc`).
pub fn decode_frame(decoded: &[u8]) -> Result<AccelFrame, FrameError> {
    let malformed = |why: String| FrameError::Malformed {
        len: decoded.len(),
        why,
    };
    let Some(split) = decoded.len().checked_sub(4).filter(|&s| s >= 1) else {
        return Err(malformed("shorter than 5 bytes".into()));
    };
    let (payload, crc) = decoded.split_at(split);
    let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let actual = cobs::crc32(payload);
    if expected != actual {
        return Err(FrameError::Crc {
            expected,
            actual,
            len: payload.len(),
        });
    }
    if payload[0] != VERSION {
        return Err(FrameError::Version { found: payload[0] });
    }
    let (frame, rest) = postcard::take_from_bytes::<AccelFrame>(payload)
        .map_err(|e| malformed(format!("postcard: {e}")))?;
    if !rest.is_empty() {
        return Err(malformed(format!("{} bytes after the samples", rest.len())));
    }
    if frame.sample_rate_hz == 0 || frame.lsb_ug == 0 {
        return Err(malformed(format!(
            "sample rate {} Hz, scale {} µg/count: neither may be 0",
            frame.sample_rate_hz, frame.lsb_ug
        )));
    }
    Ok(frame)
}

/// Cuts a byte stream into frames; see the module docs for its invariants.
#[derive(Debug)]
pub struct Deframer {
    /// Encoded bytes of the frame in progress, up to the cap.
    pieces: Delimited,
    /// Scratch for COBS decoding, kept to avoid an allocation per frame.
    decoded: Vec<u8>,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ENCODED)
    }
}

impl Deframer {
    /// A deframer that refuses frames longer than `max_encoded` bytes (at least 5).
    pub fn new(max_encoded: usize) -> Self {
        Self {
            pieces: Delimited::new(max_encoded.max(5)),
            decoded: Vec::new(),
        }
    }

    /// Forgets the frame in progress (after the port was reopened).
    pub fn reset(&mut self) {
        self.pieces.reset();
    }

    /// Feeds bytes; calls `on_frame` once per frame or dropped frame completed by them.
    pub fn push(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Result<AccelFrame, FrameError>)) {
        let limit = self.pieces.max();
        let decoded = &mut self.decoded;
        self.pieces.push(
            bytes,
            |b| b == DELIMITER,
            |piece| {
                on_frame(match piece {
                    Piece::Complete(encoded) => cobs::decode_into(encoded, decoded)
                        .map_err(FrameError::from)
                        .and_then(|()| decode_frame(decoded)),
                    Piece::Overlong => Err(FrameError::Oversize { limit }),
                })
            },
        );
    }

    /// Convenience for tests and tools: every result of `push` in a `Vec`.
    pub fn push_collect(&mut self, bytes: &[u8]) -> Vec<Result<AccelFrame, FrameError>> {
        let mut out = Vec::new();
        self.push(bytes, |r| out.push(r));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of PROTOCOL.md §5, byte for byte.
    const EXAMPLE_WIRE: [u8; 25] = [
        0x09, 0x01, 0x07, 0xe0, 0x01, 0x80, 0x19, 0xe8, 0x07, 0x0a, 0x02, 0x18, 0xd2, 0x0f, 0x05,
        0x8f, 0x03, 0xcc, 0x0f, 0x05, 0x31, 0xe3, 0xda, 0x42, 0x00,
    ];

    fn example() -> AccelFrame {
        AccelFrame {
            version: 1,
            seq: 7,
            first_sample: 224,
            sample_rate_hz: 3200,
            lsb_ug: 1000,
            flags: 0,
            samples: vec![[12, 1001, -3], [-200, 998, 0]],
        }
    }

    #[test]
    fn the_worked_example_of_the_protocol_decodes_to_its_frame() {
        let out = Deframer::default().push_collect(&EXAMPLE_WIRE);
        assert_eq!(out, vec![Ok(example())]);
    }

    #[test]
    fn a_flipped_crc_byte_is_a_crc_error_and_the_next_frame_still_decodes() {
        let mut wire = EXAMPLE_WIRE.to_vec();
        wire[21] ^= 0x40;
        wire.extend_from_slice(&EXAMPLE_WIRE);
        let out = Deframer::default().push_collect(&wire);
        assert!(matches!(out[0], Err(FrameError::Crc { .. })), "{out:?}");
        assert_eq!(out[1], Ok(example()));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_frame_cut_short_merges_with_the_next_and_costs_both() {
        let mut wire = EXAMPLE_WIRE[..10].to_vec();
        wire.extend_from_slice(&EXAMPLE_WIRE);
        wire.extend_from_slice(&EXAMPLE_WIRE);
        let out = Deframer::default().push_collect(&wire);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].is_err());
        assert_eq!(out[1], Ok(example()));
    }

    #[test]
    fn an_oversize_frame_is_reported_once_and_decoding_resumes_after_its_delimiter() {
        let mut deframer = Deframer::new(32);
        let mut out = deframer.push_collect(&[0x11; 20]);
        out.extend(deframer.push_collect(&[0x11; 20]));
        out.extend(deframer.push_collect(&[0x11; 200]));
        out.extend(deframer.push_collect(&[0x00]));
        out.extend(deframer.push_collect(&EXAMPLE_WIRE));
        assert_eq!(
            out,
            vec![Err(FrameError::Oversize { limit: 32 }), Ok(example())]
        );
    }

    #[test]
    fn another_version_is_refused_before_the_rest_is_read() {
        let mut decoded = vec![0x02, 0x07];
        let crc = cobs::crc32(&decoded);
        decoded.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_frame(&decoded),
            Err(FrameError::Version { found: 2 })
        );
    }

    #[test]
    fn bytes_after_the_samples_make_a_frame_malformed() {
        let mut payload = vec![
            0x01, 0x07, 0xe0, 0x01, 0x80, 0x19, 0xe8, 0x07, 0x00, 0x00, 0x55,
        ];
        let crc = cobs::crc32(&payload);
        payload.extend_from_slice(&crc.to_le_bytes());
        let err = decode_frame(&payload).expect_err("trailing byte");
        assert_eq!(err.kind(), "malformed", "{err}");
    }

    #[test]
    fn back_to_back_delimiters_are_not_frames() {
        let mut wire = vec![0, 0, 0];
        wire.extend_from_slice(&EXAMPLE_WIRE);
        wire.extend_from_slice(&[0, 0]);
        assert_eq!(Deframer::default().push_collect(&wire), vec![Ok(example())]);
    }
}
