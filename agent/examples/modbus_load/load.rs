//! The 100 devices × 20 registers at 10 Hz load: the configuration, and the counting of what
//! the real `edge-agent run` and `edge-agent poll` print.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::server::{load_register, LOAD_UNITS, REGISTERS};

/// The poll interval of every device: 10 Hz.
pub const INTERVAL_MS: u64 = 100;

/// Readings per second the load should produce.
pub fn target_rate() -> f64 {
    f64::from(LOAD_UNITS) * f64::from(REGISTERS) * 1000.0 / INTERVAL_MS as f64
}

/// The agent's configuration: every load unit of the server at `addr` as a TCP device, one
/// poll group of [`REGISTERS`] registers (or no device at all); `durability_ms` `None` keeps the
/// spool's default. `http`: the local listener (metrics, status page) on a free port, or off.
pub fn agent_config(
    addr: &str,
    data_dir: &Path,
    durability_ms: Option<u64>,
    devices: bool,
    http: bool,
) -> String {
    let mut s = format!(
        "[agent]\ngateway = \"bench\"\ndata_dir = \"{}\"\nforward_readings = true\n",
        data_dir.display()
    );
    s += if http {
        "[http]\nlisten = \"127.0.0.1:0\"\n"
    } else {
        "[http]\nenabled = false\n"
    };
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
