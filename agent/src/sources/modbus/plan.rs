//! Planning the reads of one poll group: registers of one table that are adjacent (or overlap)
//! are merged into one request, up to the protocol's limit, unless the device cannot take it.
//!
//! Only adjacent addresses are merged: reading across a gap could touch an address the device
//! does not map, and the whole request would fail with an exception.

use crate::config::{Register, Table};

/// Registers per read request (function codes 3 and 4).
pub const MAX_REGISTERS_PER_READ: u16 = 125;
/// Bits per read request (function codes 1 and 2).
pub const MAX_BITS_PER_READ: u16 = 2000;

/// One read request and the registers it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub table: Table,
    pub start: u16,
    pub count: u16,
    /// Indices into the poll group's registers, with their offset from `start`.
    pub serves: Vec<(usize, u16)>,
}

impl Read {
    /// A read of `register` alone (index `index` in its group).
    pub fn single(register: &Register, index: usize) -> Self {
        let count = if register.table.is_bits() {
            1
        } else {
            register.value_type.width()
        };
        Self {
            table: register.table,
            start: register.address,
            count,
            serves: vec![(index, 0)],
        }
    }
}

/// The requests that read every register of `registers`.
pub fn plan_reads(registers: &[Register], merge: bool) -> Vec<Read> {
    let mut order: Vec<usize> = (0..registers.len()).collect();
    order.sort_by_key(|&i| (registers[i].table, registers[i].address));
    let mut reads: Vec<Read> = Vec::new();
    for i in order {
        let register = &registers[i];
        let width = if register.table.is_bits() {
            1
        } else {
            register.value_type.width()
        };
        let limit = if register.table.is_bits() {
            MAX_BITS_PER_READ
        } else {
            MAX_REGISTERS_PER_READ
        };
        let end = u32::from(register.address) + u32::from(width);
        if let Some(read) = reads.last_mut().filter(|_| merge) {
            let read_end = u32::from(read.start) + u32::from(read.count);
            let new_count = end.max(read_end) - u32::from(read.start);
            if read.table == register.table
                && u32::from(register.address) <= read_end
                && new_count <= u32::from(limit)
            {
                read.count = new_count as u16;
                read.serves.push((i, register.address - read.start));
                continue;
            }
        }
        reads.push(Read {
            table: register.table,
            start: register.address,
            count: width,
            serves: vec![(i, 0)],
        });
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ValueType, WordOrder};

    fn reg(table: Table, address: u16, value_type: ValueType) -> Register {
        Register {
            sensor: format!("{}{address}", table.name()),
            table,
            address,
            value_type,
            order: WordOrder::Abcd,
            scale: 1.0,
            offset: 0.0,
            unit: None,
        }
    }

    #[test]
    fn adjacent_registers_of_one_table_become_one_read() {
        let registers = [
            reg(Table::InputRegisters, 2, ValueType::F32),
            reg(Table::InputRegisters, 0, ValueType::F32),
            reg(Table::InputRegisters, 4, ValueType::U16),
        ];
        let reads = plan_reads(&registers, true);
        assert_eq!(
            reads,
            vec![Read {
                table: Table::InputRegisters,
                start: 0,
                count: 5,
                serves: vec![(1, 0), (0, 2), (2, 4)]
            }]
        );
    }

    #[test]
    fn gaps_tables_and_devices_that_cannot_merge_split_reads() {
        let registers = [
            reg(Table::InputRegisters, 0, ValueType::U16),
            reg(Table::InputRegisters, 5, ValueType::U16),
            reg(Table::HoldingRegisters, 1, ValueType::U16),
        ];
        assert_eq!(plan_reads(&registers, true).len(), 3);
        let adjacent = [
            reg(Table::InputRegisters, 0, ValueType::U16),
            reg(Table::InputRegisters, 1, ValueType::U16),
        ];
        assert_eq!(plan_reads(&adjacent, false).len(), 2);
    }

    #[test]
    fn a_merged_read_never_exceeds_the_protocol_limit() {
        let registers: Vec<_> = (0..100)
            .map(|i| reg(Table::HoldingRegisters, i * 2, ValueType::F32))
            .collect();
        let reads = plan_reads(&registers, true);
        assert!(reads.iter().all(|r| r.count <= MAX_REGISTERS_PER_READ));
        assert_eq!(reads.iter().map(|r| r.serves.len()).sum::<usize>(), 100);
        assert_eq!(reads.len(), 2);
        let coils: Vec<_> = (0..3000)
            .map(|i| reg(Table::Coils, i, ValueType::Bool))
            .collect();
        assert_eq!(
            plan_reads(&coils, true)
                .iter()
                .map(|r| r.count)
                .collect::<Vec<_>>(),
            vec![2000, 1000]
        );
    }
}
