//! Modbus sources: decoding values, planning reads, and the pollers of TCP devices and RTU
//! buses.

pub mod breaker;
pub mod connect;
pub mod decode;
pub mod once;
pub mod plan;
pub mod poller;
pub mod readings;
pub mod rtu;
pub mod tcp;
