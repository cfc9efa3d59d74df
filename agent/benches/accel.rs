//! Accelerometer samples per second through the whole synchronous path of a stream:
//! deframe (COBS, CRC) → postcard decode → tumbling-window features → events.
//!
//! Input: ten seconds (1000 frames) of firmware-sim's `demo.toml` accelerometer (3200
//! samples/s × 3 axes, 32 a frame), fed in 4 KiB reads as a serial port would deliver them.
//! The throughput is in samples (one sample = one x, y, z triple); the simulator streams
//! 3200 of them a second.
//!
//! `cargo bench -p edge-agent --bench accel`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edge_agent::config::{Parity, SerialLine, Stream, StreamFormat};
use edge_agent::sources::serial::StreamDecoder;
use firmware_sim::{accel_frame_bytes, Plant, Scenario};

const FRAMES: u64 = 1000;
const SAMPLES_PER_FRAME: u64 = 32;

fn wire() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../firmware-sim/scenarios/demo.toml"
    );
    let scenario = Scenario::load(path).expect("demo scenario loads");
    let plant = Plant::from_scenario(scenario, None);
    (0..FRAMES)
        .flat_map(|k| accel_frame_bytes(&plant, "accel-motor", k, 30.0).expect("frame"))
        .collect()
}

fn stream(window: usize) -> Stream {
    Stream {
        id: "bench.accel".into(),
        line: SerialLine {
            path: PathBuf::from("/dev/null"),
            baud: 921_600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
        },
        format: StreamFormat::AccelFrames { window },
    }
}

fn accel(c: &mut Criterion) {
    let wire = wire();
    let mut group = c.benchmark_group("accel_stream");
    group.throughput(Throughput::Elements(FRAMES * SAMPLES_PER_FRAME));
    for window in [1024, 64] {
        group.bench_with_input(BenchmarkId::new("window", window), &window, |b, &w| {
            b.iter(|| {
                let mut decoder = StreamDecoder::new(&stream(w)).expect("valid stream");
                let mut events = Vec::new();
                for (i, read) in wire.chunks(4096).enumerate() {
                    decoder.push(read, i as i64, &mut events);
                    events.clear();
                }
                black_box(decoder.counters().snapshot())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = accel
}
criterion_main!(benches);
