//! One unit's register map, answering Modbus requests from the plant's readings.
//!
//! Invariants (from scenario validation): entries do not overlap, and every entry fits below
//! address 65536. Every address a request touches must belong to an entry, or the whole
//! request is refused with exception 2 (illegal data address); a read may start or end in
//! the middle of a multi-register value (the master gets those registers), a write must
//! cover whole `setpoint` entries. A dropped-out sensor makes reads that touch its values
//! fail with exception 4 (server device failure).

use std::sync::Mutex;

use tokio_modbus::{ExceptionCode, Request, Response};

use super::{decode, encode, Table};
use crate::{plant::Plant, scenario::RegisterConfig, scenario::UnitConfig, signal::Signal};

const MAX_READ_REGISTERS: u16 = 125;
const MAX_WRITE_REGISTERS: usize = 123;
const MAX_READ_BITS: u16 = 2000;
const MAX_WRITE_BITS: usize = 1968;

/// The register map of one unit.
#[derive(Debug)]
pub(crate) struct UnitMap {
    machine: usize,
    /// Sorted by (table, address).
    entries: Vec<RegisterConfig>,
    /// Current value of each entry that is a `setpoint` (others unused).
    setpoints: Mutex<Vec<f64>>,
}

impl UnitMap {
    /// The map of `unit`; its machine must exist in `plant` (scenario validation ensures it).
    pub fn new(unit: &UnitConfig, plant: &Plant) -> Option<Self> {
        let machine = plant.machine_index(&unit.machine)?;
        let mut entries = unit.registers.clone();
        entries.sort_by_key(|e| (e.table, e.address));
        let setpoints = entries.iter().map(|e| e.value).collect();
        Some(Self {
            machine,
            entries,
            setpoints: Mutex::new(setpoints),
        })
    }

    /// Answers one request at plant time `t`.
    pub fn handle(
        &self,
        plant: &Plant,
        request: &Request<'_>,
        t: f64,
    ) -> Result<Response, ExceptionCode> {
        match request {
            Request::ReadCoils(addr, qty) => self
                .read_bits(plant, Table::Coil, *addr, *qty, t)
                .map(Response::ReadCoils),
            Request::ReadDiscreteInputs(addr, qty) => self
                .read_bits(plant, Table::Discrete, *addr, *qty, t)
                .map(Response::ReadDiscreteInputs),
            Request::ReadHoldingRegisters(addr, qty) => self
                .read_words(plant, Table::Holding, *addr, *qty, t)
                .map(Response::ReadHoldingRegisters),
            Request::ReadInputRegisters(addr, qty) => self
                .read_words(plant, Table::Input, *addr, *qty, t)
                .map(Response::ReadInputRegisters),
            Request::WriteSingleCoil(addr, value) => {
                self.write_bits(*addr, &[*value])?;
                Ok(Response::WriteSingleCoil(*addr, *value))
            }
            Request::WriteMultipleCoils(addr, values) => {
                if values.is_empty() || values.len() > MAX_WRITE_BITS {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                self.write_bits(*addr, values)?;
                Ok(Response::WriteMultipleCoils(*addr, values.len() as u16))
            }
            Request::WriteSingleRegister(addr, value) => {
                self.write_words(*addr, &[*value])?;
                Ok(Response::WriteSingleRegister(*addr, *value))
            }
            Request::WriteMultipleRegisters(addr, values) => {
                if values.is_empty() || values.len() > MAX_WRITE_REGISTERS {
                    return Err(ExceptionCode::IllegalDataValue);
                }
                self.write_words(*addr, values)?;
                Ok(Response::WriteMultipleRegisters(*addr, values.len() as u16))
            }
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }

    /// The entry covering `addr` of `table`, and the offset of `addr` within it.
    fn find(&self, table: Table, addr: u32) -> Option<(usize, usize)> {
        let after = self
            .entries
            .partition_point(|e| (e.table, u32::from(e.address)) <= (table, addr));
        let idx = after.checked_sub(1)?;
        let e = &self.entries[idx];
        let width = if table.is_bits() {
            1
        } else {
            e.value_type.words() as u32
        };
        let start = u32::from(e.address);
        (e.table == table && addr < start + width).then(|| (idx, (addr - start) as usize))
    }

    fn value(&self, plant: &Plant, idx: usize, t: f64) -> Result<f64, ExceptionCode> {
        let e = &self.entries[idx];
        match e.signal {
            Signal::Constant => Ok(e.value),
            Signal::Setpoint => Ok(self.lock_setpoints()[idx]),
            signal => plant
                .reading_at(self.machine, signal, t)
                .map_err(|_| ExceptionCode::ServerDeviceFailure),
        }
    }

    fn read_words(
        &self,
        plant: &Plant,
        table: Table,
        addr: u16,
        qty: u16,
        t: f64,
    ) -> Result<Vec<u16>, ExceptionCode> {
        if qty == 0 || qty > MAX_READ_REGISTERS {
            return Err(ExceptionCode::IllegalDataValue);
        }
        let mut out = Vec::with_capacity(usize::from(qty));
        let mut current: Option<(usize, [u16; 4])> = None;
        for a in u32::from(addr)..u32::from(addr) + u32::from(qty) {
            let (idx, offset) = self
                .find(table, a)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            let words = match current {
                Some((i, words)) if i == idx => words,
                _ => {
                    let e = &self.entries[idx];
                    let v = self.value(plant, idx, t)?;
                    let (words, _) = encode(v, e.value_type, e.order, e.scale, e.offset);
                    current = Some((idx, words));
                    words
                }
            };
            out.push(words[offset]);
        }
        Ok(out)
    }

    fn read_bits(
        &self,
        plant: &Plant,
        table: Table,
        addr: u16,
        qty: u16,
        t: f64,
    ) -> Result<Vec<bool>, ExceptionCode> {
        if qty == 0 || qty > MAX_READ_BITS {
            return Err(ExceptionCode::IllegalDataValue);
        }
        (u32::from(addr)..u32::from(addr) + u32::from(qty))
            .map(|a| {
                let (idx, _) = self
                    .find(table, a)
                    .ok_or(ExceptionCode::IllegalDataAddress)?;
                Ok(self.value(plant, idx, t)? != 0.0)
            })
            .collect()
    }

    fn write_words(&self, addr: u16, words: &[u16]) -> Result<(), ExceptionCode> {
        let end = u32::from(addr) + words.len() as u32;
        let mut updates = Vec::new();
        let mut a = u32::from(addr);
        while a < end {
            let (idx, offset) = self
                .find(Table::Holding, a)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            let e = &self.entries[idx];
            let width = e.value_type.words() as u32;
            if e.signal != Signal::Setpoint || offset != 0 || a + width > end {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            let slice =
                &words[(a - u32::from(addr)) as usize..(a - u32::from(addr) + width) as usize];
            updates.push((idx, decode(slice, e.value_type, e.order, e.scale, e.offset)));
            a += width;
        }
        let mut setpoints = self.lock_setpoints();
        for (idx, v) in updates {
            setpoints[idx] = v;
        }
        Ok(())
    }

    fn write_bits(&self, addr: u16, bits: &[bool]) -> Result<(), ExceptionCode> {
        let mut updates = Vec::new();
        for (i, bit) in bits.iter().enumerate() {
            let (idx, _) = self
                .find(Table::Coil, u32::from(addr) + i as u32)
                .ok_or(ExceptionCode::IllegalDataAddress)?;
            if self.entries[idx].signal != Signal::Setpoint {
                return Err(ExceptionCode::IllegalDataAddress);
            }
            updates.push((idx, if *bit { 1.0 } else { 0.0 }));
        }
        let mut setpoints = self.lock_setpoints();
        for (idx, v) in updates {
            setpoints[idx] = v;
        }
        Ok(())
    }

    fn lock_setpoints(&self) -> std::sync::MutexGuard<'_, Vec<f64>> {
        // A poisoned lock only means another request panicked mid-write of plain f64s.
        self.setpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
