//! Finds the child's request markers in its stdout/stderr byte streams.
//!
//! A marker is `NUL "pysession:" token ":" ("start" | "end") ":" id NUL`; the token is
//! random per child, so user output cannot forge one. Markers may arrive split across
//! reads; everything else is passed through as data, byte for byte.

/// A piece of a stream: data, or a marker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Data(&'a [u8]),
    Start(u64),
    End(u64),
}

enum Match {
    Marker(Piece<'static>, usize),
    Partial,
    No,
}

pub(crate) struct Scanner {
    prefix: Vec<u8>,
    carry: Vec<u8>,
}

impl Scanner {
    pub(crate) fn new(token: &str) -> Self {
        Scanner {
            prefix: format!("\0pysession:{token}:").into_bytes(),
            carry: Vec::new(),
        }
    }

    /// Splits `chunk` (after what an earlier call held back) into pieces.
    pub(crate) fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(Piece<'_>)) {
        let joined;
        let buf: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            let mut b = std::mem::take(&mut self.carry);
            b.extend_from_slice(chunk);
            joined = b;
            &joined
        };
        let mut i = 0;
        while let Some(offset) = buf[i..].iter().position(|&b| b == 0) {
            let p = i + offset;
            if p > i {
                f(Piece::Data(&buf[i..p]));
            }
            match self.match_at(&buf[p..]) {
                Match::Marker(piece, len) => {
                    f(piece);
                    i = p + len;
                }
                Match::Partial => {
                    self.carry = buf[p..].to_vec();
                    return;
                }
                Match::No => {
                    f(Piece::Data(&buf[p..p + 1]));
                    i = p + 1;
                }
            }
        }
        if i < buf.len() {
            f(Piece::Data(&buf[i..]));
        }
    }

    /// What is held back (the start of a marker that never completed), at the end of
    /// the stream.
    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.carry)
    }

    fn match_at(&self, s: &[u8]) -> Match {
        let n = self.prefix.len().min(s.len());
        if s[..n] != self.prefix[..n] {
            return Match::No;
        }
        if s.len() < self.prefix.len() {
            return Match::Partial;
        }
        let rest = &s[self.prefix.len()..];
        for (kind, start) in [(&b"start:"[..], true), (&b"end:"[..], false)] {
            let n = kind.len().min(rest.len());
            if rest[..n] != kind[..n] {
                continue;
            }
            if rest.len() < kind.len() {
                return Match::Partial;
            }
            let digits = &rest[kind.len()..];
            let count = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            if count == digits.len() {
                return if count < 20 {
                    Match::Partial
                } else {
                    Match::No
                };
            }
            if count == 0 || digits[count] != 0 {
                return Match::No;
            }
            let Some(id) = std::str::from_utf8(&digits[..count])
                .ok()
                .and_then(|d| d.parse().ok())
            else {
                return Match::No;
            };
            let len = self.prefix.len() + kind.len() + count + 1;
            return Match::Marker(
                if start {
                    Piece::Start(id)
                } else {
                    Piece::End(id)
                },
                len,
            );
        }
        Match::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = Scanner::new("t0k");
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |p| {
                out.push(match p {
                    Piece::Data(d) => format!("D{}", String::from_utf8_lossy(d)),
                    Piece::Start(i) => format!("S{i}"),
                    Piece::End(i) => format!("E{i}"),
                })
            });
        }
        out
    }

    #[test]
    fn markers_are_found_between_data() {
        let got = scan(&[b"a\0pysession:t0k:start:7\0hello\0pysession:t0k:end:7\0b"]);
        assert_eq!(got, ["Da", "S7", "Dhello", "E7", "Db"]);
    }

    #[test]
    fn markers_split_across_reads_are_joined() {
        let got = scan(&[b"x\0pysess", b"ion:t0k:en", b"d:12", b"\0y"]);
        assert_eq!(got, ["Dx", "E12", "Dy"]);
    }

    #[test]
    fn nul_bytes_and_foreign_tokens_are_data() {
        let got = scan(&[b"a\0b\0pysession:other:end:1\0c"]);
        assert_eq!(got.concat(), "DaD\0DbD\0Dpysession:other:end:1D\0Dc");
    }

    #[test]
    fn a_trailing_nul_waits_for_more_and_is_data_at_the_end() {
        let mut s = Scanner::new("t0k");
        let mut data = Vec::new();
        s.feed(b"ab\0", |p| {
            if let Piece::Data(d) = p {
                data.extend_from_slice(d)
            }
        });
        assert_eq!(data, b"ab");
        assert_eq!(s.finish(), b"\0");
    }
}
