//! The spooled form of an [`Event`]: one version byte, then postcard of the event in that
//! version's shape. postcard is not self-describing, so without the byte an upgrade that
//! changed `Event` would decode an old backlog into wrong values with no error.
//!
//! | version | shape                                    | written by            |
//! |---------|------------------------------------------|-----------------------|
//! | 1       | [`Event`] as in `event/mod.rs` today     | this code             |
//!
//! Records of spool layout 1 predate this byte; the spool hands their payloads out with
//! version 1 in front (`spool::LEGACY_PAYLOAD_VERSION`), which is the shape they have.
//!
//! # Adding version 2 (say, new fields in `Alert`)
//!
//! 1. Copy today's types into `payload/v1.rs` as they are (postcard only needs the same
//!    fields in the same order), and write `From<v1::Event> for Event` (new fields get
//!    their "unknown" value).
//! 2. Change the types in `event/mod.rs`; set [`PAYLOAD_VERSION`] to 2.
//! 3. In [`decode`], add `1 => body::<v1::Event>(1, bytes).map(Event::from)`.
//! 4. Add a fixture spool written by the previous version beside
//!    `agent/tests/fixtures/spool-v1` and a test like `tests/payload_versions.rs`.
//!
//! A payload with a version this code does not know is refused with
//! [`PayloadError::UnknownVersion`] (an agent downgraded over a newer backlog): the sinks
//! say so loudly and never guess.

use super::Event;

/// The version this code writes.
pub const PAYLOAD_VERSION: u8 = 1;

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
            Err(PayloadError::Garbled { version: 1, .. })
        ));
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
