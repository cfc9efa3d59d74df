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
//! # Batches of readings (wire version 2)
//!
//! A message with `"v": 2, "kind": "readings"` carries the readings of one instant
//! (`event/batch.rs`). With `[bridge] batches = "split"` (the default) each entry becomes the
//! record its single message would have made: the version-1 event JSON byte for byte, the
//! same key and headers, so per-asset order and the `(gateway, seq)` deduplication
//! downstream work as before. An entry that is not a valid reading is dead-lettered alone
//! (reason `bad_batch_entry`, header `batch_index`, the entry as the value) and the other
//! entries are produced. With `"whole"` the batch is one record keyed by the gateway (all of
//! a gateway's batches in one partition, in order), with the headers `kind = readings`,
//! `seq` (the first), `seq_last`, `count` and `schema = 2`; a batch with a bad entry is split
//! instead, so that the bad entry is named. In both modes the MQTT message is acknowledged
//! only when every record it became is in Kafka (`consumer.rs`).
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

use super::config::{BatchMode, KafkaTopics};
use crate::event::batch::{self, BatchIn, BATCH_KIND, BATCH_VERSION};

/// The wire versions the bridge forwards: single events (1) and batches of readings (2).
pub(crate) const KNOWN_VERSIONS: &[u64] = &[1, BATCH_VERSION as u64];

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
    batches: BatchMode,
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
    pub(crate) fn new(prefix: &str, asset_levels: u32, batches: BatchMode) -> Self {
        let prefix = prefix.trim_end_matches('/');
        Mapping {
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            asset_levels: asset_levels.max(1) as usize,
            batches,
        }
    }

    /// The MQTT subscription that covers the layout.
    pub(crate) fn subscription(&self) -> String {
        format!("{}#", self.prefix)
    }

    /// Maps one message: one record, or for a batch one per reading (or one for the
    /// whole batch), in order.
    pub(crate) fn map(&self, topic: &str, payload: Bytes) -> Vec<Mapped> {
        match self.map_one(topic, payload) {
            Ok(mapped) => vec![mapped],
            Err(batch) => self.batch(topic, *batch),
        }
    }

    /// Maps a message that is not a batch; a valid batch is handed back (`Err`).
    fn map_one(&self, topic: &str, payload: Bytes) -> Result<Mapped, Box<(BatchIn, Bytes)>> {
        let Some(rest) = topic.strip_prefix(self.prefix.as_str()) else {
            return Ok(dead(
                topic,
                None,
                payload,
                "unexpected_topic",
                "topic outside the layout",
            ));
        };
        let (gateway, below) = rest.split_once('/').unwrap_or((rest, ""));
        if gateway.is_empty() || below.is_empty() {
            return Ok(dead(
                topic,
                None,
                payload,
                "unexpected_topic",
                "topic has no gateway level and a level below it",
            ));
        }
        Ok(match below {
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
            _ => return self.event(topic, gateway, payload),
        })
    }

    fn event(
        &self,
        topic: &str,
        gateway: &str,
        payload: Bytes,
    ) -> Result<Mapped, Box<(BatchIn, Bytes)>> {
        let head: Head<'_> = match serde_json::from_slice(&payload) {
            Ok(head) => head,
            Err(error) => {
                let detail = format!("not a JSON event object: {error}");
                return Ok(dead(
                    topic,
                    Some(gateway),
                    payload.clone(),
                    "not_json",
                    detail,
                ));
            }
        };
        let reject =
            |code, detail: String| Ok(dead(topic, Some(gateway), payload.clone(), code, detail));
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
        if version == u64::from(BATCH_VERSION) {
            if head.kind.as_deref() != Some(BATCH_KIND) {
                let kind = head.kind.as_deref().unwrap_or("none");
                return reject(
                    "unknown_kind",
                    format!("kind `{kind}` in a version-2 message (only `{BATCH_KIND}`)"),
                );
            }
            return match serde_json::from_slice::<BatchIn>(&payload) {
                Ok(batch) => Err(Box::new((batch, payload.clone()))),
                Err(error) => reject("bad_batch", format!("not a batch of readings: {error}")),
            };
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
        Ok(Mapped::Record(Record {
            destination,
            key: format!("{gateway}/{asset}"),
            headers: vec![
                ("gateway", gateway.to_owned()),
                ("kind", kind),
                ("seq", seq.to_string()),
                ("schema", version.to_string()),
            ],
            value: payload,
        }))
    }

    /// The records of a valid batch (its envelope checked by [`event`](Self::event)).
    fn batch(&self, topic: &str, (batch, payload): (BatchIn, Bytes)) -> Vec<Mapped> {
        let gateway = batch.gateway.clone();
        let count = batch.readings.len();
        let split = batch::split(batch);
        if self.batches == BatchMode::Whole && split.iter().all(Result::is_ok) {
            let seq = |i: usize| split[i].as_ref().map_or(0, |e| e.seq).to_string();
            let headers = vec![
                ("gateway", gateway.clone()),
                ("kind", BATCH_KIND.to_owned()),
                ("seq", if count > 0 { seq(0) } else { String::new() }),
                (
                    "seq_last",
                    if count > 0 {
                        seq(count - 1)
                    } else {
                        String::new()
                    },
                ),
                ("count", count.to_string()),
                ("schema", BATCH_VERSION.to_string()),
            ];
            return vec![Mapped::Record(Record {
                destination: Destination::Telemetry,
                key: gateway,
                headers,
                value: payload,
            })];
        }
        split
            .into_iter()
            .map(|entry| match entry {
                Ok(event) => Mapped::Record(Record {
                    destination: Destination::Telemetry,
                    key: format!("{gateway}/{}", self.asset(&event.sensor)),
                    headers: vec![
                        ("gateway", gateway.clone()),
                        ("kind", "reading".to_owned()),
                        ("seq", event.seq.to_string()),
                        ("schema", crate::event::wire::WIRE_VERSION.to_string()),
                    ],
                    value: Bytes::from(event.json.into_bytes()),
                }),
                Err(bad) => {
                    let reason = DeadReason::new("bad_batch_entry", bad.reason);
                    let value = serde_json::to_vec(&bad.entry).unwrap_or_default();
                    let mut record =
                        Record::dead_letter(topic, Some(&gateway), &reason, Bytes::from(value));
                    record.headers.push(("batch_index", bad.index.to_string()));
                    Mapped::DeadLetter { record, reason }
                }
            })
            .collect()
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
        Mapping::new("edge", 1, BatchMode::Split)
    }

    /// The one record of a message that is not a batch.
    fn map(topic: &str, payload: &str) -> Mapped {
        let mut all = mapping().map(topic, Bytes::copy_from_slice(payload.as_bytes()));
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
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
            Mapping::new("edge", 1, BatchMode::Split).asset("motor1.de.velocity"),
            "motor1"
        );
        assert_eq!(
            Mapping::new("edge", 2, BatchMode::Split).asset("line1.motor1.de.velocity"),
            "line1.motor1"
        );
        assert_eq!(
            Mapping::new("edge", 3, BatchMode::Split).asset("pump1.flow"),
            "pump1.flow"
        );
        assert_eq!(
            Mapping::new("edge", 1, BatchMode::Split).asset("fan"),
            "fan"
        );
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
        let split = BatchMode::Split;
        let mapped =
            Mapping::new("", 1, split).map("gw1/reading/s", Bytes::from_static(READING.as_bytes()));
        assert_eq!(mapped[0].record().key, "gw1/motor1");
        assert_eq!(Mapping::new("", 1, split).subscription(), "#");
        assert_eq!(Mapping::new("edge/", 1, split).subscription(), "edge/#");
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

    /// A batch as the agent writes it, and the single messages it stands for.
    fn batch_and_singles() -> (String, Vec<String>) {
        use crate::event::batch::BatchBuilder;
        use crate::event::{wire, Event, EventBody, Quality, Reading};
        let ts_ms = 1_767_225_600_000;
        let readings = [
            (41, "motor1.de.velocity", 2.5),
            (42, "motor1.temp", 61.0),
            (44, "pump2.flow", f64::NAN),
        ];
        let mut builder = BatchBuilder::new("gw1", ts_ms);
        let mut singles = Vec::new();
        for (seq, sensor, value) in readings {
            let reading = Reading {
                sensor: sensor.to_owned(),
                value,
                unit: None,
                quality: if value.is_nan() {
                    Quality::Bad
                } else {
                    Quality::Good
                },
            };
            builder.push(seq, &BatchBuilder::entry(seq, &reading));
            let event = Event {
                ts_ms,
                body: EventBody::Reading(reading),
            };
            singles.push(wire::to_json("gw1", seq, &event));
        }
        let (payload, _) = builder.finish();
        (String::from_utf8(payload).expect("UTF-8"), singles)
    }

    #[test]
    fn a_batch_is_split_into_the_records_its_single_messages_would_have_made() {
        let (batch, singles) = batch_and_singles();
        let split = mapping().map("edge/gw1/readings", Bytes::from(batch.into_bytes()));
        assert_eq!(split.len(), singles.len());
        for (mapped, single) in split.iter().zip(&singles) {
            let from_single = map("edge/gw1/reading/s", single);
            assert_eq!(
                mapped, &from_single,
                "value, key and headers as for the single"
            );
        }
        assert_eq!(split[2].record().key, "gw1/pump2");
        assert_eq!(split[0].record().header("seq"), Some("41"));
        assert_eq!(split[0].record().header("schema"), Some("1"));
    }

    #[test]
    fn a_bad_entry_of_a_batch_is_dead_lettered_alone_and_the_rest_is_produced() {
        let (batch, singles) = batch_and_singles();
        let spoiled = batch.replacen("\"seq\":42,", "", 1);
        assert_ne!(spoiled, batch);
        let mapped = mapping().map("edge/gw1/readings", Bytes::from(spoiled.into_bytes()));
        assert_eq!(mapped.len(), 3);
        assert_eq!(mapped[0], map("edge/gw1/reading/s", &singles[0]));
        assert_eq!(mapped[2], map("edge/gw1/reading/s", &singles[2]));
        assert_eq!(reason_of(&mapped[1]), "bad_batch_entry");
        let letter = mapped[1].record();
        assert_eq!(letter.destination, Destination::DeadLetter);
        assert_eq!(letter.header("batch_index"), Some("1"));
        assert_eq!(letter.header("source_topic"), Some("edge/gw1/readings"));
        assert!(letter.header("reason").is_some_and(|r| r.contains("seq")));
        let entry: serde_json::Value = serde_json::from_slice(&letter.value).expect("JSON");
        assert_eq!(
            entry["sensor"], "motor1.temp",
            "the bad entry itself is kept"
        );
    }

    #[test]
    fn in_whole_mode_a_batch_is_one_record_keyed_by_the_gateway() {
        let (batch, _) = batch_and_singles();
        let whole = Mapping::new("edge", 1, BatchMode::Whole);
        let mapped = whole.map("edge/gw1/readings", Bytes::from(batch.clone().into_bytes()));
        assert_eq!(mapped.len(), 1);
        let record = mapped[0].record();
        assert_eq!(record.destination, Destination::Telemetry);
        assert_eq!(record.key, "gw1");
        assert_eq!(record.value, batch.as_bytes());
        assert_eq!(record.header("kind"), Some("readings"));
        assert_eq!(record.header("seq"), Some("41"));
        assert_eq!(record.header("seq_last"), Some("44"));
        assert_eq!(record.header("count"), Some("3"));
        assert_eq!(record.header("schema"), Some("2"));
        // With a bad entry it is split, so that the bad entry is named.
        let spoiled = batch.replacen("\"seq\":42,", "", 1);
        let mapped = whole.map("edge/gw1/readings", Bytes::from(spoiled.into_bytes()));
        assert_eq!(mapped.len(), 3);
        assert_eq!(reason_of(&mapped[1]), "bad_batch_entry");
    }

    #[test]
    fn a_bad_batch_envelope_is_one_dead_letter() {
        let (batch, _) = batch_and_singles();
        let cases = [
            (
                batch.replace("\"gateway\":\"gw1\"", "\"gateway\":\"gw9\""),
                "gateway_mismatch",
            ),
            (
                batch.replace("\"readings\",", "\"reading\","),
                "unknown_kind",
            ),
            (
                batch.replace("\"readings\":[", "\"entries\":["),
                "bad_batch",
            ),
            (batch.replace("\"v\":2", "\"v\":3"), "unknown_version"),
        ];
        for (payload, code) in cases {
            assert_eq!(
                reason_of(&map("edge/gw1/readings", &payload)),
                code,
                "{payload}"
            );
        }
    }
}
