//! What one `execute` produced: status, output, value and error, as plain owned data.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// The code ran to the end.
    Ok,
    /// The code raised an exception (including `SystemExit` and `KeyboardInterrupt`);
    /// see [`ExecutionResult::error`]. Session state is kept.
    Error,
    /// The code ran past its timeout and was stopped. Session state is kept.
    Timeout,
    /// The code was stopped by an [`InterruptHandle`](crate::InterruptHandle). Session
    /// state is kept.
    Interrupted,
    /// The code could not be stopped, so the session was restarted: state is lost and
    /// [`ExecutionResult::error`] says why.
    Restarted,
}

impl Status {
    /// The lowercase name used in JSON: `"ok"`, `"error"`, `"timeout"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Timeout => "timeout",
            Status::Interrupted => "interrupted",
            Status::Restarted => "restarted",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Python exception as owned data that can cross threads and be serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PythonError {
    /// The exception's class name, such as `ZeroDivisionError`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// `str(exception)`; for a `SyntaxError`, the message with the line it is about.
    pub message: String,
    /// The formatted traceback, showing the user's source lines and none of the
    /// runtime's own frames.
    pub traceback: String,
}

impl std::fmt::Display for PythonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

/// One of a session's variables, as [`Session::variables`](crate::Session::variables)
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    /// The name.
    pub name: String,
    /// The class name of the value, such as `int` or `DataFrame`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// A short `repr()` (at most about 80 characters).
    pub repr: String,
}

/// One piece of rich output, like a notebook's: the same object in one or more MIME
/// types (`text/plain` nearly always among them), from `display(obj)`, a figure, or
/// the value of the code's last line.
///
/// Serializes like a notebook's bundle: `{"data": {mime: ...}, "is_value": bool}`,
/// binary data as base64 text, JSON types as JSON.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DisplayData {
    /// The representations, by MIME type: `text/plain`, `text/html`, `image/png`, ...
    pub data: BTreeMap<String, MimeData>,
    /// True for the bundle of the code's last expression (a notebook's `Out[]`),
    /// whose `text/plain` is the value's repr in full ([`ExecutionResult::value`] is
    /// the same text, cut to the output limit); false for `display()` and
    /// figures.
    pub is_value: bool,
}

/// One representation in a [`DisplayData`].
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

fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || mime.ends_with("+json")
}

impl Serialize for MimeData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MimeData::Text(t) => serializer.serialize_str(t),
            MimeData::Binary(b) => serializer.serialize_str(&base64(b)),
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

/// Standard base64 with padding, as notebooks carry binary data in JSON.
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The outcome of one [`Session::execute`](crate::Session::execute).
///
/// Serializes to JSON with the field names shown here plus `success`.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ExecutionResult {
    /// How the execution ended.
    pub status: Status,
    /// Everything the code wrote to `sys.stdout`, as UTF-8 (invalid bytes replaced).
    pub stdout: String,
    /// Everything the code wrote to `sys.stderr`, including warnings.
    pub stderr: String,
    /// `repr()` of the value of the code's last line when it is an expression whose
    /// value is not `None`, like a notebook's `Out[]`.
    pub value: Option<String>,
    /// The exception, or why the code was stopped; `None` when `status` is `Ok`.
    pub error: Option<PythonError>,
    /// Wall-clock time from the request to the result, in milliseconds.
    pub duration_ms: f64,
    /// Bytes of stdout cut from the middle because of the output limit (0: nothing cut).
    pub stdout_truncated_bytes: u64,
    /// Bytes of stderr cut from the middle because of the output limit (0: nothing cut).
    pub stderr_truncated_bytes: u64,
    /// What the session's other threads wrote to stdout since the previous execute's
    /// result: between executes, or during this one by threads that earlier executes
    /// started, or by code that was given up on. Delivered once, here, so it is never
    /// lost and never passed off as this execution's own `stdout`.
    pub background_stdout: String,
    /// Like [`background_stdout`](Self::background_stdout), for stderr.
    pub background_stderr: String,
    /// Rich output, in the order it was made: `display(obj)` calls, then the bundle of
    /// the last line's value when it has representations besides its repr (a
    /// DataFrame's HTML, an image's PNG), then the session's matplotlib figures that
    /// were not shown yet. Empty for most code.
    pub display: Vec<DisplayData>,
    /// Display items left out because this execution's display data went over its
    /// limit ([`display_limit`](crate::SessionBuilder::display_limit)); 0: none.
    pub display_dropped: u64,
    /// Like [`background_stdout`](Self::background_stdout), for displays made by the
    /// session's other threads.
    pub background_display: Vec<DisplayData>,
    /// The bytes a variable operation read ([`Session::get_bytes`](crate::Session::get_bytes)).
    pub(crate) blob: Option<Vec<u8>>,
}

impl std::fmt::Debug for ExecutionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutionResult")
            .field("status", &self.status)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("value", &self.value)
            .field("error", &self.error)
            .field("duration_ms", &self.duration_ms)
            .field("stdout_truncated_bytes", &self.stdout_truncated_bytes)
            .field("stderr_truncated_bytes", &self.stderr_truncated_bytes)
            .field("background_stdout", &self.background_stdout)
            .field("background_stderr", &self.background_stderr)
            .field("display", &self.display)
            .field("display_dropped", &self.display_dropped)
            .field("background_display", &self.background_display)
            .finish()
    }
}

impl ExecutionResult {
    /// True when the code ran to the end without an exception.
    pub fn success(&self) -> bool {
        self.status == Status::Ok
    }

    pub(crate) fn empty(status: Status) -> Self {
        ExecutionResult {
            status,
            stdout: String::new(),
            stderr: String::new(),
            value: None,
            error: None,
            duration_ms: 0.0,
            stdout_truncated_bytes: 0,
            stderr_truncated_bytes: 0,
            background_stdout: String::new(),
            background_stderr: String::new(),
            display: Vec::new(),
            display_dropped: 0,
            background_display: Vec::new(),
            blob: None,
        }
    }

    /// The result as a JSON string (see the type docs for the field names).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"serialize_error\":\"{e}\"}}"))
    }
}

impl Serialize for ExecutionResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ExecutionResult", 14)?;
        s.serialize_field("status", &self.status)?;
        s.serialize_field("success", &self.success())?;
        s.serialize_field("stdout", &self.stdout)?;
        s.serialize_field("stderr", &self.stderr)?;
        s.serialize_field("value", &self.value)?;
        s.serialize_field("error", &self.error)?;
        s.serialize_field("duration_ms", &self.duration_ms)?;
        s.serialize_field("stdout_truncated_bytes", &self.stdout_truncated_bytes)?;
        s.serialize_field("stderr_truncated_bytes", &self.stderr_truncated_bytes)?;
        s.serialize_field("background_stdout", &self.background_stdout)?;
        s.serialize_field("background_stderr", &self.background_stderr)?;
        s.serialize_field("display", &self.display)?;
        s.serialize_field("display_dropped", &self.display_dropped)?;
        s.serialize_field("background_display", &self.background_display)?;
        s.end()
    }
}

/// The error of code stopped at its timeout; `stack` is where the user's code was (a
/// formatted traceback without its exception line, or empty).
pub(crate) fn timeout_error(timeout: std::time::Duration, stack: &str) -> PythonError {
    let message = format!(
        "the code ran past its {} timeout and was stopped; the session's state is kept",
        crate::session::human(timeout)
    );
    PythonError {
        type_name: "TimeoutError".into(),
        traceback: format!("{stack}TimeoutError: {message}\n"),
        message,
    }
}

/// The error of code stopped by an interrupt; `stack` as for [`timeout_error`].
pub(crate) fn interrupted_error(stack: &str) -> PythonError {
    let message = "the code was interrupted and stopped; the session's state is kept".to_string();
    PythonError {
        type_name: "Interrupted".into(),
        traceback: format!("{stack}Interrupted: {message}\n"),
        message,
    }
}

/// The error of code stopped for `reason`.
pub(crate) fn stopped_error(
    reason: crate::interrupt::StopReason,
    timeout: std::time::Duration,
    stack: &str,
) -> (Status, PythonError) {
    match reason {
        crate::interrupt::StopReason::Timeout => (Status::Timeout, timeout_error(timeout, stack)),
        crate::interrupt::StopReason::Interrupt => (Status::Interrupted, interrupted_error(stack)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
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
