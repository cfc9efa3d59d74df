//! The serial sensors on their pseudo-terminals, read as the agent would read them.

mod common;

use std::{collections::BTreeMap, path::Path, time::Duration};

use firmware_sim::{
    accel_frame_bytes,
    protocol::{
        accel_frame::{AccelFrame, FrameDecoder},
        text_line::parse_line,
    },
    Plant, Scenario, SimClock, Simulator,
};
use tokio::io::AsyncReadExt;

/// Reads raw bytes from a pty path for `wall` time.
async fn read_for(path: &Path, wall: Duration) -> Vec<u8> {
    let mut port =
        tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 921_600))
            .expect("open pty");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wall;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, port.read(&mut buf)).await {
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Complete frames by sequence number, with their wire bytes.
fn frames(bytes: &[u8]) -> BTreeMap<u32, (AccelFrame, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for chunk in bytes.split(|&b| b == 0) {
        let mut wire = chunk.to_vec();
        wire.push(0);
        if let Ok(frame) = AccelFrame::decode(&wire) {
            out.insert(frame.seq, (frame, wire));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accelerometer_streams_consecutive_frames_at_its_rate() {
    let plant = Plant::from_scenario(common::scenario("demo.toml"), None);
    let mut sim = Simulator::new(plant, SimClock::scaled(30.0));
    let path = sim
        .start_serial_pty("accel-motor", None)
        .await
        .expect("stream starts");
    let bytes = read_for(&path, Duration::from_millis(600)).await;
    let mut decoder = FrameDecoder::default();
    let decoded = decoder.push(&bytes);
    let ok: Vec<&AccelFrame> = decoded.iter().filter_map(|r| r.as_ref().ok()).collect();
    // Only the very first chunk may be the tail of a frame written before we opened.
    assert!(
        decoded.iter().filter(|r| r.is_err()).count() <= 1,
        "{decoded:?}"
    );
    // 3200 samples/s in frames of 32: 100 frames a second.
    assert!(ok.len() >= 45, "{} frames in 0.6 s", ok.len());
    for pair in ok.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1, "frames lost");
        assert_eq!(pair[1].first_sample, pair[0].first_sample + 32);
    }
    assert!(ok
        .iter()
        .all(|f| f.sample_rate_hz == 3200 && f.lsb_ug == 1000 && f.samples.len() == 32));
    // Gravity is on the Y axis: about 1000 counts of 1 mg.
    let mean_y = ok
        .iter()
        .flat_map(|f| f.samples.iter().map(|s| f64::from(s[1])))
        .sum::<f64>()
        / (ok.len() * 32) as f64;
    assert!((mean_y - 1000.0).abs() < 50.0, "mean Y {mean_y} mg");
    let stats = sim.stream_stats("accel-motor").expect("stats");
    assert_eq!(
        stats
            .frames_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    sim.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_with_the_same_seed_send_byte_identical_frames() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let plant = Plant::from_scenario(common::scenario("demo.toml"), Some(42));
        let mut sim = Simulator::new(plant, SimClock::scaled(30.0));
        let path = sim
            .start_serial_pty("accel-motor", None)
            .await
            .expect("stream starts");
        runs.push(frames(&read_for(&path, Duration::from_millis(400)).await));
        sim.shutdown().await.expect("clean shutdown");
    }
    let plant = Plant::from_scenario(common::scenario("demo.toml"), Some(42));
    let mut common_frames = 0;
    for (seq, (_, wire)) in &runs[0] {
        if let Some((_, other)) = runs[1].get(seq) {
            assert_eq!(wire, other, "frame {seq} differs between runs");
            common_frames += 1;
        }
        let expected =
            accel_frame_bytes(&plant, "accel-motor", u64::from(*seq), 30.0).expect("frame");
        assert_eq!(
            wire, &expected,
            "frame {seq} differs from the pure function"
        );
    }
    assert!(common_frames >= 20, "only {common_frames} frames in common");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_probe_prints_lines_a_reader_can_parse_and_survives_a_reopen() {
    let scenario = Scenario::from_toml_str(
        r#"
        [scenario]
        name = "probe"
        [[machines]]
        id = "pump"
        [[devices]]
        id = "probe"
        kind = "text_line"
        machine = "pump"
        interval = "40ms"
        checksum = true
        "#,
    )
    .expect("scenario");
    let mut sim = Simulator::new(Plant::from_scenario(scenario, None), SimClock::scaled(1.0));
    let path = sim
        .start_serial_pty("probe", None)
        .await
        .expect("probe starts");
    for _ in 0..2 {
        // The agent closes and reopens its port: the simulator must not see an error.
        let text =
            String::from_utf8(read_for(&path, Duration::from_millis(300)).await).expect("ASCII");
        let values: Vec<f64> = text
            .lines()
            .skip(1)
            .filter_map(|l| parse_line(l, "T=", "C"))
            .collect();
        assert!(values.len() >= 4, "{text:?}");
        assert!(
            values.iter().all(|v| (20.0..80.0).contains(v)),
            "{values:?}"
        );
    }
    sim.shutdown().await.expect("clean shutdown");
}
