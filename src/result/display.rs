//! Rich output: [`DisplayData`] bundles and their [`MimeData`], with the JSON they
//! are written as and read back from.

use std::collections::BTreeMap;
use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::runtime::{
    BINARY_MIME_KINDS, BINARY_MIME_TYPES, JSON_MIME_SUFFIXES, JSON_MIME_TYPES, TEXT_MIME_PREFIXES,
    TEXT_MIME_SUFFIXES, TEXT_MIME_TYPES,
};

/// One piece of rich output, like a notebook's: the same object in one or more MIME
/// types (`text/plain` nearly always among them), from `display(obj)`, a figure, or
/// the value of the code's last line.
///
/// Serializes like a notebook's bundle: `{"data": {mime: ...}, "is_value": bool}`,
/// binary data as base64 text, JSON types as JSON. It reads back with serde; each
/// entry is read by its MIME type, as [`MimeData`] says. `is_value` may be missing
/// (false) and unknown fields are skipped.
///
/// The struct is `#[non_exhaustive]`; to build one (in a test, say), start from
/// [`DisplayData::default()`], which is empty and not a value, and fill
/// [`data`](Self::data):
///
/// ```
/// use pysession::{DisplayData, MimeData};
///
/// let mut d = DisplayData::default();
/// d.data.insert("text/plain".into(), MimeData::Text("Rich(1)".into()));
/// d.data.insert("text/html".into(), MimeData::Text("<b>1</b>".into()));
/// assert_eq!(d.html(), Some("<b>1</b>"));
/// assert!(!d.is_value);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct DisplayData {
    /// The representations, by MIME type: `text/plain`, `text/html`, `image/png`, ...
    pub data: BTreeMap<String, MimeData>,
    /// True for the bundle of the code's last expression (a notebook's `Out[]`),
    /// whose `text/plain` is the value's repr in full ([`ExecutionResult::value`](super::ExecutionResult::value) is
    /// the same text, cut to the output limit); false for `display()` and
    /// figures.
    pub is_value: bool,
}

/// One representation in a [`DisplayData`].
///
/// In JSON, text is a string, binary data is a string of standard base64 (with
/// padding), JSON is itself. Which one a JSON value is depends on the MIME type it is
/// under, so `MimeData` has no `Deserialize` of its own: it is read as part of a
/// [`DisplayData`], by these rules, which are the ones the session's runtime uses
/// when it takes representations from Python:
///
/// - `application/json` and `application/*+json` read as [`Json`](Self::Json);
/// - `image/*`, `audio/*`, `video/*` and `font/*` (but not text-like ones such as
///   `image/svg+xml`), `application/pdf`, `application/octet-stream`,
///   `application/zip`, `application/gzip` and `application/wasm` read as
///   [`Binary`](Self::Binary), their base64 decoded (line breaks and other ASCII
///   whitespace in it are skipped, as notebook writers insert them; anything else
///   that is not base64 is an error that names the MIME type);
/// - `text/*`, `*+xml`, `*/xml`, JavaScript and LaTeX types read as
///   [`Text`](Self::Text);
/// - a type neither list knows (`application/x-custom`) was kept by the runtime as
///   bytes when it was given bytes and as text when it was given text; JSON cannot
///   tell them apart, so its data reads as [`Binary`](Self::Binary) when it is valid
///   base64 and as [`Text`](Self::Text) otherwise.
///
/// So values read back as they were, but for two cases JSON cannot tell: `Text`
/// under an unknown type that happens to be valid base64 (`"abcd"`) reads back as
/// `Binary`, and `Text` under a JSON type as `Json` holding a JSON string. Either way
/// writing it again gives the same JSON.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MimeData {
    /// Text types: `text/plain`, `text/html`, `text/markdown`, `image/svg+xml`, ...
    Text(String),
    /// Binary types: `image/png`, `image/jpeg`, `application/pdf`, ...
    Binary(Vec<u8>),
    /// `application/json` and `application/*+json`.
    Json(serde_json::Value),
}

impl DisplayData {
    /// The representation of type `mime`, if there is one.
    pub fn get(&self, mime: &str) -> Option<&MimeData> {
        self.data.get(mime)
    }

    /// The text of type `mime`, if there is one and it is text.
    pub fn text(&self, mime: &str) -> Option<&str> {
        match self.data.get(mime) {
            Some(MimeData::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// The bytes of type `mime`, if there are some.
    pub fn bytes(&self, mime: &str) -> Option<&[u8]> {
        match self.data.get(mime) {
            Some(MimeData::Binary(b)) => Some(b),
            _ => None,
        }
    }

    /// The representation of type `mime` as standard base64 text with padding, which
    /// is what an MCP image content's `data` and a `data:` URL take; `None` when there
    /// is no representation of that type.
    ///
    /// Binary data is encoded as it is; text is encoded as its UTF-8 bytes, and JSON
    /// as its compact JSON text (as `serde_json::to_string` writes it), so that
    /// `data:text/html;base64,...` and `data:application/json;base64,...` work too.
    ///
    /// ```
    /// use pysession::{DisplayData, MimeData};
    ///
    /// let mut d = DisplayData::default();
    /// d.data.insert("image/png".into(), MimeData::Binary(b"\x89PNG\r\n".to_vec()));
    /// d.data.insert("text/html".into(), MimeData::Text("<b>é</b>".into()));
    ///
    /// let url = format!("data:image/png;base64,{}", d.base64("image/png").unwrap());
    /// assert_eq!(url, "data:image/png;base64,iVBORw0K");
    /// assert_eq!(d.base64("text/html").as_deref(), Some("PGI+w6k8L2I+"));
    /// assert_eq!(d.base64("image/jpeg"), None);
    /// ```
    pub fn base64(&self, mime: &str) -> Option<String> {
        Some(match self.data.get(mime)? {
            MimeData::Text(t) => STANDARD.encode(t),
            MimeData::Binary(b) => STANDARD.encode(b),
            MimeData::Json(v) => STANDARD.encode(v.to_string()),
        })
    }

    /// `text/plain`: the object's `repr()`.
    pub fn plain(&self) -> Option<&str> {
        self.text("text/plain")
    }

    /// `text/html`, such as a DataFrame's table.
    pub fn html(&self) -> Option<&str> {
        self.text("text/html")
    }

    /// `image/png`, such as a matplotlib figure or a PIL image: the PNG file's bytes.
    pub fn png(&self) -> Option<&[u8]> {
        self.bytes("image/png")
    }

    /// The MIME types present.
    pub fn mime_types(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// Builds one from its representations; text of a JSON type is parsed (kept as
    /// text when it is not JSON).
    pub(crate) fn from_parts(
        parts: impl IntoIterator<Item = (String, Payload)>,
        is_value: bool,
    ) -> Self {
        let data = parts
            .into_iter()
            .map(|(mime, payload)| {
                let value = match payload {
                    Payload::Bytes(b) => MimeData::Binary(b),
                    Payload::Text(t) if is_json_mime(&mime) => match serde_json::from_str(&t) {
                        Ok(v) => MimeData::Json(v),
                        Err(_) => MimeData::Text(t),
                    },
                    Payload::Text(t) => MimeData::Text(t),
                };
                (mime, value)
            })
            .collect();
        DisplayData { data, is_value }
    }

    /// Bytes it holds, roughly: what it costs to keep.
    pub(crate) fn size(&self) -> usize {
        self.data
            .iter()
            .map(|(mime, value)| {
                mime.len()
                    + match value {
                        MimeData::Text(t) => t.len(),
                        MimeData::Binary(b) => b.len(),
                        MimeData::Json(v) => v.to_string().len(),
                    }
            })
            .sum()
    }
}

/// A representation as it arrives from Python.
pub(crate) enum Payload {
    Text(String),
    Bytes(Vec<u8>),
}

// The rules are the runtime's too (`crate::runtime` hands them to Python, which decides
// by them what it hands over as bytes): reading a bundle back must decide the same.
fn is_json_mime(mime: &str) -> bool {
    JSON_MIME_TYPES.contains(&mime) || JSON_MIME_SUFFIXES.iter().any(|end| mime.ends_with(end))
}

fn is_text_mime(mime: &str) -> bool {
    TEXT_MIME_PREFIXES
        .iter()
        .any(|start| mime.starts_with(start))
        || TEXT_MIME_SUFFIXES.iter().any(|end| mime.ends_with(end))
        || TEXT_MIME_TYPES.contains(&mime)
}

fn is_binary_mime(mime: &str) -> bool {
    let kind = mime.split('/').next().unwrap_or(mime);
    (BINARY_MIME_KINDS.contains(&kind) && !is_text_mime(mime)) || BINARY_MIME_TYPES.contains(&mime)
}

/// Base64 as notebooks write it: the standard alphabet with padding, where line breaks
/// and other ASCII whitespace may come between the characters.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        STANDARD.decode(compact)
    } else {
        STANDARD.decode(text)
    }
}

impl Serialize for MimeData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MimeData::Text(t) => serializer.serialize_str(t),
            MimeData::Binary(b) => serializer.serialize_str(&STANDARD.encode(b)),
            MimeData::Json(v) => v.serialize(serializer),
        }
    }
}

impl Serialize for DisplayData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Data<'a>(&'a BTreeMap<String, MimeData>);
        impl Serialize for Data<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut m = serializer.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let mut s = serializer.serialize_struct("DisplayData", 2)?;
        s.serialize_field("data", &Data(&self.data))?;
        s.serialize_field("is_value", &self.is_value)?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for DisplayData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            data: Bundle,
            #[serde(default)]
            is_value: bool,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(DisplayData {
            data: wire.data.0,
            is_value: wire.is_value,
        })
    }
}

/// The `data` of a bundle, each entry read by its MIME type.
struct Bundle(BTreeMap<String, MimeData>);

impl<'de> Deserialize<'de> for Bundle {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BundleVisitor;
        impl<'de> Visitor<'de> for BundleVisitor {
            type Value = Bundle;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from MIME type to data")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bundle, A::Error> {
                let mut data = BTreeMap::new();
                while let Some(mime) = map.next_key::<String>()? {
                    let value = map.next_value_seed(MimeSeed(&mime))?;
                    data.insert(mime, value);
                }
                Ok(Bundle(data))
            }
        }
        deserializer.deserialize_map(BundleVisitor)
    }
}

/// Reads the data of one MIME type, which says how.
struct MimeSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for MimeSeed<'_> {
    type Value = MimeData;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<MimeData, D::Error> {
        let mime = self.0;
        if is_json_mime(mime) {
            return serde_json::Value::deserialize(deserializer).map(MimeData::Json);
        }
        let kind = if is_binary_mime(mime) {
            Kind::Binary
        } else if is_text_mime(mime) {
            Kind::Text
        } else {
            Kind::Unknown
        };
        deserializer.deserialize_string(MimeVisitor { mime, kind })
    }
}

/// How the data of a MIME type reads.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Binary,
    /// Neither list knows the type: the runtime keeps bytes as bytes and text as
    /// text, so valid base64 reads as bytes and anything else as text.
    Unknown,
}

struct MimeVisitor<'a> {
    mime: &'a str,
    kind: Kind,
}

impl<'de> Visitor<'de> for MimeVisitor<'_> {
    type Value = MimeData;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == Kind::Binary {
            write!(f, "base64 text of {} data", self.mime)
        } else {
            write!(f, "the text of {} data", self.mime)
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<MimeData, E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<MimeData, E> {
        match self.kind {
            Kind::Text => Ok(MimeData::Text(v)),
            Kind::Binary => decode_base64(&v).map(MimeData::Binary).map_err(|e| {
                E::custom(format_args!("{} data is not valid base64 ({e})", self.mime))
            }),
            Kind::Unknown => Ok(match STANDARD.decode(&v) {
                Ok(bytes) => MimeData::Binary(bytes),
                Err(_) => MimeData::Text(v),
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn bundle(data: serde_json::Value) -> Result<DisplayData, serde_json::Error> {
        serde_json::from_value(json!({ "data": data, "is_value": false }))
    }

    /// A bundle of `entries`, for tests here and in the parent module.
    pub(crate) fn display(entries: &[(&str, MimeData)]) -> DisplayData {
        let mut d = DisplayData::default();
        for (mime, value) in entries {
            d.data.insert(mime.to_string(), value.clone());
        }
        d
    }

    #[test]
    fn binary_serializes_as_standard_base64_with_padding() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0x00], "//4A"),
        ] {
            let d = display(&[("image/png", MimeData::Binary(bytes.to_vec()))]);
            assert_eq!(serde_json::to_value(&d).unwrap()["data"]["image/png"], text);
            assert_eq!(d.base64("image/png").as_deref(), Some(text));
        }
    }

    #[test]
    fn binary_data_of_every_length_and_byte_reads_back() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            let d = display(&[("application/pdf", MimeData::Binary(all[..len].to_vec()))]);
            let json = serde_json::to_string(&d).unwrap();
            let back: DisplayData = serde_json::from_str(&json).unwrap();
            assert_eq!(back, d, "{len} bytes");
        }
    }

    #[test]
    fn base64_with_line_breaks_as_notebooks_write_it_decodes() {
        let d = bundle(json!({ "image/png": "iVBO\nRw0K\r\n", "image/gif": " Zg== " })).unwrap();
        assert_eq!(d.png(), Some(&b"\x89PNG\r\n"[..]));
        assert_eq!(d.bytes("image/gif"), Some(&b"f"[..]));
    }

    #[test]
    fn bad_base64_is_an_error_that_names_the_mime_type() {
        for bad in ["not base64!", "Zg", "Zg=", "Zh==", "Zg==Zg=="] {
            let e = bundle(json!({ "image/png": bad })).unwrap_err().to_string();
            assert!(
                e.contains("image/png data is not valid base64"),
                "{bad:?}: {e}"
            );
        }
        let e = bundle(json!({ "audio/wav": 3 })).unwrap_err().to_string();
        assert!(e.contains("expected base64 text of audio/wav data"), "{e}");
        let e = bundle(json!({ "text/html": ["<b>", "</b>"] }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected the text of text/html data"), "{e}");
    }

    #[test]
    fn each_mime_type_reads_as_the_kind_the_runtime_gives_it() {
        let d = bundle(json!({
            "text/plain": "Zg==",
            "image/svg+xml": "<svg/>",
            "application/x-unknown": "Zg==",
            "application/x-other": "not base64!",
            "image/png": "Zg==",
            "video/mp4": "Zg==",
            "application/octet-stream": "Zg==",
            "application/json": "a string",
            "application/vnd.custom+json": {"k": [1, 0.1, null]},
        }))
        .unwrap();
        let text = |t: &str| Some(MimeData::Text(t.into()));
        assert_eq!(d.get("text/plain").cloned(), text("Zg=="));
        assert_eq!(d.get("image/svg+xml").cloned(), text("<svg/>"));
        assert_eq!(d.get("application/x-other").cloned(), text("not base64!"));
        for mime in [
            "image/png",
            "video/mp4",
            "application/octet-stream",
            "application/x-unknown",
        ] {
            assert_eq!(d.bytes(mime), Some(&b"f"[..]), "{mime}");
        }
        assert_eq!(
            d.get("application/json"),
            Some(&MimeData::Json(json!("a string")))
        );
        assert_eq!(
            d.get("application/vnd.custom+json"),
            Some(&MimeData::Json(json!({"k": [1, 0.1, null]})))
        );
    }

    #[test]
    fn data_json_cannot_tell_apart_changes_kind_but_keeps_its_json() {
        let d = display(&[
            ("application/x-unknown", MimeData::Text("abcd".into())),
            ("application/json", MimeData::Text("not json".into())),
        ]);
        let json = serde_json::to_string(&d).unwrap();
        let back: DisplayData = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bytes("application/x-unknown"), Some(&b"i\xb7\x1d"[..]));
        assert_eq!(
            back.get("application/json"),
            Some(&MimeData::Json(json!("not json")))
        );
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn base64_accessor_encodes_text_as_utf8_and_json_as_compact_text() {
        let d = display(&[
            ("text/plain", MimeData::Text("é".into())),
            ("application/json", MimeData::Json(json!({"a": [1, 2]}))),
        ]);
        assert_eq!(d.base64("text/plain").as_deref(), Some("w6k="));
        let json = d.base64("application/json").unwrap();
        assert_eq!(STANDARD.decode(json).unwrap(), b"{\"a\":[1,2]}");
        assert_eq!(d.base64("image/png"), None);
    }

    #[test]
    fn json_types_are_parsed_and_binary_serializes_as_base64() {
        let d = DisplayData::from_parts(
            [
                (
                    "application/json".to_string(),
                    Payload::Text("{\"a\": 1}".into()),
                ),
                ("image/png".to_string(), Payload::Bytes(vec![1, 2, 3])),
                ("text/plain".to_string(), Payload::Text("x".into())),
            ],
            false,
        );
        assert_eq!(
            d.get("application/json"),
            Some(&MimeData::Json(serde_json::json!({"a": 1})))
        );
        assert_eq!(d.png(), Some(&[1u8, 2, 3][..]));
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"data": {"application/json": {"a": 1}, "image/png": "AQID", "text/plain": "x"}, "is_value": false})
        );
    }
}
