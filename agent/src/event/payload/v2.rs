//! Payload version 2: the event as it was before alerts counted the raises their rule held
//! back (`held_back`). Only `Alert` changed; the other kinds are today's types.

use serde::Deserialize;

use crate::event::{self, AlertState, Evidence, FeatureSet, Health, Reading, Severity};

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(super) struct Event {
    pub(super) ts_ms: i64,
    pub(super) body: EventBody,
}

#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(super) enum EventBody {
    Reading(Reading),
    Features(FeatureSet),
    Alert(Alert),
    Health(Health),
}

/// `Alert` of version 2, field for field.
#[derive(Debug, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
pub(super) struct Alert {
    pub(super) sensor: String,
    pub(super) state: AlertState,
    pub(super) rule: String,
    pub(super) rule_hash: String,
    pub(super) severity: Severity,
    pub(super) detector: String,
    pub(super) value: f64,
    pub(super) feature: String,
    pub(super) feature_value: f64,
    pub(super) score: f64,
    pub(super) row: Option<u64>,
    pub(super) statistic: f64,
    pub(super) evidence: Option<Evidence>,
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
                score: a.score,
                row: a.row,
                statistic: a.statistic,
                evidence: a.evidence,
                // Version 2 did not count held-back raises.
                held_back: 0,
            }),
        };
        Self {
            ts_ms: old.ts_ms,
            body,
        }
    }
}
