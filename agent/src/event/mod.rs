//! The event model shared by every stage: sources make readings and health events, the rules
//! make features and alert transitions, the spool stores them, the sinks send them.
//!
//! These types are what the spool persists with postcard (which is not self-describing, so
//! the enums here are plain externally tagged ones and every field is always present), behind
//! a version byte ([`payload`]: change a type here, and you add a payload version). What
//! leaves the agent is the JSON wire shape of [`wire`], which adds the envelope: the schema
//! version `v`, the `gateway` id and the spool's `seq`.

pub mod batch;
pub mod payload;
pub mod wire;

use serde::{Deserialize, Serialize};

/// One event, before the spool gives it a sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened: the sample's timestamp, or the wall clock for health events (Unix ms).
    pub ts_ms: i64,
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
    Reading(Reading),
    Features(FeatureSet),
    Alert(Alert),
    Health(Health),
}

impl EventBody {
    /// The `kind` field of the wire shape.
    pub const fn kind(&self) -> &'static str {
        match self {
            EventBody::Reading(_) => "reading",
            EventBody::Features(_) => "features",
            EventBody::Alert(_) => "alert",
            EventBody::Health(_) => "health",
        }
    }
}

/// How far a value can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Read and decoded as configured.
    Good,
    /// Read, but suspicious: out of its plausible range, or from a degraded device.
    Uncertain,
    /// Not a usable value (a failed read reported in place of a value).
    Bad,
}

/// One value of one sensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub sensor: String,
    pub value: f64,
    pub unit: Option<String>,
    pub quality: Quality,
}

/// Features of one sensor's window at one moment, as `(name, value)` pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSet {
    pub sensor: String,
    /// Samples in the window the features were computed over.
    pub window: u32,
    pub values: Vec<(String, f64)>,
}

/// An alert of one rule on one sensor changing state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub sensor: String,
    pub state: AlertState,
    pub rule: String,
    /// The content hash of the rule file that decided: which version of the rules it was.
    pub rule_hash: String,
    pub severity: Severity,
    pub detector: String,
    /// The sample that caused the transition.
    pub value: f64,
    /// The feature the detector looked at, and its value.
    pub feature: String,
    pub feature_value: f64,
    /// How unusual, 0–1: the adaptive detector's anomaly likelihood, `Φ(z)` of a z-score or
    /// EWMA deviation, a CUSUM sum over its `h`, 1 for a level detector that holds (NaN where
    /// there is none).
    pub score: f64,
    /// For replays: the 0-based index of the data row that caused the transition.
    pub row: Option<u64>,
    /// The deciding detector's own statistic: z-score, EWMA deviation in sigmas, CUSUM sum,
    /// the adaptive raw score; the feature value for level detectors (NaN where there is none).
    pub statistic: f64,
    /// The normal the sample was judged against, for detectors that keep one (adaptive).
    pub evidence: Option<Evidence>,
    /// On a raise: raises of this rule on this sensor held back since its previous raise, by
    /// the rule's `hold_off` or `min_interval` (alert discipline). 0 on a clear, and from
    /// agents that did not count them.
    #[serde(default)]
    pub held_back: u32,
}

/// Why an alert fired: the long-run normal of its feature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The feature's long-run mean.
    pub level: f64,
    /// The feature's long-run standard deviation.
    pub spread: f64,
    /// The span of history that normal describes, in seconds.
    pub horizon_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Raised,
    Cleared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The state of a part of the agent or of a device it reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// What this is about: `device:<id>`, `spool`, `mqtt`, …
    pub component: String,
    pub state: HealthState,
    /// Why, in words, for an operator.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Online,
    Degraded,
    Offline,
}

impl Event {
    /// A good-quality reading of `sensor` at `ts_ms`, without a unit.
    pub fn good_reading(sensor: impl Into<String>, ts_ms: i64, value: f64) -> Self {
        let reading = Reading {
            sensor: sensor.into(),
            value,
            unit: None,
            quality: Quality::Good,
        };
        Self {
            ts_ms,
            body: EventBody::Reading(reading),
        }
    }

    /// A health event of `component` at `ts_ms`.
    pub fn health(
        ts_ms: i64,
        component: impl Into<String>,
        state: HealthState,
        detail: impl Into<String>,
    ) -> Self {
        let health = Health {
            component: component.into(),
            state,
            detail: detail.into(),
        };
        Self {
            ts_ms,
            body: EventBody::Health(health),
        }
    }
}

impl Alert {
    /// The event of one engine transition of `plan`'s sensor; `None` for a raise that the
    /// rule held back, which is counted, not sent.
    pub fn from_transition(
        plan: &edge_rules::lang::SensorPlan,
        transition: &edge_rules::Transition,
        row: Option<u64>,
    ) -> Option<Self> {
        let rule = &plan.rules[transition.rule];
        Some(Self {
            sensor: plan.sensor.clone(),
            state: match transition.state {
                edge_rules::AlertState::Raised => AlertState::Raised,
                edge_rules::AlertState::Cleared => AlertState::Cleared,
                edge_rules::AlertState::HeldBack => return None,
            },
            rule: rule.name.clone(),
            rule_hash: rule.file_hash.clone(),
            severity: match transition.severity {
                edge_rules::Severity::Info => Severity::Info,
                edge_rules::Severity::Warning => Severity::Warning,
                edge_rules::Severity::Critical => Severity::Critical,
            },
            detector: transition.detector.name().to_string(),
            value: transition.value,
            feature: transition.feature.name().to_string(),
            feature_value: transition.feature_value,
            score: transition.score,
            row,
            statistic: transition.statistic,
            evidence: transition.evidence.map(|e| Evidence {
                level: e.level,
                spread: e.spread,
                horizon_s: e.horizon_s,
            }),
            held_back: transition.held_back,
        })
    }
}
