//! Sources: where readings come from. Modbus TCP devices, Modbus RTU buses and serial
//! streams, each a task that sends readings and health events (as [`Event`]s) into a bounded
//! channel toward the rules and the spool. [`tasks`] builds them from the config (the
//! pipeline supervises each); [`start_sources`] starts them bare (`edge-agent poll`).
//!
//! [`Event`]: crate::event::Event

pub mod health;
pub mod modbus;
mod send;
pub mod serial;
pub mod serial_port;
mod start;

pub use start::{start_sources, tasks, SourceTask};

/// Wall-clock now in Unix milliseconds: the timestamp of a reading taken now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
