//! From one Kafka record to what the store does with it: pure, no I/O.
//!
//! The records are the bridge's (`bridge/mapping.rs`): the value is the agent's wire JSON
//! (`event/wire.rs`, `deploy/schema/event-v1.schema.json`) byte for byte, except on the
//! status topic, where the key is the gateway and the value is `online` or `offline`.
//! Anything that does not decode is a [`DeadReason`], never a panic and never an error that
//! stops the consumer.

use serde::Deserialize;

use crate::event::{AlertState, HealthState, Severity};

/// The wire versions this service reads.
pub(crate) const KNOWN_VERSIONS: &[u64] = &[1];

/// Which configured topic a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Alerts,
    Health,
    Status,
    /// The telemetry topic, read only for the feature trend: its `features` events.
    Telemetry,
}

impl Source {
    /// The metrics' label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Source::Alerts => "alerts",
            Source::Health => "health",
            Source::Status => "status",
            Source::Telemetry => "telemetry",
        }
    }
}

/// Why a record went to the dead-letter table: the code is the log's and the metric's key,
/// the detail is stored beside the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadReason {
    pub code: &'static str,
    pub detail: String,
}

impl DeadReason {
    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        DeadReason {
            code,
            detail: detail.into(),
        }
    }
}

/// One alert transition, as the store needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlertRecord {
    pub gateway: String,
    pub seq: u64,
    pub ts_ms: i64,
    pub sensor: String,
    pub asset: String,
    pub rule: String,
    pub rule_hash: String,
    pub severity: Severity,
    pub state: AlertState,
    pub detector: String,
    pub value: Option<f64>,
    pub feature: String,
    pub feature_value: Option<f64>,
    pub score: Option<f64>,
}

/// What one record means.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    Alert(AlertRecord),
    Health {
        gateway: String,
        seq: u64,
        ts_ms: i64,
        component: String,
        state: HealthState,
        detail: String,
    },
    Status {
        gateway: String,
        online: bool,
        /// The Kafka record's timestamp: when the bridge forwarded the change.
        ts_ms: i64,
    },
    /// A `features` event of the telemetry topic: points of the feature trend.
    Features {
        gateway: String,
        sensor: String,
        ts_ms: i64,
        values: Vec<(String, f64)>,
    },
    /// Another event of the telemetry topic (readings, batches): not this service's.
    Ignored,
}

impl Input {
    /// `(gateway, seq)` of an event, by which duplicates are dropped; none for a status.
    pub(crate) fn event_id(&self) -> Option<(&str, u64)> {
        match self {
            Input::Alert(alert) => Some((&alert.gateway, alert.seq)),
            Input::Health { gateway, seq, .. } => Some((gateway, *seq)),
            // Trend points are idempotent by their timestamp: no need to remember them.
            Input::Status { .. } | Input::Features { .. } | Input::Ignored => None,
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    v: Option<serde_json::Value>,
    gateway: String,
    seq: u64,
    kind: String,
    ts: String,
}

#[derive(Deserialize)]
struct AlertBody {
    sensor: String,
    state: AlertState,
    rule: String,
    rule_hash: String,
    severity: Severity,
    detector: String,
    value: Option<f64>,
    feature: String,
    feature_value: Option<f64>,
    score: Option<f64>,
}

#[derive(Deserialize)]
struct FeaturesBody {
    sensor: String,
    values: std::collections::BTreeMap<String, Option<f64>>,
}

/// Only the kind: telemetry that is not `features` is not decoded further.
#[derive(Deserialize)]
struct Kind {
    kind: Option<String>,
}

#[derive(Deserialize)]
struct HealthBody {
    component: String,
    state: HealthState,
    detail: String,
}

/// Decodes one record of `source`; `asset_levels` as in `[alerts] asset_levels`;
/// `record_ts_ms` is the Kafka record's timestamp (a status has no other).
pub(crate) fn decode(
    source: Source,
    key: Option<&[u8]>,
    value: &[u8],
    asset_levels: u32,
    record_ts_ms: i64,
) -> Result<Input, DeadReason> {
    if source == Source::Status {
        return status(key, value, record_ts_ms);
    }
    if source == Source::Telemetry
        && serde_json::from_slice::<Kind>(value)
            .is_ok_and(|k| k.kind.as_deref() != Some("features"))
    {
        // Readings, and batches of them: not this service's (what is not JSON at all goes
        // on to be a dead letter, as on the other topics).
        return Ok(Input::Ignored);
    }
    let text = std::str::from_utf8(value)
        .map_err(|e| DeadReason::new("not_json", format!("not UTF-8: {e}")))?;
    let envelope: Envelope = serde_json::from_str(text)
        .map_err(|e| DeadReason::new("not_json", format!("not a JSON event: {e}")))?;
    match envelope.v.as_ref().and_then(serde_json::Value::as_u64) {
        Some(v) if KNOWN_VERSIONS.contains(&v) => {}
        _ => {
            let shown = envelope.v.map_or("missing".to_owned(), |v| v.to_string());
            return Err(DeadReason::new(
                "unknown_version",
                format!("unknown schema version v = {shown}"),
            ));
        }
    }
    let ts_ms = chrono::DateTime::parse_from_rfc3339(&envelope.ts)
        .map_err(|e| DeadReason::new("bad_field", format!("ts `{}`: {e}", envelope.ts)))?
        .timestamp_millis();
    let body = |e: serde_json::Error| {
        DeadReason::new(
            "bad_field",
            format!("a `{}` event that does not decode: {e}", envelope.kind),
        )
    };
    match (source, envelope.kind.as_str()) {
        (Source::Alerts, "alert") => {
            let a: AlertBody = serde_json::from_str(text).map_err(body)?;
            Ok(Input::Alert(AlertRecord {
                asset: asset_of(&a.sensor, asset_levels).to_owned(),
                gateway: envelope.gateway,
                seq: envelope.seq,
                ts_ms,
                sensor: a.sensor,
                rule: a.rule,
                rule_hash: a.rule_hash,
                severity: a.severity,
                state: a.state,
                detector: a.detector,
                value: a.value,
                feature: a.feature,
                feature_value: a.feature_value,
                score: a.score,
            }))
        }
        (Source::Health, "health") => {
            let h: HealthBody = serde_json::from_str(text).map_err(body)?;
            Ok(Input::Health {
                gateway: envelope.gateway,
                seq: envelope.seq,
                ts_ms,
                component: h.component,
                state: h.state,
                detail: h.detail,
            })
        }
        (Source::Telemetry, "features") => {
            let f: FeaturesBody = serde_json::from_str(text).map_err(body)?;
            Ok(Input::Features {
                gateway: envelope.gateway,
                sensor: f.sensor,
                ts_ms,
                values: f
                    .values
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value.filter(|v| v.is_finite())?)))
                    .collect(),
            })
        }
        (_, kind) => Err(DeadReason::new(
            "unexpected_kind",
            format!("a `{kind}` event on the {source:?} topic"),
        )),
    }
}

fn status(key: Option<&[u8]>, value: &[u8], ts_ms: i64) -> Result<Input, DeadReason> {
    let gateway = key
        .and_then(|k| std::str::from_utf8(k).ok())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| DeadReason::new("bad_field", "a status record without a gateway key"))?;
    let online = match value {
        b"online" => true,
        b"offline" => false,
        other => {
            return Err(DeadReason::new(
                "bad_field",
                format!(
                    "status `{}`: expected online or offline",
                    String::from_utf8_lossy(other)
                ),
            ))
        }
    };
    Ok(Input::Status {
        gateway: gateway.to_owned(),
        online,
        ts_ms,
    })
}

/// The first `levels` `.`-separated parts of `sensor`, as the bridge names assets.
pub(crate) fn asset_of(sensor: &str, levels: u32) -> &str {
    let levels = levels.max(1) as usize;
    match sensor.match_indices('.').nth(levels - 1) {
        Some((at, _)) => &sensor[..at],
        None => sensor,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{Alert, Event, EventBody};
    use proptest::prelude::*;

    /// An alert of the agent's on `motor1.de.velocity` (shared with the store's tests).
    pub(crate) fn alert_event(state: AlertState, score: f64) -> Event {
        Event {
            ts_ms: 1_764_500_000_123,
            body: EventBody::Alert(Alert {
                sensor: "motor1.de.velocity".into(),
                state,
                rule: "bearing".into(),
                rule_hash: "abc".into(),
                severity: Severity::Critical,
                detector: "zscore".into(),
                value: 7.5,
                feature: "rms".into(),
                feature_value: score * 2.0,
                score,
                row: None,
                statistic: score,
                evidence: None,
                held_back: 0,
            }),
        }
    }

    fn alert(state: AlertState) -> Event {
        let mut event = alert_event(state, f64::NAN);
        if let EventBody::Alert(alert) = &mut event.body {
            alert.feature_value = 6.0;
        }
        event
    }

    #[test]
    fn an_alert_of_the_agent_decodes_with_its_asset_and_a_missing_score() {
        let json = crate::event::wire::to_json("gw1", 42, &alert(AlertState::Raised));
        let input = decode(Source::Alerts, Some(b"gw1/motor1"), json.as_bytes(), 1, 0).expect("ok");
        let Input::Alert(a) = input else {
            panic!("an alert")
        };
        assert_eq!((a.gateway.as_str(), a.seq), ("gw1", 42));
        assert_eq!(a.asset, "motor1");
        assert_eq!(a.ts_ms, 1_764_500_000_123);
        assert_eq!(a.score, None);
        assert_eq!(a.feature_value, Some(6.0));
        assert_eq!(a.state, AlertState::Raised);
    }

    #[test]
    fn health_and_status_decode() {
        let event = Event::health(0, "device:motor1", HealthState::Offline, "timeout");
        let json = crate::event::wire::to_json("gw1", 7, &event);
        let input = decode(Source::Health, None, json.as_bytes(), 1, 0).expect("ok");
        assert_eq!(input.event_id(), Some(("gw1", 7)));
        let input = decode(Source::Status, Some(b"gw1"), b"offline", 1, 5).expect("ok");
        assert_eq!(
            input,
            Input::Status {
                gateway: "gw1".into(),
                online: false,
                ts_ms: 5
            }
        );
    }

    #[test]
    fn bad_records_are_dead_letters_with_a_reason() {
        let json = crate::event::wire::to_json("gw1", 1, &alert(AlertState::Raised));
        let cases: Vec<(Source, Vec<u8>, &str)> = vec![
            (Source::Alerts, b"{not json".to_vec(), "not_json"),
            (
                Source::Alerts,
                json.replace("\"v\":1", "\"v\":9").into_bytes(),
                "unknown_version",
            ),
            (
                Source::Alerts,
                json.replace("\"critical\"", "\"dire\"").into_bytes(),
                "bad_field",
            ),
            (Source::Health, json.clone().into_bytes(), "unexpected_kind"),
            (Source::Status, b"maybe".to_vec(), "bad_field"),
        ];
        for (source, value, code) in cases {
            let reason = decode(source, Some(b"gw1"), &value, 1, 0).expect_err("dead");
            assert_eq!(reason.code, code, "{}", String::from_utf8_lossy(&value));
            assert!(!reason.detail.is_empty());
        }
    }

    #[test]
    fn telemetry_gives_the_features_and_ignores_the_rest() {
        let features = Event {
            ts_ms: 5_000,
            body: EventBody::Features(crate::event::FeatureSet {
                sensor: "motor1.de.velocity".into(),
                window: 10,
                values: vec![("rms".into(), 2.5), ("kurtosis".into(), f64::NAN)],
            }),
        };
        let json = crate::event::wire::to_json("gw1", 3, &features);
        let input = decode(Source::Telemetry, None, json.as_bytes(), 1, 0).expect("ok");
        assert_eq!(
            input,
            Input::Features {
                gateway: "gw1".into(),
                sensor: "motor1.de.velocity".into(),
                ts_ms: 5_000,
                values: vec![("rms".into(), 2.5)],
            }
        );
        assert_eq!(input.event_id(), None);
        let reading = Event::good_reading("motor1.de.velocity", 5_000, 1.0);
        let json = crate::event::wire::to_json("gw1", 4, &reading);
        for value in [json.as_bytes(), b"{\"kind\":\"readings\"}"] {
            let input = decode(Source::Telemetry, None, value, 1, 0).expect("ok");
            assert_eq!(input, Input::Ignored);
        }
        let reason = decode(Source::Telemetry, None, b"{not json", 1, 0).expect_err("dead");
        assert_eq!(reason.code, "not_json");
        let broken = br#"{"v":1,"gateway":"gw1","seq":5,"kind":"features","ts":"x"}"#;
        let reason = decode(Source::Telemetry, None, broken, 1, 0).expect_err("dead");
        assert_eq!(reason.code, "bad_field");
    }

    #[test]
    fn assets_are_the_leading_parts_of_the_sensor() {
        assert_eq!(asset_of("motor1.de.velocity", 1), "motor1");
        assert_eq!(asset_of("motor1.de.velocity", 2), "motor1.de");
        assert_eq!(asset_of("motor1", 3), "motor1");
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for source in [Source::Alerts, Source::Health, Source::Status, Source::Telemetry] {
                let _ = decode(source, Some(&bytes), &bytes, 1, 0);
            }
        }
    }
}
