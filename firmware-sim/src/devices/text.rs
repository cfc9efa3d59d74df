//! The text-line sensor: one line per `interval` of wall time.
//!
//! Line `k` is due at `origin + k * interval` and, on a scaled clock, reports the plant at
//! `k * interval * speed`, so its text is a pure function of (seed, scenario, speed, k).
//! A dropped-out sensor prints nothing. A `crc_error` fault spoils the `*HH` checksum (or,
//! without a checksum, flips a bit of one character); `garbled` mangles the line.

use std::{sync::Arc, time::Duration};

use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{
    line::{self, Impairment},
    pty::Pty,
};
use crate::{
    clock::SimClock, plant::Plant, protocol::text_line::format_line, scenario::TextLineConfig,
};

/// Line `k` of the sensor, faults included; `None` while the sensor has dropped out.
pub(crate) fn line_bytes(
    plant: &Plant,
    cfg: &TextLineConfig,
    k: u64,
    speed: f64,
    plant_now: Option<f64>,
) -> Option<Vec<u8>> {
    let m = plant.machine_index(&cfg.machine)?;
    let t = plant_now.unwrap_or(k as f64 * cfg.interval.secs() * speed);
    let value = plant.reading_at(m, cfg.signal, t).ok()?;
    let text = format_line(&cfg.prefix, value, cfg.decimals, &cfg.suffix, cfg.checksum);
    let mut bytes = text.into_bytes();
    match line::impairment(plant, &cfg.id, t, k) {
        Impairment::Clean => {}
        Impairment::BadCrc => {
            // Spoil the checksum's last hex digit, or the first character of the value.
            let at = if cfg.checksum {
                bytes.len() - 3
            } else {
                cfg.prefix.len()
            };
            bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        }
        Impairment::Garbled => line::garble(&mut bytes, plant.seed(), k),
    }
    Some(bytes)
}

/// Prints lines until `cancel` fires.
pub(crate) async fn run(
    plant: Arc<Plant>,
    clock: SimClock,
    cfg: TextLineConfig,
    mut pty: Pty,
    cancel: CancellationToken,
) {
    let interval = cfg.interval.secs();
    let origin = clock.origin();
    let mut k = (origin.elapsed().as_secs_f64() / interval).ceil() as u64;
    loop {
        let deadline = origin + Duration::from_secs_f64(k as f64 * interval);
        tokio::select! {
            () = cancel.cancelled() => break,
            () = tokio::time::sleep_until(deadline) => {}
        }
        let plant_now = clock.speed().is_none().then(|| clock.now());
        if let Some(bytes) = line_bytes(&plant, &cfg, k, clock.speed().unwrap_or(1.0), plant_now) {
            // A reader that does not keep up loses lines, as on a real UART.
            match tokio::time::timeout(Duration::from_secs(1), pty.master.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(device = %cfg.id, %error, "text line write failed")
                }
                Err(_) => {
                    tracing::debug!(device = %cfg.id, line = k, "text line dropped: nobody reads")
                }
            }
        }
        k = (k + 1).max((origin.elapsed().as_secs_f64() / interval).floor() as u64);
    }
    info!(device = %cfg.id, "text-line sensor stopped");
}
