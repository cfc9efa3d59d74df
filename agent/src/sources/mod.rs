//! Sources: where readings come from. Modbus TCP devices, Modbus RTU buses and serial
//! streams, each a task that turns what it reads into readings and health events.

pub mod modbus;
