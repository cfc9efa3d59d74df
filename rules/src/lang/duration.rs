//! Durations in rule files: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, or a combination (`"1m30s"`).

/// Milliseconds in `text`, or a message saying what is wrong.
pub fn parse_ms(text: &str) -> Result<i64, String> {
    let bad = || {
        format!("`{text}` is not a duration: write it like \"500ms\", \"30s\", \"5m\" or \"1h30m\"")
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn durations_parse_in_every_unit_and_in_combination() {
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert_eq!(parse_ms("30s"), Ok(30_000));
        assert_eq!(parse_ms("5m"), Ok(300_000));
        assert_eq!(parse_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_ms("0s"), Ok(0));
    }

    #[test]
    fn durations_without_a_unit_or_with_an_unknown_one_are_refused() {
        for text in [
            "",
            "30",
            "s",
            "5 min",
            "-3s",
            "1.5s",
            "99999999999999999999s",
        ] {
            assert!(parse_ms(text).is_err(), "{text:?} should be refused");
        }
    }
}
