//! Batched readings on the agent's side: `[mqtt.batch]`, and the grouping of the
//! records the spool hands out into the messages that carry them. Pure, no I/O.
//!
//! # Design: one spool record per event, one in-flight entry per message
//!
//! The spool is unchanged: every event is its own record with its own seq. The
//! sink groups records only when it sends them, and the in-flight tracker
//! (`inflight.rs`) pairs one publish with *all* the seqs it carries, so the
//! PUBACK of a batch acknowledges its records together, and a batch lost with
//! its connection is re-sent from the spool like single records. Why not one
//! spool record per batch: the spool's guarantees (seq per event, the full
//! policy that drops the oldest telemetry first, quarantine of an undecodable
//! record, the model-based and crash tests) are stated and tested per event,
//! and a reading's seq must stay its own for receivers that deduplicate by
//! `(gateway, seq)`. Grouping at send time keeps all of that and costs nothing
//! on disk; the price is that a batch is rebuilt after a reconnect, possibly cut
//! differently, which is harmless because every reading keeps its seq and its
//! bytes (`event/batch.rs`, invariant 3).
//!
//! # What is grouped
//!
//! Consecutive records (in the order the spool hands them out: alerts, then
//! telemetry, each by seq) that are readings **of the same instant**: the
//! readings of one poll cycle of a device share its timestamp, as do those of
//! one window of a serial stream. Anything else (an alert, a health event, a
//! feature set, a record that does not decode) ends the current batch and goes
//! alone, exactly as without batching. A group is bounded by `max_events` and by
//! `max_bytes` (and always fits `max_packet_size`); a group of one reading goes
//! as the single event (wire version 1), on its own topic.
//!
//! The spool writer appends what has arrived, a few dozen events at a time; an
//! idle sink woken at once would read and send a poll cycle in those pieces. So
//! an idle sink woken by new events reads them `linger` (20 ms) later (the
//! driver's `read_after`); a backlog is read at once. Whole cycles are then the
//! rule, and a cycle cut by a read (appended while the read ran) the exception.

use std::time::Duration;

use serde::Deserialize;

use crate::event::batch::BatchBuilder;
use crate::event::{payload, Event, EventBody};
use crate::spool::Record;

use super::error::MqttError;
use super::message::{Encoder, Message, PUBLISH_OVERHEAD};

/// `[mqtt.batch]`: readings of one instant in one message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Send the readings of one instant as one message (wire version 2); false: one
    /// message per reading (wire version 1). Default: true.
    pub readings: bool,
    /// Most readings in one message, 2 to 10000. Default: 500.
    pub max_events: u32,
    /// Largest payload of one message in bytes, at least 512; a batch is also kept
    /// within `max_packet_size`. Default: 65536.
    pub max_bytes: u32,
    /// An idle sink woken by new events waits this long before it reads them, so that
    /// it finds whole poll cycles: without it, it reads each few dozen readings as the
    /// spool writer appends them and sends a cycle in pieces. Adds up to this much to the
    /// latency of an event that arrives while the sink is idle (a backlog is read at
    /// once); "0s" reads at once. At most "1s". Default: "20ms".
    #[serde(deserialize_with = "super::config::duration")]
    pub linger: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            readings: true,
            max_events: 500,
            max_bytes: 64 * 1024,
            linger: Duration::from_millis(20),
        }
    }
}

impl BatchConfig {
    pub(crate) fn validate(&self) -> Result<(), MqttError> {
        if !(2..=10_000).contains(&self.max_events) {
            return Err(MqttError::config("batch.max_events", "must be 2 to 10000"));
        }
        if self.max_bytes < 512 {
            return Err(MqttError::config("batch.max_bytes", "must be at least 512"));
        }
        if self.linger > Duration::from_secs(1) {
            return Err(MqttError::config("batch.linger", "must be at most 1s"));
        }
        Ok(())
    }

    /// How many records one publish may carry.
    pub(crate) fn per_message(&self) -> usize {
        if self.readings {
            self.max_events as usize
        } else {
            1
        }
    }
}

/// One message and the seqs of the records it carries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outbound {
    pub message: Message,
    pub seqs: Vec<u64>,
}

/// The batch being filled: its builder, its topic, and its first record (sent
/// alone if nothing joins it).
struct Open {
    builder: BatchBuilder,
    topic: String,
    first: Record,
    first_event: Event,
    limit: usize,
}

/// The messages that carry `records`, in order; every record is in exactly one.
pub(crate) fn group(
    encoder: &Encoder,
    config: &BatchConfig,
    records: Vec<Record>,
) -> Vec<Outbound> {
    let mut out = Vec::new();
    let mut open: Option<Open> = None;
    for record in records {
        let decoded = payload::decode(&record.payload);
        let reading = match &decoded {
            Ok(Event {
                ts_ms,
                body: EventBody::Reading(reading),
            }) if config.readings => Some((*ts_ms, reading)),
            _ => None,
        };
        let Some((ts_ms, reading)) = reading else {
            close(encoder, &mut open, &mut out);
            let message = encoder.encode_decoded(&record, decoded);
            out.push(Outbound {
                message,
                seqs: vec![record.seq],
            });
            continue;
        };
        let entry = BatchBuilder::entry(record.seq, reading);
        let joins = open.as_ref().is_some_and(|o| {
            o.builder.ts_ms() == ts_ms
                && o.builder.len() < config.max_events as usize
                && o.builder.size_with(&entry) <= o.limit
        });
        if !joins {
            close(encoder, &mut open, &mut out);
            let topic = encoder
                .topics
                .readings_topic(&encoder.gateway, &reading.sensor);
            let limit = (config.max_bytes as usize).min(
                encoder
                    .max_packet
                    .saturating_sub(topic.len() + PUBLISH_OVERHEAD),
            );
            let builder = BatchBuilder::new(&encoder.gateway, ts_ms);
            let first_event = decoded.clone().expect("matched as a decoded reading above");
            open = Some(Open {
                builder,
                topic,
                first: record.clone(),
                first_event,
                limit,
            });
        }
        if let Some(o) = open.as_mut() {
            o.builder.push(record.seq, &entry);
        }
    }
    close(encoder, &mut open, &mut out);
    out
}

/// Ends the open batch: a batch of one goes as the single event.
fn close(encoder: &Encoder, open: &mut Option<Open>, out: &mut Vec<Outbound>) {
    let Some(o) = open.take() else {
        return;
    };
    if o.builder.len() == 1 {
        let message = encoder.encode_decoded(&o.first, Ok(o.first_event));
        out.push(Outbound {
            message,
            seqs: vec![o.first.seq],
        });
        return;
    }
    let (payload, seqs) = o.builder.finish();
    out.push(Outbound {
        message: Message {
            topic: o.topic,
            payload,
            dead_letter: None,
        },
        seqs,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{HealthState, Quality, Reading};
    use crate::mqtt::config::TopicConfig;
    use crate::mqtt::topics::TopicLayout;
    use crate::spool::Priority;

    fn encoder(max_packet: usize) -> Encoder {
        let topics = TopicLayout::parse(&TopicConfig::default()).expect("default topics");
        Encoder::new("gw1", topics, max_packet)
    }

    fn record(seq: u64, event: &Event) -> Record {
        Record {
            seq,
            class: Priority::Telemetry,
            enqueued_at_ms: 0,
            payload: payload::encode(event),
        }
    }

    fn reading(seq: u64, ts_ms: i64, sensor: &str) -> Record {
        let event = Event {
            ts_ms,
            body: EventBody::Reading(Reading {
                sensor: sensor.to_owned(),
                value: seq as f64,
                unit: Some("mm/s".to_owned()),
                quality: Quality::Good,
            }),
        };
        record(seq, &event)
    }

    fn config(max_events: u32, max_bytes: u32) -> BatchConfig {
        BatchConfig {
            readings: true,
            max_events,
            max_bytes,
            linger: Duration::ZERO,
        }
    }

    fn seqs(out: &[Outbound]) -> Vec<Vec<u64>> {
        out.iter().map(|o| o.seqs.clone()).collect()
    }

    #[test]
    fn readings_of_one_instant_travel_together_and_each_keeps_its_seq() {
        let records = vec![
            reading(1, 1000, "m1.a"),
            reading(2, 1000, "m1.b"),
            reading(4, 1000, "m1.c"),
            reading(5, 1100, "m1.a"),
            reading(6, 1100, "m1.b"),
        ];
        let out = group(&encoder(1 << 20), &config(500, 65536), records);
        assert_eq!(seqs(&out), vec![vec![1, 2, 4], vec![5, 6]]);
        assert_eq!(out[0].message.topic, "edge/gw1/readings");
        let json: serde_json::Value =
            serde_json::from_slice(&out[0].message.payload).expect("JSON");
        assert_eq!(json["v"], 2);
        assert_eq!(json["ts"], "1970-01-01T00:00:01.000Z");
        let inside: Vec<u64> = json["readings"]
            .as_array()
            .expect("readings")
            .iter()
            .map(|r| r["seq"].as_u64().expect("seq"))
            .collect();
        assert_eq!(inside, vec![1, 2, 4]);
    }

    #[test]
    fn anything_but_a_reading_ends_the_batch_and_goes_alone() {
        let health = Event::health(1000, "device:m1", HealthState::Online, "ok");
        let records = vec![
            reading(1, 1000, "m1.a"),
            reading(2, 1000, "m1.b"),
            record(3, &health),
            reading(4, 1000, "m1.c"),
            Record {
                payload: vec![0xff, 1],
                ..reading(5, 1000, "x")
            },
            reading(6, 1000, "m1.d"),
            reading(7, 1000, "m1.e"),
        ];
        let out = group(&encoder(1 << 20), &config(500, 65536), records);
        assert_eq!(
            seqs(&out),
            vec![vec![1, 2], vec![3], vec![4], vec![5], vec![6, 7]]
        );
        assert_eq!(out[1].message.topic, "edge/gw1/health/device:m1");
        // A lone reading goes as the single event of wire version 1, on its own topic.
        assert_eq!(out[2].message.topic, "edge/gw1/reading/m1.c");
        let single: serde_json::Value =
            serde_json::from_slice(&out[2].message.payload).expect("JSON");
        assert_eq!(
            (single["v"].as_u64(), single["seq"].as_u64()),
            (Some(1), Some(4))
        );
        assert!(
            out[3].message.dead_letter.is_some(),
            "undecodable: dead letter"
        );
    }

    #[test]
    fn a_batch_is_bounded_by_count_and_by_bytes() {
        let records: Vec<Record> = (1..=7).map(|s| reading(s, 5, "m1.a")).collect();
        let out = group(&encoder(1 << 20), &config(3, 65536), records.clone());
        assert_eq!(seqs(&out), vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        // Each entry is about 75 bytes and the head about 80: 512 bytes hold 5 entries.
        let out = group(&encoder(1 << 20), &config(500, 512), records.clone());
        assert!(out.len() > 1, "{:?}", seqs(&out));
        for o in &out {
            assert!(
                o.message.payload.len() <= 512,
                "{}",
                o.message.payload.len()
            );
        }
        assert_eq!(seqs(&out).concat(), (1..=7).collect::<Vec<_>>());
        // max_packet_size binds too.
        let out = group(&encoder(400), &config(500, 65536), records);
        for o in &out {
            assert!(o.message.topic.len() + o.message.payload.len() + PUBLISH_OVERHEAD <= 400);
        }
        assert_eq!(seqs(&out).concat(), (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn with_batching_off_every_record_is_its_own_message() {
        let records: Vec<Record> = (1..=3).map(|s| reading(s, 5, "m1.a")).collect();
        let off = BatchConfig {
            readings: false,
            ..BatchConfig::default()
        };
        let out = group(&encoder(1 << 20), &off, records);
        assert_eq!(seqs(&out), vec![vec![1], vec![2], vec![3]]);
        assert!(out
            .iter()
            .all(|o| o.message.topic == "edge/gw1/reading/m1.a"));
        assert_eq!(off.per_message(), 1);
    }

    #[test]
    fn limits_out_of_range_are_refused_by_name() {
        assert!(config(1, 65536).validate().is_err());
        assert!(config(10_001, 65536).validate().is_err());
        assert!(config(2, 511).validate().is_err());
        assert!(BatchConfig::default().validate().is_ok());
    }
}
