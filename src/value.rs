//! Rust values on their way into a session: serde_json writes the JSON, field order,
//! 128-bit integers and float formatting included, except that byte strings
//! (`serialize_bytes`: `serde_bytes`, fields marked for it) travel beside the JSON,
//! raw, and become Python `bytes`.
//!
//! In the JSON, a byte string is the object `{"\u0000bytes": i}`, `i` its index among
//! the blobs; the runtime's `json.loads` hook swaps it for the blob. A map of the
//! user's with that key is refused, so the marker is never misread.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};

/// The key that marks a byte string in the JSON.
pub(crate) const BYTES_KEY: &str = "\u{0}bytes";

/// `value` as JSON text and the byte strings it holds.
pub(crate) fn to_json_and_blobs<T: Serialize + ?Sized>(
    value: &T,
) -> Result<(String, Vec<Vec<u8>>), String> {
    let mut formatter = BlobFormatter::default();
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, &mut formatter);
    value.serialize(&mut ser).map_err(|e| e.to_string())?;
    // serde_json writes UTF-8 only.
    let json = String::from_utf8(out).map_err(|e| e.to_string())?;
    Ok((json, formatter.blobs))
}

/// serde_json's compact output, with byte strings set aside.
#[derive(Default)]
struct BlobFormatter {
    blobs: Vec<Vec<u8>>,
    /// The text of the object key being written, to refuse the marker key.
    key: Option<String>,
}

impl Formatter for &mut BlobFormatter {
    fn write_byte_array<W: ?Sized + Write>(&mut self, w: &mut W, value: &[u8]) -> io::Result<()> {
        let index = self.blobs.len();
        self.blobs.push(value.to_vec());
        write!(w, "{{\"\\u0000bytes\":{index}}}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.key = Some(String::new());
        CompactFormatter.begin_object_key(w, first)
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if let Some(key) = &mut self.key {
            key.push_str(fragment);
        }
        CompactFormatter.write_string_fragment(w, fragment)
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        if let Some(key) = &mut self.key {
            key.push(match escape {
                CharEscape::Quote => '"',
                CharEscape::ReverseSolidus => '\\',
                CharEscape::Solidus => '/',
                CharEscape::Backspace => '\u{8}',
                CharEscape::FormFeed => '\u{c}',
                CharEscape::LineFeed => '\n',
                CharEscape::CarriageReturn => '\r',
                CharEscape::Tab => '\t',
                CharEscape::AsciiControl(b) => char::from(b),
            });
        }
        CompactFormatter.write_char_escape(w, escape)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.key.take().as_deref() == Some(BYTES_KEY) {
            return Err(io::Error::other(
                "the map key \"\\u0000bytes\" is reserved: it marks byte strings on their way \
                 into the session",
            ));
        }
        CompactFormatter.end_object_key(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::collections::BTreeMap;

    /// Without bytes in it, a value comes out exactly as serde_json writes it.
    fn same_as_serde_json<T: Serialize>(value: &T) {
        let (json, blobs) = to_json_and_blobs(value).unwrap();
        assert!(blobs.is_empty());
        assert_eq!(json, serde_json::to_string(value).unwrap());
    }

    #[derive(Serialize)]
    enum Shape {
        Dot,
        Circle(f64),
        Rect(u32, u32),
        Named { name: String, sides: Option<u8> },
    }

    #[derive(Serialize)]
    struct Unit;

    #[derive(Serialize)]
    struct Wrapper(i32);

    #[derive(Serialize)]
    struct Ordered {
        zeta: u8,
        alpha: f32,
        mid: &'static str,
    }

    #[test]
    fn plain_values_match_serde_json() {
        same_as_serde_json(&(1u8, -2i64, 0.1f32, f64::NAN, 'c', "s\"\n\u{0}", true, ()));
        same_as_serde_json(&vec![Shape::Dot, Shape::Circle(1.5), Shape::Rect(2, 3)]);
        same_as_serde_json(&Shape::Named {
            name: "x".into(),
            sides: None,
        });
        same_as_serde_json(&(Unit, Wrapper(7), Some(Some(1)), None::<u8>));
        same_as_serde_json(&BTreeMap::from([(1, "a"), (2, "b")]));
        same_as_serde_json(&(i128::MIN, u128::MAX));
        same_as_serde_json(&Ordered {
            zeta: 1,
            alpha: 0.1,
            mid: "m",
        });
    }

    struct Raw<'a>(&'a [u8]);

    impl Serialize for Raw<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    #[test]
    fn bytes_become_blobs_with_markers() {
        let value = BTreeMap::from([("a", vec![Raw(b"xy"), Raw(b"")]), ("b", vec![])]);
        let (json, blobs) = to_json_and_blobs(&value).unwrap();
        assert_eq!(blobs, [b"xy".to_vec(), Vec::new()]);
        assert_eq!(
            json,
            r#"{"a":[{"\u0000bytes":0},{"\u0000bytes":1}],"b":[]}"#
        );
    }

    #[test]
    fn the_marker_key_and_what_json_cannot_hold_are_errors() {
        let e = to_json_and_blobs(&BTreeMap::from([(BYTES_KEY, 3)])).unwrap_err();
        assert!(e.contains("reserved"), "{e}");
        // Other keys with control characters are fine.
        assert!(to_json_and_blobs(&BTreeMap::from([("\u{0}byte", 3)])).is_ok());
        assert!(to_json_and_blobs(&BTreeMap::from([((1, 2), 3)])).is_err());
    }
}
