//! Cutting a byte stream into delimited pieces, with a cap: the one buffer behind both the
//! frame deframer (delimiter `0x00`) and the line splitter (`\n` or `\r`).
//!
//! Invariants:
//! - at most `max` bytes of the piece in progress are held; a piece that grows beyond that is
//!   reported once as [`Piece::Overlong`] when it crosses the cap, and its bytes are dropped
//!   up to the next delimiter, which then starts a fresh piece;
//! - every delimiter ends the piece in progress; empty pieces (back-to-back delimiters) are
//!   not reported;
//! - how the bytes are split into `push` calls makes no difference to the pieces reported.

/// What a delimiter (or the cap) produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// The bytes between two delimiters, neither included; never empty.
    Complete(&'a [u8]),
    /// A piece longer than the cap, dropped.
    Overlong,
}

/// See the module docs.
#[derive(Debug)]
pub struct Delimited {
    pending: Vec<u8>,
    discarding: bool,
    max: usize,
}

impl Delimited {
    /// Pieces of at most `max` bytes (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            pending: Vec::with_capacity(max.min(4096)),
            discarding: false,
            max,
        }
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Forgets the piece in progress.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.discarding = false;
    }

    /// Feeds bytes; calls `on_piece` for every piece they complete or make overlong.
    pub fn push(
        &mut self,
        mut bytes: &[u8],
        is_delimiter: impl Fn(u8) -> bool,
        mut on_piece: impl FnMut(Piece<'_>),
    ) {
        while !bytes.is_empty() {
            let (body, ended) = match bytes.iter().position(|&b| is_delimiter(b)) {
                Some(at) => (&bytes[..at], Some(at + 1)),
                None => (bytes, None),
            };
            if !self.discarding {
                if self.pending.len() + body.len() > self.max {
                    self.pending.clear();
                    self.discarding = true;
                    on_piece(Piece::Overlong);
                } else {
                    self.pending.extend_from_slice(body);
                }
            }
            let Some(next) = ended else { return };
            bytes = &bytes[next..];
            if self.discarding {
                self.discarding = false;
            } else if !self.pending.is_empty() {
                on_piece(Piece::Complete(&self.pending));
                self.pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(d: &mut Delimited, bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        d.push(
            bytes,
            |b| b == b'|',
            |p| {
                out.push(match p {
                    Piece::Complete(bytes) => Some(bytes.to_vec()),
                    Piece::Overlong => None,
                })
            },
        );
        out
    }

    #[test]
    fn a_piece_over_the_cap_is_reported_once_and_the_next_delimiter_starts_afresh() {
        let mut d = Delimited::new(4);
        let mut out = pieces(&mut d, b"ab||cd");
        out.extend(pieces(&mut d, b"e"));
        out.extend(pieces(&mut d, b"fgh"));
        out.extend(pieces(&mut d, b"ijk|wxyz|"));
        assert_eq!(
            out,
            vec![Some(b"ab".to_vec()), None, Some(b"wxyz".to_vec())]
        );
    }
}
