//! The spool's behaviour through its public interface: order, acknowledgement,
//! rewind, a full spool under each policy, and what survives a reopen.

use std::path::{Path, PathBuf};

use edge_agent::spool::{
    Durability, FullPolicy, Priority, SeqContinuity, Spool, SpoolConfig, SpoolError,
};

fn config(max_bytes: u64, full_policy: FullPolicy) -> SpoolConfig {
    SpoolConfig {
        max_bytes,
        full_policy,
        durability: Durability::EveryEvent,
    }
}

fn spool_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("spool")
}

fn open(dir: &Path, config: SpoolConfig) -> Spool {
    Spool::open(dir, config).expect("spool opens").0
}

fn seqs(records: &[edge_agent::spool::Record]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

#[test]
fn seqs_start_at_one_and_count_up_by_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), SpoolConfig::default());
    let got: Vec<u64> = (0..5)
        .map(|_| spool.append(Priority::Telemetry, b"x").expect("append").seq)
        .collect();
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
}

#[test]
fn alerts_are_handed_out_before_older_telemetry() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), SpoolConfig::default());
    spool.append(Priority::Telemetry, b"t1").expect("append");
    spool.append(Priority::Telemetry, b"t2").expect("append");
    spool.append(Priority::Alert, b"a3").expect("append");
    spool.append(Priority::Telemetry, b"t4").expect("append");
    spool.append(Priority::Alert, b"a5").expect("append");
    let batch = spool.next_batch(10).expect("batch");
    assert_eq!(seqs(&batch), vec![3, 5, 1, 2, 4]);
    assert_eq!(batch[0].payload, b"a3");
    assert_eq!(batch[0].class, Priority::Alert);
}

#[test]
fn a_record_is_handed_out_once_until_rewind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), SpoolConfig::default());
    for _ in 0..5 {
        spool.append(Priority::Telemetry, b"x").expect("append");
    }
    assert_eq!(seqs(&spool.next_batch(2).expect("batch")), vec![1, 2]);
    assert_eq!(seqs(&spool.next_batch(2).expect("batch")), vec![3, 4]);
    // An alert arriving now goes out next, ahead of the remaining telemetry.
    spool.append(Priority::Alert, b"a").expect("append");
    assert_eq!(seqs(&spool.next_batch(2).expect("batch")), vec![6, 5]);
    assert!(spool.next_batch(2).expect("batch").is_empty());
    spool.ack(&[2, 6]).expect("ack");
    spool.rewind_unacked();
    assert_eq!(
        seqs(&spool.next_batch(10).expect("batch")),
        vec![1, 3, 4, 5]
    );
}

#[test]
fn ack_removes_exactly_the_acknowledged_seqs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), SpoolConfig::default());
    for _ in 0..6 {
        spool.append(Priority::Telemetry, b"x").expect("append");
    }
    spool.next_batch(6).expect("batch");
    assert_eq!(spool.ack(&[5, 2, 2, 4, 99]).expect("ack"), 3);
    assert_eq!(spool.ack(&[2]).expect("ack again"), 0);
    spool.rewind_unacked();
    assert_eq!(seqs(&spool.next_batch(10).expect("batch")), vec![1, 3, 6]);
    assert_eq!(spool.stats().expect("stats").pending.telemetry, 3);
}

#[test]
fn ack_up_to_removes_only_records_that_were_handed_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), SpoolConfig::default());
    for _ in 0..3 {
        spool.append(Priority::Telemetry, b"t").expect("append");
    }
    spool.append(Priority::Alert, b"a").expect("append"); // seq 4
                                                          // Alerts first: seq 4, then telemetry 1.
    assert_eq!(seqs(&spool.next_batch(2).expect("batch")), vec![4, 1]);
    assert_eq!(spool.ack_up_to(4).expect("ack_up_to"), 2);
    spool.rewind_unacked();
    assert_eq!(seqs(&spool.next_batch(10).expect("batch")), vec![2, 3]);
}

#[test]
fn unacknowledged_records_come_back_after_reopen_and_acknowledged_ones_do_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    {
        let mut spool = open(&dir, SpoolConfig::default());
        for i in 0..4u8 {
            spool.append(Priority::Telemetry, &[i]).expect("append");
        }
        spool.next_batch(4).expect("batch");
        spool.ack(&[1, 3]).expect("ack");
    }
    let (mut spool, report) = Spool::open(&dir, SpoolConfig::default()).expect("reopen");
    assert_eq!(report.clean_shutdown, Some(true));
    assert_eq!(report.seq, SeqContinuity::Exact);
    assert_eq!(report.pending.telemetry, 2);
    let batch = spool.next_batch(10).expect("batch");
    assert_eq!(seqs(&batch), vec![2, 4]);
    assert_eq!(batch[1].payload, vec![3]);
    assert_eq!(spool.append(Priority::Alert, b"a").expect("append").seq, 5);
}

#[test]
fn an_unclean_shutdown_with_every_event_keeps_the_exact_counter() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    let mut spool = open(&dir, SpoolConfig::default());
    spool.append(Priority::Telemetry, b"x").expect("append");
    spool.drop_uncleanly();
    let (mut spool, report) = Spool::open(&dir, SpoolConfig::default()).expect("reopen");
    assert_eq!(report.clean_shutdown, Some(false));
    assert_eq!(report.seq, SeqContinuity::Exact);
    assert_eq!(
        spool.append(Priority::Telemetry, b"y").expect("append").seq,
        2
    );
}

#[test]
fn an_unclean_shutdown_with_interval_flushing_skips_past_the_reservation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    let lossy = SpoolConfig {
        durability: Durability::IntervalMs(50),
        ..SpoolConfig::default()
    };
    let mut spool = open(&dir, lossy.clone());
    spool.append(Priority::Telemetry, b"x").expect("append");
    spool.drop_uncleanly();
    let (mut spool, report) = Spool::open(&dir, lossy).expect("reopen");
    let SeqContinuity::SkippedReservation {
        persisted_next,
        next,
    } = report.seq
    else {
        panic!("expected a skip, got {:?}", report.seq);
    };
    assert_eq!(persisted_next, 2);
    assert!(next > 2);
    assert_eq!(
        spool.append(Priority::Telemetry, b"y").expect("append").seq,
        next
    );
    // The record from before the crash is still there (sled flushed on drop).
    assert_eq!(spool.stats().expect("stats").pending.telemetry, 2);
}

#[test]
fn a_full_spool_drops_the_oldest_telemetry_and_keeps_alerts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = spool_dir(&tmp);
    let payload = [7u8; 150];
    let mut spool = open(&dir, config(2048, FullPolicy::DropOldestTelemetry));
    let first = spool.append(Priority::Alert, &payload).expect("append");
    let per_record = first.bytes;
    let mut dropped = 0;
    for _ in 0..40 {
        let appended = spool
            .append(Priority::Telemetry, &payload)
            .expect("append never fails");
        assert!(appended.stored);
        assert_eq!(appended.dropped.dropped.alert, 0);
        dropped += appended.dropped.dropped.telemetry;
    }
    let stats = spool.stats().expect("stats");
    assert!(stats.pending_bytes.total() <= 2048);
    assert_eq!(stats.pending.alert, 1);
    assert_eq!(stats.pending.telemetry, 2048 / per_record - 1);
    assert_eq!(stats.drops.full.telemetry, dropped);
    assert_eq!(stats.drops.full.telemetry, 40 - stats.pending.telemetry);
    // The survivors are the newest telemetry and the alert.
    let batch = spool.next_batch(100).expect("batch");
    assert_eq!(batch[0].seq, 1);
    assert_eq!(batch.last().map(|r| r.seq), Some(41));
    // Counters survive a restart.
    drop(spool);
    let spool = open(&dir, config(2048, FullPolicy::DropOldestTelemetry));
    assert_eq!(spool.stats().expect("stats").drops.full.telemetry, dropped);
}

#[test]
fn a_spool_full_of_alerts_drops_incoming_telemetry_and_then_the_oldest_alert() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let payload = [1u8; 150];
    let mut spool = open(
        &spool_dir(&tmp),
        config(2048, FullPolicy::DropOldestTelemetry),
    );
    let mut alerts = 0;
    while spool.stats().expect("stats").drops.full.total() == 0 {
        spool.append(Priority::Alert, &payload).expect("append");
        alerts += 1;
    }
    assert_eq!(spool.stats().expect("stats").drops.full.alert, 1);
    let telemetry = spool.append(Priority::Telemetry, &payload).expect("append");
    assert!(!telemetry.stored);
    assert_eq!(telemetry.dropped.dropped.telemetry, 1);
    let stats = spool.stats().expect("stats");
    assert_eq!(stats.drops.full.telemetry, 1);
    assert_eq!(stats.pending.telemetry, 0);
    assert_eq!(stats.pending.alert, alerts - 1);
    // The dropped telemetry's seq is never used again.
    let next = spool.append(Priority::Alert, &payload).expect("append");
    assert_eq!(next.seq, telemetry.seq + 1);
}

#[test]
fn the_reject_policy_refuses_without_dropping_and_counts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), config(2048, FullPolicy::Reject));
    let payload = [3u8; 150];
    let mut stored = 0;
    let error = loop {
        match spool.append(Priority::Telemetry, &payload) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            error,
            SpoolError::Full {
                class: Priority::Telemetry,
                ..
            }
        ),
        "{error}"
    );
    assert!(matches!(
        spool.append(Priority::Alert, &payload),
        Err(SpoolError::Full { .. })
    ));
    let stats = spool.stats().expect("stats");
    assert_eq!(stats.pending.telemetry, stored);
    assert_eq!(stats.drops.full.total(), 0);
    assert_eq!(stats.drops.rejected.telemetry, 1);
    assert_eq!(stats.drops.rejected.alert, 1);
    // After the sink acknowledged something, appends fit again; no seq was consumed.
    spool.next_batch(1).expect("batch");
    spool.ack(&[1]).expect("ack");
    assert_eq!(
        spool.append(Priority::Alert, &payload).expect("fits").seq,
        stored + 1
    );
}

#[test]
fn a_record_larger_than_the_spool_is_refused_under_every_policy() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(
        &spool_dir(&tmp),
        config(1024, FullPolicy::DropOldestTelemetry),
    );
    let error = spool
        .append(Priority::Alert, &[0u8; 2000])
        .expect_err("too large");
    assert!(matches!(error, SpoolError::TooLarge { .. }), "{error}");
    assert_eq!(spool.stats().expect("stats").drops.rejected.alert, 1);
}

#[test]
fn stats_report_pending_bytes_age_and_last_seq() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), SpoolConfig::default());
    let empty = spool.stats().expect("stats");
    assert_eq!(empty.last_seq, None);
    assert_eq!(empty.oldest_pending_age_ms, None);
    let a = spool.append(Priority::Alert, b"alert").expect("append");
    let t = spool
        .append(Priority::Telemetry, b"reading")
        .expect("append");
    let stats = spool.stats().expect("stats");
    assert_eq!(stats.pending.alert, 1);
    assert_eq!(stats.pending.telemetry, 1);
    assert_eq!(stats.pending_bytes.alert, a.bytes);
    assert_eq!(stats.pending_bytes.telemetry, t.bytes);
    assert_eq!(stats.last_seq, Some(2));
    assert_eq!(stats.appended_total, 2);
    assert!(stats.oldest_pending_age_ms.is_some());
    assert!(stats.disk_bytes.is_some());
}

#[test]
fn append_all_shares_one_flush_and_reports_each_event() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut spool = open(&spool_dir(&tmp), config(1024, FullPolicy::Reject));
    let big = [0u8; 2000];
    let results = spool
        .append_all(&[
            (Priority::Telemetry, b"a".as_slice()),
            (Priority::Alert, big.as_slice()),
            (Priority::Alert, b"c".as_slice()),
        ])
        .expect("group append");
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().map(|a| a.seq).ok(), Some(1));
    assert!(matches!(results[1], Err(SpoolError::TooLarge { .. })));
    assert_eq!(results[2].as_ref().map(|a| a.seq).ok(), Some(2));
}
