//! Modbus sources: decoding values, planning reads, and the pollers of TCP devices and RTU
//! buses.

pub mod decode;
pub mod plan;
