//! Registers to values: every [`ValueType`] in every [`WordOrder`], then scale and offset.
//!
//! The wire carries each 16-bit register big-endian. For a multi-register value the order
//! names how the value's big-endian bytes (A most significant) appear on the wire: to decode,
//! swap the bytes within each register if the order swaps bytes, then reverse the registers
//! if it swaps words, and read the result big-endian.

use crate::config::{Register, ValueType, WordOrder};

/// The raw value of `value_type` from exactly `value_type.width()` registers.
/// `None` if the slice has the wrong length.
pub fn raw_value(registers: &[u16], value_type: ValueType, order: WordOrder) -> Option<f64> {
    if registers.len() != usize::from(value_type.width()) {
        return None;
    }
    let mut words = [0u16; 4];
    let words = &mut words[..registers.len()];
    for (word, &register) in words.iter_mut().zip(registers) {
        *word = if order.swaps_bytes() {
            register.swap_bytes()
        } else {
            register
        };
    }
    if order.swaps_words() {
        words.reverse();
    }
    let mut bytes = [0u8; 8];
    for (chunk, word) in bytes.chunks_exact_mut(2).zip(words.iter()) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    let b2 = [bytes[0], bytes[1]];
    let b4 = [bytes[0], bytes[1], bytes[2], bytes[3]];
    Some(match value_type {
        ValueType::Bool => f64::from(u8::from(words[0] != 0)),
        ValueType::U16 => f64::from(u16::from_be_bytes(b2)),
        ValueType::I16 => f64::from(i16::from_be_bytes(b2)),
        ValueType::U32 => f64::from(u32::from_be_bytes(b4)),
        ValueType::I32 => f64::from(i32::from_be_bytes(b4)),
        ValueType::F32 => f64::from(f32::from_be_bytes(b4)),
        // 64-bit integers beyond 2^53 lose their lowest bits in f64: counters that large are
        // run-hour or energy totals, where that is far below the unit.
        ValueType::U64 => u64::from_be_bytes(bytes) as f64,
        ValueType::I64 => i64::from_be_bytes(bytes) as f64,
        ValueType::F64 => f64::from_be_bytes(bytes),
    })
}

/// The sensor value of `register` from its registers (or one bit for bit tables).
pub fn value(register: &Register, words: &[u16]) -> Option<f64> {
    let raw = raw_value(words, register.value_type, register.order)?;
    Some(raw * register.scale + register.offset)
}

/// The wire registers of `raw` as `value_type` in `order`: the inverse of [`raw_value`], for
/// tests and for writing values.
pub fn encode(raw: f64, value_type: ValueType, order: WordOrder) -> Vec<u16> {
    let bytes: Vec<u8> = match value_type {
        ValueType::Bool => vec![0, u8::from(raw != 0.0)],
        ValueType::U16 => (raw as u16).to_be_bytes().to_vec(),
        ValueType::I16 => (raw as i16).to_be_bytes().to_vec(),
        ValueType::U32 => (raw as u32).to_be_bytes().to_vec(),
        ValueType::I32 => (raw as i32).to_be_bytes().to_vec(),
        ValueType::F32 => (raw as f32).to_be_bytes().to_vec(),
        ValueType::U64 => (raw as u64).to_be_bytes().to_vec(),
        ValueType::I64 => (raw as i64).to_be_bytes().to_vec(),
        ValueType::F64 => raw.to_be_bytes().to_vec(),
    };
    let mut words: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    if order.swaps_words() {
        words.reverse();
    }
    if order.swaps_bytes() {
        words.iter_mut().for_each(|w| *w = w.swap_bytes());
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDERS: [WordOrder; 4] = [
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ];

    #[test]
    fn a_float_in_each_order_reads_as_the_same_value() {
        // 123.456f32 is 0x42F6E979: A=42 B=F6 C=E9 D=79.
        let wire = [
            (WordOrder::Abcd, [0x42F6, 0xE979]),
            (WordOrder::Cdab, [0xE979, 0x42F6]),
            (WordOrder::Badc, [0xF642, 0x79E9]),
            (WordOrder::Dcba, [0x79E9, 0xF642]),
        ];
        for (order, registers) in wire {
            let value = raw_value(&registers, ValueType::F32, order).expect("two registers");
            assert_eq!(value as f32, 123.456f32, "{order:?}");
        }
    }

    #[test]
    fn sixty_four_bit_orders_extend_the_same_rule_to_four_words() {
        // Below 2^53, so that f64 holds it exactly.
        let value = 0x0012_0304_0506_0708u64;
        let expected = [
            (WordOrder::Abcd, [0x0012, 0x0304, 0x0506, 0x0708]),
            (WordOrder::Cdab, [0x0708, 0x0506, 0x0304, 0x0012]),
            (WordOrder::Badc, [0x1200, 0x0403, 0x0605, 0x0807]),
            (WordOrder::Dcba, [0x0807, 0x0605, 0x0403, 0x1200]),
        ];
        for (order, registers) in expected {
            assert_eq!(
                encode(value as f64, ValueType::U64, order),
                registers,
                "{order:?}"
            );
            assert_eq!(
                raw_value(&registers, ValueType::U64, order),
                Some(value as f64)
            );
        }
    }

    #[test]
    fn signed_values_keep_their_sign() {
        assert_eq!(
            raw_value(&[0xFFFF], ValueType::I16, WordOrder::Abcd),
            Some(-1.0)
        );
        assert_eq!(
            raw_value(&[0xFFFF, 0xFFFE], ValueType::I32, WordOrder::Abcd),
            Some(-2.0)
        );
        assert_eq!(
            raw_value(&[0xFFFE, 0xFFFF], ValueType::I32, WordOrder::Cdab),
            Some(-2.0)
        );
    }

    #[test]
    fn every_type_and_order_round_trips() {
        let samples: [f64; 6] = [0.0, 1.0, 42.0, 255.0, 1000.0, 65535.0];
        for value_type in ValueType::ALL.into_iter().filter(|t| *t != ValueType::Bool) {
            for order in ORDERS {
                for &x in &samples {
                    let x = if value_type == ValueType::I16 {
                        x.min(32767.0)
                    } else {
                        x
                    };
                    let words = encode(x, value_type, order);
                    assert_eq!(
                        raw_value(&words, value_type, order),
                        Some(x),
                        "{value_type:?} {order:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_wrong_number_of_registers_decodes_to_nothing() {
        assert_eq!(raw_value(&[1], ValueType::F32, WordOrder::Abcd), None);
        assert_eq!(raw_value(&[], ValueType::U16, WordOrder::Abcd), None);
    }
}
