//! What the spool reports: append results, counters, statistics, open reports.

use std::path::PathBuf;

use super::record::Priority;

/// A value per record class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerClass<T> {
    /// For alerts (and health events, alert transitions).
    pub alert: T,
    /// For telemetry (readings, features).
    pub telemetry: T,
}

impl<T> PerClass<T> {
    /// The value of one class.
    pub fn get(&self, class: Priority) -> &T {
        match class {
            Priority::Alert => &self.alert,
            Priority::Telemetry => &self.telemetry,
        }
    }

    /// The value of one class, mutable.
    pub fn get_mut(&mut self, class: Priority) -> &mut T {
        match class {
            Priority::Alert => &mut self.alert,
            Priority::Telemetry => &mut self.telemetry,
        }
    }
}

impl PerClass<u64> {
    /// Alert plus telemetry.
    pub fn total(&self) -> u64 {
        self.alert.saturating_add(self.telemetry)
    }
}

/// Persisted counters of records that left the spool without being acknowledged,
/// or never entered it. They survive restarts; they start at zero in a fresh
/// (or moved-aside) spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Records dropped by `FullPolicy::DropOldestTelemetry` to make room, and
    /// incoming telemetry dropped because only alerts were left.
    pub full: PerClass<u64>,
    /// Records found undecodable while reading (garbled value, unknown version
    /// byte). They are moved to the quarantine part of the tree, not deleted.
    pub undecodable: PerClass<u64>,
    /// Appends refused: `FullPolicy::Reject` on a full spool, or a record larger
    /// than `max_bytes`. The source still has these events.
    pub rejected: PerClass<u64>,
}

/// Records dropped by one append to make room. Non-zero means the agent
/// should emit a health event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropReport {
    /// Records dropped, per class (the incoming record included, if it was
    /// itself dropped).
    pub dropped: PerClass<u64>,
    /// Record bytes freed by the drops.
    pub bytes: u64,
}

impl DropReport {
    /// Whether anything was dropped.
    pub fn is_empty(&self) -> bool {
        self.dropped.total() == 0
    }
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The seq given to the event.
    pub seq: u64,
    /// False if the incoming telemetry record was itself dropped because the
    /// spool held only alerts (`DropOldestTelemetry`); it is counted in
    /// `dropped` and its seq is never used again.
    pub stored: bool,
    /// Record bytes the event takes in the spool (key plus value), as counted
    /// against `max_bytes`.
    pub bytes: u64,
    /// What this append dropped to make room.
    pub dropped: DropReport,
}

/// A snapshot of the spool's state, cheap to take (two reads, no scan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records not yet acknowledged, handed out or not, per class.
    pub pending: PerClass<u64>,
    /// Their record bytes (what `max_bytes` bounds), per class.
    pub pending_bytes: PerClass<u64>,
    /// The configured `max_bytes`.
    pub max_bytes: u64,
    /// Age in milliseconds of the oldest pending record (by its wall-clock
    /// `enqueued_at_ms`), `None` if nothing is pending. Negative ages (clock
    /// stepped back) are reported as 0.
    pub oldest_pending_age_ms: Option<u64>,
    /// Records dropped or refused, per reason and class (persisted).
    pub drops: DropCounters,
    /// Records moved to quarantine because they could not be decoded.
    pub quarantined: u64,
    /// Events appended over the spool's lifetime (persisted).
    pub appended_total: u64,
    /// The last seq given out, `None` before the first append.
    pub last_seq: Option<u64>,
    /// sled's size on disk in bytes, if it could be read.
    pub disk_bytes: Option<u64>,
}

/// How the seq counter continued when the spool was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqContinuity {
    /// Exactly where it left off.
    Exact,
    /// The previous run ended uncleanly with `Durability::IntervalMs`: seqs
    /// up to `reserved` may have been handed out and lost, so counting resumes
    /// after the reservation. The gap contains no event that was kept.
    SkippedReservation {
        /// The counter as persisted in sled.
        persisted_next: u64,
        /// Where counting resumes.
        next: u64,
    },
    /// The spool was moved aside; the counter was recovered from the old
    /// spool's reservation file and resumes after it.
    RecoveredFromReservation {
        /// Where counting resumes.
        next: u64,
    },
    /// The spool was moved aside and its reservation file was unreadable:
    /// counting restarts at 1 and receivers that deduplicate by seq must be told.
    Lost,
    /// A new, empty spool directory.
    New,
}

/// What `Spool::open` found. The agent logs it, and emits a health event and
/// a metric when `moved_aside` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The spool directory.
    pub path: PathBuf,
    /// Set when the spool could not be opened and was moved aside.
    pub moved_aside: Option<MovedAside>,
    /// How the seq counter continues.
    pub seq: SeqContinuity,
    /// Whether the previous run closed the spool cleanly (`None` for a new spool).
    pub clean_shutdown: Option<bool>,
    /// Records pending after opening, per class.
    pub pending: PerClass<u64>,
    /// Their record bytes, per class.
    pub pending_bytes: PerClass<u64>,
    /// The `max_bytes` of the previous open, if any.
    pub previous_max_bytes: Option<u64>,
}

/// A spool that could not be opened and was renamed, never deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedAside {
    /// Where the unreadable spool now is (`<dir>.corrupt-<UTC timestamp>`).
    pub to: PathBuf,
    /// Why it could not be opened.
    pub reason: String,
}
