//! The spooled form of an [`Event`]: one version byte, then postcard of the event in that
//! version's shape. postcard is not self-describing, so without the byte an upgrade that
//! changed `Event` would decode an old backlog into wrong values with no error.
//!
//! | version | shape                                    | written by            |
//! |---------|------------------------------------------|-----------------------|
//! | 1       | `Alert` without `statistic` and `evidence`, its `score` the detector's statistic (`payload/v1.rs`) | agents before issue 9 |
//! | 2       | `Alert` without `held_back` (`payload/v2.rs`) | agents before alert discipline |
//! | 3       | [`Event`] as in `event/mod.rs` today     | this code             |
//!
//! Records of spool layout 1 predate this byte; the spool hands their payloads out with
//! version 1 in front (`spool::LEGACY_PAYLOAD_VERSION`), which is the shape they have.
//!
//! # Adding a version (say, new fields in `Alert`)
//!
//! 1. Copy today's types into `payload/vN.rs` as they are (postcard only needs the same
//!    fields in the same order), and write `From<vN::Event> for Event` (new fields get
//!    their "unknown" value). Make version N − 1 convert into version N, and through it into
//!    today's `Event`, so that each version's decoder says only what changed after it.
//! 2. Change the types in `event/mod.rs`; set [`PAYLOAD_VERSION`] to N + 1.
//! 3. In [`decode`], add `N => body::<vN::Event>(N, bytes).map(Event::from)`.
//! 4. Add a test that the previous version's payloads decode, like the ones below, or a
//!    fixture spool written by the previous version as `agent/tests/fixtures/spool-v1`.
//!
//! A payload with a version this code does not know is refused with
//! [`PayloadError::UnknownVersion`] (an agent downgraded over a newer backlog): the sinks
//! say so loudly and never guess.

mod v1;
mod v2;

use super::Event;

/// The version this code writes.
pub const PAYLOAD_VERSION: u8 = 3;

/// Why a payload does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("empty payload")]
    Empty,
    #[error("payload version {version} is newer than this agent knows (up to {PAYLOAD_VERSION}): written by a newer agent?")]
    UnknownVersion { version: u8 },
    #[error("payload version {version} does not decode: {error}")]
    Garbled { version: u8, error: String },
}

/// The payload of `event`: [`PAYLOAD_VERSION`], then postcard.
pub fn encode(event: &Event) -> Vec<u8> {
    // postcard into a Vec cannot fail for these plain types (no maps with non-string keys,
    // no sequences of unknown length).
    postcard::to_extend(event, vec![PAYLOAD_VERSION]).expect("events always encode with postcard")
}

/// The event in `payload`, converted to today's shape if it was written in an older one.
pub fn decode(payload: &[u8]) -> Result<Event, PayloadError> {
    let (&version, bytes) = payload.split_first().ok_or(PayloadError::Empty)?;
    match version {
        PAYLOAD_VERSION => body::<Event>(version, bytes),
        2 => body::<v2::Event>(2, bytes).map(Event::from),
        1 => body::<v1::Event>(1, bytes).map(Event::from),
        _ => Err(PayloadError::UnknownVersion { version }),
    }
}

/// Decodes the postcard body of one version, refusing trailing bytes.
fn body<T: serde::de::DeserializeOwned>(version: u8, bytes: &[u8]) -> Result<T, PayloadError> {
    let garbled = |error: String| PayloadError::Garbled { version, error };
    let (value, rest) = postcard::take_from_bytes(bytes).map_err(|e| garbled(e.to_string()))?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(garbled(format!("{} bytes left over", rest.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::HealthState;
    use proptest::prelude::*;

    #[test]
    fn an_event_round_trips_behind_its_version_byte() {
        let event = Event::health(1_764_500_000_000, "spool", HealthState::Online, "ok");
        let payload = encode(&event);
        assert_eq!(payload[0], PAYLOAD_VERSION);
        assert_eq!(decode(&payload), Ok(event));
    }

    #[test]
    fn a_newer_version_is_refused_by_name() {
        let mut payload = encode(&Event::health(0, "spool", HealthState::Online, ""));
        payload[0] = PAYLOAD_VERSION + 1;
        let error = decode(&payload).expect_err("refused");
        assert_eq!(
            error,
            PayloadError::UnknownVersion {
                version: PAYLOAD_VERSION + 1
            }
        );
        assert!(error.to_string().contains("newer"), "{error}");
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut payload = encode(&Event::health(0, "spool", HealthState::Online, ""));
        payload.push(0);
        assert!(matches!(
            decode(&payload),
            Err(PayloadError::Garbled {
                version: PAYLOAD_VERSION,
                ..
            })
        ));
    }

    #[test]
    fn a_version_1_alert_decodes_with_its_statistic_and_an_unknown_score() {
        // Version 1's Alert, field for field (as agents before issue 9 wrote it).
        #[derive(serde::Serialize)]
        struct AlertV1<'a> {
            sensor: &'a str,
            state: crate::event::AlertState,
            rule: &'a str,
            rule_hash: &'a str,
            severity: crate::event::Severity,
            detector: &'a str,
            value: f64,
            feature: &'a str,
            feature_value: f64,
            score: f64,
            row: Option<u64>,
        }
        #[derive(serde::Serialize)]
        enum BodyV1<'a> {
            #[allow(dead_code)]
            Reading(()),
            #[allow(dead_code)]
            Features(()),
            Alert(AlertV1<'a>),
        }
        #[derive(serde::Serialize)]
        struct EventV1<'a> {
            ts_ms: i64,
            body: BodyV1<'a>,
        }
        let old = EventV1 {
            ts_ms: 7,
            body: BodyV1::Alert(AlertV1 {
                sensor: "s",
                state: crate::event::AlertState::Raised,
                rule: "r",
                rule_hash: "0123456789abcdef",
                severity: crate::event::Severity::Warning,
                detector: "cusum",
                value: 1.0,
                feature: "value",
                feature_value: 1.0,
                score: 61.5,
                row: None,
            }),
        };
        let mut payload = vec![1];
        payload.extend(postcard::to_stdvec(&old).expect("encode"));
        let event = decode(&payload).expect("version 1 decodes");
        let crate::event::EventBody::Alert(alert) = event.body else {
            panic!("an alert: {event:?}");
        };
        assert_eq!(alert.statistic, 61.5);
        assert!(alert.score.is_nan());
        assert_eq!(alert.evidence, None);
        assert_eq!(event.ts_ms, 7);
    }

    #[test]
    fn a_version_2_alert_decodes_with_no_raise_held_back() {
        let old = v2::Event {
            ts_ms: 9,
            body: v2::EventBody::Alert(v2::Alert {
                sensor: "s".into(),
                state: crate::event::AlertState::Raised,
                rule: "unusual-behaviour".into(),
                rule_hash: "0123456789abcdef".into(),
                severity: crate::event::Severity::Warning,
                detector: "adaptive".into(),
                value: 3.0,
                feature: "value".into(),
                feature_value: 3.0,
                score: 0.999,
                row: Some(12),
                statistic: 7.5,
                evidence: Some(crate::event::Evidence {
                    level: 1.0,
                    spread: 0.5,
                    horizon_s: 21_600.0,
                }),
            }),
        };
        let mut payload = vec![2];
        payload.extend(postcard::to_stdvec(&old).expect("encode"));
        let event = decode(&payload).expect("version 2 decodes");
        let crate::event::EventBody::Alert(alert) = event.body else {
            panic!("an alert: {event:?}");
        };
        assert_eq!(
            (alert.statistic, alert.score, alert.row),
            (7.5, 0.999, Some(12))
        );
        assert_eq!(alert.evidence.map(|e| e.horizon_s), Some(21_600.0));
        assert_eq!(alert.held_back, 0);
        assert_eq!(event.ts_ms, 9);
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
