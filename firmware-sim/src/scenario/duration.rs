//! Durations in scenario files: `"90s"`, `"2m"`, `"1h30m"`, `"250ms"`, or a bare number of
//! seconds. Parsed once into seconds as `f64`; a duration is never negative or NaN.

use std::fmt;

use serde::{de, Deserialize, Deserializer};

/// A non-negative duration in seconds, of plant time or wall time as the field says.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Duration(f64);

impl Duration {
    /// A duration of `secs` seconds; `None` when negative or not finite.
    pub fn from_secs(secs: f64) -> Option<Self> {
        (secs.is_finite() && secs >= 0.0).then_some(Self(secs))
    }

    /// The duration in seconds.
    pub fn secs(self) -> f64 {
        self.0
    }

    /// Parses `"1h30m"`, `"90s"`, `"250ms"`, `"2.5m"`, `"1d"`; a bare number is seconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration".to_owned());
        }
        if let Ok(secs) = text.parse::<f64>() {
            return Self::from_secs(secs).ok_or_else(|| format!("bad duration {text:?}"));
        }
        let mut total = 0.0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("duration {text:?}: number without a unit at the end"))?;
            let number: f64 = rest[..digits]
                .parse()
                .map_err(|_| format!("duration {text:?}: expected a number before the unit"))?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let factor = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                "d" => 86_400.0,
                unit => return Err(format!("duration {text:?}: unknown unit {unit:?}")),
            };
            total += number * factor;
            rest = &rest[unit_len..];
        }
        Self::from_secs(total).ok_or_else(|| format!("bad duration {text:?}"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"90s\", \"2m\", \"1h30m\" or a number of seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                Duration::from_secs(v as f64).ok_or_else(|| E::custom("negative duration"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
                Duration::from_secs(v).ok_or_else(|| E::custom("negative or non-finite duration"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compound_durations_add_their_parts() {
        assert_eq!(Duration::parse("1h30m").map(Duration::secs), Ok(5400.0));
        assert_eq!(Duration::parse("250ms").map(Duration::secs), Ok(0.25));
        assert_eq!(Duration::parse("2.5m").map(Duration::secs), Ok(150.0));
        assert_eq!(Duration::parse("42").map(Duration::secs), Ok(42.0));
    }

    #[test]
    fn unknown_units_and_missing_units_are_refused() {
        assert!(Duration::parse("3 weeks").is_err());
        assert!(Duration::parse("5m3").is_err());
        assert!(Duration::parse("-1").is_err());
    }
}
