//! The streaming accelerometer's frame: postcard, then CRC-32, then COBS, then `0x00`.
//!
//! Self-contained on purpose (serde and postcard only), so that a receiver can copy it. The
//! byte-by-byte description is `firmware-sim/PROTOCOL.md`; in short:
//!
//! ```text
//! wire  = COBS(payload ++ crc32_le(payload)) ++ [0x00]
//! payload = postcard(AccelFrame)   -- first byte is the version, 1
//! crc32 = CRC-32/ISO-HDLC (poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF)
//! ```
//!
//! Invariants: an encoded frame contains exactly one zero byte, its last; `decode` never
//! panics on any input (property-tested) and accepts exactly what `encode` produces.
//!
//! ```
//! use firmware_sim::protocol::accel_frame::{AccelFrame, FrameDecoder};
//! let frame = AccelFrame::new(7, 224, 3200, 1000, vec![[12, 1001, -3], [15, 998, 0]]);
//! let wire = frame.encode();
//! let mut decoder = FrameDecoder::default();
//! let decoded: Vec<_> = decoder.push(&wire).into_iter().collect();
//! assert_eq!(decoded, vec![Ok(frame)]);
//! ```

use serde::{Deserialize, Serialize};

/// The frame format version this module writes and reads.
pub const VERSION: u8 = 1;
/// The byte that ends every frame on the wire.
pub const DELIMITER: u8 = 0x00;
/// A receiver may drop anything longer than this between two delimiters.
pub const MAX_WIRE_LEN: usize = 16 * 1024;
/// `flags` bit: at least one sample was clipped to the i16 range.
pub const FLAG_CLIPPED: u8 = 1 << 0;

/// One frame of consecutive three-axis samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelFrame {
    /// Format version, [`VERSION`].
    pub version: u8,
    /// Frame counter, +1 per frame, wrapping; a gap means frames were lost.
    pub seq: u32,
    /// Index of the first sample since the stream's sample clock started.
    pub first_sample: u64,
    /// Samples per second per axis.
    pub sample_rate_hz: u32,
    /// Micro-g per least significant bit of a sample.
    pub lsb_ug: u32,
    /// Bit field, see [`FLAG_CLIPPED`].
    pub flags: u8,
    /// Samples as `[x, y, z]` counts; acceleration in g is `count * lsb_ug / 1e6`.
    pub samples: Vec<[i16; 3]>,
}

/// Why bytes between two delimiters are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not valid COBS (a zero byte inside, or a block running past the end).
    #[error("invalid COBS encoding")]
    Cobs,
    /// Fewer bytes than a version byte and a CRC.
    #[error("frame too short ({0} bytes)")]
    TooShort(usize),
    /// More than [`MAX_WIRE_LEN`] bytes without a delimiter.
    #[error("no delimiter within {MAX_WIRE_LEN} bytes")]
    Oversized,
    /// The CRC does not match the payload.
    #[error("CRC mismatch: frame says {expected:#010x}, payload gives {actual:#010x}")]
    Crc {
        /// CRC carried by the frame.
        expected: u32,
        /// CRC computed over the payload.
        actual: u32,
    },
    /// A version this decoder does not know.
    #[error("unsupported frame version {0}")]
    Version(u8),
    /// The payload is not a postcard-encoded frame.
    #[error("malformed payload: {0}")]
    Payload(String),
}

impl AccelFrame {
    /// A version-1 frame with no flags.
    pub fn new(
        seq: u32,
        first_sample: u64,
        sample_rate_hz: u32,
        lsb_ug: u32,
        samples: Vec<[i16; 3]>,
    ) -> Self {
        Self {
            version: VERSION,
            seq,
            first_sample,
            sample_rate_hz,
            lsb_ug,
            flags: 0,
            samples,
        }
    }

    /// The frame as it goes on the wire, delimiter included.
    pub fn encode(&self) -> Vec<u8> {
        self.wire(false)
    }

    /// The frame with its CRC inverted, for injecting CRC errors; otherwise as [`Self::encode`].
    pub fn encode_with_bad_crc(&self) -> Vec<u8> {
        self.wire(true)
    }

    fn wire(&self, invert_crc: bool) -> Vec<u8> {
        let mut payload = postcard::to_stdvec(self)
            .expect("serialising integers and a Vec into a Vec cannot fail");
        let crc = crc32(&payload);
        let crc = if invert_crc { !crc } else { crc };
        payload.extend_from_slice(&crc.to_le_bytes());
        let mut wire = cobs_encode(&payload);
        wire.push(DELIMITER);
        wire
    }

    /// Decodes the bytes of one frame, with or without its trailing delimiter.
    pub fn decode(wire: &[u8]) -> Result<Self, FrameError> {
        let wire = wire.strip_suffix(&[DELIMITER]).unwrap_or(wire);
        let raw = cobs_decode(wire).ok_or(FrameError::Cobs)?;
        if raw.len() < 5 {
            return Err(FrameError::TooShort(raw.len()));
        }
        let (payload, crc_bytes) = raw.split_at(raw.len() - 4);
        let expected = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        let actual = crc32(payload);
        if expected != actual {
            return Err(FrameError::Crc { expected, actual });
        }
        if payload[0] != VERSION {
            return Err(FrameError::Version(payload[0]));
        }
        match postcard::take_from_bytes::<AccelFrame>(payload) {
            Ok((frame, [])) => Ok(frame),
            Ok((_, rest)) => Err(FrameError::Payload(format!(
                "{} trailing bytes",
                rest.len()
            ))),
            Err(e) => Err(FrameError::Payload(e.to_string())),
        }
    }
}

/// Splits a byte stream at delimiters and decodes each frame. Bytes before the first
/// delimiter a receiver sees may be the tail of a frame: they come out as an error.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    overflowed: bool,
}

impl FrameDecoder {
    /// Feeds bytes; returns the frames (or errors) completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<AccelFrame, FrameError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == DELIMITER {
                if self.overflowed {
                    out.push(Err(FrameError::Oversized));
                } else if !self.buf.is_empty() {
                    out.push(AccelFrame::decode(&self.buf));
                }
                self.buf.clear();
                self.overflowed = false;
            } else if self.buf.len() < MAX_WIRE_LEN {
                self.buf.push(b);
            } else {
                self.overflowed = true;
            }
        }
        out
    }
}

/// CRC-32/ISO-HDLC (the CRC of Ethernet, zlib and PNG): check value of `"123456789"` is
/// `0xCBF43926`.
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !bytes.iter().fold(!0u32, |crc, &b| {
        TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8)
    })
}

/// Consistent Overhead Byte Stuffing: the output has no zero byte.
pub fn cobs_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 254 + 2);
    let mut code_at = 0;
    out.push(0);
    let mut code = 1u8;
    for (i, &b) in data.iter().enumerate() {
        if b == 0 {
            out[code_at] = code;
            code_at = out.len();
            out.push(0);
            code = 1;
        } else {
            out.push(b);
            code += 1;
            if code == 0xFF && i + 1 < data.len() {
                out[code_at] = code;
                code_at = out.len();
                out.push(0);
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out
}

/// Inverse of [`cobs_encode`]; `None` if `data` is not valid COBS.
pub fn cobs_decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        let code = usize::from(data[i]);
        if code == 0 {
            return None;
        }
        let end = i + code;
        if end > data.len() {
            return None;
        }
        let block = &data[i + 1..end];
        if block.contains(&0) {
            return None;
        }
        out.extend_from_slice(block);
        i = end;
        if code != 0xFF && i < data.len() {
            out.push(0);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32_matches_the_catalogue_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn cobs_matches_the_published_examples() {
        assert_eq!(cobs_encode(&[0x00]), [0x01, 0x01]);
        assert_eq!(cobs_encode(&[0x00, 0x00]), [0x01, 0x01, 0x01]);
        assert_eq!(
            cobs_encode(&[0x11, 0x22, 0x00, 0x33]),
            [0x03, 0x11, 0x22, 0x02, 0x33]
        );
        assert_eq!(
            cobs_encode(&[0x11, 0x00, 0x00, 0x00]),
            [0x02, 0x11, 0x01, 0x01, 0x01]
        );
        let run: Vec<u8> = (1..=254).collect();
        let mut expected = vec![0xFF];
        expected.extend(&run);
        assert_eq!(cobs_encode(&run), expected);
        let run: Vec<u8> = (1..=255).collect();
        let mut expected = vec![0xFF];
        expected.extend(1..=254);
        expected.extend([0x02, 0xFF]);
        assert_eq!(cobs_encode(&run), expected);
    }

    #[test]
    fn the_worked_example_of_protocol_md_is_byte_exact() {
        // Computed independently (Python: zlib.crc32, hand-written varints and COBS).
        let frame = AccelFrame::new(7, 224, 3200, 1000, vec![[12, 1001, -3], [-200, 998, 0]]);
        let wire: Vec<u8> = [
            0x09, 0x01, 0x07, 0xe0, 0x01, 0x80, 0x19, 0xe8, 0x07, 0x0a, 0x02, 0x18, 0xd2, 0x0f,
            0x05, 0x8f, 0x03, 0xcc, 0x0f, 0x05, 0x31, 0xe3, 0xda, 0x42, 0x00,
        ]
        .to_vec();
        assert_eq!(frame.encode(), wire);
        assert_eq!(AccelFrame::decode(&wire), Ok(frame));
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_crc() {
        let mut wire = AccelFrame::new(1, 0, 3200, 1000, vec![[1, 2, 3]; 4]).encode();
        wire[5] ^= 0x04;
        let result = AccelFrame::decode(&wire);
        assert!(
            matches!(result, Err(FrameError::Crc { .. } | FrameError::Cobs)),
            "{result:?}"
        );
    }

    #[test]
    fn the_first_payload_byte_is_the_version() {
        let wire = AccelFrame::new(1, 0, 3200, 1000, vec![]).encode();
        let raw = cobs_decode(&wire[..wire.len() - 1]).expect("valid COBS");
        assert_eq!(raw[0], VERSION);
    }

    fn frames() -> impl Strategy<Value = AccelFrame> {
        (
            any::<u32>(),
            any::<u64>(),
            1u32..100_000,
            1u32..100_000,
            any::<u8>(),
            proptest::collection::vec(any::<[i16; 3]>(), 0..300),
        )
            .prop_map(|(seq, first, rate, lsb, flags, samples)| AccelFrame {
                version: VERSION,
                seq,
                first_sample: first,
                sample_rate_hz: rate,
                lsb_ug: lsb,
                flags,
                samples,
            })
    }

    proptest! {
        #[test]
        fn frames_round_trip_and_hold_a_single_zero_at_the_end(frame in frames()) {
            let wire = frame.encode();
            prop_assert_eq!(wire.iter().filter(|&&b| b == 0).count(), 1);
            prop_assert_eq!(wire.last(), Some(&DELIMITER));
            prop_assert_eq!(AccelFrame::decode(&wire), Ok(frame));
        }

        #[test]
        fn cobs_round_trips_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let encoded = cobs_encode(&data);
            prop_assert!(!encoded.contains(&0));
            prop_assert_eq!(cobs_decode(&encoded), Some(data));
        }

        #[test]
        fn decoding_any_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = AccelFrame::decode(&data);
            let _ = FrameDecoder::default().push(&data);
        }

        #[test]
        fn a_stream_cut_anywhere_yields_every_frame_after_the_cut(
            frames in proptest::collection::vec(frames(), 1..6), cut in 0usize..64, chunk in 1usize..97,
        ) {
            let wire: Vec<u8> = frames.iter().flat_map(AccelFrame::encode).collect();
            let cut = cut.min(wire.len() - 1);
            let mut decoder = FrameDecoder::default();
            let mut got = Vec::new();
            for piece in wire[cut..].chunks(chunk) {
                got.extend(decoder.push(piece));
            }
            let ok: Vec<AccelFrame> = got.into_iter().filter_map(Result::ok).collect();
            // Exactly the frames that start at or after the cut arrive, intact and in order.
            let mut start = 0;
            let mut expected = Vec::new();
            for frame in &frames {
                if start >= cut {
                    expected.push(frame.clone());
                }
                start += frame.encode().len();
            }
            prop_assert_eq!(ok, expected);
        }
    }
}
