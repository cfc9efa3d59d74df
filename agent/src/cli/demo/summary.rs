//! The demo's terminal: every alert transition as one highlighted line (machine, rule,
//! severity, time), and every 15 s one line of what the machines read. No JSON.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use edge_agent::event::Severity;
use edge_agent::observe::model::AlertView;
use edge_agent::observe::{Observer, SinkKind};
use tokio_util::sync::CancellationToken;

const LOOK_EVERY: Duration = Duration::from_millis(500);
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// Prints until `stop`; returns how many alerts were raised.
pub(super) async fn run(observer: Observer, stop: CancellationToken) -> u64 {
    let colour = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut printed: HashSet<(String, String, i64, Option<i64>)> = HashSet::new();
    let mut next_status = started + Duration::from_secs(5);
    loop {
        let transitions: Vec<AlertView> = {
            let model = observer.model();
            model.recent.iter().rev().cloned().collect()
        };
        for alert in transitions {
            let key = (
                alert.sensor.clone(),
                alert.rule.clone(),
                alert.raised_ms,
                alert.cleared_ms,
            );
            if printed.insert(key) {
                println!("{}", alert_line(&alert, colour));
            }
        }
        if Instant::now() >= next_status {
            next_status += STATUS_EVERY;
            println!("{}", status_line(&observer, started.elapsed()).await);
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
    observer.model().raised.iter().sum()
}

fn alert_line(alert: &AlertView, colour: bool) -> String {
    let machine = alert.sensor.split('.').next().unwrap_or(&alert.sensor);
    let severity = match alert.severity {
        Severity::Info => "INFO",
        Severity::Warning => "WARNING",
        Severity::Critical => "CRITICAL",
    };
    let (what, at) = match alert.cleared_ms {
        None => ("ALERT  ", alert.raised_ms),
        Some(cleared) => ("cleared", cleared),
    };
    let line = format!(
        "{} {what} {severity:<8} {machine}: {} ({}, {} = {:.2})",
        clock(at),
        alert.rule,
        alert.detector,
        alert.sensor,
        alert.value
    );
    if !colour {
        return line;
    }
    let code = match (alert.cleared_ms, alert.severity) {
        (Some(_), _) => "32",
        (None, Severity::Critical) => "1;31",
        (None, Severity::Warning) => "1;33",
        (None, Severity::Info) => "36",
    };
    format!("\u{1b}[{code}m{line}\u{1b}[0m")
}

/// `HH:MM:SS` of a Unix-ms time, local.
fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "--:--:--".to_owned())
}

async fn status_line(observer: &Observer, elapsed: Duration) -> String {
    let spool = observer.spool_stats().await;
    let link = match observer.sink() {
        Some(SinkKind::Mqtt(h)) if h.snapshot().connected => "MQTT connected",
        Some(SinkKind::Mqtt(_)) => "MQTT disconnected",
        Some(SinkKind::Stdout) => "stdout",
        None => "starting",
    };
    let model = observer.model();
    let mut parts = Vec::new();
    for (info, state) in model.catalog.sensors.iter().zip(&model.sensors) {
        let (Some(iso), Some((_, value, _))) = (info.iso, state.last) else {
            continue;
        };
        parts.push(format!(
            "{} {value:.2} {} (zone {})",
            info.id,
            info.unit.as_deref().unwrap_or(""),
            iso.zone(value)
        ));
    }
    let active = model.active.len();
    format!(
        "{} t+{:>3}s  {}  | {active} active alert(s) | {} waiting in the spool | {link}",
        clock(edge_agent::sources::now_ms()),
        elapsed.as_secs(),
        if parts.is_empty() {
            "waiting for readings".to_owned()
        } else {
            parts.join(", ")
        },
        spool.map_or(0, |s| s.pending.total()),
    )
}
