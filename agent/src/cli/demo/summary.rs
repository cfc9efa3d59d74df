//! The demo's terminal: every alert transition as one highlighted line (time, wall seconds
//! since the start and plant time, machine, rule, severity), and every 15 s one line of what
//! the machines read. No JSON.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use edge_agent::event::Severity;
use edge_agent::observe::model::{AlertView, StatusModel};
use edge_agent::observe::{Observer, SinkKind};
use tokio_util::sync::CancellationToken;

use super::plant_clock::PlantClock;

const LOOK_EVERY: Duration = Duration::from_millis(500);
const STATUS_EVERY: Duration = Duration::from_secs(15);

/// One printed transition: sensor, rule, raised and cleared times.
type Printed = HashSet<(String, String, i64, Option<i64>)>;

/// Prints until `stop`; returns how many alerts were raised.
pub(super) async fn run(observer: Observer, plant: PlantClock, stop: CancellationToken) -> u64 {
    let colour = std::io::stdout().is_terminal();
    let mut printed = Printed::new();
    let mut next_status = Instant::now() + Duration::from_secs(5);
    loop {
        for line in new_alert_lines(&observer.model(), &mut printed, &plant, colour) {
            println!("{line}");
        }
        if Instant::now() >= next_status {
            next_status += STATUS_EVERY;
            println!("{}", status_line(&observer, &plant).await);
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
    observer.model().raised.iter().sum()
}

/// The lines of the transitions in `model` not printed yet, oldest first.
pub(super) fn new_alert_lines(
    model: &StatusModel,
    printed: &mut Printed,
    plant: &PlantClock,
    colour: bool,
) -> Vec<String> {
    model
        .recent
        .iter()
        .rev()
        .filter(|alert| {
            printed.insert((
                alert.sensor.clone(),
                alert.rule.clone(),
                alert.raised_ms,
                alert.cleared_ms,
            ))
        })
        .map(|alert| alert_line(alert, plant, colour))
        .collect()
}

fn alert_line(alert: &AlertView, plant: &PlantClock, colour: bool) -> String {
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
        "{} {} {what} {severity:<8} {machine}: {} ({}, {} = {:.2})",
        clock(at),
        plant.stamp(at),
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

async fn status_line(observer: &Observer, plant: &PlantClock) -> String {
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
    let now = edge_agent::sources::now_ms();
    format!(
        "{} {}  {}  | {active} active alert(s) | {} waiting in the spool | {link}",
        clock(now),
        plant.stamp(now),
        if parts.is_empty() {
            "waiting for readings".to_owned()
        } else {
            parts.join(", ")
        },
        spool.map_or(0, |s| s.pending.total()),
    )
}
