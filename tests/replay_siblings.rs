//! A failing bearing among healthy ones, replayed through the default rules: columns named
//! alike (`Bearing 1` ... `Bearing 4`) are a group, a move of the whole group is the operating
//! point, and the bearing that departs from its siblings is the one raised, days ahead.

use edge_agent::replay::{self, ReplayOptions};
use serde_json::Value;

const TEN_MINUTES_S: u64 = 600;
const DAYS: u64 = 21;
const HOUR_S: u64 = 3_600;
/// Bearing 1 starts to fail this long before the end of the recording.
const FAILURE_S: u64 = 96 * HOUR_S;

/// A deterministic noise in [-1, 1): the test needs no random-number crate.
fn noise(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// Three weeks of four bearings' vibration, one row every 10 minutes. All four follow the
/// machine's load: a daily cycle, and on days 8 and 9 a heavier duty that raises them all by
/// 30 %. Each sits at its own level. Four days before the end, Bearing 1's vibration steps up
/// 25 % (a defect starts), then grows to three times its level.
fn recording() -> String {
    let levels = [1.0, 1.4, 0.8, 1.1];
    let end = DAYS * 24 * HOUR_S;
    let mut state = 7;
    let mut csv = String::from("timestamp,Bearing 1,Bearing 2,Bearing 3,Bearing 4\n");
    for t in (0..end).step_by(TEN_MINUTES_S as usize) {
        let day = t as f64 / (24 * HOUR_S) as f64;
        let heavy = if (8.0..10.0).contains(&day) { 1.3 } else { 1.0 };
        let load = heavy * (1.0 + 0.2 * (std::f64::consts::TAU * day).sin());
        csv.push_str(&(1_700_000_000 + t).to_string());
        for (i, level) in levels.iter().enumerate() {
            let mut value = level * load * (1.0 + 0.03 * noise(&mut state));
            if i == 0 && t + FAILURE_S >= end {
                let progress = (t + FAILURE_S - end) as f64 / FAILURE_S as f64;
                value *= 1.25 + 1.75 * progress * progress;
            }
            csv.push_str(&format!(",{value:.5}"));
        }
        csv.push('\n');
    }
    csv
}

/// The raised alerts of the default rules on the recording: (sensor, rule, hours before the
/// end).
fn raised(options: &ReplayOptions) -> anyhow::Result<Vec<(String, String, f64)>> {
    let rules = edge_agent::rule_files::load(&[]).map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let mut out = Vec::new();
    replay::replay(recording().as_bytes(), options, &rules, "test", &mut out)?;
    let rows = DAYS * 24 * HOUR_S / TEN_MINUTES_S;
    let mut alerts = Vec::new();
    for line in String::from_utf8(out)?.lines() {
        let event: Value = serde_json::from_str(line)?;
        if event["state"] == "raised" {
            let row = event["row"].as_u64().unwrap_or(u64::MAX);
            let hours_before = rows.saturating_sub(row) as f64 * TEN_MINUTES_S as f64 / 3600.0;
            alerts.push((
                event["sensor"].as_str().unwrap_or_default().to_string(),
                event["rule"].as_str().unwrap_or_default().to_string(),
                hours_before,
            ));
        }
    }
    Ok(alerts)
}

#[test]
fn the_failing_bearing_is_the_only_one_raised_two_days_ahead_and_a_heavier_duty_is_none(
) -> anyhow::Result<()> {
    let alerts = raised(&ReplayOptions::default())?;
    eprintln!("grouped: {alerts:?}");
    let first = alerts
        .first()
        .ok_or_else(|| anyhow::anyhow!("nothing raised"))?;
    assert_eq!(first.0, "Bearing 1", "{alerts:?}");
    assert_eq!(first.1, "departs-from-siblings", "{alerts:?}");
    assert!(
        first.2 >= 48.0,
        "raised only {:.1} h before the end: {alerts:?}",
        first.2
    );
    assert!(
        alerts.iter().all(|(sensor, _, _)| sensor == "Bearing 1"),
        "a healthy bearing was raised: {alerts:?}"
    );
    Ok(())
}

#[test]
fn judged_alone_the_healthy_bearings_are_raised_by_the_heavier_duty() -> anyhow::Result<()> {
    // The control: without the group, each bearing is judged against its own history only,
    // and a move of the whole machine looks like a fault of each.
    let options = ReplayOptions {
        ungrouped: true,
        ..ReplayOptions::default()
    };
    let alerts = raised(&options)?;
    eprintln!("ungrouped: {alerts:?}");
    assert!(
        alerts.iter().any(|(sensor, _, _)| sensor != "Bearing 1"),
        "no healthy bearing raised without the group: {alerts:?}"
    );
    Ok(())
}
