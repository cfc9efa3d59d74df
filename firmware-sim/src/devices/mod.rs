//! The protocol endpoints: one task per device, each owning its socket or pseudo-terminal,
//! all stopped by one cancellation token (see [`crate::Simulator`]).
//!
//! Devices read the plant at the clock's current plant time; the streaming sensors instead
//! derive plant time from their own sample or line counter (`index / rate * speed`), so the
//! bytes they send are a pure function of (seed, scenario, speed, counter) and only *when*
//! they are sent depends on the wall clock.

pub(crate) mod accel;
pub(crate) mod line;
pub(crate) mod modbus;
pub(crate) mod pty;
pub(crate) mod rtu;
pub(crate) mod tcp;
pub(crate) mod text;

pub use accel::StreamStats;
