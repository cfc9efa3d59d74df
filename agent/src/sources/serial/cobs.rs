//! COBS decoding and CRC-32, as `firmware-sim/PROTOCOL.md` §2–3 specify them.
//!
//! - COBS: blocks of `code` followed by `code − 1` data bytes; a block with a code below
//!   `0xFF` stands for its data and a zero, except the last block, whose zero is implied by
//!   the end of the frame; `0xFF` blocks carry 254 bytes and no zero. The input never holds
//!   the `0x00` delimiter (the deframer has cut it off).
//! - CRC-32/ISO-HDLC (zlib, Ethernet, PNG): reflected polynomial `0xEDB88320`, initial value
//!   and final XOR `0xFFFFFFFF`; table-driven, the table built at compile time.
//!
//! Neither function allocates beyond the caller's output buffer, and neither can panic: every
//! index is checked against the input's length first.

use thiserror::Error;

/// Why a chunk is not valid COBS.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CobsError {
    #[error("empty frame")]
    Empty,
    #[error("zero byte at offset {at} inside the frame")]
    ZeroInside { at: usize },
    #[error("block at offset {at} claims {claimed} bytes but only {left} remain")]
    Truncated {
        at: usize,
        claimed: usize,
        left: usize,
    },
}

/// Decodes one COBS-encoded frame (delimiter excluded) into `out`, which is cleared first.
pub fn decode_into(encoded: &[u8], out: &mut Vec<u8>) -> Result<(), CobsError> {
    out.clear();
    if encoded.is_empty() {
        return Err(CobsError::Empty);
    }
    let mut at = 0;
    while let Some(&code) = encoded.get(at) {
        if code == 0 {
            return Err(CobsError::ZeroInside { at });
        }
        let data = at + 1;
        let end = at + usize::from(code);
        let Some(block) = encoded.get(data..end) else {
            return Err(CobsError::Truncated {
                at,
                claimed: usize::from(code) - 1,
                left: encoded.len() - data.min(encoded.len()),
            });
        };
        if let Some(zero) = block.iter().position(|&b| b == 0) {
            return Err(CobsError::ZeroInside { at: data + zero });
        }
        out.extend_from_slice(block);
        at = end;
        if code != 0xFF && at < encoded.len() {
            out.push(0);
        }
    }
    Ok(())
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32/ISO-HDLC of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(0xFFFF_FFFF_u32, |crc, &b| {
        CRC_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(encoded: &[u8]) -> Result<Vec<u8>, CobsError> {
        let mut out = Vec::new();
        decode_into(encoded, &mut out).map(|()| out)
    }

    #[test]
    fn the_crc_of_the_standard_check_string_is_cbf43926() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn wikipedia_examples_decode() {
        assert_eq!(decode(&[0x01, 0x01]), Ok(vec![0x00]));
        assert_eq!(decode(&[0x01, 0x01, 0x01]), Ok(vec![0x00, 0x00]));
        assert_eq!(
            decode(&[0x01, 0x02, 0x11, 0x01]),
            Ok(vec![0x00, 0x11, 0x00])
        );
        assert_eq!(
            decode(&[0x03, 0x11, 0x22, 0x02, 0x33]),
            Ok(vec![0x11, 0x22, 0x00, 0x33])
        );
        assert_eq!(
            decode(&[0x05, 0x11, 0x22, 0x33, 0x44]),
            Ok(vec![0x11, 0x22, 0x33, 0x44])
        );
        let mut long = vec![0xFF];
        long.extend(1..=254u8);
        assert_eq!(decode(&long), Ok((1..=254u8).collect()));
    }

    #[test]
    fn a_block_longer_than_the_frame_is_refused() {
        assert_eq!(
            decode(&[0x05, 0x11, 0x22]),
            Err(CobsError::Truncated {
                at: 0,
                claimed: 4,
                left: 2
            })
        );
        assert_eq!(decode(&[]), Err(CobsError::Empty));
        assert_eq!(decode(&[0x02, 0x00]), Err(CobsError::ZeroInside { at: 1 }));
    }

    #[test]
    fn every_encoding_of_the_simulator_decodes_to_its_input() {
        let inputs: [&[u8]; 5] = [&[0], &[1, 2, 0, 3], &[0; 300], &[7; 600], &[0, 255, 0]];
        for input in inputs {
            let encoded = firmware_sim::protocol::accel_frame::cobs_encode(input);
            assert_eq!(decode(&encoded).as_deref(), Ok(input), "{encoded:02x?}");
        }
    }
}
