//! Reading back what reached Kafka with confluent-kafka (`tests/peers/kafka_read.py`, run by
//! the test venv's Python), and checking it: every `seq` of each gateway present, each key's
//! events in order, duplicates only identical re-sends.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths;

/// One record as the reader printed it.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaRecord {
    pub topic: String,
    pub partition: i64,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub value: String,
}

impl KafkaRecord {
    /// The event's JSON, if the value is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.value).ok()
    }
}

/// Every record of `topics`, from the beginning to the end of each partition, in partition
/// and offset order.
pub fn read_all(bootstrap: &str, topics: &[&str]) -> Result<Vec<KafkaRecord>> {
    let script = paths::workspace().join("tests/peers/kafka_read.py");
    let output = Command::new(paths::python())
        .arg(script)
        .arg(bootstrap)
        .args(topics)
        .args(["--max-seconds", "60"])
        .output()
        .context("running kafka_read.py")?;
    if !output.status.success() {
        bail!(
            "kafka_read.py failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut records = Vec::new();
    for line in String::from_utf8(output.stdout)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let text = |name: &str| v[name].as_str().map(str::to_owned);
        let headers = v["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        records.push(KafkaRecord {
            topic: text("topic").unwrap_or_default(),
            partition: v["partition"].as_i64().unwrap_or(-1),
            offset: v["offset"].as_i64().unwrap_or(-1),
            key: text("key"),
            headers,
            value: text("value").unwrap_or_default(),
        });
    }
    records
        .sort_by(|a, b| (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset)));
    Ok(records)
}

/// What the event records of a run show.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    /// Distinct (gateway, seq) seen.
    pub distinct: usize,
    /// Records beyond the first of their (gateway, seq).
    pub duplicates: usize,
    /// Duplicates whose value differs from the first: must be 0.
    pub differing_duplicates: Vec<String>,
    /// Per gateway, the seqs missing from 1 to the expected last.
    pub missing: BTreeMap<String, Vec<u64>>,
    /// Keys whose first occurrences are not in seq order, with the offending pair.
    pub out_of_order: Vec<String>,
    /// Records whose key or headers do not match their event.
    pub malformed: Vec<String>,
    /// Distinct keys seen.
    pub keys: usize,
}

impl DeliveryReport {
    /// Checks the records of event topics against `last_seq` per gateway. `asset_of` gives
    /// the expected key suffix of an event.
    pub fn of(
        records: &[KafkaRecord],
        last_seq: &BTreeMap<String, u64>,
        asset_of: impl Fn(&serde_json::Value) -> String,
    ) -> Self {
        let mut report = DeliveryReport::default();
        let mut first: HashMap<(String, u64), &str> = HashMap::new();
        // Per (topic, key): the last seq of a first occurrence, in partition order.
        let mut last_of_key: HashMap<(String, String), u64> = HashMap::new();
        for record in records {
            let Some(event) = record.json() else {
                report.malformed.push(format!("not JSON: {record:?}"));
                continue;
            };
            let (Some(gateway), Some(seq)) = (event["gateway"].as_str(), event["seq"].as_u64())
            else {
                report.malformed.push(format!("no gateway/seq: {record:?}"));
                continue;
            };
            let key = format!("{gateway}/{}", asset_of(&event));
            if record.key.as_deref() != Some(key.as_str())
                || record.headers.get("gateway").map(String::as_str) != Some(gateway)
                || record.headers.get("seq") != Some(&seq.to_string())
                || record.headers.get("kind").map(String::as_str) != event["kind"].as_str()
                || record.headers.get("schema").map(String::as_str) != Some("1")
            {
                report
                    .malformed
                    .push(format!("key {key} / headers do not match: {record:?}"));
            }
            match first.get(&(gateway.to_owned(), seq)) {
                Some(value) => {
                    report.duplicates += 1;
                    if *value != record.value {
                        report
                            .differing_duplicates
                            .push(format!("{gateway} seq {seq}"));
                    }
                }
                None => {
                    first.insert((gateway.to_owned(), seq), &record.value);
                    let slot = last_of_key
                        .entry((record.topic.clone(), key.clone()))
                        .or_insert(0);
                    if seq <= *slot {
                        report.out_of_order.push(format!(
                            "{key} in {}: seq {seq} after {}",
                            record.topic, *slot
                        ));
                    }
                    *slot = (*slot).max(seq);
                }
            }
        }
        report.distinct = first.len();
        report.keys = last_of_key.len();
        for (gateway, &last) in last_seq {
            let missing: Vec<u64> = (1..=last)
                .filter(|seq| !first.contains_key(&(gateway.clone(), *seq)))
                .collect();
            if !missing.is_empty() {
                report.missing.insert(gateway.clone(), missing);
            }
        }
        report
    }

    /// Whether every expected seq is there.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// Fails with the details unless complete, ordered, well-formed and with identical
    /// duplicates only.
    pub fn assert_sound(&self) {
        let missing: BTreeMap<_, _> = self
            .missing
            .iter()
            .map(|(g, m)| (g, (m.len(), m.iter().take(20).collect::<Vec<_>>())))
            .collect();
        assert!(
            self.missing.is_empty(),
            "missing seqs (count, first ones): {missing:?}"
        );
        assert!(
            self.out_of_order.is_empty(),
            "out of order: {:?}",
            &self.out_of_order[..self.out_of_order.len().min(20)]
        );
        assert!(
            self.differing_duplicates.is_empty(),
            "duplicates that differ: {:?}",
            self.differing_duplicates
        );
        assert!(
            self.malformed.is_empty(),
            "malformed: {:?}",
            &self.malformed[..self.malformed.len().min(5)]
        );
    }
}
