//! Engineering values to and from 16-bit Modbus registers.
//!
//! A master computes `value = raw * scale + offset`; the simulator therefore sends
//! `raw = (value - offset) / scale`, rounded and saturated for integer types. Multi-register
//! values are laid out from the big-endian bytes of `raw` (A = most significant):
//!
//! | order  | 16-bit | 32-bit registers | 64-bit registers        |
//! |--------|--------|------------------|-------------------------|
//! | `ABCD` | `AB`   | `AB CD`          | `AB CD EF GH`           |
//! | `CDAB` | `AB`   | `CD AB`          | `GH EF CD AB`           |
//! | `BADC` | `BA`   | `BA DC`          | `BA DC FE HG`           |
//! | `DCBA` | `BA`   | `DC BA`          | `HG FE DC BA`           |
//!
//! `encode` and `decode` are inverse for every type and order (tested below).

use serde::Deserialize;

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    /// Read/write bits (function codes 1, 5, 15).
    Coil,
    /// Read-only bits (function code 2).
    Discrete,
    /// Read/write registers (function codes 3, 6, 16).
    Holding,
    /// Read-only registers (function code 4).
    Input,
}

impl Table {
    /// True for the bit tables (coils and discrete inputs).
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coil | Table::Discrete)
    }
}

/// How a value is represented in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Unsigned 16-bit.
    #[default]
    U16,
    /// Signed 16-bit.
    I16,
    /// Unsigned 32-bit.
    U32,
    /// Signed 32-bit.
    I32,
    /// IEEE 754 single precision.
    F32,
    /// IEEE 754 double precision.
    F64,
}

impl ValueType {
    /// Registers the type occupies.
    pub fn words(self) -> usize {
        match self {
            ValueType::U16 | ValueType::I16 => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::F64 => 4,
        }
    }
}

/// Byte and word order of multi-byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum WordOrder {
    /// Big-endian bytes, most significant register first.
    #[default]
    ABCD,
    /// Big-endian bytes within registers, least significant register first.
    CDAB,
    /// Bytes swapped within registers, most significant register first.
    BADC,
    /// Fully little-endian.
    DCBA,
}

impl WordOrder {
    fn swap_bytes(self) -> bool {
        matches!(self, WordOrder::BADC | WordOrder::DCBA)
    }
    fn swap_words(self) -> bool {
        matches!(self, WordOrder::CDAB | WordOrder::DCBA)
    }
}

/// The registers of one encoded value (only the first `ValueType::words()` are used).
pub type Words = ([u16; 4], usize);

/// Encodes an engineering value; see the module doc for the layout.
pub fn encode(value: f64, ty: ValueType, order: WordOrder, scale: f64, offset: f64) -> Words {
    let raw = (value - offset) / scale;
    // `as` saturates float-to-int casts and maps NaN to 0: exactly what a transmitter's
    // clamped integer output does.
    let bytes: Vec<u8> = match ty {
        ValueType::U16 => (raw.round() as u16).to_be_bytes().to_vec(),
        ValueType::I16 => (raw.round() as i16).to_be_bytes().to_vec(),
        ValueType::U32 => (raw.round() as u32).to_be_bytes().to_vec(),
        ValueType::I32 => (raw.round() as i32).to_be_bytes().to_vec(),
        ValueType::F32 => (raw as f32).to_be_bytes().to_vec(),
        ValueType::F64 => raw.to_be_bytes().to_vec(),
    };
    let mut words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| {
            let word = u16::from_be_bytes([pair[0], pair[1]]);
            if order.swap_bytes() {
                word.swap_bytes()
            } else {
                word
            }
        })
        .collect();
    if order.swap_words() {
        words.reverse();
    }
    let mut out = [0u16; 4];
    out[..words.len()].copy_from_slice(&words);
    (out, words.len())
}

/// Decodes registers as a master would: the inverse of [`encode`].
pub fn decode(words: &[u16], ty: ValueType, order: WordOrder, scale: f64, offset: f64) -> f64 {
    let mut words: Vec<u16> = words[..ty.words()].to_vec();
    if order.swap_words() {
        words.reverse();
    }
    let bytes: Vec<u8> = words
        .iter()
        .flat_map(|w| {
            let w = if order.swap_bytes() {
                w.swap_bytes()
            } else {
                *w
            };
            w.to_be_bytes()
        })
        .collect();
    let raw = match ty {
        ValueType::U16 => f64::from(u16::from_be_bytes([bytes[0], bytes[1]])),
        ValueType::I16 => f64::from(i16::from_be_bytes([bytes[0], bytes[1]])),
        ValueType::U32 => f64::from(u32::from_be_bytes(array4(&bytes))),
        ValueType::I32 => f64::from(i32::from_be_bytes(array4(&bytes))),
        ValueType::F32 => f64::from(f32::from_be_bytes(array4(&bytes))),
        ValueType::F64 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            f64::from_be_bytes(b)
        }
    };
    raw * scale + offset
}

fn array4(bytes: &[u8]) -> [u8; 4] {
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ORDERS: [WordOrder; 4] = [
        WordOrder::ABCD,
        WordOrder::CDAB,
        WordOrder::BADC,
        WordOrder::DCBA,
    ];

    #[test]
    fn a_float_is_laid_out_as_the_order_table_says() {
        // 1.0f32 = 0x3F80_0000: A=3F B=80 C=00 D=00.
        let layout = |order| encode(1.0, ValueType::F32, order, 1.0, 0.0).0;
        assert_eq!(layout(WordOrder::ABCD)[..2], [0x3F80, 0x0000]);
        assert_eq!(layout(WordOrder::CDAB)[..2], [0x0000, 0x3F80]);
        assert_eq!(layout(WordOrder::BADC)[..2], [0x803F, 0x0000]);
        assert_eq!(layout(WordOrder::DCBA)[..2], [0x0000, 0x803F]);
    }

    #[test]
    fn scale_and_offset_are_what_the_master_applies() {
        let (words, n) = encode(41.25, ValueType::I16, WordOrder::ABCD, 0.01, 0.0);
        assert_eq!((words[0], n), (4125, 1));
        let (words, _) = encode(-5.0, ValueType::U16, WordOrder::ABCD, 0.1, -40.0);
        assert_eq!(words[0], 350);
    }

    #[test]
    fn integers_saturate_instead_of_wrapping() {
        assert_eq!(
            encode(1e9, ValueType::U16, WordOrder::ABCD, 1.0, 0.0).0[0],
            u16::MAX
        );
        assert_eq!(
            encode(-3.0, ValueType::U16, WordOrder::ABCD, 1.0, 0.0).0[0],
            0
        );
    }

    proptest! {
        #[test]
        fn decode_inverts_encode_for_every_type_and_order(
            value in -1.0e6f64..1.0e6, order_idx in 0usize..4, ty_idx in 0usize..6,
        ) {
            let order = ORDERS[order_idx];
            let ty = [ValueType::U16, ValueType::I16, ValueType::U32, ValueType::I32,
                      ValueType::F32, ValueType::F64][ty_idx];
            let (words, n) = encode(value, ty, order, 0.01, 0.0);
            prop_assert_eq!(n, ty.words());
            let back = decode(&words[..n], ty, order, 0.01, 0.0);
            let expected = match ty {
                ValueType::U16 => ((value / 0.01).round().clamp(0.0, 65535.0)) * 0.01,
                ValueType::I16 => ((value / 0.01).round().clamp(-32768.0, 32767.0)) * 0.01,
                ValueType::U32 => ((value / 0.01).round().max(0.0)) * 0.01,
                ValueType::I32 => (value / 0.01).round() * 0.01,
                ValueType::F32 => f64::from((value / 0.01) as f32) * 0.01,
                ValueType::F64 => value,
            };
            prop_assert!((back - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                "{ty:?} {order:?}: {value} -> {back}, expected {expected}");
        }
    }
}
