//! The meta keys: the spool's format version, seq counter, shutdown state and
//! counters, stored beside the records in the same sled tree so that one
//! `apply_batch` updates records and counters atomically.
//!
//! Every meta key starts with `b'm'`; numbers are 8 big-endian bytes.

use super::record::Priority;
use super::stats::{DropCounters, PerClass};

/// Layout version of the whole spool (key scheme, meta keys). A spool with
/// another value is moved aside at open.
pub(crate) const FORMAT_VERSION: u8 = 1;

/// `[FORMAT_VERSION]`.
pub(crate) const FORMAT: &[u8] = b"m/format";
/// The next seq to assign.
pub(crate) const NEXT_SEQ: &[u8] = b"m/next_seq";
/// Events appended over the spool's lifetime.
pub(crate) const APPENDED: &[u8] = b"m/appended";
/// Records in quarantine.
pub(crate) const QUARANTINED: &[u8] = b"m/quarantined";
/// The `max_bytes` the spool was last opened with (for `inspect`).
pub(crate) const MAX_BYTES: &[u8] = b"m/max_bytes";
/// `[ShutdownState]`: written at open and at a clean close.
pub(crate) const STATE: &[u8] = b"m/state";

/// Whether the spool was closed cleanly, and in which mode it was open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShutdownState {
    /// Closed by `Spool::close` or drop, after a flush.
    Clean = 0,
    /// Open (or crashed) with `Durability::EveryEvent`: the seq counter is exact.
    OpenExact = 1,
    /// Open (or crashed) with `Durability::IntervalMs`: the last appends may be lost.
    OpenLossy = 2,
}

impl ShutdownState {
    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(ShutdownState::Clean),
            1 => Some(ShutdownState::OpenExact),
            2 => Some(ShutdownState::OpenLossy),
            _ => None,
        }
    }
}

/// The counter keys, in a fixed order.
const FULL: PerClass<&[u8]> = PerClass {
    alert: b"m/dropped/full/alert",
    telemetry: b"m/dropped/full/telemetry",
};
const UNDECODABLE: PerClass<&[u8]> = PerClass {
    alert: b"m/dropped/undecodable/alert",
    telemetry: b"m/dropped/undecodable/telemetry",
};
const REJECTED: PerClass<&[u8]> = PerClass {
    alert: b"m/rejected/alert",
    telemetry: b"m/rejected/telemetry",
};

/// A way to reach one counter in `DropCounters`.
pub(crate) type CounterField = fn(&mut DropCounters) -> &mut u64;

/// Every counter key with a way to reach its value in `DropCounters`.
pub(crate) fn counter_keys() -> [(&'static [u8], CounterField); 6] {
    [
        (FULL.alert, |c| &mut c.full.alert),
        (FULL.telemetry, |c| &mut c.full.telemetry),
        (UNDECODABLE.alert, |c| &mut c.undecodable.alert),
        (UNDECODABLE.telemetry, |c| &mut c.undecodable.telemetry),
        (REJECTED.alert, |c| &mut c.rejected.alert),
        (REJECTED.telemetry, |c| &mut c.rejected.telemetry),
    ]
}

/// The key of the `full` drop counter of a class.
pub(crate) fn full_key(class: Priority) -> &'static [u8] {
    FULL.get(class)
}

/// The key of the `undecodable` drop counter of a class.
pub(crate) fn undecodable_key(class: Priority) -> &'static [u8] {
    UNDECODABLE.get(class)
}

/// The key of the `rejected` counter of a class.
pub(crate) fn rejected_key(class: Priority) -> &'static [u8] {
    REJECTED.get(class)
}

/// Encodes a number.
pub(crate) fn u64_value(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Decodes a number; `None` if the value is not 8 bytes.
pub(crate) fn parse_u64(value: &[u8]) -> Option<u64> {
    value.try_into().ok().map(u64::from_be_bytes)
}
