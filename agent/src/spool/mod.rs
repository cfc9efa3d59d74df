//! The spool: a durable, bounded store-and-forward queue between the rules and
//! the MQTT sink. Every event is appended here before it is sent, and removed
//! only when the broker has acknowledged it.
//!
//! # Interface
//!
//! ```no_run
//! use edge_agent::spool::{Priority, Spool, SpoolConfig};
//! # fn main() -> Result<(), edge_agent::spool::SpoolError> {
//! let (mut spool, report) = Spool::open("/var/lib/edge-agent/spool".as_ref(), SpoolConfig::default())?;
//! if let Some(aside) = &report.moved_aside {
//!     eprintln!("spool was unreadable ({}), moved to {}", aside.reason, aside.to.display());
//! }
//! let appended = spool.append(Priority::Alert, b"postcard bytes of an event")?;
//! // The sink: send a batch, acknowledge what the broker acknowledged.
//! let batch = spool.next_batch(100)?;
//! spool.ack(&[appended.seq])?;
//! // After a reconnect, what was sent but not acknowledged goes out again.
//! spool.rewind_unacked();
//! # Ok(()) }
//! ```
//!
//! The spool is payload-agnostic: it stores opaque bytes (the agent's
//! postcard-encoded events) and never parses them. The seq, class and
//! timestamp are metadata beside the payload; the sink combines gateway, seq
//! and payload into what it publishes.
//!
//! The spool is a synchronous type: sled's calls block on disk I/O. Async
//! code uses [`SharedSpool`] (every call on `spawn_blocking`) or owns the
//! spool in a dedicated thread. Methods that change the spool take `&mut self`:
//! one owner at a time, so an append is never visible to `next_batch` before
//! it is flushed.
//!
//! The storage engine is sled 0.34, hidden behind this interface: nothing
//! outside this module names sled, so it can be replaced.
//!
//! # How the MQTT sink uses it
//!
//! 1. `next_batch(n)`: the oldest records not yet handed out, alerts first.
//! 2. Publish each with QoS 1; remember which seq each packet id carries.
//! 3. On each PUBACK, `ack(&[seq])` (or a set at once): removal of exactly
//!    the acknowledged records. `ack_up_to(seq)` also exists for sinks that
//!    only know a watermark; it removes handed-out records only.
//! 4. After a reconnect, `rewind_unacked()`: every record still pending is
//!    eligible again and goes out with the same seq (receivers deduplicate
//!    by gateway and seq). A restart has the same effect.
//!
//! # Invariants
//!
//! 1. **Seqs** are assigned at append, +1 per append, and never reused: the
//!    counter is persisted in the same atomic sled batch as the record. A seq
//!    is consumed even when its record is not stored (incoming telemetry
//!    dropped by the full policy), so gaps mean drops.
//! 2. **Removal only by acknowledgement or by the documented full policy**
//!    (and quarantine of undecodable records, which are kept aside, counted,
//!    never deleted). Acknowledging a seq that is not pending is a no-op.
//! 3. **Order**: `next_batch` returns every not-handed-out alert before any
//!    not-handed-out telemetry; within a class, in seq order.
//! 4. **Handed out at most once** per open or rewind: `next_batch` keeps, per
//!    class, the highest seq it returned (a cursor, in memory only) and reads
//!    after it. Reopening or `rewind_unacked` resets the cursors, so
//!    unacknowledged records are sent again: at-least-once, duplicates
//!    carry the same seq.
//! 5. **Bound**: after an append, the pending record bytes are at most
//!    `max_bytes` (see [`SpoolConfig::max_bytes`] for what is counted).
//! 6. **Counters** of drops, refusals and quarantine are persisted in the
//!    same batch as the change they count, so they survive restarts.
//! 7. **Seq reservation**: every seq handed out is at most the value in
//!    `<dir>/seq-reserved`, written durably before the counter passes it.
//!
//! # On-disk layout
//!
//! ```text
//! <dir>/                    the spool directory, given to Spool::open
//! <dir>/sled/               the sled database (mode LowSpace)
//! <dir>/seq-reserved        text: highest seq that may have been handed out
//! <dir>.corrupt-<UTC time>  an unreadable spool, moved aside (never deleted)
//! ```
//!
//! One sled tree, `spool`, holds records and meta keys, so that a record and
//! the counters it changes are written by one atomic `apply_batch`.
//!
//! | key                                   | value                                      |
//! |---------------------------------------|--------------------------------------------|
//! | `r`, class byte, seq (8 bytes, BE)    | record: version byte `2` (or `1`, read only), then postcard of `{seq, class, enqueued_at_ms, payload}` |
//! | `q`, then the record key              | a record moved to quarantine, value as found |
//! | `m/format`                            | `[1]`: layout version of the whole spool    |
//! | `m/next_seq`                          | u64 BE: the next seq to assign             |
//! | `m/appended`                          | u64 BE: events appended in the spool's life |
//! | `m/state`                             | `[0]` closed cleanly, `[1]` open with EveryEvent, `[2]` open with IntervalMs |
//! | `m/max_bytes`                         | u64 BE: the limit of the last open (for inspect) |
//! | `m/dropped/full/{alert,telemetry}`    | u64 BE: dropped by the full policy         |
//! | `m/dropped/undecodable/{alert,telemetry}` | u64 BE: moved to quarantine            |
//! | `m/rejected/{alert,telemetry}`        | u64 BE: appends refused (`Reject`, too large) |
//! | `m/quarantined`                       | u64 BE: records in quarantine              |
//!
//! Class byte: `0` alert, `1` telemetry, so that iteration order is alerts
//! first, then telemetry, each in seq order (big-endian seqs sort
//! numerically). The seq and class are repeated in the value, and a value
//! that disagrees with its key is treated as undecodable.
//!
//! Versioning: postcard is not self-describing, so each record value starts
//! with a version byte, and so does each payload (the agent's; the spool only
//! relies on the byte being there). Version 1 records predate payload
//! versions: the spool hands their payloads out with the legacy payload
//! version byte in front (see `record.rs`), so readers see one convention.
//! A later layout adds a `RecordV3` and keeps reading the older ones; an
//! unknown version byte sends that record to quarantine. `m/format` versions the key layout: a spool with an unknown
//! format is moved aside as a whole.
//!
//! # Durability
//!
//! [`Durability`] documents each mode and what a power cut or a process crash
//! costs in it. In short, from reading sled 0.34.7's source and from the
//! SIGKILL test: sled buffers writes **in the process** and writes them out on
//! `flush`, when a buffer fills, or from its flusher thread; unflushed writes
//! are lost by `kill -9` as by a power cut. Hence the default
//! `Durability::EveryEvent`, which flushes before `append` and `ack` return:
//! no event that the spool accepted is lost by a process crash.
//!
//! # Full spool
//!
//! [`FullPolicy`] decides: `DropOldestTelemetry` (default) evicts the oldest
//! telemetry, then (for an incoming alert only) the oldest alerts, and counts
//! each drop; `Reject` refuses the append with [`SpoolError::Full`] so that
//! the source can apply backpressure. Every append reports what it dropped
//! ([`DropReport`]) so the agent can emit a health event.
//!
//! A full *file system* is another matter, and `max_bytes` is what prevents
//! it: once a write fails with ENOSPC, sled 0.34 refuses every later write of
//! that database (acknowledgements included) and cannot even reopen it until
//! space is freed (see `tests/spool_enospc.rs`). The spool returns
//! `SpoolError::Storage` (no panic) and never moves a spool aside for it. So
//! keep `max_bytes` times sled's amplification (about 6x, see
//! [`SpoolConfig::max_bytes`]) well under the free space.
//!
//! # Opening and recovery
//!
//! `Spool::open` rebuilds the in-memory state by scanning the record keys
//! (counts and bytes per class; no value is decoded). It then:
//!
//! - moves the counter past any stored seq, if it was behind;
//! - after an unclean shutdown in `IntervalMs` mode, resumes counting after
//!   the reservation, since the last seqs handed out may not have been
//!   persisted ([`SeqContinuity::SkippedReservation`]);
//! - writes a new reservation and the `m/state` "open" marker, and flushes.
//!
//! If the spool cannot be opened because its files are unreadable (sled
//! reports corruption or panics while recovering, the format version is
//! unknown, a meta value is malformed), the directory is renamed to
//! `<dir>.corrupt-<UTC timestamp>`, a fresh spool is created, and the
//! [`OpenReport`] says so (`moved_aside`); the counter resumes after the old
//! reservation if that file is readable, else it restarts at 1
//! ([`SeqContinuity::Lost`]). Errors that say nothing about the files (lock
//! held by another process, permission denied, disk full) are returned
//! instead, and nothing is moved.

mod ack;
mod config;
mod error;
mod inspect;
mod meta;
mod open;
mod record;
mod reservation;
mod shared;
mod stats;
mod store;

use std::path::Path;

pub use config::{Durability, FullPolicy, SpoolConfig, DEFAULT_MAX_BYTES, MIN_MAX_BYTES};
pub use error::SpoolError;
pub use inspect::{inspect, InspectReport};
pub use record::{DecodeError, Priority, Record, LEGACY_PAYLOAD_VERSION};
pub use shared::SharedSpool;
pub use stats::{
    Appended, DropCounters, DropReport, MovedAside, OpenReport, PerClass, SeqContinuity, SpoolStats,
};
pub use store::Spool;

/// Bytes a record key takes (`r`, class, 8-byte seq): part of every record's size.
pub const RECORD_KEY_BYTES: u64 = record::KEY_LEN as u64;

/// The spool directory inside the agent's data directory: `<data_dir>/spool`.
pub fn dir_in(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("spool")
}

impl Spool {
    /// Opens (or creates) the spool in `dir`. An unreadable spool is moved
    /// aside and replaced by a fresh one; the report says so. See the module
    /// documentation.
    pub fn open(dir: &Path, config: SpoolConfig) -> Result<(Spool, OpenReport), SpoolError> {
        open::open(dir, config)
    }
}
