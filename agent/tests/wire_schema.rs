//! Every kind of event, written in the wire shape, has exactly the fields that
//! `deploy/schema/event-v1.schema.json` requires and allows, with the documented enum values;
//! a batch of readings those of `deploy/schema/readings-v2.schema.json`.

use edge_agent::event::batch::BatchBuilder;
use edge_agent::event::{
    payload, wire, Alert, AlertState, Event, EventBody, Evidence, FeatureSet, Health, HealthState,
    Quality, Reading, Severity,
};
use serde_json::Value;

fn schema() -> Value {
    let text = include_str!("../../deploy/schema/event-v1.schema.json");
    serde_json::from_str(text).expect("the schema is JSON")
}

fn examples() -> Vec<Event> {
    let ts_ms = 1_700_000_000_123;
    vec![
        Event {
            ts_ms,
            body: EventBody::Reading(Reading {
                sensor: "s".into(),
                value: 1.5,
                unit: Some("mm/s".into()),
                quality: Quality::Good,
            }),
        },
        Event {
            ts_ms,
            body: EventBody::Features(FeatureSet {
                sensor: "s".into(),
                window: 60,
                values: vec![("rms".into(), 2.0), ("kurtosis".into(), 3.1)],
            }),
        },
        Event {
            ts_ms,
            body: EventBody::Alert(Alert {
                sensor: "s".into(),
                state: AlertState::Raised,
                rule: "r".into(),
                rule_hash: "0123456789abcdef".into(),
                severity: Severity::Critical,
                detector: "cusum".into(),
                value: 4.0,
                feature: "value".into(),
                feature_value: 4.0,
                score: f64::NAN,
                row: Some(7),
                statistic: f64::NAN,
                evidence: None,
                held_back: 0,
            }),
        },
        Event {
            ts_ms,
            body: EventBody::Alert(Alert {
                sensor: "s".into(),
                state: AlertState::Raised,
                rule: "unusual-behaviour".into(),
                rule_hash: "0123456789abcdef".into(),
                severity: Severity::Warning,
                detector: "adaptive".into(),
                value: 31.5,
                feature: "value".into(),
                feature_value: 31.5,
                score: 0.99997,
                row: None,
                statistic: 12.5,
                evidence: Some(Evidence {
                    level: 24.0,
                    spread: 0.4,
                    horizon_s: 21_600.0,
                }),
                held_back: 3,
            }),
        },
        Event {
            ts_ms,
            body: EventBody::Health(Health {
                component: "device:pump1".into(),
                state: HealthState::Degraded,
                detail: "timeouts".into(),
            }),
        },
    ]
}

fn check_enum(branch: &Value, key: &str, value: &Value) {
    if let Some(allowed) = branch["properties"][key]["enum"].as_array() {
        assert!(
            allowed.contains(value),
            "{key} = {value} is not one of {allowed:?}"
        );
    }
}

/// `object` has every key `branch` requires (and `also_required`), and only keys that
/// `branch` knows, with allowed values.
fn assert_fits(
    branch: &Value,
    also_required: &[Value],
    object: &serde_json::Map<String, Value>,
    what: &str,
) {
    let required = branch["required"].as_array().expect("required");
    for key in required.iter().chain(also_required) {
        let key = key.as_str().expect("key");
        assert!(
            object.contains_key(key),
            "{what}: missing {key} in {object:?}"
        );
    }
    for (key, value) in object {
        assert!(
            branch["properties"].get(key).is_some(),
            "{what}: {key} is not in the schema"
        );
        check_enum(branch, key, value);
    }
}

#[test]
fn every_kind_of_event_matches_its_schema_branch() {
    let schema = schema();
    for event in examples() {
        let json: Value =
            serde_json::from_str(&wire::to_json("gw-1", 42, &event)).expect("wire JSON");
        assert_eq!(json["v"], 1);
        assert_eq!(json["gateway"], "gw-1");
        assert_eq!(json["seq"], 42);
        assert_eq!(json["ts"], "2023-11-14T22:13:20.123Z");
        let kind = json["kind"].clone();
        let branch = schema["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .find(|b| b["properties"]["kind"]["const"] == kind)
            .unwrap_or_else(|| panic!("no schema branch for kind {kind}"));
        let object = json.as_object().expect("an object");
        let envelope = schema["required"].as_array().expect("required");
        assert_fits(branch, envelope, object, &kind.to_string());
    }
}

#[test]
fn a_score_that_does_not_exist_is_written_as_null() {
    let alert = &examples()[2];
    let json: Value = serde_json::from_str(&wire::to_json("gw", 0, alert)).expect("wire JSON");
    assert_eq!(json["score"], Value::Null);
    assert_eq!(json["statistic"], Value::Null);
    assert_eq!(json["evidence"], Value::Null);
    assert_eq!(json["row"], 7);
}

#[test]
fn an_adaptive_alert_carries_its_score_and_evidence() {
    let alert = &examples()[3];
    let json: Value = serde_json::from_str(&wire::to_json("gw", 0, alert)).expect("wire JSON");
    assert_eq!(json["score"], 0.99997);
    assert_eq!(json["evidence"]["level"], 24.0);
    assert_eq!(json["evidence"]["spread"], 0.4);
    assert_eq!(json["evidence"]["horizon_s"], 21_600.0);
    let schema = schema();
    let branch = schema["oneOf"]
        .as_array()
        .expect("oneOf")
        .iter()
        .find(|b| b["properties"]["kind"]["const"] == "alert")
        .expect("an alert branch");
    let evidence = &branch["properties"]["evidence"];
    for key in json["evidence"].as_object().expect("an object").keys() {
        assert!(
            evidence["properties"].get(key).is_some(),
            "evidence.{key} is not in the schema"
        );
    }
}

#[test]
fn events_round_trip_through_the_spooled_payload() {
    for event in examples() {
        let bytes = payload::encode(&event);
        let back: Event = payload::decode(&bytes).expect("decode");
        // NaN != NaN: compare the wire forms instead.
        assert_eq!(wire::to_json("g", 1, &back), wire::to_json("g", 1, &event));
    }
}

#[test]
fn a_batch_of_readings_matches_the_version_2_schema() {
    let schema: Value =
        serde_json::from_str(include_str!("../../deploy/schema/readings-v2.schema.json"))
            .expect("the schema is JSON");
    let mut builder = BatchBuilder::new("gw-1", 1_700_000_000_123);
    for (seq, quality, value) in [(41, Quality::Good, 1.5), (43, Quality::Bad, f64::NAN)] {
        let reading = Reading {
            sensor: format!("s{seq}"),
            value,
            unit: None,
            quality,
        };
        builder.push(seq, &BatchBuilder::entry(seq, &reading));
    }
    let (payload, seqs) = builder.finish();
    assert_eq!(seqs, vec![41, 43]);
    let json: Value = serde_json::from_slice(&payload).expect("JSON");
    let object = json.as_object().expect("an object");
    for required in schema["required"].as_array().expect("required") {
        let key = required.as_str().expect("key");
        assert!(object.contains_key(key), "missing {key} in {json}");
    }
    for key in object.keys() {
        assert!(
            schema["properties"].get(key).is_some(),
            "{key} is not in the schema"
        );
    }
    assert_eq!(json["v"], schema["properties"]["v"]["const"]);
    assert_eq!(json["kind"], schema["properties"]["kind"]["const"]);
    let item = &schema["properties"]["readings"]["items"];
    for entry in json["readings"].as_array().expect("readings") {
        assert_fits(
            item,
            &[],
            entry.as_object().expect("an object"),
            "readings[]",
        );
    }
}
