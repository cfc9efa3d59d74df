//! Opening a spool: recovery of the in-memory state from the tree, the seq
//! counter and its reservation, and moving an unreadable spool aside.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::config::{Durability, SpoolConfig};
use super::error::SpoolError;
use super::meta::{self, ShutdownState, FORMAT_VERSION};
use super::record::{self, Priority, QUARANTINE_PREFIX, RECORD_PREFIX};
use super::reservation;
use super::stats::{DropCounters, MovedAside, OpenReport, PerClass, SeqContinuity};
use super::store::Spool;

/// Name of the sled directory inside the spool directory.
pub(crate) const SLED_DIR: &str = "sled";

/// Name of the sled tree that holds records and meta keys.
pub(crate) const TREE: &str = "spool";

/// Why opening failed.
pub(crate) enum OpenFailure {
    /// The files are unreadable: move the spool aside and start afresh.
    Unreadable(String),
    /// Anything else (locked, permission denied, disk full): report, touch nothing.
    Fatal(SpoolError),
}

impl From<SpoolError> for OpenFailure {
    fn from(e: SpoolError) -> Self {
        OpenFailure::Fatal(e)
    }
}

/// How long `open` waits for sled's lock to be released. A spool dropped a
/// moment ago (in this process, or by an agent that is exiting) can still hold
/// it: sled's background threads release the database shortly after the last
/// handle is dropped (the model test hit this on immediate reopens).
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Opens sled in `dir/sled`, waiting up to [`LOCK_WAIT`] for its lock.
pub(crate) fn open_sled(dir: &Path, flush_every_ms: Option<u64>) -> Result<sled::Db, OpenFailure> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match open_sled_once(dir, flush_every_ms) {
            Err(OpenFailure::Fatal(SpoolError::Locked { .. })) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Opens sled once, classifying the failure. sled can panic on garbled
/// files; such a panic is caught and counts as unreadable.
fn open_sled_once(dir: &Path, flush_every_ms: Option<u64>) -> Result<sled::Db, OpenFailure> {
    let sled_dir = dir.join(SLED_DIR);
    let config = sled::Config::new()
        .path(&sled_dir)
        // LowSpace: an edge device has little disk; measured no slower here.
        .mode(sled::Mode::LowSpace)
        .flush_every_ms(flush_every_ms);
    let opened = panic::catch_unwind(AssertUnwindSafe(|| config.open()));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if e.to_string().contains("could not acquire lock") => {
            Err(OpenFailure::Fatal(SpoolError::Locked {
                path: dir.to_path_buf(),
            }))
        }
        Ok(Err(sled::Error::Io(e))) if is_corrupt_io(&e) => {
            Err(OpenFailure::Unreadable(format!("sled: {e}")))
        }
        Ok(Err(e @ sled::Error::Io(_))) => Err(OpenFailure::Fatal(SpoolError::Storage {
            path: dir.to_path_buf(),
            op: "opening".to_owned(),
            source: e,
        })),
        Ok(Err(e)) => Err(OpenFailure::Unreadable(format!("sled: {e}"))),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Err(OpenFailure::Unreadable(format!("sled panicked: {message}")))
        }
    }
}

/// I/O errors that mean "the bytes are wrong", not "the disk is unavailable".
fn is_corrupt_io(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::InvalidData)
}

fn sled_flush_interval(durability: Durability) -> Option<u64> {
    match durability {
        // Every append is flushed by the spool; sled's thread adds an `fsync`
        // of the file (metadata included) once a second.
        Durability::EveryEvent => Some(1000),
        Durability::IntervalMs(ms) => Some(ms),
    }
}

fn read_u64(tree: &sled::Tree, key: &[u8], default: u64) -> Result<u64, OpenFailure> {
    match tree.get(key) {
        Ok(None) => Ok(default),
        Ok(Some(value)) => meta::parse_u64(&value).ok_or_else(|| {
            OpenFailure::Unreadable(format!(
                "meta key {} holds {} bytes, expected 8",
                String::from_utf8_lossy(key),
                value.len()
            ))
        }),
        Err(e) => Err(OpenFailure::Unreadable(format!(
            "reading meta key {}: {e}",
            String::from_utf8_lossy(key)
        ))),
    }
}

/// Where a fresh spool's counter starts, given what is known from before.
pub(crate) struct SeqStart {
    pub next: u64,
    pub continuity: SeqContinuity,
}

/// Opens the spool in `dir`, without moving anything aside.
pub(crate) fn open_existing(
    dir: &Path,
    config: &SpoolConfig,
    fresh_start: Option<SeqStart>,
) -> Result<(Spool, OpenReport), OpenFailure> {
    let io = |op: &'static str| {
        let path = dir.to_path_buf();
        move |source| OpenFailure::Fatal(SpoolError::Io { path, op, source })
    };
    if dir.exists() && !dir.is_dir() {
        return Err(OpenFailure::Unreadable("not a directory".to_owned()));
    }
    fs::create_dir_all(dir).map_err(io("creating the spool directory"))?;
    let is_new = !dir.join(SLED_DIR).exists();

    let db = open_sled(dir, sled_flush_interval(config.durability))?;
    let storage = |op: &'static str| {
        let path = dir.to_path_buf();
        move |source| {
            OpenFailure::Fatal(SpoolError::Storage {
                path,
                op: op.to_owned(),
                source,
            })
        }
    };
    let tree = db
        .open_tree(TREE)
        .map_err(|e| OpenFailure::Unreadable(format!("opening the tree: {e}")))?;

    let format = tree
        .get(meta::FORMAT)
        .map_err(|e| OpenFailure::Unreadable(format!("reading the format version: {e}")))?;
    match format.as_deref() {
        Some([v]) if *v == FORMAT_VERSION => {}
        Some(other) => {
            return Err(OpenFailure::Unreadable(format!(
                "spool format version {other:?}, this agent reads [{FORMAT_VERSION}]"
            )))
        }
        None if tree.is_empty() => {}
        None => {
            return Err(OpenFailure::Unreadable(
                "records but no format version".to_owned(),
            ))
        }
    }

    let mut next_seq = read_u64(&tree, meta::NEXT_SEQ, 1)?.max(1);
    let appended_total = read_u64(&tree, meta::APPENDED, 0)?;
    let mut quarantined = read_u64(&tree, meta::QUARANTINED, 0)?;
    let mut drops = DropCounters::default();
    for (key, field) in meta::counter_keys() {
        *field(&mut drops) = read_u64(&tree, key, 0)?;
    }
    let previous_max_bytes = match tree.get(meta::MAX_BYTES) {
        Ok(Some(v)) => meta::parse_u64(&v),
        _ => None,
    };
    let state = match tree.get(meta::STATE) {
        Ok(Some(v)) if v.len() == 1 => ShutdownState::from_byte(v[0]),
        _ => None,
    };

    // Scan the records: counts and bytes per class; keys that do not parse go
    // to quarantine; the counter must be above every stored seq.
    let mut pending = PerClass::<u64>::default();
    let mut pending_bytes = PerClass::<u64>::default();
    let mut max_seq = 0u64;
    let mut bad_keys = Vec::new();
    for item in tree.scan_prefix([RECORD_PREFIX]) {
        let (key, value) =
            item.map_err(|e| OpenFailure::Unreadable(format!("scanning records: {e}")))?;
        match record::parse_key(&key) {
            Ok((class, seq)) => {
                *pending.get_mut(class) += 1;
                *pending_bytes.get_mut(class) += (key.len() + value.len()) as u64;
                max_seq = max_seq.max(seq);
            }
            Err(_) => bad_keys.push((key, value)),
        }
    }
    for (key, value) in bad_keys {
        warn!(spool = %dir.display(), key = ?&key[..], "malformed record key moved to quarantine");
        let mut quarantine_key = vec![QUARANTINE_PREFIX];
        quarantine_key.extend_from_slice(&key);
        let class = key
            .get(1)
            .and_then(|&b| Priority::from_key_byte(b))
            .unwrap_or(Priority::Telemetry);
        *drops.undecodable.get_mut(class) += 1;
        quarantined += 1;
        let mut batch = sled::Batch::default();
        batch.remove(key);
        batch.insert(quarantine_key, value);
        batch.insert(
            meta::undecodable_key(class),
            &meta::u64_value(*drops.undecodable.get(class)),
        );
        batch.insert(meta::QUARANTINED, &meta::u64_value(quarantined));
        tree.apply_batch(batch)
            .map_err(storage("quarantining a malformed key"))?;
    }
    if max_seq >= next_seq {
        warn!(spool = %dir.display(), max_seq, next_seq, "seq counter behind the stored records; moving it past them");
        next_seq = max_seq + 1;
    }

    let reserved_before = reservation::read(dir);
    let continuity = if let Some(start) = fresh_start {
        next_seq = next_seq.max(start.next);
        start.continuity
    } else if is_new {
        SeqContinuity::New
    } else if state == Some(ShutdownState::OpenLossy) {
        match reserved_before {
            Some(reserved) if reserved.saturating_add(1) > next_seq => {
                let persisted_next = next_seq;
                next_seq = reserved.saturating_add(1);
                SeqContinuity::SkippedReservation {
                    persisted_next,
                    next: next_seq,
                }
            }
            _ => SeqContinuity::Exact,
        }
    } else {
        SeqContinuity::Exact
    };

    let reserved = next_seq.saturating_add(reservation::STEP - 1);
    reservation::write(dir, reserved)?;
    let open_state = match config.durability {
        Durability::EveryEvent => ShutdownState::OpenExact,
        Durability::IntervalMs(_) => ShutdownState::OpenLossy,
    };
    let mut batch = sled::Batch::default();
    batch.insert(meta::FORMAT, &[FORMAT_VERSION]);
    batch.insert(meta::NEXT_SEQ, &meta::u64_value(next_seq));
    batch.insert(meta::STATE, &[open_state as u8]);
    batch.insert(meta::MAX_BYTES, &meta::u64_value(config.max_bytes));
    tree.apply_batch(batch)
        .map_err(storage("writing the open marker"))?;
    db.flush().map_err(storage("flushing after open"))?;

    let report = OpenReport {
        path: dir.to_path_buf(),
        moved_aside: None,
        seq: continuity,
        clean_shutdown: if is_new {
            None
        } else {
            Some(state == Some(ShutdownState::Clean))
        },
        pending,
        pending_bytes,
        previous_max_bytes,
    };
    let spool = Spool {
        dir: dir.to_path_buf(),
        config: config.clone(),
        db,
        tree,
        next_seq,
        reserved,
        pending,
        pending_bytes,
        cursor: PerClass::default(),
        drops,
        quarantined,
        appended_total,
        closed: false,
    };
    Ok((spool, report))
}

/// `<dir>.corrupt-<UTC timestamp>`, with a numeric suffix if that exists.
fn aside_path(dir: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!("{}.corrupt-{stamp}", dir.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = PathBuf::from(format!("{base}-{n}"));
    }
    candidate
}

/// Opens the spool, moving an unreadable one aside. See [`Spool::open`].
pub(crate) fn open(dir: &Path, config: SpoolConfig) -> Result<(Spool, OpenReport), SpoolError> {
    config.validate()?;
    let reason = match open_existing(dir, &config, None) {
        Ok((spool, report)) => {
            info!(spool = %dir.display(), seq = ?report.seq, clean_shutdown = ?report.clean_shutdown,
                pending_alerts = report.pending.alert, pending_telemetry = report.pending.telemetry, "spool opened");
            return Ok((spool, report));
        }
        Err(OpenFailure::Fatal(e)) => return Err(e),
        Err(OpenFailure::Unreadable(reason)) => reason,
    };

    let start = match reservation::read(dir) {
        Some(reserved) => SeqStart {
            next: reserved.saturating_add(1),
            continuity: SeqContinuity::RecoveredFromReservation {
                next: reserved.saturating_add(1),
            },
        },
        None => SeqStart {
            next: 1,
            continuity: SeqContinuity::Lost,
        },
    };
    let to = aside_path(dir);
    fs::rename(dir, &to).map_err(|source| SpoolError::MoveAside {
        from: dir.to_path_buf(),
        to: to.clone(),
        reason: reason.clone(),
        source,
    })?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        reservation::sync_dir(parent)?;
    }
    error!(spool = %dir.display(), moved_to = %to.display(), %reason, seq = ?start.continuity,
        "spool unreadable: moved aside, starting a fresh spool");

    let (spool, mut report) = match open_existing(dir, &config, Some(start)) {
        Ok(opened) => opened,
        Err(OpenFailure::Fatal(e)) => return Err(e),
        Err(OpenFailure::Unreadable(again)) => {
            return Err(SpoolError::Unreadable {
                path: dir.to_path_buf(),
                reason: again,
            })
        }
    };
    report.moved_aside = Some(MovedAside { to, reason });
    Ok((spool, report))
}
