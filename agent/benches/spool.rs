//! Spool throughput: events per second into the spool at each durability
//! setting (150-byte payloads), and drain throughput (next_batch + ack).
//!
//! `cargo bench -p edge-agent --bench spool`
//!
//! Each sample opens a fresh spool in a temporary directory, so the spool
//! never grows past one sample's appends. Figures depend on the disk's flush
//! latency above all: measure on the target device (SD card, eMMC) before
//! choosing a durability mode.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edge_agent::spool::{Durability, FullPolicy, Priority, Spool, SpoolConfig};

const PAYLOAD: [u8; 150] = [0x42; 150];
const GROUP: usize = 32;
const DRAIN_BATCH: usize = 100;

fn config(durability: Durability) -> SpoolConfig {
    SpoolConfig {
        max_bytes: 1 << 30,
        full_policy: FullPolicy::DropOldestTelemetry,
        durability,
    }
}

fn fresh(durability: Durability) -> (tempfile::TempDir, Spool) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (spool, _) = Spool::open(&tmp.path().join("spool"), config(durability)).expect("open");
    (tmp, spool)
}

fn class(i: u64) -> Priority {
    if i % 20 == 0 {
        Priority::Alert
    } else {
        Priority::Telemetry
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool_append");
    group.throughput(Throughput::Elements(1));
    for (name, durability) in [
        ("every_event", Durability::EveryEvent),
        ("interval_ms_10", Durability::IntervalMs(10)),
        ("interval_ms_500", Durability::IntervalMs(500)),
    ] {
        group.bench_function(BenchmarkId::new("one_by_one", name), |b| {
            b.iter_custom(|iters| {
                let (_tmp, mut spool) = fresh(durability);
                let start = Instant::now();
                for i in 0..iters {
                    spool.append(class(i), &PAYLOAD).expect("append");
                }
                start.elapsed()
            });
        });
    }
    // Group commit: the events that arrived together share one flush.
    group.throughput(Throughput::Elements(GROUP as u64));
    group.bench_function(BenchmarkId::new("append_all_32", "every_event"), |b| {
        let events: Vec<(Priority, &[u8])> = (0..GROUP as u64)
            .map(|i| (class(i), PAYLOAD.as_slice()))
            .collect();
        b.iter_custom(|iters| {
            let (_tmp, mut spool) = fresh(Durability::EveryEvent);
            let start = Instant::now();
            for _ in 0..iters {
                spool.append_all(&events).expect("append_all");
            }
            start.elapsed()
        });
    });
    group.finish();
}

fn drain(c: &mut Criterion) {
    let mut group = c.benchmark_group("spool_drain");
    group.throughput(Throughput::Elements(DRAIN_BATCH as u64));
    for (name, durability) in [
        ("every_event", Durability::EveryEvent),
        ("interval_ms_500", Durability::IntervalMs(500)),
    ] {
        group.bench_function(BenchmarkId::new("next_batch_100_and_ack", name), |b| {
            b.iter_custom(|iters| {
                let (_tmp, mut spool) = fresh(Durability::IntervalMs(500));
                let n = iters * DRAIN_BATCH as u64;
                for i in 0..n {
                    spool.append(class(i), &PAYLOAD).expect("prefill");
                }
                spool.flush().expect("flush");
                let dir = spool.dir().to_path_buf();
                drop(spool);
                let (mut spool, _) = Spool::open(&dir, config(durability)).expect("reopen");
                let start = Instant::now();
                for _ in 0..iters {
                    let batch = spool.next_batch(DRAIN_BATCH).expect("next_batch");
                    let seqs: Vec<u64> = batch.iter().map(|r| r.seq).collect();
                    spool.ack(&seqs).expect("ack");
                }
                start.elapsed()
            });
        });
    }
    group.finish();
}

/// Not a timing: how sled's files compare with the record bytes that
/// `max_bytes` counts, after 50,000 appends and after acknowledging half.
fn footprint(_: &mut Criterion) {
    let (_tmp, mut spool) = fresh(Durability::IntervalMs(500));
    for i in 0..50_000 {
        spool.append(class(i), &PAYLOAD).expect("append");
    }
    spool.flush().expect("flush");
    let full = spool.stats().expect("stats");
    let batch = spool.next_batch(25_000).expect("batch");
    let seqs: Vec<u64> = batch.iter().map(|r| r.seq).collect();
    spool.ack(&seqs).expect("ack");
    spool.flush().expect("flush");
    let half = spool.stats().expect("stats");
    for (label, stats) in [("50000 records", full), ("after acking 25000", half)] {
        let record = stats.pending_bytes.total();
        let disk = stats.disk_bytes.unwrap_or(0);
        println!(
            "spool footprint, {label}: record bytes {record}, sled on disk {disk} ({:.2}x)",
            disk as f64 / record.max(1) as f64
        );
    }
}

fn short() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = short();
    targets = append, drain, footprint
}
criterion_main!(benches);
