//! Register maps: how a unit lays its machine's values out in the four Modbus tables.

mod encode;
mod map;

pub use encode::{decode, encode, Table, ValueType, WordOrder, Words};
pub(crate) use map::UnitMap;
