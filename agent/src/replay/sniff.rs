//! What an input that gave no samples looked like, so that the error can say why.

use std::io::{Chain, Cursor, Read};

use super::input::{InputCounters, InputError};

/// Bytes kept from the start of the input for [`diagnose`].
const HEAD: usize = 4096;

/// The whole input again: the bytes peeked at, then the rest.
pub(super) type Replayed<R> = Chain<Cursor<Vec<u8>>, R>;

/// The first bytes of `input`, and a reader that still yields all of it.
pub(super) fn peek<R: Read>(mut input: R) -> Result<(Vec<u8>, Replayed<R>), InputError> {
    let mut head = vec![0u8; HEAD];
    let mut filled = 0;
    while filled < HEAD {
        let n = input
            .read(&mut head[filled..])
            .map_err(|e| InputError::Csv(e.into()))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok((head.clone(), Cursor::new(head).chain(input)))
}

/// Why an input whose start is `head` may have given no samples; `None` if nothing stands out.
pub(super) fn diagnose(head: &[u8], counters: &InputCounters) -> Option<String> {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Some(
            "this input is gzip-compressed: decompress it first (`gunzip -k FILE`)".into(),
        );
    }
    if head.contains(&0)
        || std::str::from_utf8(head).is_err_and(|e| e.valid_up_to() < head.len().saturating_sub(4))
    {
        return Some("this input is binary, not text".into());
    }
    let text = String::from_utf8_lossy(head);
    let first = text.trim_start();
    if first.starts_with('{') || first.starts_with('[') {
        return Some("this input is JSON, not CSV: convert it to `timestamp,value` rows".into());
    }
    if counters.bad_values > 0 && has_decimal_commas(&text) {
        return Some(
            "its numbers use decimal commas (such as `3,14`): replay reads decimal points only"
                .into(),
        );
    }
    if counters.rows > 0 && counters.bad_timestamps == counters.rows {
        return Some("no timestamp could be read: expected RFC 3339, `YYYY-MM-DD HH:MM:SS` or Unix seconds or milliseconds in the first column (or one named timestamp, datetime or time)".into());
    }
    if counters.bad_values > 0 {
        return Some("no value was a number".into());
    }
    None
}

/// Whether a semicolon-separated line holds a number written with a decimal comma.
fn has_decimal_commas(text: &str) -> bool {
    text.lines().skip(1).any(|line| {
        line.split(';').any(|cell| {
            let cell = cell.trim();
            cell.split_once(',').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.trim_start_matches('-')
                        .chars()
                        .all(|c| c.is_ascii_digit())
                    && b.chars().all(|c| c.is_ascii_digit())
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(rows: u64, bad_timestamps: u64, bad_values: u64) -> InputCounters {
        InputCounters {
            rows,
            bad_timestamps,
            bad_values,
            ..InputCounters::default()
        }
    }

    #[test]
    fn each_kind_of_wrong_input_is_named() {
        let said = |head: &[u8], c| diagnose(head, &c).unwrap_or_default();
        assert!(said(&[0x1f, 0x8b, 8, 0, 0], rows(0, 0, 0)).contains("gzip"));
        assert!(said(b"\x00\x01\x02binary", rows(1, 1, 0)).contains("binary"));
        assert!(said(b"{\"ts\": 1, \"v\": 2}\n", rows(1, 1, 0)).contains("JSON"));
        assert!(said(b"t;v\n2024-01-01 00:00:00;3,14\n", rows(1, 0, 1)).contains("decimal commas"));
        assert!(said(b"t,v\nyesterday,1\n", rows(1, 1, 0)).contains("timestamp"));
    }

    #[test]
    fn peeking_loses_no_byte() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (head, mut all) = peek(&data[..]).expect("peek");
        assert_eq!(head, data[..HEAD]);
        let mut back = Vec::new();
        all.read_to_end(&mut back).expect("read");
        assert_eq!(back, data);
    }
}
