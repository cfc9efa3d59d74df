//! Property tests of the Modbus value path: decoding any registers in any type and order never
//! panics and inverts encoding; the read planner serves every register exactly once within
//! the protocol's limits, whatever the register map; the config parser never panics.

use edge_agent::config::{self, Register, Table, ValueType, WordOrder};
use edge_agent::sources::modbus::decode::{encode, raw_value};
use edge_agent::sources::modbus::plan::{plan_reads, MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ};
use proptest::prelude::*;

fn value_type() -> impl Strategy<Value = ValueType> {
    prop::sample::select(ValueType::ALL.to_vec())
}

fn order() -> impl Strategy<Value = WordOrder> {
    prop::sample::select(vec![
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decoding_any_registers_never_panics(words in prop::collection::vec(any::<u16>(), 0..6), t in value_type(), o in order()) {
        let decoded = raw_value(&words, t, o);
        prop_assert_eq!(decoded.is_some(), words.len() == usize::from(t.width()));
    }

    #[test]
    fn decoding_inverts_encoding_for_every_bit_pattern(words in prop::collection::vec(any::<u16>(), 4), t in value_type(), o in order()) {
        prop_assume!(t != ValueType::Bool);
        let words = &words[..usize::from(t.width())];
        let value = raw_value(words, t, o).expect("right width");
        // Integers up to 2^53 and every float (NaN payloads aside) come back bit for bit.
        let exact = !matches!(t, ValueType::U64 | ValueType::I64) || value.abs() < 9.0e15;
        if exact && !value.is_nan() {
            prop_assert_eq!(encode(value, t, o), words.to_vec());
        }
    }

    #[test]
    fn planned_reads_serve_every_register_once_within_the_limits(
        map in prop::collection::vec((0u8..4, 0u16..400, value_type()), 1..60),
        merge in any::<bool>(),
    ) {
        let registers: Vec<Register> = map
            .iter()
            .enumerate()
            .map(|(i, &(table, address, t))| {
                let table = [Table::Coils, Table::DiscreteInputs, Table::HoldingRegisters, Table::InputRegisters][usize::from(table)];
                let value_type = if table.is_bits() { ValueType::Bool } else if t == ValueType::Bool { ValueType::U16 } else { t };
                Register { sensor: format!("s{i}"), table, address, value_type, order: WordOrder::Abcd, scale: 1.0, offset: 0.0, unit: None }
            })
            .collect();
        let reads = plan_reads(&registers, merge);
        let mut served = vec![0; registers.len()];
        for read in &reads {
            let limit = if read.table.is_bits() { MAX_BITS_PER_READ } else { MAX_REGISTERS_PER_READ };
            prop_assert!(read.count >= 1 && read.count <= limit);
            for &(index, offset) in &read.serves {
                served[index] += 1;
                let r = &registers[index];
                let width = if r.table.is_bits() { 1 } else { r.value_type.width() };
                prop_assert_eq!(r.table, read.table);
                prop_assert_eq!(u32::from(read.start) + u32::from(offset), u32::from(r.address));
                prop_assert!(u32::from(offset) + u32::from(width) <= u32::from(read.count));
            }
            if !merge {
                prop_assert_eq!(read.serves.len(), 1);
            }
        }
        prop_assert!(served.iter().all(|&n| n == 1), "{:?}", served);
    }

    #[test]
    fn the_config_parser_never_panics_and_points_inside_the_text(text in "\\PC{0,400}") {
        if let Err(diagnostics) = config::parse("x.toml", &text) {
            let lines = text.lines().count().max(1) + 1;
            for d in diagnostics {
                prop_assert!(d.line >= 1 && d.line <= lines, "{d}");
            }
        }
    }

    #[test]
    fn a_mutated_example_config_never_panics_the_parser(cut in 0usize..6000, insert in "\\PC{0,20}") {
        let example = include_str!("../../deploy/agent.example.toml");
        let mut cut = cut.min(example.len());
        while !example.is_char_boundary(cut) {
            cut -= 1;
        }
        let text = format!("{}{insert}{}", &example[..cut], &example[cut..]);
        let _ = config::parse("x.toml", &text);
    }
}
