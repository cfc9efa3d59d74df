//! The batch of readings, wire version 2: the readings of one poll cycle of a device (or of
//! one window of a stream) in one JSON object, documented in
//! `deploy/schema/event-v1.schema.json` (the `v: 2` branch).
//!
//! ```json
//! {"v":2,"gateway":"gw1","kind":"readings","ts":"2026-01-01T00:00:00.000Z",
//!  "readings":[{"seq":41,"sensor":"m1.temp","value":61.5,"unit":"°C","quality":"good"},
//!              {"seq":42,"sensor":"m1.rpm","value":1480.0,"unit":null,"quality":"good"}]}
//! ```
//!
//! # Invariants
//!
//! 1. **Every reading keeps its own `seq`**: a batch is a way of carrying events, not an
//!    event. Seqs grow along the array but need not be contiguous (an alert or a health
//!    event spooled between two readings has the seq in between).
//! 2. **One `ts` for all**: a batch holds readings of one instant (the poll cycle's or the
//!    window's timestamp), so the time is written once.
//! 3. **Splitting gives back the single events byte for byte**: [`split`] turns each entry
//!    into exactly the version-1 JSON that [`wire::to_json`] writes for that reading, so a
//!    consumer downstream of the bridge cannot tell whether the gateway batched, and a
//!    re-sent batch splits into the same bytes (duplicates stay identical per
//!    `(gateway, seq)`).
//! 4. **A bad entry spoils only itself**: [`split`] judges each entry alone.

use serde::{Deserialize, Serialize};

use super::{wire, EventBody, Quality, Reading};

/// The `v` of a batch.
pub const BATCH_VERSION: u8 = 2;
/// The `kind` of a batch.
pub const BATCH_KIND: &str = "readings";

#[derive(Serialize)]
struct Head<'a> {
    v: u8,
    gateway: &'a str,
    kind: &'static str,
    ts: &'a str,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    seq: u64,
    #[serde(flatten)]
    reading: &'a Reading,
}

/// A batch being assembled: its exact size is known before each entry is added, so the
/// caller can bound it in bytes.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    ts_ms: i64,
    /// `{"v":2,...,"readings":[` and the entries so far, comma-separated.
    json: String,
    seqs: Vec<u64>,
}

impl BatchBuilder {
    /// An empty batch of `gateway`'s readings at `ts_ms`.
    pub fn new(gateway: &str, ts_ms: i64) -> Self {
        let ts = wire::format_ts(ts_ms);
        let head = Head {
            v: BATCH_VERSION,
            gateway,
            kind: BATCH_KIND,
            ts: &ts,
        };
        // A struct of strings and integers always serialises; it ends with `}`.
        let mut json = serde_json::to_string(&head).expect("batch heads always serialise");
        json.pop();
        json.push_str(",\"readings\":[");
        BatchBuilder {
            ts_ms,
            json,
            seqs: Vec::new(),
        }
    }

    /// The JSON of one entry (what [`push`](Self::push) takes).
    pub fn entry(seq: u64, reading: &Reading) -> String {
        serde_json::to_string(&EntryOut { seq, reading }).expect("readings always serialise")
    }

    /// The instant of the batch.
    pub fn ts_ms(&self) -> i64 {
        self.ts_ms
    }

    /// Entries so far.
    pub fn len(&self) -> usize {
        self.seqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seqs.is_empty()
    }

    /// The size of the finished payload if `entry` were added now.
    pub fn size_with(&self, entry: &str) -> usize {
        self.json.len() + usize::from(!self.seqs.is_empty()) + entry.len() + 2
    }

    /// Adds the entry of `seq` (from [`entry`](Self::entry)).
    pub fn push(&mut self, seq: u64, entry: &str) {
        if !self.seqs.is_empty() {
            self.json.push(',');
        }
        self.json.push_str(entry);
        self.seqs.push(seq);
    }

    /// The payload and the seqs it carries, in order.
    pub fn finish(mut self) -> (Vec<u8>, Vec<u64>) {
        self.json.push_str("]}");
        (self.json.into_bytes(), self.seqs)
    }
}

/// The envelope of a batch as the bridge reads it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    pub v: u64,
    pub gateway: String,
    pub kind: String,
    pub ts: String,
    pub readings: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    seq: u64,
    sensor: String,
    value: Option<f64>,
    #[serde(default)]
    unit: Option<String>,
    quality: Quality,
}

/// One entry of a batch as a single event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitEvent {
    pub seq: u64,
    pub sensor: String,
    /// The version-1 wire JSON of the reading.
    pub json: String,
}

/// An entry that is not a valid reading: why, and the entry as it came.
#[derive(Debug, Clone, PartialEq)]
pub struct BadEntry {
    pub index: usize,
    pub reason: String,
    pub entry: serde_json::Value,
}

/// Each entry of `batch` as the single event it stands for, in order; `gateway` is the
/// batch's (the caller has checked it against the topic).
pub fn split(batch: BatchIn) -> Vec<Result<SplitEvent, BadEntry>> {
    let BatchIn {
        gateway,
        ts,
        readings,
        ..
    } = batch;
    readings
        .into_iter()
        .enumerate()
        .map(|(index, entry)| match EntryIn::deserialize(&entry) {
            Ok(e) => {
                let reading = Reading {
                    sensor: e.sensor,
                    value: e.value.unwrap_or(f64::NAN),
                    unit: e.unit,
                    quality: e.quality,
                };
                let body = EventBody::Reading(reading);
                let json = wire::with_ts(&gateway, e.seq, &ts, &body);
                let EventBody::Reading(reading) = body else {
                    unreachable!("built as a reading just above")
                };
                Ok(SplitEvent {
                    seq: e.seq,
                    sensor: reading.sensor,
                    json,
                })
            }
            Err(error) => Err(BadEntry {
                index,
                reason: format!("readings[{index}] is not a valid reading: {error}"),
                entry,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;

    fn reading(sensor: &str, value: f64, unit: Option<&str>, quality: Quality) -> Reading {
        Reading {
            sensor: sensor.to_owned(),
            value,
            unit: unit.map(str::to_owned),
            quality,
        }
    }

    fn batch_of(readings: &[(u64, Reading)], ts_ms: i64) -> Vec<u8> {
        let mut builder = BatchBuilder::new("gw1", ts_ms);
        for (seq, r) in readings {
            let entry = BatchBuilder::entry(*seq, r);
            let expected = builder.size_with(&entry);
            builder.push(*seq, &entry);
            let (payload, _) = builder.clone().finish();
            assert_eq!(payload.len(), expected, "size_with is exact");
        }
        builder.finish().0
    }

    #[test]
    fn a_batch_splits_into_the_single_events_byte_for_byte() {
        let ts_ms = 1_764_500_000_123;
        let readings = [
            (41, reading("m1.temp", 61.5, Some("°C"), Quality::Good)),
            (43, reading("m1.rpm", 1480.0, None, Quality::Uncertain)),
            (44, reading("m1.flow", f64::NAN, None, Quality::Bad)),
            (45, reading("m1.tiny", 1e-300, Some("x"), Quality::Good)),
        ];
        let payload = batch_of(&readings, ts_ms);
        let json: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
        assert_eq!(json["v"], 2);
        assert_eq!(json["kind"], "readings");
        assert_eq!(json["ts"], "2025-11-30T10:53:20.123Z");
        assert_eq!(json["readings"][2]["value"], serde_json::Value::Null);
        let batch: BatchIn = serde_json::from_slice(&payload).expect("a batch");
        let split = split(batch);
        assert_eq!(split.len(), readings.len());
        for ((seq, r), got) in readings.iter().zip(split) {
            let got = got.expect("valid");
            let single = Event {
                ts_ms,
                body: EventBody::Reading(r.clone()),
            };
            assert_eq!(got.seq, *seq);
            assert_eq!(got.sensor, r.sensor);
            assert_eq!(got.json, wire::to_json("gw1", *seq, &single));
        }
    }

    #[test]
    fn a_bad_entry_is_reported_alone_and_the_others_split() {
        let payload = br#"{"v":2,"gateway":"gw1","kind":"readings","ts":"2026-01-01T00:00:00.000Z","readings":[
            {"seq":1,"sensor":"a.x","value":1.0,"unit":null,"quality":"good"},
            {"sensor":"a.y","value":2.0,"unit":null,"quality":"good"},
            {"seq":3,"sensor":"a.z","value":3.0,"unit":null,"quality":"good","extra":1}]}"#;
        let batch: BatchIn = serde_json::from_slice(payload).expect("a batch");
        let split = split(batch);
        assert_eq!(split[0].as_ref().map(|e| e.seq), Ok(1));
        let missing = split[1].as_ref().expect_err("no seq");
        assert_eq!(missing.index, 1);
        assert!(missing.reason.contains("seq"), "{}", missing.reason);
        assert_eq!(missing.entry["sensor"], "a.y");
        let extra = split[2].as_ref().expect_err("unknown field");
        assert!(extra.reason.contains("extra"), "{}", extra.reason);
    }
}
