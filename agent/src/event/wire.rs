//! The JSON wire shape of one event (version 1), documented in
//! `deploy/schema/event-v1.schema.json`; the batch of readings (version 2) is in
//! [`batch`](super::batch).
//!
//! Every event is one flat JSON object: the envelope (`v`, `gateway`, `seq`, `kind`, `ts`)
//! followed by the fields of its kind. `ts` is RFC 3339 in UTC with milliseconds. Numbers that
//! are not finite (a score that does not exist) are written as `null`.

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::{Alert, Event, EventBody, FeatureSet, Health, Reading};

/// The version of the wire shape, sent as `v`.
pub const WIRE_VERSION: u8 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    v: u8,
    gateway: &'a str,
    seq: u64,
    kind: &'static str,
    ts: &'a str,
    #[serde(flatten)]
    body: Body<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Reading(&'a Reading),
    Features(FeaturesBody<'a>),
    Alert(AlertBody<'a>),
    Health(&'a Health),
}

#[derive(Serialize)]
struct FeaturesBody<'a> {
    sensor: &'a str,
    window: u32,
    values: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct AlertBody<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
}

/// RFC 3339 UTC with milliseconds; timestamps outside chrono's range are clamped to it.
pub fn format_ts(ts_ms: i64) -> String {
    let at = DateTime::from_timestamp_millis(ts_ms).unwrap_or(if ts_ms < 0 {
        DateTime::<chrono::Utc>::MIN_UTC
    } else {
        DateTime::<chrono::Utc>::MAX_UTC
    });
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The wire JSON of `event` as sent by `gateway` with sequence number `seq`.
pub fn to_json(gateway: &str, seq: u64, event: &Event) -> String {
    with_ts(gateway, seq, &format_ts(event.ts_ms), &event.body)
}

/// The wire JSON of an event whose `ts` is already formatted: what [`to_json`] writes, byte
/// for byte, when `ts` is `format_ts` of the event's time (the bridge rebuilds the single
/// events of a batch with it).
pub fn with_ts(gateway: &str, seq: u64, ts: &str, body: &EventBody) -> String {
    let body_json = match body {
        EventBody::Reading(r) => Body::Reading(r),
        EventBody::Features(f) => Body::Features(features_body(f)),
        EventBody::Alert(a) => Body::Alert(AlertBody { alert: a }),
        EventBody::Health(h) => Body::Health(h),
    };
    let envelope = Envelope {
        v: WIRE_VERSION,
        gateway,
        seq,
        kind: body.kind(),
        ts,
        body: body_json,
    };
    // Serialising these plain structs to a String cannot fail: every map key is a string.
    serde_json::to_string(&envelope).expect("wire events always serialise")
}

fn features_body(f: &FeatureSet) -> FeaturesBody<'_> {
    let values = f
        .values
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::json!(value)))
        .collect();
    FeaturesBody {
        sensor: &f.sensor,
        window: f.window,
        values,
    }
}
