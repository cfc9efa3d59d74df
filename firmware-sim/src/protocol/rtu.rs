//! Modbus RTU on a serial line, without I/O: the CRC, request framing and the protocol data
//! units of the functions the simulator serves (1, 2, 3, 4, 5, 6, 15, 16).
//!
//! An RTU frame is `[slave] [pdu...] [crc lo] [crc hi]`, CRC-16/MODBUS over slave and PDU.
//! Frames have no length field, so [`RtuFramer`] knows the request length of each function
//! code, checks the CRC, and on a mismatch drops one byte and tries again (resynchronising
//! after noise). Requests of functions it cannot size are taken whole when the line falls
//! silent, as a real slave does after 3.5 character times. `decode_request` and `encode_response` are
//! the PDU codec; the values are `tokio_modbus` types so that TCP and RTU share one service.

use std::borrow::Cow;

use tokio_modbus::{ExceptionCode, Request, Response};

/// Longest RTU frame the specification allows.
pub const MAX_FRAME_LEN: usize = 256;

/// CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF); sent low byte first.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in bytes {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A complete frame: slave id, PDU and CRC.
pub fn adu(slave: u8, pdu: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(pdu.len() + 3);
    frame.push(slave);
    frame.extend_from_slice(pdu);
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    frame
}

/// What came off the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A request with a valid CRC.
    Frame {
        /// The slave (unit) id it is addressed to; 0 is broadcast.
        slave: u8,
        /// Function code and data.
        pdu: Vec<u8>,
    },
    /// Bytes that are not a valid frame, dropped.
    Noise(usize),
}

/// Splits the bytes of a serial line into request frames.
#[derive(Debug, Default)]
pub struct RtuFramer {
    buf: Vec<u8>,
}

enum Length {
    Known(usize),
    NeedMore,
    Unknown,
}

fn request_length(buf: &[u8]) -> Length {
    let Some(&fc) = buf.get(1) else {
        return Length::NeedMore;
    };
    let with_count = |at: usize, fixed: usize| match buf.get(at) {
        Some(&count) => Length::Known(fixed + usize::from(count)),
        None => Length::NeedMore,
    };
    match fc {
        1..=6 | 8 => Length::Known(8),
        7 | 11 | 12 | 17 => Length::Known(4),
        15 | 16 => with_count(6, 9),
        22 => Length::Known(10),
        23 => with_count(10, 13),
        _ => Length::Unknown,
    }
}

impl RtuFramer {
    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// True when no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next complete frame whose length the function code tells, if any.
    pub fn next_frame(&mut self) -> Option<Received> {
        let mut dropped = 0;
        loop {
            if self.buf.len() > MAX_FRAME_LEN {
                self.buf.remove(0);
                dropped += 1;
                continue;
            }
            let len = match request_length(&self.buf) {
                Length::Known(len) if len <= MAX_FRAME_LEN => len,
                Length::Known(_) => {
                    self.buf.remove(0);
                    dropped += 1;
                    continue;
                }
                Length::NeedMore => break,
                Length::Unknown => match self.valid_frame_after_noise() {
                    // Noise in front of a recognisable request: skip to the request.
                    Some(skip) => {
                        self.buf.drain(..skip);
                        dropped += skip;
                        continue;
                    }
                    // Perhaps a request of a function we cannot size: wait for silence.
                    None => break,
                },
            };
            if self.buf.len() < len {
                break;
            }
            if valid_crc(&self.buf[..len]) {
                if dropped > 0 {
                    // Report the noise first; the frame stays buffered for the next call.
                    return Some(Received::Noise(dropped));
                }
                let frame: Vec<u8> = self.buf.drain(..len).collect();
                return Some(Received::Frame {
                    slave: frame[0],
                    pdu: frame[1..len - 2].to_vec(),
                });
            }
            self.buf.remove(0);
            dropped += 1;
        }
        (dropped > 0).then_some(Received::Noise(dropped))
    }

    /// Offset of the first request of known length with a valid CRC after the start.
    fn valid_frame_after_noise(&self) -> Option<usize> {
        (1..self.buf.len()).find(|&i| match request_length(&self.buf[i..]) {
            Length::Known(len) => i + len <= self.buf.len() && valid_crc(&self.buf[i..i + len]),
            _ => false,
        })
    }

    /// The line fell silent: whatever is buffered is one frame, or noise.
    pub fn silence(&mut self) -> Option<Received> {
        if self.buf.is_empty() {
            return None;
        }
        let buf = std::mem::take(&mut self.buf);
        if buf.len() >= 4 && valid_crc(&buf) {
            Some(Received::Frame {
                slave: buf[0],
                pdu: buf[1..buf.len() - 2].to_vec(),
            })
        } else {
            Some(Received::Noise(buf.len()))
        }
    }
}

fn valid_crc(frame: &[u8]) -> bool {
    let (body, crc) = frame.split_at(frame.len() - 2);
    crc16(body).to_le_bytes() == [crc[0], crc[1]]
}

fn be16(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

/// Decodes a request PDU. Unknown functions are exception 1, malformed data exception 3.
pub fn decode_request(pdu: &[u8]) -> Result<Request<'static>, ExceptionCode> {
    let Some(&fc) = pdu.first() else {
        return Err(ExceptionCode::IllegalFunction);
    };
    let fixed = |len: usize| {
        if pdu.len() == len {
            Ok(())
        } else {
            Err(ExceptionCode::IllegalDataValue)
        }
    };
    match fc {
        1..=6 => {
            fixed(5)?;
            let (addr, value) = (be16(pdu, 1), be16(pdu, 3));
            Ok(match fc {
                1 => Request::ReadCoils(addr, value),
                2 => Request::ReadDiscreteInputs(addr, value),
                3 => Request::ReadHoldingRegisters(addr, value),
                4 => Request::ReadInputRegisters(addr, value),
                5 => match value {
                    0xFF00 => Request::WriteSingleCoil(addr, true),
                    0x0000 => Request::WriteSingleCoil(addr, false),
                    _ => return Err(ExceptionCode::IllegalDataValue),
                },
                _ => Request::WriteSingleRegister(addr, value),
            })
        }
        15 | 16 => {
            if pdu.len() < 6 {
                return Err(ExceptionCode::IllegalDataValue);
            }
            let (addr, qty, count) = (be16(pdu, 1), usize::from(be16(pdu, 3)), usize::from(pdu[5]));
            let data = &pdu[6..];
            if fc == 15 {
                if qty == 0 || count != qty.div_ceil(8) || data.len() != count {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                let bits = (0..qty)
                    .map(|i| data[i / 8] & (1 << (i % 8)) != 0)
                    .collect();
                Ok(Request::WriteMultipleCoils(addr, Cow::Owned(bits)))
            } else {
                if qty == 0 || count != 2 * qty || data.len() != count {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                let words = (0..qty).map(|i| be16(data, 2 * i)).collect();
                Ok(Request::WriteMultipleRegisters(addr, Cow::Owned(words)))
            }
        }
        _ => Err(ExceptionCode::IllegalFunction),
    }
}

/// Encodes a response PDU; `None` for responses this codec does not produce.
pub fn encode_response(response: &Response) -> Option<Vec<u8>> {
    let fc = response.function_code().value();
    let mut pdu = vec![fc];
    let pack_bits = |pdu: &mut Vec<u8>, bits: &[bool]| {
        let bytes: Vec<u8> = bits
            .chunks(8)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &on)| b | (u8::from(on) << i))
            })
            .collect();
        pdu.push(bytes.len() as u8);
        pdu.extend(bytes);
    };
    match response {
        Response::ReadCoils(bits) | Response::ReadDiscreteInputs(bits) => pack_bits(&mut pdu, bits),
        Response::ReadHoldingRegisters(words) | Response::ReadInputRegisters(words) => {
            pdu.push((2 * words.len()) as u8);
            pdu.extend(words.iter().flat_map(|w| w.to_be_bytes()));
        }
        Response::WriteSingleCoil(addr, on) => {
            pdu.extend(addr.to_be_bytes());
            pdu.extend(if *on { [0xFF, 0x00] } else { [0x00, 0x00] });
        }
        Response::WriteSingleRegister(addr, value)
        | Response::WriteMultipleCoils(addr, value)
        | Response::WriteMultipleRegisters(addr, value) => {
            pdu.extend(addr.to_be_bytes());
            pdu.extend(value.to_be_bytes());
        }
        _ => return None,
    }
    Some(pdu)
}

/// An exception response PDU.
pub fn encode_exception(function: u8, code: ExceptionCode) -> Vec<u8> {
    vec![function | 0x80, u8::from(code)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc_matches_the_textbook_request() {
        // Read 10 holding registers from address 0 of slave 1.
        assert_eq!(
            adu(1, &[0x03, 0x00, 0x00, 0x00, 0x0A]),
            [0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD]
        );
    }

    #[test]
    fn the_framer_skips_noise_and_finds_the_request_behind_it() {
        let mut framer = RtuFramer::default();
        framer.push(&[0x55, 0xAA]);
        framer.push(&adu(7, &[0x04, 0x00, 0x10, 0x00, 0x02]));
        assert_eq!(framer.next_frame(), Some(Received::Noise(2)));
        assert_eq!(
            framer.next_frame(),
            Some(Received::Frame {
                slave: 7,
                pdu: vec![0x04, 0x00, 0x10, 0x00, 0x02]
            })
        );
        assert_eq!(framer.next_frame(), None);
        assert!(framer.is_empty());
    }

    #[test]
    fn a_write_multiple_waits_for_its_byte_count() {
        let frame = adu(
            1,
            &[0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x01, 0x00, 0x02],
        );
        let mut framer = RtuFramer::default();
        framer.push(&frame[..8]);
        assert_eq!(framer.next_frame(), None);
        framer.push(&frame[8..]);
        let Some(Received::Frame { pdu, .. }) = framer.next_frame() else {
            panic!("no frame")
        };
        assert_eq!(
            decode_request(&pdu),
            Ok(Request::WriteMultipleRegisters(0, Cow::Owned(vec![1, 2])))
        );
    }

    #[test]
    fn unknown_functions_are_taken_on_silence() {
        let mut framer = RtuFramer::default();
        framer.push(&adu(1, &[0x2B, 0x0E, 0x01, 0x00]));
        assert_eq!(framer.next_frame(), None);
        let Some(Received::Frame { pdu, .. }) = framer.silence() else {
            panic!("no frame")
        };
        assert_eq!(decode_request(&pdu), Err(ExceptionCode::IllegalFunction));
    }

    #[test]
    fn coils_are_packed_lsb_first() {
        let pdu = encode_response(&Response::ReadCoils(vec![
            true, false, true, true, false, false, false, false, true,
        ]));
        assert_eq!(pdu, Some(vec![0x01, 0x02, 0x0D, 0x01]));
    }

    proptest! {
        #[test]
        fn the_framer_never_panics_and_never_invents_a_frame(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut framer = RtuFramer::default();
            framer.push(&data);
            while let Some(r) = framer.next_frame() {
                if let Received::Frame { slave, pdu } = r {
                    let frame = adu(slave, &pdu);
                    prop_assert!(data.windows(frame.len()).any(|w| w == frame.as_slice()));
                    let _ = decode_request(&pdu);
                }
            }
            let _ = framer.silence();
        }
    }
}
