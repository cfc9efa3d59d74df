//! Opening damaged spools: garbled files are moved aside (never deleted) and
//! replaced, the seq counter continues after the old reservation, undecodable
//! records go to quarantine, and a spool in use is left alone.

use std::fs;
use std::path::{Path, PathBuf};

use edge_agent::spool::{
    inspect, Durability, Priority, SeqContinuity, Spool, SpoolConfig, SpoolError,
};

fn spool_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("spool")
}

/// A spool with `n` telemetry records, closed cleanly.
fn make_spool(dir: &Path, n: u8) {
    let (mut spool, _) = Spool::open(dir, SpoolConfig::default()).expect("open");
    for i in 0..n {
        spool
            .append(Priority::Telemetry, &[i; 100])
            .expect("append");
    }
    spool.close().expect("close");
}

/// Edits the spool's sled tree directly, as damage would. sled releases its
/// lock shortly after the spool is dropped, so the first tries may find it held.
fn edit_tree(dir: &Path, edit: impl FnOnce(&sled::Tree)) {
    let mut tries = 0;
    let db = loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => break db,
            Err(e) if tries < 300 => {
                tries += 1;
                eprintln!("sled not yet released: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("sled does not open: {e}"),
        }
    };
    edit(&db.open_tree("spool").expect("tree"));
    db.flush().expect("flush");
}

/// Every file of the directory tree under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The directories beside the spool whose name starts with `spool.corrupt-`.
fn moved_aside(tmp: &tempfile::TempDir) -> Vec<PathBuf> {
    fs::read_dir(tmp.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("spool.corrupt-"))
        })
        .collect()
}

fn assert_moved_aside_and_fresh(tmp: &tempfile::TempDir, garbled: &[(PathBuf, Vec<u8>)]) {
    let dir = spool_dir(tmp);
    let (mut spool, report) = Spool::open(&dir, SpoolConfig::default()).expect("open recovers");
    let aside = report.moved_aside.clone().expect("report says moved aside");
    assert_eq!(moved_aside(tmp), vec![aside.to.clone()]);
    assert!(!aside.reason.is_empty());
    // Nothing was deleted: the garbled files are in the moved-aside directory as they were.
    for (path, bytes) in garbled {
        let relative = path.strip_prefix(&dir).expect("inside the spool");
        assert_eq!(&fs::read(aside.to.join(relative)).expect("kept"), bytes);
    }
    // A fresh, empty spool whose counter continues after the old reservation.
    assert_eq!(report.pending.total(), 0);
    let SeqContinuity::RecoveredFromReservation { next } = report.seq else {
        panic!("expected the counter recovered, got {:?}", report.seq);
    };
    assert!(next > 10);
    assert_eq!(
        spool.append(Priority::Alert, b"after").expect("append").seq,
        next
    );
}

#[test]
fn a_spool_with_garbage_in_every_sled_file_is_moved_aside_and_replaced() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    make_spool(&dir, 10);
    let mut garbled = Vec::new();
    for path in files(&dir.join("sled")) {
        let len = fs::metadata(&path).expect("metadata").len() as usize;
        let bytes: Vec<u8> = (0..len.max(64)).map(|i| (i * 7 + 13) as u8).collect();
        fs::write(&path, &bytes).expect("garble");
        garbled.push((path, bytes));
    }
    assert_moved_aside_and_fresh(&tmp, &garbled);
}

#[test]
fn a_spool_whose_sled_config_is_garbled_is_moved_aside() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    make_spool(&dir, 10);
    let conf = dir.join("sled").join("conf");
    let bytes = b"\x00\xffnot a sled config".to_vec();
    fs::write(&conf, &bytes).expect("garble");
    assert_moved_aside_and_fresh(&tmp, &[(conf, bytes)]);
}

#[test]
fn a_spool_of_an_unknown_format_version_is_moved_aside() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    make_spool(&dir, 10);
    edit_tree(&dir, |tree| {
        tree.insert(b"m/format", &[9u8]).expect("insert");
    });
    let (_, report) = Spool::open(&dir, SpoolConfig::default()).expect("open");
    let aside = report.moved_aside.expect("moved aside");
    assert!(aside.reason.contains("format version"), "{}", aside.reason);
    assert!(matches!(
        report.seq,
        SeqContinuity::RecoveredFromReservation { .. }
    ));
}

#[test]
fn without_a_readable_reservation_the_report_says_seq_continuity_is_lost() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    make_spool(&dir, 3);
    fs::write(dir.join("sled").join("conf"), b"garbage, not a sled config").expect("garble");
    fs::write(dir.join("seq-reserved"), b"garbage").expect("garble");
    let (mut spool, report) = Spool::open(&dir, SpoolConfig::default()).expect("open");
    assert!(report.moved_aside.is_some());
    assert_eq!(report.seq, SeqContinuity::Lost);
    assert_eq!(spool.append(Priority::Alert, b"x").expect("append").seq, 1);
}

#[test]
fn a_record_with_an_unknown_version_byte_is_quarantined_and_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    make_spool(&dir, 3);
    edit_tree(&dir, |tree| {
        let mut key = vec![b'r', 1];
        key.extend_from_slice(&2u64.to_be_bytes());
        let mut value = tree.get(&key).expect("get").expect("seq 2 stored").to_vec();
        value[0] = 200;
        tree.insert(&key, value).expect("insert");
    });
    let (mut spool, report) = Spool::open(&dir, SpoolConfig::default()).expect("open");
    assert!(report.moved_aside.is_none());
    let batch = spool.next_batch(10).expect("batch");
    assert_eq!(batch.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 3]);
    let stats = spool.stats().expect("stats");
    assert_eq!(stats.drops.undecodable.telemetry, 1);
    assert_eq!(stats.quarantined, 1);
    assert_eq!(stats.pending.telemetry, 2);
}

#[test]
fn a_spool_in_use_is_reported_locked_and_nothing_is_moved() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    let (_spool, _) = Spool::open(&dir, SpoolConfig::default()).expect("open");
    let error = Spool::open(&dir, SpoolConfig::default()).expect_err("second open fails");
    assert!(matches!(error, SpoolError::Locked { .. }), "{error}");
    assert!(moved_aside(&tmp).is_empty());
}

#[test]
fn inspect_reads_a_spool_in_use_without_changing_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    let (mut spool, _) = Spool::open(&dir, SpoolConfig::default()).expect("open");
    spool.append(Priority::Telemetry, b"t").expect("append");
    spool.append(Priority::Alert, b"a").expect("append");
    spool.append(Priority::Telemetry, b"t").expect("append");
    let report = inspect(&dir).expect("inspect");
    assert!(!report.closed_cleanly);
    assert_eq!(report.stats.pending.alert, 1);
    assert_eq!(report.stats.pending.telemetry, 2);
    assert_eq!(report.seq_range.telemetry, Some((1, 3)));
    assert_eq!(report.seq_range.alert, Some((2, 2)));
    assert_eq!(report.stats.last_seq, Some(3));
    let text = report.to_string();
    assert!(text.contains("telemetry:    2 records"), "{text}");
    assert!(text.contains("last seq:     3"), "{text}");
    // The copy is gone and the spool goes on.
    assert_eq!(fs::read_dir(tmp.path()).expect("read_dir").count(), 1);
    assert_eq!(spool.append(Priority::Alert, b"a").expect("append").seq, 4);
}

#[test]
fn inspect_of_a_running_spool_with_interval_durability_reports_the_last_seq_not_the_reservation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    let config = SpoolConfig {
        durability: Durability::IntervalMs(1000),
        ..SpoolConfig::default()
    };
    let (mut spool, _) = Spool::open(&dir, config).expect("open");
    for _ in 0..206 {
        spool.append(Priority::Telemetry, b"t").expect("append");
    }
    spool.flush().expect("flush");
    let reserved: u64 = fs::read_to_string(dir.join("seq-reserved"))
        .expect("reservation")
        .trim()
        .parse()
        .expect("a number");
    assert!(reserved > 206, "the reservation runs ahead: {reserved}");
    let report = inspect(&dir).expect("inspect");
    assert_eq!(report.stats.last_seq, Some(206));
    assert!(report.to_string().contains("last seq:     206"), "{report}");
}

#[test]
fn inspect_of_a_missing_spool_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    assert!(inspect(&spool_dir(&tmp)).is_err());
}
