//! Payload version 1: the event as it was before alerts carried a 0–1 `score`, `statistic`
//! and `evidence` (issue 9). Only `Alert` changed; the other kinds are today's types.

use serde::Deserialize;

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

impl From<Event> for event::Event {
    fn from(old: Event) -> Self {
        let body = match old.body {
            EventBody::Reading(r) => event::EventBody::Reading(r),
            EventBody::Features(f) => event::EventBody::Features(f),
            EventBody::Health(h) => event::EventBody::Health(h),
            EventBody::Alert(a) => event::EventBody::Alert(event::Alert {
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
                held_back: 0,
            }),
        };
        Self {
            ts_ms: old.ts_ms,
            body,
        }
    }
}
