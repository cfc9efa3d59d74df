//! Measures whether the streaming accelerometer sustains its sample rate.
//!
//! Starts one `accel_stream` device on a pseudo-terminal, reads and decodes its frames as an
//! agent would for the given time, and reports the achieved sample rate, lost frames, the
//! largest lag behind schedule and the CPU time used. The figures in README.md come from:
//!
//! ```text
//! cargo run --release -p firmware-sim --example accel_throughput -- 60 3200 32
//! ```
//!
//! Arguments: seconds (default 60), samples/s (default 3200), samples per frame (default 32).

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use firmware_sim::{protocol::accel_frame::FrameDecoder, Plant, Scenario, SimClock, Simulator};
use tokio::io::AsyncReadExt;

/// User + system CPU seconds of this process, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (seconds, rate, spf) = (arg(0, 60), arg(1, 3200), arg(2, 32));
    let scenario = Scenario::from_toml_str(&format!(
        r#"
        [scenario]
        name = "throughput"
        [[machines]]
        id = "motor"
        [[devices]]
        id = "accel"
        kind = "accel_stream"
        machine = "motor"
        sample_rate_hz = {rate}
        samples_per_frame = {spf}
        [[faults]]
        kind = "bearing_wear"
        machine = "motor"
        start = "0s"
        ramp = "1m"
        "#
    ))?;
    let mut sim = Simulator::new(Plant::from_scenario(scenario, None), SimClock::scaled(1.0));
    let path = sim.start_serial_pty("accel", None).await?;
    let mut port =
        tokio_serial::SerialStream::open(&tokio_serial::new(path.to_string_lossy(), 921_600))
            .context("open the pty")?;
    let stats = sim.stream_stats("accel").context("stream stats")?;

    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut decoder = FrameDecoder::default();
    let (mut frames, mut samples, mut errors, mut gaps) = (0u64, 0u64, 0u64, 0u64);
    let (mut first_sample, mut last_seq) = (None, None::<u32>);
    let mut buf = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while let Ok(read) = tokio::time::timeout_at(deadline, port.read(&mut buf)).await {
        let n = read.context("read the pty")?;
        for result in decoder.push(&buf[..n]) {
            match result {
                Ok(frame) => {
                    if let Some(last) = last_seq {
                        gaps += u64::from(frame.seq.wrapping_sub(last).saturating_sub(1));
                    }
                    first_sample.get_or_insert(frame.first_sample);
                    last_seq = Some(frame.seq);
                    frames += 1;
                    samples += frame.samples.len() as u64;
                }
                Err(_) => errors += 1,
            }
        }
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    sim.shutdown().await?;

    println!("configured: {rate} samples/s x 3 axes, {spf} samples per frame, {seconds} s");
    println!("received:   {frames} frames, {samples} samples in {wall:.2} s = {:.1} samples/s ({:.3} % of configured)",
        samples as f64 / wall, 100.0 * samples as f64 / wall / rate as f64);
    println!("lost:       {gaps} frames missing in the sequence, {errors} undecodable chunks (the first may be a partial frame)");
    println!(
        "sender:     {} frames sent, {} dropped, {:.1} KiB/s, largest lag behind schedule {:.2} ms",
        stats.frames_sent.load(Ordering::Relaxed),
        stats.frames_dropped.load(Ordering::Relaxed),
        stats.bytes_sent.load(Ordering::Relaxed) as f64 / 1024.0 / wall,
        stats.max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0
    );
    println!(
        "cpu:        {cpu:.2} s for sender and reader together ({:.1} % of one core)",
        100.0 * cpu / wall
    );
    Ok(())
}
