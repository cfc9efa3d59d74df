//! Text-line sensors: a line splitter over arbitrary chunks and the `{value}` template.
//!
//! Lines end at `\n` or `\r` (so `\r\n`, `\n` and a bare `\r` all work; the empty "line"
//! between `\r` and `\n` is skipped). A line is matched as follows:
//! 1. it must be UTF-8, and is trimmed of surrounding whitespace;
//! 2. a trailing `*HH` (two hex digits) is an NMEA-style checksum, the XOR of every byte
//!    before the `*` (`firmware-sim/PROTOCOL.md`): it must match, and is then removed — unless
//!    the template itself ends that way;
//! 3. what remains must start with the template's prefix and end with its suffix (exact,
//!    case-sensitive), and what lies between, trimmed, must parse as a finite `f64`.
//!
//! [`LineSplitter`] invariants: it holds at most `max_line` bytes; a longer line is reported
//! once as [`LineError::Overlong`] and dropped up to the next line end; how the bytes are
//! split into `push` calls makes no difference to what comes out.

use thiserror::Error;

use super::delimited::{Delimited, Piece};

/// Default cap on a line, terminator excluded.
pub const DEFAULT_MAX_LINE: usize = 256;

/// Why a template is not usable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("pattern {pattern:?} must contain `{{value}}` exactly once")]
    Placeholder { pattern: String },
}

/// Why a line gave no reading. Each variant is one counter of
/// [`StreamCounters`](super::StreamCounters).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineError {
    #[error("line longer than {limit} bytes")]
    Overlong { limit: usize },
    #[error("line is not UTF-8 text")]
    NotText,
    #[error("checksum *{found:02X} does not match the line's {computed:02X}")]
    Checksum { found: u8, computed: u8 },
    #[error("line {line:?} does not match the pattern")]
    NoMatch { line: String },
    #[error("{text:?} is not a number")]
    BadNumber { text: String },
}

impl LineError {
    /// A short name of the kind, for counters and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            LineError::Overlong { .. } => "overlong",
            LineError::NotText => "not_text",
            LineError::Checksum { .. } => "checksum",
            LineError::NoMatch { .. } => "no_match",
            LineError::BadNumber { .. } => "bad_number",
        }
    }
}

/// A pattern such as `T={value}C`, split around its placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTemplate {
    prefix: String,
    suffix: String,
    /// The suffix itself ends like a checksum: do not look for one.
    literal_star: bool,
}

const PLACEHOLDER: &str = "{value}";

impl LineTemplate {
    pub fn parse(pattern: &str) -> Result<Self, TemplateError> {
        let placeholder = || TemplateError::Placeholder {
            pattern: pattern.to_string(),
        };
        let (prefix, suffix) = pattern.split_once(PLACEHOLDER).ok_or_else(placeholder)?;
        if suffix.contains(PLACEHOLDER) {
            return Err(placeholder());
        }
        let (prefix, suffix) = (prefix.trim_start(), suffix.trim_end());
        Ok(Self {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            literal_star: split_checksum(suffix).is_some(),
        })
    }

    /// The value of one line (terminator and surrounding whitespace allowed).
    pub fn value(&self, line: &[u8]) -> Result<f64, LineError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| LineError::NotText)?
            .trim();
        let body = match split_checksum(line).filter(|_| !self.literal_star) {
            Some((body, found)) => {
                let computed = body.bytes().fold(0, |acc, b| acc ^ b);
                if computed != found {
                    return Err(LineError::Checksum { found, computed });
                }
                body
            }
            None => line,
        };
        let text = body
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_suffix(self.suffix.as_str()))
            .ok_or_else(|| LineError::NoMatch {
                line: line.chars().take(64).collect(),
            })?
            .trim();
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| LineError::BadNumber {
                text: text.chars().take(64).collect(),
            })
    }
}

/// `("BODY", 0xHH)` if `line` ends with `*HH`.
fn split_checksum(line: &str) -> Option<(&str, u8)> {
    let at = line.len().checked_sub(3)?;
    let (body, tail) = (line.get(..at)?, line.get(at..)?);
    let hex = tail.strip_prefix('*')?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok().map(|sum| (body, sum))
}

/// Cuts a byte stream into lines; see the module docs for its invariants.
#[derive(Debug)]
pub struct LineSplitter {
    pieces: Delimited,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl LineSplitter {
    /// A splitter that refuses lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            pieces: Delimited::new(max_line),
        }
    }

    /// Forgets the line in progress (after the port was reopened).
    pub fn reset(&mut self) {
        self.pieces.reset();
    }

    /// Feeds bytes; calls `on_line` once per non-empty line or overlong line they complete.
    pub fn push(&mut self, bytes: &[u8], mut on_line: impl FnMut(Result<&[u8], LineError>)) {
        let limit = self.pieces.max();
        self.pieces.push(
            bytes,
            |b| b == b'\n' || b == b'\r',
            |piece| match piece {
                Piece::Complete(line) => on_line(Ok(line)),
                Piece::Overlong => on_line(Err(LineError::Overlong { limit })),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(p: &str) -> LineTemplate {
        LineTemplate::parse(p).expect("valid pattern")
    }

    fn lines(splitter: &mut LineSplitter, bytes: &[u8]) -> Vec<Result<String, LineError>> {
        let mut out = Vec::new();
        splitter.push(bytes, |r| {
            out.push(r.map(|l| String::from_utf8_lossy(l).into_owned()))
        });
        out
    }

    #[test]
    fn a_line_matches_its_template_with_or_without_cr_and_spaces() {
        let t = template("T={value}C");
        assert_eq!(t.value(b"T=41.25C"), Ok(41.25));
        assert_eq!(t.value(b"  T=-3.5C\r\n"), Ok(-3.5));
        assert_eq!(t.value(b"T= 7 C"), Ok(7.0));
        assert_eq!(template("{value}").value(b"12e3"), Ok(12_000.0));
    }

    #[test]
    fn a_matching_checksum_is_accepted_and_a_wrong_one_refused() {
        let t = template("T={value}C");
        let sum = b"T=41.25C".iter().fold(0u8, |a, b| a ^ b);
        assert_eq!(t.value(format!("T=41.25C*{sum:02X}").as_bytes()), Ok(41.25));
        assert_eq!(
            t.value(format!("T=41.25C*{:02X}", sum ^ 1).as_bytes()),
            Err(LineError::Checksum {
                found: sum ^ 1,
                computed: sum
            })
        );
    }

    #[test]
    fn lines_that_do_not_fit_are_told_apart() {
        let t = template("T={value}C");
        assert_eq!(t.value(b"P=1.0C").map_err(|e| e.kind()), Err("no_match"));
        assert_eq!(t.value(b"T=1.0F").map_err(|e| e.kind()), Err("no_match"));
        assert_eq!(t.value(b"T=abcC").map_err(|e| e.kind()), Err("bad_number"));
        assert_eq!(t.value(b"T=infC").map_err(|e| e.kind()), Err("bad_number"));
        assert_eq!(t.value(b"T=\xff1C").map_err(|e| e.kind()), Err("not_text"));
    }

    #[test]
    fn a_pattern_needs_exactly_one_placeholder() {
        assert!(LineTemplate::parse("T=C").is_err());
        assert!(LineTemplate::parse("{value}{value}").is_err());
        // A template that ends like a checksum is taken literally.
        assert_eq!(template("{value}*AB").value(b"5*AB"), Ok(5.0));
    }

    #[test]
    fn the_splitter_takes_any_line_end_and_drops_overlong_lines_until_the_next() {
        let mut s = LineSplitter::new(8);
        let mut out = lines(&mut s, b"a\r\nb\nc\r");
        out.extend(lines(&mut s, b"0123456"));
        out.extend(lines(&mut s, b"789abcdef\r\nok\r\n"));
        assert_eq!(
            out,
            vec![
                Ok("a".into()),
                Ok("b".into()),
                Ok("c".into()),
                Err(LineError::Overlong { limit: 8 }),
                Ok("ok".into())
            ]
        );
    }
}
