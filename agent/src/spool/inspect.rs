//! `edge-agent spool inspect`: what is waiting, its oldest age, its size, and
//! what was dropped, without disturbing the spool.
//!
//! sled cannot open a database read-only, and the running agent holds its
//! lock. So inspect copies the spool directory to a sibling
//! `<dir>.inspect-<pid>` directory, opens the copy, reads it, and removes the
//! copy. The spool itself is never written, never moved aside, and the agent
//! may keep running; the report is then a snapshot that may miss the writes
//! sled had not yet flushed.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::config::{Durability, SpoolConfig};
use super::error::SpoolError;
use super::open::{open_existing, OpenFailure};
use super::record::{self, Priority};
use super::stats::{PerClass, SeqContinuity, SpoolStats};

/// The result of [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectReport {
    /// The spool directory inspected.
    pub dir: PathBuf,
    /// Whether the spool was closed cleanly; `false` while an agent runs on it
    /// or after a crash.
    pub closed_cleanly: bool,
    /// Pending seqs per class: first and last, `None` if the class is empty.
    pub seq_range: PerClass<Option<(u64, u64)>>,
    /// Wall clock of the oldest pending record, ms since the Unix epoch.
    pub oldest_enqueued_at_ms: Option<i64>,
    /// Counters and sizes, as `Spool::stats` reports them.
    pub stats: SpoolStats,
}

/// Inspects the spool in `dir` (the directory given to `Spool::open`,
/// `<data dir>/spool` in the agent). See the module documentation.
pub fn inspect(dir: &Path) -> Result<InspectReport, SpoolError> {
    if !dir.join(super::open::SLED_DIR).is_dir() {
        return Err(SpoolError::Io {
            path: dir.to_path_buf(),
            op: "looking for a spool",
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no spool in this directory"),
        });
    }
    let copy = PathBuf::from(format!("{}.inspect-{}", dir.display(), std::process::id()));
    let result = copy_dir(dir, &copy).and_then(|()| inspect_copy(dir, &copy));
    if copy.exists() {
        if let Err(error) = fs::remove_dir_all(&copy) {
            tracing::warn!(copy = %copy.display(), %error, "could not remove the inspect copy");
        }
    }
    result
}

fn inspect_copy(dir: &Path, copy: &Path) -> Result<InspectReport, SpoolError> {
    let config = SpoolConfig {
        max_bytes: u64::MAX,
        durability: Durability::IntervalMs(60_000),
        ..SpoolConfig::default()
    };
    let (spool, report) = match open_existing(copy, &config, None) {
        Ok(opened) => opened,
        Err(OpenFailure::Fatal(e)) => return Err(e),
        Err(OpenFailure::Unreadable(reason)) => {
            return Err(SpoolError::Unreadable {
                path: dir.to_path_buf(),
                reason,
            })
        }
    };
    let mut stats = spool.stats()?;
    // The copy of a spool in use looks like a lossy crash, so `open` moved its counter past
    // the seq reservation (with interval durability, far ahead). The last seq given out, as
    // far as the disk knows, is the persisted counter's.
    if let SeqContinuity::SkippedReservation { persisted_next, .. } = report.seq {
        stats.last_seq = persisted_next.checked_sub(1).filter(|&s| s > 0);
    }
    // The limit the agent last opened the spool with (0 if never recorded).
    stats.max_bytes = report.previous_max_bytes.unwrap_or(0);
    let mut seq_range = PerClass::default();
    let mut oldest: Option<i64> = None;
    for class in Priority::ALL {
        let prefix = record::class_prefix(class);
        let storage = |e| SpoolError::Storage {
            path: dir.to_path_buf(),
            op: "inspecting".to_owned(),
            source: e,
        };
        let first = spool
            .tree
            .scan_prefix(prefix)
            .next()
            .transpose()
            .map_err(storage)?;
        let last = spool
            .tree
            .scan_prefix(prefix)
            .next_back()
            .transpose()
            .map_err(storage)?;
        if let (Some((fk, fv)), Some((lk, _))) = (first, last) {
            if let (Ok((_, a)), Ok((_, b))) = (record::parse_key(&fk), record::parse_key(&lk)) {
                *seq_range.get_mut(class) = Some((a, b));
            }
            if let Some(at) = record::decode_enqueued_at(&fk, &fv) {
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
    }
    spool.drop_uncleanly();
    Ok(InspectReport {
        dir: dir.to_path_buf(),
        closed_cleanly: report.clean_shutdown == Some(true),
        seq_range,
        oldest_enqueued_at_ms: oldest,
        stats,
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), SpoolError> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SpoolError::Io { path, op, source }
    };
    fs::create_dir_all(to).map_err(io("creating the inspect copy", to))?;
    for entry in fs::read_dir(from).map_err(io("listing the spool", from))? {
        let entry = entry.map_err(io("listing the spool", from))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(io("reading a file type", &entry.path()))?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).map_err(io("copying a spool file", &entry.path()))?;
        }
    }
    Ok(())
}

/// Bytes as B, KiB, MiB or GiB.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds as `1d 2h 3m 4s`, down to seconds.
fn human_age(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m {s}s"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(f, "spool {}", self.dir.display())?;
        let state = if self.closed_cleanly {
            "closed cleanly"
        } else {
            "open (an agent is running on it, or it crashed)"
        };
        writeln!(f, "  state:        {state}")?;
        for class in Priority::ALL {
            let range = match self.seq_range.get(class) {
                Some((a, b)) => format!(", seq {a}..={b}"),
                None => String::new(),
            };
            writeln!(
                f,
                "  {:<13} {} records, {}{range}",
                format!("{class}:"),
                s.pending.get(class),
                human_bytes(*s.pending_bytes.get(class)),
            )?;
        }
        write!(
            f,
            "  total:        {} records, {} of record bytes",
            s.pending.total(),
            human_bytes(s.pending_bytes.total())
        )?;
        if s.max_bytes > 0 {
            let percent = s.pending_bytes.total() as f64 * 100.0 / s.max_bytes as f64;
            write!(f, " of max {} ({percent:.1}%)", human_bytes(s.max_bytes))?;
        }
        writeln!(f)?;
        match (s.oldest_pending_age_ms, self.oldest_enqueued_at_ms) {
            (Some(age), Some(at)) => {
                let when = chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_else(|| at.to_string());
                writeln!(f, "  oldest:       {} ago ({when})", human_age(age))?;
            }
            _ => writeln!(f, "  oldest:       nothing pending")?,
        }
        match s.last_seq {
            Some(seq) => writeln!(
                f,
                "  last seq:     {seq} ({} appended in total)",
                s.appended_total
            )?,
            None => writeln!(f, "  last seq:     none yet")?,
        }
        let d = &s.drops;
        writeln!(
            f,
            "  dropped:      full: {} alert, {} telemetry; undecodable: {} alert, {} telemetry",
            d.full.alert, d.full.telemetry, d.undecodable.alert, d.undecodable.telemetry
        )?;
        writeln!(
            f,
            "  rejected:     {} alert, {} telemetry",
            d.rejected.alert, d.rejected.telemetry
        )?;
        writeln!(f, "  quarantined:  {}", s.quarantined)?;
        match s.disk_bytes {
            Some(n) => write!(f, "  on disk:      {} (sled files)", human_bytes(n)),
            None => write!(f, "  on disk:      unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_as_a_person_would_write_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(128 * 1024 * 1024), "128.0 MiB");
        assert_eq!(human_age(4_000), "4s");
        assert_eq!(human_age(252_000), "4m 12s");
        assert_eq!(human_age(3_723_000), "1h 2m 3s");
        assert_eq!(human_age(90_000_000), "1d 1h 0m");
    }
}
