//! The text-line sensor's output: `PREFIX VALUE SUFFIX [*HH] CR LF`, e.g. `T=41.25C\r\n`.
//!
//! With the checksum on, `*HH` is the XOR of every byte before the `*`, in upper-case hex,
//! as NMEA 0183 sentences carry it: `T=41.25C*06\r\n`.

/// Formats one line, terminator included.
pub fn format_line(prefix: &str, value: f64, decimals: u8, suffix: &str, checksum: bool) -> String {
    let body = format!(
        "{prefix}{value:.prec$}{suffix}",
        prec = usize::from(decimals)
    );
    if checksum {
        format!("{body}*{:02X}\r\n", xor_checksum(body.as_bytes()))
    } else {
        format!("{body}\r\n")
    }
}

/// XOR of all bytes.
pub fn xor_checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// Parses a line produced by [`format_line`] (terminator optional): the value, if the
/// prefix, suffix and (when present) checksum match.
pub fn parse_line(line: &str, prefix: &str, suffix: &str) -> Option<f64> {
    let line = line.trim_end_matches(['\r', '\n']);
    let body = match line.rsplit_once('*') {
        Some((body, hex)) => {
            let sum = u8::from_str_radix(hex, 16).ok()?;
            (sum == xor_checksum(body.as_bytes())).then_some(body)?
        }
        None => line,
    };
    body.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temperature_line_reads_like_a_cheap_sensor_prints_it() {
        assert_eq!(format_line("T=", 41.2468, 2, "C", false), "T=41.25C\r\n");
        let with_sum = format_line("T=", 41.25, 2, "C", true);
        assert_eq!(
            with_sum,
            format!("T=41.25C*{:02X}\r\n", xor_checksum(b"T=41.25C"))
        );
        assert_eq!(parse_line(&with_sum, "T=", "C"), Some(41.25));
    }

    #[test]
    fn a_wrong_checksum_is_refused() {
        assert_eq!(parse_line("T=41.25C*00\r\n", "T=", "C"), None);
    }
}
