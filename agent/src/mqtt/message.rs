//! From a spooled record to the MQTT message that carries it (readings may
//! also travel in batches: `batching.rs`).
//!
//! A record's payload is the postcard encoding of an [`Event`]; the message is
//! its JSON wire shape ([`wire::to_json`]) on the topic of its kind. A record
//! that cannot be sent that way (its payload does not decode, or the packet
//! would exceed `max_packet_size`) is not dropped: it is published on the
//! dead-letter topic as a small JSON object that keeps its seq, and removed
//! from the spool only when that publish is acknowledged, like any other.

use serde::Serialize;

use crate::event::{payload, wire, Event};
use crate::spool::Record;

use super::topics::TopicLayout;

/// Bytes of an MQTT 3.1.1 PUBLISH besides topic and payload, at most: fixed
/// header (1), remaining length (up to 4), topic length (2), packet id (2).
pub(crate) const PUBLISH_OVERHEAD: usize = 9;

/// One message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Set when the record goes to the dead-letter topic: why.
    pub dead_letter: Option<String>,
}

/// What goes on the dead-letter topic.
#[derive(Serialize)]
struct DeadLetter<'a> {
    v: u8,
    gateway: &'a str,
    seq: u64,
    class: &'static str,
    enqueued_at_ms: i64,
    error: &'a str,
    /// The spooled bytes in hex, when they fit in a packet.
    payload_hex: Option<String>,
}

/// Turns records into messages for one gateway and topic layout.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    pub(crate) gateway: String,
    pub(crate) topics: TopicLayout,
    dead_letter_topic: String,
    pub(crate) max_packet: usize,
}

impl Encoder {
    pub(crate) fn new(gateway: &str, topics: TopicLayout, max_packet: usize) -> Self {
        Encoder {
            gateway: gateway.to_owned(),
            dead_letter_topic: topics.dead_letter_topic(gateway),
            topics,
            max_packet,
        }
    }

    /// The message for `record`.
    #[cfg(test)]
    pub(crate) fn encode(&self, record: &Record) -> Message {
        self.encode_decoded(record, payload::decode(&record.payload))
    }

    /// The message for `record`, whose payload decoded to `decoded`.
    pub(crate) fn encode_decoded(
        &self,
        record: &Record,
        decoded: Result<Event, payload::PayloadError>,
    ) -> Message {
        let event = match decoded {
            Ok(event) => event,
            Err(error) => {
                return self.dead_letter(record, &format!("payload does not decode: {error}"))
            }
        };
        let topic = self.topics.event_topic(&self.gateway, &event.body);
        let payload = wire::to_json(&self.gateway, record.seq, &event).into_bytes();
        let size = topic.len() + payload.len() + PUBLISH_OVERHEAD;
        if size > self.max_packet {
            return self.dead_letter(
                record,
                &format!(
                    "{} event of {size} bytes exceeds max_packet_size = {}",
                    event.body.kind(),
                    self.max_packet
                ),
            );
        }
        Message {
            topic,
            payload,
            dead_letter: None,
        }
    }

    fn dead_letter(&self, record: &Record, error: &str) -> Message {
        let mut letter = DeadLetter {
            v: wire::WIRE_VERSION,
            gateway: &self.gateway,
            seq: record.seq,
            class: record.class.as_str(),
            enqueued_at_ms: record.enqueued_at_ms,
            error,
            payload_hex: Some(hex(&record.payload)),
        };
        let mut payload = to_json(&letter);
        if self.dead_letter_topic.len() + payload.len() + PUBLISH_OVERHEAD > self.max_packet {
            letter.payload_hex = None;
            payload = to_json(&letter);
        }
        Message {
            topic: self.dead_letter_topic.clone(),
            payload,
            dead_letter: Some(error.to_owned()),
        }
    }
}

fn to_json(letter: &DeadLetter<'_>) -> Vec<u8> {
    // A struct of strings and integers always serialises.
    serde_json::to_vec(letter).expect("dead letters always serialise")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventBody, Quality, Reading};
    use crate::mqtt::config::TopicConfig;
    use crate::spool::Priority;

    fn encoder(max_packet: usize) -> Encoder {
        let topics = TopicLayout::parse(&TopicConfig::default()).expect("default topics");
        Encoder::new("gw1", topics, max_packet)
    }

    fn record(seq: u64, payload: Vec<u8>) -> Record {
        Record {
            seq,
            class: Priority::Telemetry,
            enqueued_at_ms: 1_700_000_000_000,
            payload,
        }
    }

    fn reading_bytes(sensor: &str) -> Vec<u8> {
        let event = Event {
            ts_ms: 1_700_000_000_000,
            body: EventBody::Reading(Reading {
                sensor: sensor.to_owned(),
                value: 3.5,
                unit: Some("mm/s".to_owned()),
                quality: Quality::Good,
            }),
        };
        payload::encode(&event)
    }

    #[test]
    fn an_event_goes_as_its_wire_json_on_the_topic_of_its_kind() {
        let message = encoder(64 * 1024).encode(&record(42, reading_bytes("m1.temp")));
        assert_eq!(message.topic, "edge/gw1/reading/m1.temp");
        assert_eq!(message.dead_letter, None);
        let json: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(json["seq"], 42);
        assert_eq!(json["gateway"], "gw1");
        assert_eq!(json["kind"], "reading");
        assert_eq!(json["value"], 3.5);
    }

    #[test]
    fn an_undecodable_payload_goes_to_the_dead_letter_topic_with_its_seq() {
        let message = encoder(64 * 1024).encode(&record(7, vec![0xff, 0xfe, 0x01]));
        assert_eq!(message.topic, "edge/gw1/dead-letter");
        assert!(message.dead_letter.is_some());
        let json: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["payload_hex"], "fffe01");
        assert_eq!(json["class"], "telemetry");
    }

    #[test]
    fn an_event_too_large_for_a_packet_goes_to_the_dead_letter_topic_without_payload() {
        let message = encoder(1024).encode(&record(9, reading_bytes(&"s".repeat(2000))));
        assert_eq!(message.topic, "edge/gw1/dead-letter");
        let json: serde_json::Value = serde_json::from_slice(&message.payload).expect("json");
        assert_eq!(json["seq"], 9);
        assert!(json["payload_hex"].is_null());
        assert!(json["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_packet_size")));
        assert!(message.payload.len() < 1024);
    }
}
