//! The status page's state: a bounded, in-memory picture of the plant, fed by the events that
//! leave the rules stage.
//!
//! Invariants:
//! - memory is constant per sensor: its last value, counts by quality, and a [`Trend`] ring of
//!   [`TREND_POINTS`] means of [`TREND_BUCKET_MS`] each (the last three minutes);
//! - sensors the configuration does not name are added as they appear, up to
//!   [`EXTRA_SENSORS`] of them; readings of further unknown sensors are counted, not kept;
//! - active alerts are at most one per (sensor, rule), and the recent ones at most
//!   [`RECENT_ALERTS`];
//! - the health of each component (`device:<id>`, `spool`, `mqtt`, …) is its last health event.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::catalog::{severity_name, Catalog};
use crate::event::{AlertState, Event, EventBody, HealthState, Quality, Severity};

/// Points in a sensor's trend.
pub const TREND_POINTS: usize = 60;
/// Width of one trend point: the mean of the readings in it.
pub const TREND_BUCKET_MS: i64 = 3_000;
/// Alert transitions kept for "recent alerts".
pub const RECENT_ALERTS: usize = 50;
/// Sensors added beyond those the configuration names.
pub const EXTRA_SENSORS: usize = 256;

/// The means of the last [`TREND_POINTS`] buckets of one sensor, in a ring.
#[derive(Debug, Clone)]
pub struct Trend {
    /// The mean of bucket `b` is at `b % TREND_POINTS`; NaN where no reading fell.
    means: Box<[f32; TREND_POINTS]>,
    latest: Option<i64>,
    sum: f64,
    count: u32,
}

impl Default for Trend {
    fn default() -> Self {
        Self {
            means: Box::new([f32::NAN; TREND_POINTS]),
            latest: None,
            sum: 0.0,
            count: 0,
        }
    }
}

impl Trend {
    /// Adds one reading. A reading older than the current bucket is left out (the trend only
    /// moves forward).
    pub fn push(&mut self, ts_ms: i64, value: f64) {
        let bucket = ts_ms.div_euclid(TREND_BUCKET_MS);
        match self.latest {
            Some(latest) if bucket < latest => return,
            Some(latest) if bucket == latest => {
                self.sum += value;
                self.count += 1;
            }
            latest => {
                // Clear the buckets skipped since the latest (at most the whole ring).
                let from = latest.map_or(bucket, |l| (l + 1).max(bucket - TREND_POINTS as i64));
                for b in from..bucket {
                    self.means[slot(b)] = f32::NAN;
                }
                self.latest = Some(bucket);
                self.sum = value;
                self.count = 1;
            }
        }
        self.means[slot(bucket)] = (self.sum / f64::from(self.count)) as f32;
    }

    /// `(bucket start in Unix ms, mean)` of the buckets that have readings, oldest first.
    pub fn points(&self) -> Vec<(i64, f64)> {
        let Some(latest) = self.latest else {
            return Vec::new();
        };
        (latest - TREND_POINTS as i64 + 1..=latest)
            .map(|b| (b * TREND_BUCKET_MS, f64::from(self.means[slot(b)])))
            .filter(|(_, mean)| !mean.is_nan())
            .collect()
    }
}

fn slot(bucket: i64) -> usize {
    bucket.rem_euclid(TREND_POINTS as i64) as usize
}

/// The live state of one sensor.
#[derive(Debug, Clone, Default)]
pub struct SensorState {
    /// The last reading: time, value, quality.
    pub last: Option<(i64, f64, Quality)>,
    /// Readings seen, by quality: good, uncertain, bad.
    pub readings: [u64; 3],
    pub trend: Trend,
}

/// One alert of one rule on one sensor, raised and maybe cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    pub sensor: String,
    pub rule: String,
    pub severity: Severity,
    pub detector: String,
    pub value: f64,
    pub score: Option<f64>,
    pub raised_ms: i64,
    pub cleared_ms: Option<i64>,
}

/// The last health event of one component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthView {
    pub state: HealthState,
    pub detail: String,
    pub since_ms: i64,
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct StatusModel {
    pub catalog: Catalog,
    /// The rules in force, for the levels of sensors that appear without being configured.
    pub rules: Option<edge_rules::lang::RuleSet>,
    pub sensors: Vec<SensorState>,
    /// Readings of sensors past the [`EXTRA_SENSORS`] cap.
    pub untracked_readings: u64,
    pub active: BTreeMap<(String, String), AlertView>,
    /// The most recent transitions first.
    pub recent: VecDeque<AlertView>,
    /// Alerts raised, by severity (info, warning, critical).
    pub raised: [u64; 3],
    /// Raises held back by their rule's hold-off or minimum interval, by severity, as the
    /// rules stage counts them.
    pub held_back: [u64; 3],
    pub health: BTreeMap<String, HealthView>,
    /// Bumped on every change, so that watchers can tell whether anything moved.
    pub version: u64,
}

pub(crate) fn severity_index(severity: Severity) -> usize {
    match severity {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

pub(crate) fn quality_index(quality: Quality) -> usize {
    match quality {
        Quality::Good => 0,
        Quality::Uncertain => 1,
        Quality::Bad => 2,
    }
}

impl StatusModel {
    /// A model of the sensors of `catalog`; the state of sensors already known is kept.
    pub fn set_catalog(&mut self, catalog: Catalog) {
        let mut sensors = vec![SensorState::default(); catalog.sensors.len()];
        for (i, info) in self.catalog.sensors.iter().enumerate() {
            if let (Some(j), Some(state)) = (catalog.index_of(&info.id), self.sensors.get_mut(i)) {
                sensors[j] = std::mem::take(state);
            }
        }
        self.catalog = catalog;
        self.sensors = sensors;
        self.version += 1;
    }

    /// Takes one event in (a reading, health event or alert transition; features are left out).
    pub fn observe(&mut self, event: &Event) {
        match &event.body {
            EventBody::Reading(reading) => {
                let index = match self.catalog.index_of(&reading.sensor) {
                    Some(index) => index,
                    None if self.sensors.len() < self.configured() + EXTRA_SENSORS => {
                        let unit = reading.unit.clone();
                        let rules = self.rules.as_ref();
                        let index = self.catalog.add(&reading.sensor, None, unit, rules);
                        self.sensors.push(SensorState::default());
                        index
                    }
                    None => {
                        self.untracked_readings += 1;
                        return;
                    }
                };
                let state = &mut self.sensors[index];
                state.readings[quality_index(reading.quality)] += 1;
                state.last = Some((event.ts_ms, reading.value, reading.quality));
                if reading.quality != Quality::Bad {
                    state.trend.push(event.ts_ms, reading.value);
                }
            }
            EventBody::Alert(alert) => {
                let key = (alert.sensor.clone(), alert.rule.clone());
                let view = match alert.state {
                    AlertState::Raised => {
                        self.raised[severity_index(alert.severity)] += 1;
                        let view = AlertView {
                            sensor: alert.sensor.clone(),
                            rule: alert.rule.clone(),
                            severity: alert.severity,
                            detector: alert.detector.clone(),
                            value: alert.value,
                            score: alert.score.is_finite().then_some(alert.score),
                            raised_ms: event.ts_ms,
                            cleared_ms: None,
                        };
                        self.active.insert(key, view.clone());
                        view
                    }
                    AlertState::Cleared => {
                        let mut view = self.active.remove(&key).unwrap_or_else(|| AlertView {
                            sensor: alert.sensor.clone(),
                            rule: alert.rule.clone(),
                            severity: alert.severity,
                            detector: alert.detector.clone(),
                            value: alert.value,
                            score: None,
                            raised_ms: event.ts_ms,
                            cleared_ms: None,
                        });
                        view.cleared_ms = Some(event.ts_ms);
                        view
                    }
                };
                // A transition replaces the entry of the same alert in the recent list.
                self.recent
                    .retain(|a| !(a.sensor == view.sensor && a.rule == view.rule));
                self.recent.push_front(view);
                self.recent.truncate(RECENT_ALERTS);
            }
            EventBody::Health(health) => {
                let since_ms = match self.health.get(&health.component) {
                    Some(old) if old.state == health.state => old.since_ms,
                    _ => event.ts_ms,
                };
                self.health.insert(
                    health.component.clone(),
                    HealthView {
                        state: health.state,
                        detail: health.detail.clone(),
                        since_ms,
                    },
                );
            }
            EventBody::Features(_) => return,
        }
        self.version += 1;
    }

    /// Sensors the configuration names (the rest were added as they appeared).
    fn configured(&self) -> usize {
        self.catalog
            .sensors
            .iter()
            .filter(|s| s.device.is_some())
            .count()
    }

    /// Active alerts, by severity (info, warning, critical).
    pub fn active_by_severity(&self) -> [u64; 3] {
        let mut counts = [0; 3];
        for alert in self.active.values() {
            counts[severity_index(alert.severity)] += 1;
        }
        counts
    }

    /// Readings per configured device, by quality.
    pub fn readings_by_device(&self) -> BTreeMap<&str, [u64; 3]> {
        let mut by_device: BTreeMap<&str, [u64; 3]> = BTreeMap::new();
        for (info, state) in self.catalog.sensors.iter().zip(&self.sensors) {
            if let Some(device) = &info.device {
                let counts = by_device.entry(device.as_str()).or_default();
                for (total, n) in counts.iter_mut().zip(state.readings) {
                    *total += n;
                }
            }
        }
        by_device
    }
}

/// The severity name used in metrics labels and on the page.
pub fn severity_label(severity: Severity) -> &'static str {
    severity_name(match severity {
        Severity::Info => edge_rules::Severity::Info,
        Severity::Warning => edge_rules::Severity::Warning,
        Severity::Critical => edge_rules::Severity::Critical,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Alert;

    fn reading(sensor: &str, ts_ms: i64, value: f64) -> Event {
        Event::good_reading(sensor, ts_ms, value)
    }

    fn alert(state: AlertState, ts_ms: i64) -> Event {
        Event {
            ts_ms,
            body: EventBody::Alert(Alert {
                sensor: "m.v".to_owned(),
                state,
                rule: "zone-d".to_owned(),
                rule_hash: "h".to_owned(),
                severity: Severity::Critical,
                detector: "iso10816".to_owned(),
                value: 5.0,
                feature: "rms".to_owned(),
                feature_value: 5.0,
                score: f64::NAN,
                row: None,
                statistic: 5.0,
                evidence: None,
                held_back: 0,
            }),
        }
    }

    #[test]
    fn a_trend_keeps_the_mean_of_each_bucket_and_forgets_what_is_older_than_the_ring() {
        let mut trend = Trend::default();
        trend.push(0, 1.0);
        trend.push(1_000, 3.0);
        trend.push(TREND_BUCKET_MS, 10.0);
        assert_eq!(trend.points(), vec![(0, 2.0), (TREND_BUCKET_MS, 10.0)]);
        // Far later: the ring holds only the new bucket.
        let later = TREND_BUCKET_MS * (TREND_POINTS as i64 + 5);
        trend.push(later, 7.0);
        assert_eq!(trend.points(), vec![(later, 7.0)]);
        // Older than the current bucket: left out.
        trend.push(0, 100.0);
        assert_eq!(trend.points(), vec![(later, 7.0)]);
    }

    #[test]
    fn a_trend_never_holds_more_than_its_ring() {
        let mut trend = Trend::default();
        for i in 0..1_000 {
            trend.push(i * 1_000, i as f64);
        }
        let points = trend.points();
        assert_eq!(points.len(), TREND_POINTS);
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn an_alert_is_active_from_raised_to_cleared_and_stays_in_the_recent_list() {
        let mut model = StatusModel::default();
        model.observe(&alert(AlertState::Raised, 10));
        assert_eq!(model.active_by_severity(), [0, 0, 1]);
        assert_eq!(model.raised, [0, 0, 1]);
        model.observe(&alert(AlertState::Cleared, 20));
        assert_eq!(model.active_by_severity(), [0, 0, 0]);
        assert_eq!(model.recent.len(), 1);
        assert_eq!(model.recent[0].raised_ms, 10);
        assert_eq!(model.recent[0].cleared_ms, Some(20));
    }

    #[test]
    fn unknown_sensors_are_added_up_to_the_cap_then_only_counted() {
        let mut model = StatusModel::default();
        for i in 0..EXTRA_SENSORS + 10 {
            model.observe(&reading(&format!("s{i}"), 0, 1.0));
        }
        assert_eq!(model.sensors.len(), EXTRA_SENSORS);
        assert_eq!(model.untracked_readings, 10);
        let last = model.sensors[0].last.expect("a reading");
        assert_eq!((last.0, last.1), (0, 1.0));
    }
}
