//! Records and their encoding: the keys and values the spool writes into sled.
//!
//! Key of a record: `b'r'`, the class byte, the seq as 8 big-endian bytes.
//! Value: [`RECORD_VERSION`], then postcard of [`RecordV1`]. The seq and class
//! are repeated in the value so that a value found under the wrong key is
//! detected as corrupt instead of being sent under a wrong seq.
//!
//! Record versions:
//! - `2` (written now): the fields of [`RecordV1`]; the payload starts with its
//!   own version byte (the agent's, see `event::payload`).
//! - `1` (read only): the same fields, written before payloads carried a
//!   version. Such a payload is handed out with [`LEGACY_PAYLOAD_VERSION`]
//!   put in front of it, so that every payload handed out starts with its
//!   version byte, whatever wrote it.

use serde::{Deserialize, Serialize};

/// The version byte that starts every record value written by this code.
pub(crate) const RECORD_VERSION: u8 = 2;

/// The last record version whose payloads carried no version byte of their own.
const UNVERSIONED_PAYLOADS: u8 = 1;

/// The payload version a record of version 1 is handed out with: its payload
/// was the agent's event in the shape that became payload version 1.
pub const LEGACY_PAYLOAD_VERSION: u8 = 1;

/// Length of a record key: prefix, class, big-endian seq.
pub(crate) const KEY_LEN: usize = 10;

/// Prefix byte of record keys.
pub(crate) const RECORD_PREFIX: u8 = b'r';

/// Prefix byte of records moved out of the queue because they could not be decoded.
pub(crate) const QUARANTINE_PREFIX: u8 = b'q';

/// The class of a record. Alerts are sent before telemetry and survive a full
/// spool longer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Alerts, alert transitions and health events: sent first, dropped last.
    Alert,
    /// Readings and features: dropped first when the spool is full.
    Telemetry,
}

impl Priority {
    /// Both classes, in sending order.
    pub const ALL: [Priority; 2] = [Priority::Alert, Priority::Telemetry];

    /// The byte that follows the record prefix in a key. Alerts sort first.
    pub(crate) fn key_byte(self) -> u8 {
        match self {
            Priority::Alert => 0,
            Priority::Telemetry => 1,
        }
    }

    pub(crate) fn from_key_byte(byte: u8) -> Option<Priority> {
        match byte {
            0 => Some(Priority::Alert),
            1 => Some(Priority::Telemetry),
            _ => None,
        }
    }

    /// Lower-case name, as used in logs, metrics and the inspect report.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Alert => "alert",
            Priority::Telemetry => "telemetry",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One spooled event, as handed to the sink by
/// [`Spool::next_batch`](super::Spool::next_batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Assigned by the spool at append: +1 per record, never reused.
    pub seq: u64,
    /// The record's class.
    pub class: Priority,
    /// Wall clock at append, milliseconds since the Unix epoch.
    pub enqueued_at_ms: i64,
    /// The opaque event bytes given to `append`.
    pub payload: Vec<u8>,
}

/// The on-disk form of a record, version 1. Borrowed, so encoding copies the
/// payload once.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RecordV1<'a> {
    pub seq: u64,
    pub class: Priority,
    pub enqueued_at_ms: i64,
    #[serde(borrow)]
    pub payload: &'a [u8],
}

/// Why a stored value could not be turned back into a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The key is not `r`, class, 8-byte seq.
    #[error("malformed record key {0:02x?}")]
    BadKey(Vec<u8>),
    /// The value is empty.
    #[error("empty record value")]
    Empty,
    /// The version byte is not one this code can read.
    #[error("unknown record version byte {0}")]
    UnknownVersion(u8),
    /// postcard refused the bytes after the version byte.
    #[error("postcard: {0}")]
    Postcard(String),
    /// Bytes are left over after the record.
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    /// The value decodes, but names another seq or class than its key.
    #[error(
        "value says seq {value_seq} class {value_class}, key says seq {key_seq} class {key_class}"
    )]
    KeyMismatch {
        key_seq: u64,
        key_class: Priority,
        value_seq: u64,
        value_class: Priority,
    },
}

/// The key of a record.
pub(crate) fn key(class: Priority, seq: u64) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    key[0] = RECORD_PREFIX;
    key[1] = class.key_byte();
    key[2..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The key prefix of one class: iterating it yields that class in seq order.
pub(crate) fn class_prefix(class: Priority) -> [u8; 2] {
    [RECORD_PREFIX, class.key_byte()]
}

/// Splits a record key into class and seq.
pub(crate) fn parse_key(key: &[u8]) -> Result<(Priority, u64), DecodeError> {
    let bad = || DecodeError::BadKey(key.to_vec());
    if key.len() != KEY_LEN || key[0] != RECORD_PREFIX {
        return Err(bad());
    }
    let class = Priority::from_key_byte(key[1]).ok_or_else(bad)?;
    let seq_bytes: [u8; 8] = key[2..].try_into().map_err(|_| bad())?;
    Ok((class, u64::from_be_bytes(seq_bytes)))
}

/// Encodes a record value: version byte, then postcard.
pub(crate) fn encode(record: &RecordV1<'_>) -> Result<Vec<u8>, postcard::Error> {
    let mut out = Vec::with_capacity(record.payload.len() + 24);
    out.push(RECORD_VERSION);
    postcard::to_extend(record, out)
}

/// Decodes a record value found under `key`.
pub(crate) fn decode(key: &[u8], value: &[u8]) -> Result<Record, DecodeError> {
    let (key_class, key_seq) = parse_key(key)?;
    let (&version, body) = value.split_first().ok_or(DecodeError::Empty)?;
    if version != RECORD_VERSION && version != UNVERSIONED_PAYLOADS {
        return Err(DecodeError::UnknownVersion(version));
    }
    let (v1, rest): (RecordV1<'_>, _) =
        postcard::take_from_bytes(body).map_err(|e| DecodeError::Postcard(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    if v1.seq != key_seq || v1.class != key_class {
        return Err(DecodeError::KeyMismatch {
            key_seq,
            key_class,
            value_seq: v1.seq,
            value_class: v1.class,
        });
    }
    let payload = if version == UNVERSIONED_PAYLOADS {
        let mut tagged = Vec::with_capacity(v1.payload.len() + 1);
        tagged.push(LEGACY_PAYLOAD_VERSION);
        tagged.extend_from_slice(v1.payload);
        tagged
    } else {
        v1.payload.to_vec()
    };
    Ok(Record {
        seq: v1.seq,
        class: v1.class,
        enqueued_at_ms: v1.enqueued_at_ms,
        payload,
    })
}

/// Reads only the timestamp of a record value (for the oldest-age metric).
pub(crate) fn decode_enqueued_at(key: &[u8], value: &[u8]) -> Option<i64> {
    decode(key, value).ok().map(|r| r.enqueued_at_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_sort_alerts_first_then_by_seq() {
        let mut keys = [
            key(Priority::Telemetry, 1),
            key(Priority::Alert, 300),
            key(Priority::Telemetry, 256),
            key(Priority::Alert, 2),
        ];
        keys.sort();
        let parsed: Vec<_> = keys
            .iter()
            .map(|k| parse_key(k).expect("valid key"))
            .collect();
        assert_eq!(
            parsed,
            vec![
                (Priority::Alert, 2),
                (Priority::Alert, 300),
                (Priority::Telemetry, 1),
                (Priority::Telemetry, 256),
            ]
        );
    }

    #[test]
    fn a_value_starts_with_the_version_byte() {
        let value = encode(&RecordV1 {
            seq: 7,
            class: Priority::Alert,
            enqueued_at_ms: 1_700_000_000_000,
            payload: b"abc",
        })
        .expect("encodes");
        assert_eq!(value[0], RECORD_VERSION);
    }

    /// The value of alert 7 with payload `abc`, its version byte set to `version`.
    fn value_of_version(version: u8) -> Vec<u8> {
        let mut value = encode(&RecordV1 {
            seq: 7,
            class: Priority::Alert,
            enqueued_at_ms: 0,
            payload: b"abc",
        })
        .expect("encodes");
        value[0] = version;
        value
    }

    #[test]
    fn an_unknown_version_byte_is_refused() {
        let value = value_of_version(3);
        assert_eq!(
            decode(&key(Priority::Alert, 7), &value),
            Err(DecodeError::UnknownVersion(3))
        );
    }

    #[test]
    fn a_version_1_record_hands_out_its_payload_with_the_legacy_payload_version() {
        let value = value_of_version(UNVERSIONED_PAYLOADS);
        let record = decode(&key(Priority::Alert, 7), &value).expect("decodes");
        assert_eq!(record.payload, [LEGACY_PAYLOAD_VERSION, b'a', b'b', b'c']);
    }

    #[test]
    fn a_value_under_the_wrong_key_is_refused() {
        let value = encode(&RecordV1 {
            seq: 7,
            class: Priority::Alert,
            enqueued_at_ms: 0,
            payload: b"abc",
        })
        .expect("encodes");
        assert!(matches!(
            decode(&key(Priority::Alert, 8), &value),
            Err(DecodeError::KeyMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn encoding_round_trips(seq: u64, alert: bool, at: i64, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let class = if alert { Priority::Alert } else { Priority::Telemetry };
            let value = encode(&RecordV1 { seq, class, enqueued_at_ms: at, payload: &payload }).expect("encodes");
            let record = decode(&key(class, seq), &value).expect("decodes");
            prop_assert_eq!(record, Record { seq, class, enqueued_at_ms: at, payload });
        }

        #[test]
        fn decoding_never_panics(k in proptest::collection::vec(any::<u8>(), 0..12), v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&k, &v);
        }
    }
}
