//! From one MQTT message to what goes to Kafka: pure, no I/O.
//!
//! # Topics
//!
//! The bridge reads the agent's default topic layout (`deploy/mqtt.md`): every topic is
//! `{prefix}/{gateway}/...`, where `prefix` is `[mqtt] topics.prefix` (empty: no prefix).
//! Under the gateway:
//!
//! - `status` (the retained `online`/`offline`) → the status topic, key = the gateway, value
//!   = the payload as sent. Create that topic compacted: its last record per gateway is the
//!   fleet's liveness.
//! - `dead-letter` (what the agent itself could not send as JSON) → the dead-letter topic.
//! - anything else is an event. Its JSON decides where it goes, by `kind`: `reading` and
//!   `features` → telemetry, `alert` → alerts, `health` → health.
//!
//! # Keys and headers
//!
//! The key is `{gateway}/{asset}`, so each asset's events share a partition and keep their
//! order there. The asset is the first `asset_levels` `.`-separated parts of the event's
//! `sensor` (with 1, `motor1.de.velocity` → `motor1`; a sensor with fewer parts is its own
//! asset); for a health event, its `component` (`device:motor1`, `spool`, ...). Headers:
//! `gateway`, `kind`, `seq` and `schema` (the event's `v`). The value is the MQTT payload,
//! byte for byte.
//!
//! # Dead letters
//!
//! A payload that is not a valid event goes to the dead-letter topic with the headers
//! `reason` and `source_topic` (and the topic's gateway, when there is one): not JSON, an
//! unknown `v`, a missing `seq`, `sensor` or `kind`, a `gateway` that differs from the
//! topic's, a topic outside the layout.

use bytes::Bytes;
use serde::Deserialize;
use std::borrow::Cow;

use super::config::KafkaTopics;

/// The wire versions the bridge forwards.
pub(crate) const KNOWN_VERSIONS: &[u64] = &[1];

/// Which configured Kafka topic a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Destination {
    Telemetry,
    Alerts,
    Health,
    Status,
    DeadLetter,
}

impl Destination {
    /// The metric label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Destination::Telemetry => "telemetry",
            Destination::Alerts => "alerts",
            Destination::Health => "health",
            Destination::Status => "status",
            Destination::DeadLetter => "dead_letter",
        }
    }

    pub(crate) fn topic(self, topics: &KafkaTopics) -> &str {
        match self {
            Destination::Telemetry => &topics.telemetry,
            Destination::Alerts => &topics.alerts,
            Destination::Health => &topics.health,
            Destination::Status => &topics.status,
            Destination::DeadLetter => &topics.dead_letter,
        }
    }
}

/// Why a message went to the dead-letter topic; the short form is the metric label, the
/// long form the `reason` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadReason {
    pub code: &'static str,
    pub detail: String,
}

impl DeadReason {
    fn new(code: &'static str, detail: impl Into<String>) -> Self {
        DeadReason {
            code,
            detail: detail.into(),
        }
    }
}

/// One record for Kafka.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub destination: Destination,
    pub key: String,
    pub headers: Vec<(&'static str, String)>,
    pub value: Bytes,
}

impl Record {
    /// The dead letter of a message from `source_topic`.
    pub(crate) fn dead_letter(
        source_topic: &str,
        gateway: Option<&str>,
        reason: &DeadReason,
        value: Bytes,
    ) -> Self {
        let mut headers = vec![
            ("reason", reason.detail.clone()),
            ("source_topic", source_topic.to_owned()),
        ];
        if let Some(gateway) = gateway {
            headers.push(("gateway", gateway.to_owned()));
        }
        Record {
            destination: Destination::DeadLetter,
            key: gateway.unwrap_or(source_topic).to_owned(),
            headers,
            value,
        }
    }

    /// The value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What becomes of one MQTT message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mapped {
    Record(Record),
    DeadLetter { record: Record, reason: DeadReason },
}

impl Mapped {
    pub(crate) fn record(&self) -> &Record {
        match self {
            Mapped::Record(record) | Mapped::DeadLetter { record, .. } => record,
        }
    }

    pub(crate) fn into_record(self) -> Record {
        match self {
            Mapped::Record(record) | Mapped::DeadLetter { record, .. } => record,
        }
    }
}

/// The topic layout the bridge reads, and how assets are named.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    prefix: String,
    asset_levels: usize,
}

/// The fields of an event the bridge looks at; the rest passes through unread.
#[derive(Deserialize)]
struct Head<'a> {
    v: Option<serde_json::Value>,
    #[serde(borrow)]
    gateway: Option<Cow<'a, str>>,
    seq: Option<u64>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sensor: Option<Cow<'a, str>>,
    #[serde(borrow)]
    component: Option<Cow<'a, str>>,
}

impl Mapping {
    /// `prefix` as in `[mqtt] topics.prefix`; `asset_levels` ≥ 1.
    pub(crate) fn new(prefix: &str, asset_levels: u32) -> Self {
        let prefix = prefix.trim_end_matches('/');
        Mapping {
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            asset_levels: asset_levels.max(1) as usize,
        }
    }

    /// The MQTT subscription that covers the layout.
    pub(crate) fn subscription(&self) -> String {
        format!("{}#", self.prefix)
    }

    /// Maps one message.
    pub(crate) fn map(&self, topic: &str, payload: Bytes) -> Mapped {
        let Some(rest) = topic.strip_prefix(self.prefix.as_str()) else {
            return dead(
                topic,
                None,
                payload,
                "unexpected_topic",
                "topic outside the layout",
            );
        };
        let (gateway, below) = rest.split_once('/').unwrap_or((rest, ""));
        if gateway.is_empty() || below.is_empty() {
            return dead(
                topic,
                None,
                payload,
                "unexpected_topic",
                "topic has no gateway level and a level below it",
            );
        }
        match below {
            "status" => Mapped::Record(Record {
                destination: Destination::Status,
                key: gateway.to_owned(),
                headers: vec![
                    ("gateway", gateway.to_owned()),
                    ("kind", "status".to_owned()),
                ],
                value: payload,
            }),
            "dead-letter" => dead(
                topic,
                Some(gateway),
                payload,
                "gateway_dead_letter",
                "the gateway could not send this event as JSON",
            ),
            _ => self.event(topic, gateway, payload),
        }
    }

    fn event(&self, topic: &str, gateway: &str, payload: Bytes) -> Mapped {
        let head: Head<'_> = match serde_json::from_slice(&payload) {
            Ok(head) => head,
            Err(error) => {
                let detail = format!("not a JSON event object: {error}");
                return dead(topic, Some(gateway), payload.clone(), "not_json", detail);
            }
        };
        let reject =
            |code, detail: String| dead(topic, Some(gateway), payload.clone(), code, detail);
        let version = match head.v.as_ref().and_then(serde_json::Value::as_u64) {
            Some(v) if KNOWN_VERSIONS.contains(&v) => v,
            Some(v) => return reject("unknown_version", format!("unknown schema version v = {v}")),
            None => {
                let shown = head.v.map_or("missing".to_owned(), |v| v.to_string());
                return reject(
                    "unknown_version",
                    format!("no valid `v` (schema version): {shown}"),
                );
            }
        };
        match head.gateway.as_deref() {
            Some(g) if g == gateway => {}
            Some(g) => {
                return reject(
                    "gateway_mismatch",
                    format!("gateway `{g}` in the payload, `{gateway}` in the topic"),
                )
            }
            None => return reject("missing_field", "no `gateway`".to_owned()),
        }
        let Some(seq) = head.seq else {
            return reject("missing_field", "no `seq` (a whole number)".to_owned());
        };
        let (destination, asset) = match head.kind.as_deref() {
            Some(kind @ ("reading" | "features" | "alert")) => {
                let Some(sensor) = head.sensor.as_deref() else {
                    return reject(
                        "missing_field",
                        format!("a `{kind}` event without `sensor`"),
                    );
                };
                let destination = if kind == "alert" {
                    Destination::Alerts
                } else {
                    Destination::Telemetry
                };
                (destination, self.asset(sensor).to_owned())
            }
            Some("health") => match head.component.as_deref() {
                Some(component) => (Destination::Health, component.to_owned()),
                None => {
                    return reject(
                        "missing_field",
                        "a `health` event without `component`".to_owned(),
                    )
                }
            },
            Some(other) => return reject("unknown_kind", format!("unknown kind `{other}`")),
            None => return reject("missing_field", "no `kind`".to_owned()),
        };
        let kind = head.kind.as_deref().unwrap_or_default().to_owned();
        Mapped::Record(Record {
            destination,
            key: format!("{gateway}/{asset}"),
            headers: vec![
                ("gateway", gateway.to_owned()),
                ("kind", kind),
                ("seq", seq.to_string()),
                ("schema", version.to_string()),
            ],
            value: payload,
        })
    }

    /// The asset of a sensor id: its first `asset_levels` `.`-separated parts.
    pub(crate) fn asset<'s>(&self, sensor: &'s str) -> &'s str {
        match sensor.match_indices('.').nth(self.asset_levels - 1) {
            Some((at, _)) => &sensor[..at],
            None => sensor,
        }
    }
}

fn dead(
    topic: &str,
    gateway: Option<&str>,
    payload: Bytes,
    code: &'static str,
    detail: impl Into<String>,
) -> Mapped {
    let reason = DeadReason::new(code, detail);
    Mapped::DeadLetter {
        record: Record::dead_letter(topic, gateway, &reason, payload),
        reason,
    }
}

/// Scale-out: whether instance `instance` of `instances` forwards records with `key`.
/// FNV-1a, so that every instance (and every version of the bridge) agrees.
pub(crate) fn owns(key: &str, instance: u32, instances: u32) -> bool {
    if instances <= 1 {
        return true;
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    hash % u64::from(instances) == u64::from(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        Mapping::new("edge", 1)
    }

    fn map(topic: &str, payload: &str) -> Mapped {
        mapping().map(topic, Bytes::copy_from_slice(payload.as_bytes()))
    }

    fn reason_of(mapped: &Mapped) -> &'static str {
        match mapped {
            Mapped::DeadLetter { reason, .. } => reason.code,
            Mapped::Record(record) => panic!("forwarded: {record:?}"),
        }
    }

    const READING: &str = r#"{"v":1,"gateway":"gw1","seq":42,"kind":"reading","ts":"2026-01-01T00:00:00.000Z","sensor":"motor1.de.velocity","value":2.5,"unit":"mm/s","quality":"good"}"#;

    #[test]
    fn a_reading_goes_to_telemetry_keyed_by_gateway_and_asset_with_its_payload_unchanged() {
        let mapped = map("edge/gw1/reading/motor1.de.velocity", READING);
        let Mapped::Record(record) = mapped else {
            panic!("{mapped:?}")
        };
        assert_eq!(record.destination, Destination::Telemetry);
        assert_eq!(record.key, "gw1/motor1");
        assert_eq!(record.value, READING.as_bytes());
        assert_eq!(record.header("gateway"), Some("gw1"));
        assert_eq!(record.header("kind"), Some("reading"));
        assert_eq!(record.header("seq"), Some("42"));
        assert_eq!(record.header("schema"), Some("1"));
    }

    #[test]
    fn alerts_and_health_have_topics_of_their_own() {
        let alert = READING.replace("\"reading\"", "\"alert\"");
        assert_eq!(
            map("edge/gw1/alert/x", &alert).record().destination,
            Destination::Alerts
        );
        let health = r#"{"v":1,"gateway":"gw1","seq":1,"kind":"health","ts":"t","component":"device:motor1","state":"offline","detail":""}"#;
        let mapped = map("edge/gw1/health/device:motor1", health);
        assert_eq!(mapped.record().destination, Destination::Health);
        assert_eq!(mapped.record().key, "gw1/device:motor1");
    }

    #[test]
    fn status_goes_to_its_topic_keyed_by_the_gateway_alone() {
        let mapped = map("edge/gw7/status", "offline");
        let record = mapped.record();
        assert_eq!(record.destination, Destination::Status);
        assert_eq!(record.key, "gw7");
        assert_eq!(&record.value[..], b"offline");
    }

    #[test]
    fn the_asset_is_the_leading_parts_of_the_sensor_id() {
        assert_eq!(
            Mapping::new("edge", 1).asset("motor1.de.velocity"),
            "motor1"
        );
        assert_eq!(
            Mapping::new("edge", 2).asset("line1.motor1.de.velocity"),
            "line1.motor1"
        );
        assert_eq!(Mapping::new("edge", 3).asset("pump1.flow"), "pump1.flow");
        assert_eq!(Mapping::new("edge", 1).asset("fan"), "fan");
    }

    #[test]
    fn bad_payloads_are_dead_letters_with_their_reason_and_source_topic() {
        let cases = [
            ("not json", "not_json"),
            (r#"[1,2]"#, "not_json"),
            (&READING.replace("\"v\":1", "\"v\":9"), "unknown_version"),
            (&READING.replace("\"v\":1,", ""), "unknown_version"),
            (&READING.replace("\"seq\":42,", ""), "missing_field"),
            (&READING.replace("\"seq\":42", "\"seq\":-1"), "not_json"),
            (
                &READING.replace("\"gateway\":\"gw1\"", "\"gateway\":\"gw2\""),
                "gateway_mismatch",
            ),
            (&READING.replace("\"reading\"", "\"bogus\""), "unknown_kind"),
            (
                &READING.replace("\"sensor\":\"motor1.de.velocity\",", ""),
                "missing_field",
            ),
        ];
        for (payload, code) in cases {
            let mapped = map("edge/gw1/reading/s", payload);
            assert_eq!(reason_of(&mapped), code, "{payload}");
            let record = mapped.record();
            assert_eq!(record.destination, Destination::DeadLetter);
            assert_eq!(record.header("source_topic"), Some("edge/gw1/reading/s"));
            assert!(record.header("reason").is_some_and(|r| !r.is_empty()));
            assert_eq!(record.value, payload.as_bytes(), "the payload is kept");
        }
    }

    #[test]
    fn topics_outside_the_layout_and_the_gateways_own_dead_letters_are_dead_letters() {
        assert_eq!(
            reason_of(&map("other/gw1/reading/s", READING)),
            "unexpected_topic"
        );
        assert_eq!(reason_of(&map("edge/gw1", READING)), "unexpected_topic");
        assert_eq!(
            reason_of(&map("edge/gw1/dead-letter", "x")),
            "gateway_dead_letter"
        );
    }

    #[test]
    fn an_empty_prefix_reads_the_gateway_from_the_first_level() {
        let mapped =
            Mapping::new("", 1).map("gw1/reading/s", Bytes::from_static(READING.as_bytes()));
        assert_eq!(mapped.record().key, "gw1/motor1");
        assert_eq!(Mapping::new("", 1).subscription(), "#");
        assert_eq!(Mapping::new("edge/", 1).subscription(), "edge/#");
    }

    #[test]
    fn every_key_has_exactly_one_owner_among_the_instances() {
        for n in 1..5 {
            for i in 0..200 {
                let key = format!("gw{}/motor{}", i % 7, i);
                let owners = (0..n).filter(|&k| owns(&key, k, n)).count();
                assert_eq!(owners, 1, "{key} of {n}");
            }
        }
        let split = (0..1000)
            .filter(|i| owns(&format!("gw/m{i}"), 0, 2))
            .count();
        assert!((400..600).contains(&split), "{split} of 1000 to instance 0");
    }
}
