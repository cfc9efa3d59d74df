//! The 100 devices × 20 registers at 10 Hz load: the configuration, the `sources` child (the
//! device tasks alone, in-process, to show what the sources cost), and the counting of what
//! the real `edge-agent run` prints.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use edge_agent::event::{EventBody, Quality};
use edge_agent::sources::modbus::tcp::TcpDevice;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::server::{load_register, LOAD_UNITS, REGISTERS};

/// The poll interval of every device: 10 Hz.
pub const INTERVAL_MS: u64 = 100;

/// Readings per second the load should produce.
pub fn target_rate() -> f64 {
    f64::from(LOAD_UNITS) * f64::from(REGISTERS) * 1000.0 / INTERVAL_MS as f64
}

/// The agent's configuration: every load unit of the server at `addr` as a TCP device, one
/// poll group of [`REGISTERS`] registers (or no device at all); `durability_ms` `None` keeps the
/// spool's default.
pub fn agent_config(
    addr: &str,
    data_dir: &Path,
    durability_ms: Option<u64>,
    devices: bool,
) -> String {
    let mut s = format!(
        "[agent]\ngateway = \"bench\"\ndata_dir = \"{}\"\nforward_readings = true\n",
        data_dir.display()
    );
    if let Some(ms) = durability_ms {
        s += &format!("[spool]\ndurability = {{ interval_ms = {ms} }}\n");
    }
    let units = if devices { LOAD_UNITS } else { 0 };
    for unit in 1..=units {
        s += &format!(
            "\n[[device]]\nid = \"d{unit:03}\"\ntransport = \"tcp\"\naddress = \"{addr}\"\nunit = {unit}\n\
             [[device.poll]]\ninterval = \"{INTERVAL_MS}ms\"\n"
        );
        for address in 0..REGISTERS {
            let r = load_register(address);
            s += &format!(
                "[[device.poll.register]]\nsensor = \"d{unit:03}.{}.{address}\"\ntable = \"input\"\n\
                 address = {address}\ntype = \"{}\"\nscale = {}\n",
                r.signal, r.value_type, r.scale
            );
        }
    }
    s
}

/// `modbus_load sources CONFIG`: the configuration's TCP devices on the agent's runtime (two
/// workers), their events counted and dropped; prints `readings N` (good readings so far)
/// every 100 ms until stdin closes.
pub fn sources(args: &[String]) -> Result<()> {
    let [path] = args else {
        bail!("usage: modbus_load sources CONFIG");
    };
    let config = edge_agent::config::load(Path::new(path)).map_err(|d| {
        anyhow!(d
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (tx, mut rx) = mpsc::channel(4096);
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        for device in config.devices {
            let task = TcpDevice::new(device).context("only TCP devices here")?;
            tracker.spawn(task.run(tx.clone(), stop.clone()));
        }
        tracker.close();
        drop(tx);
        let good = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&good);
        let drain = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if let EventBody::Reading(r) = event.body {
                    if r.quality == Quality::Good {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            std::io::stdin().read_to_end(&mut sink)
        });
        tokio::pin!(stdin_closed);
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = &mut stdin_closed => break,
                _ = every.tick() => {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "readings {}", good.load(Ordering::Relaxed))?;
                    out.flush()?;
                }
            }
        }
        stop.cancel();
        tracker.wait().await;
        drain.await?;
        Ok(())
    })
}

/// What a child printed so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Good readings.
    pub readings: AtomicU64,
    pub bad_readings: AtomicU64,
    pub features: AtomicU64,
    pub alerts: AtomicU64,
    pub health: AtomicU64,
    /// The largest (print time − reading time) seen in the readings sampled since the last
    /// reset, in ms: how far behind the sources the end of the pipeline is.
    pub max_lag_ms: AtomicI64,
}

/// Every this many readings, one has its timestamp parsed for the lag.
const LAG_SAMPLE: u64 = 512;

/// Counts the wire JSON lines that `edge-agent run`'s stdout sink prints, by kind.
pub fn count_agent_lines(stdout: impl Read, counts: &Counts) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut line = Vec::new();
    let has = |line: &[u8], needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
    while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        if has(&line, br#""kind":"reading""#) {
            if has(&line, br#""quality":"good""#) {
                let n = counts.readings.fetch_add(1, Ordering::Relaxed);
                if n % LAG_SAMPLE == 0 {
                    if let Some(lag) = lag_ms(&line) {
                        counts.max_lag_ms.fetch_max(lag, Ordering::Relaxed);
                    }
                }
            } else {
                counts.bad_readings.fetch_add(1, Ordering::Relaxed);
            }
        } else if has(&line, br#""kind":"features""#) {
            counts.features.fetch_add(1, Ordering::Relaxed);
        } else if has(&line, br#""kind":"alert""#) {
            counts.alerts.fetch_add(1, Ordering::Relaxed);
        } else if has(&line, br#""kind":"health""#) {
            counts.health.fetch_add(1, Ordering::Relaxed);
        }
        line.clear();
    }
}

/// `now − ts` of a wire line, in ms.
fn lag_ms(line: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(line).ok()?;
    let start = text.find(r#""ts":""#)? + 6;
    let end = start + text[start..].find('"')?;
    let ts = chrono::DateTime::parse_from_rfc3339(&text[start..end]).ok()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    Some(i64::try_from(now).ok()? - ts.timestamp_millis())
}

/// Follows the `readings N` lines of a `sources` child.
pub fn follow_sources_lines(stdout: impl Read, counts: &Counts) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        if let Some(n) = line
            .strip_prefix("readings ")
            .and_then(|n| n.parse::<u64>().ok())
        {
            counts.readings.store(n, Ordering::Relaxed);
        }
    }
}
