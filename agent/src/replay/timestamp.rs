//! Timestamps of recorded data: RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` (taken as UTC), or Unix
//! time as a number, in seconds or milliseconds.

use chrono::{DateTime, NaiveDateTime};

/// Numbers at or above this are Unix milliseconds; below, seconds. 1e11 s is the year 5138,
/// 1e11 ms is March 1973: no real recording is ambiguous.
const MILLIS_THRESHOLD: f64 = 1e11;

/// Unix milliseconds of `text`, or `None` when it is no timestamp we read.
pub fn parse_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(number) = text.parse::<f64>() {
        if !number.is_finite() {
            return None;
        }
        let ms = if number.abs() >= MILLIS_THRESHOLD {
            number
        } else {
            number * 1000.0
        };
        // Beyond ±2^53 ms (285,000 years) the value is garbage, not a time.
        return (ms.abs() < 9.0e15).then(|| ms.round() as i64);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
    .map(|naive| naive.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn every_documented_form_parses_to_the_same_instant() {
        let expected = Some(1_583_748_873_000); // 2020-03-09 10:14:33 UTC
        assert_eq!(parse_ms("2020-03-09 10:14:33"), expected);
        assert_eq!(parse_ms("2020-03-09T10:14:33Z"), expected);
        assert_eq!(parse_ms("2020-03-09T12:14:33+02:00"), expected);
        assert_eq!(parse_ms("1583748873"), expected);
        assert_eq!(parse_ms("1583748873000"), expected);
        assert_eq!(parse_ms(" 1583748873.0 "), expected);
    }

    #[test]
    fn fractions_of_a_second_are_kept() {
        assert_eq!(parse_ms("2020-03-09 10:14:33.250"), Some(1_583_748_873_250));
        assert_eq!(parse_ms("1583748873.25"), Some(1_583_748_873_250));
    }

    #[test]
    fn garbage_is_no_timestamp() {
        for text in [
            "",
            "yesterday",
            "NaN",
            "inf",
            "2020-13-45 99:99:99",
            "1e300",
        ] {
            assert_eq!(parse_ms(text), None, "{text:?}");
        }
    }
}
