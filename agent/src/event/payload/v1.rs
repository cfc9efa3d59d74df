//! Payload version 1: the event as it was before alerts carried a 0–1 `score`, `statistic`
//! and `evidence`. Only `Alert` changed; the other kinds are today's types.

use serde::Deserialize;

use super::v2;
use crate::event::{self, AlertState, FeatureSet, Health, Reading, Severity};

#[derive(Debug, Deserialize)]
pub(super) struct Event {
    ts_ms: i64,
    body: EventBody,
}

#[derive(Debug, Deserialize)]
enum EventBody {
    Reading(Reading),
    Features(FeatureSet),
    Alert(Alert),
    Health(Health),
}

/// `Alert` of version 1, field for field.
#[derive(Debug, Deserialize)]
struct Alert {
    sensor: String,
    state: AlertState,
    rule: String,
    rule_hash: String,
    severity: Severity,
    detector: String,
    value: f64,
    feature: String,
    feature_value: f64,
    /// The detector's statistic (z-score, CUSUM sum, …), which version 2 calls `statistic`.
    score: f64,
    row: Option<u64>,
}

impl From<Event> for v2::Event {
    fn from(old: Event) -> Self {
        let body = match old.body {
            EventBody::Reading(r) => v2::EventBody::Reading(r),
            EventBody::Features(f) => v2::EventBody::Features(f),
            EventBody::Health(h) => v2::EventBody::Health(h),
            EventBody::Alert(a) => v2::EventBody::Alert(v2::Alert {
                sensor: a.sensor,
                state: a.state,
                rule: a.rule,
                rule_hash: a.rule_hash,
                severity: a.severity,
                detector: a.detector,
                value: a.value,
                feature: a.feature,
                feature_value: a.feature_value,
                // Version 1 had no 0–1 score: unknown.
                score: f64::NAN,
                row: a.row,
                statistic: a.score,
                evidence: None,
            }),
        };
        Self {
            ts_ms: old.ts_ms,
            body,
        }
    }
}

/// Through version 2: each version's decoder says only what changed after it.
impl From<Event> for event::Event {
    fn from(old: Event) -> Self {
        v2::Event::from(old).into()
    }
}
