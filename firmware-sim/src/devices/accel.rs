//! The streaming accelerometer: frames of three-axis samples at the configured rate.
//!
//! Frame `k` holds samples `k * spf .. (k + 1) * spf` (spf = samples per frame). On a scaled
//! clock, sample `n` is taken at plant time `n / rate * speed`, so frame `k`'s bytes are a
//! pure function of (seed, scenario, speed, k): see [`frame_bytes`]. The frame is due on the
//! wall clock when its last sample has been "measured": `origin + (k + 1) * spf / rate`.
//! The task sleeps until each deadline, so it never runs ahead; if it falls behind it sends
//! at once (the lag is recorded in [`StreamStats`]). If nobody reads the terminal and a
//! write cannot complete within 100 ms, the frame is counted as dropped and the stream jumps
//! to the frame now due, as a UART with a full buffer loses bytes.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{
    line::{self, Impairment},
    pty::Pty,
};
use crate::{
    clock::SimClock,
    plant::Plant,
    protocol::accel_frame::{AccelFrame, FLAG_CLIPPED},
    scenario::AccelStreamConfig,
};

const WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// Counters of a streaming device, readable while it runs.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Frames written completely.
    pub frames_sent: AtomicU64,
    /// Samples (per axis) in those frames.
    pub samples_sent: AtomicU64,
    /// Frames not sent because the sensor had dropped out.
    pub frames_suppressed: AtomicU64,
    /// Frames lost because the terminal did not take them in time.
    pub frames_dropped: AtomicU64,
    /// Bytes written.
    pub bytes_sent: AtomicU64,
    /// Largest delay of a frame behind its deadline, microseconds.
    pub max_lag_us: AtomicU64,
}

/// Frame `k` of the stream of `cfg` and its wire bytes, line faults included; `None` when
/// the sensor has dropped out. `speed` is plant seconds per wall second; `plant_now`
/// overrides the plant time (manual clocks).
pub(crate) fn frame_bytes(
    plant: &Plant,
    cfg: &AccelStreamConfig,
    k: u64,
    speed: f64,
    plant_now: Option<f64>,
) -> Option<(AccelFrame, Vec<u8>)> {
    let m = plant.machine_index(&cfg.machine)?;
    let fs = f64::from(cfg.sample_rate_hz);
    let spf = u64::from(cfg.samples_per_frame);
    let first = k * spf;
    let t = plant_now.unwrap_or(first as f64 / fs * speed);
    let samples = plant
        .accel_samples(m, fs, first, spf as usize, t, speed / fs)
        .ok()?;
    let scale = 1e6 / f64::from(cfg.lsb_ug);
    let mut flags = 0;
    let counts = samples
        .iter()
        .map(|axes| {
            axes.map(|g| {
                let c = (g * scale).round();
                if c > f64::from(i16::MAX) || c < f64::from(i16::MIN) {
                    flags |= FLAG_CLIPPED;
                }
                c as i16
            })
        })
        .collect();
    let mut frame = AccelFrame::new(k as u32, first, cfg.sample_rate_hz, cfg.lsb_ug, counts);
    frame.flags = flags;
    let bytes = match line::impairment(plant, &cfg.id, t, k) {
        Impairment::Clean => frame.encode(),
        Impairment::BadCrc => frame.encode_with_bad_crc(),
        Impairment::Garbled => {
            let mut bytes = frame.encode();
            line::garble(&mut bytes, plant.seed(), k);
            bytes
        }
    };
    Some((frame, bytes))
}

/// Streams until `cancel` fires.
pub(crate) async fn run(
    plant: Arc<Plant>,
    clock: SimClock,
    cfg: AccelStreamConfig,
    mut pty: Pty,
    stats: Arc<StreamStats>,
    cancel: CancellationToken,
) {
    let period = f64::from(cfg.samples_per_frame) / f64::from(cfg.sample_rate_hz);
    let origin = clock.origin();
    let due_now = || (origin.elapsed().as_secs_f64() / period).floor() as u64;
    let mut k = due_now();
    loop {
        let deadline = origin + Duration::from_secs_f64((k + 1) as f64 * period);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep_until(deadline) => {}
        }
        let lag = tokio::time::Instant::now().saturating_duration_since(deadline);
        stats
            .max_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        let plant_now = clock.speed().is_none().then(|| clock.now());
        let speed = clock.speed().unwrap_or(1.0);
        let Some((frame, bytes)) = frame_bytes(&plant, &cfg, k, speed, plant_now) else {
            stats.frames_suppressed.fetch_add(1, Ordering::Relaxed);
            k += 1;
            continue;
        };
        match tokio::time::timeout(WRITE_TIMEOUT, pty.master.write_all(&bytes)).await {
            Ok(Ok(())) => {
                stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                stats
                    .samples_sent
                    .fetch_add(frame.samples.len() as u64, Ordering::Relaxed);
                stats
                    .bytes_sent
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                k += 1;
            }
            Ok(Err(error)) => {
                tracing::warn!(device = %cfg.id, %error, "accelerometer stream write failed");
                stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
                k = (k + 1).max(due_now());
            }
            Err(_) => {
                let next = (k + 1).max(due_now());
                stats.frames_dropped.fetch_add(next - k, Ordering::Relaxed);
                k = next;
            }
        }
    }
    info!(device = %cfg.id, "accelerometer stream stopped");
}
