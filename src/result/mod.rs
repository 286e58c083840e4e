//! What one `execute` produced: status, output, value and error, as plain owned data.
//!
//! The types serialize to JSON and read back from it with serde into equal values
//! ([`MimeData`] as part of its [`DisplayData`]); [`ExecutionResult`] says what input
//! is accepted.

mod display;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use display::Payload;
pub use display::{DisplayData, MimeData};

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
///
/// In JSON: `{"type": ..., "message": ..., "traceback": ...}`; on input `message` and
/// `traceback` may be missing (empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PythonError {
    /// The exception's class name, such as `ZeroDivisionError`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// `str(exception)`; for a `SyntaxError`, the message with the line it is about.
    #[serde(default)]
    pub message: String,
    /// The formatted traceback, showing the user's source lines and none of the
    /// runtime's own frames.
    #[serde(default)]
    pub traceback: String,
}

impl std::fmt::Display for PythonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.type_name, self.message)
    }
}

/// One of a session's variables, as [`Session::variables`](crate::Session::variables)
/// lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// The name.
    pub name: String,
    /// The class name of the value, such as `int` or `DataFrame`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// A short `repr()` (at most about 80 characters).
    pub repr: String,
}

/// The outcome of one [`Session::execute`](crate::Session::execute).
///
/// Serializes to JSON with the field names shown here plus `success`, and reads back
/// from that JSON with serde into an equal value. On input only `status` is required:
/// `success` is skipped (it follows from `status`), missing fields take their empty
/// values (`""`, `null`, `0`, `[]`), unknown fields are skipped, and a `null`
/// `duration_ms` (what JSON makes of a NaN) reads as NaN.
///
/// The struct is `#[non_exhaustive]`, so code outside this crate cannot write it as a
/// literal; to build one (in a test, say), start from
/// [`ExecutionResult::default()`], an `ok` result with nothing in it, and set its
/// fields:
///
/// ```
/// use pysession::{ExecutionResult, PythonError, Status};
///
/// let mut r = ExecutionResult::default();
/// r.status = Status::Error;
/// r.error = Some(PythonError {
///     type_name: "ValueError".into(),
///     message: "bad input".into(),
///     traceback: "ValueError: bad input\n".into(),
/// });
/// assert!(!r.success());
///
/// let back: ExecutionResult = serde_json::from_str(&r.to_json()).unwrap();
/// assert_eq!(back, r);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ExecutionResult {
    /// How the execution ended.
    pub status: Status,
    /// Everything the code wrote to `sys.stdout`, as UTF-8 (invalid bytes replaced).
    #[serde(default)]
    pub stdout: String,
    /// Everything the code wrote to `sys.stderr`, including warnings.
    #[serde(default)]
    pub stderr: String,
    /// `repr()` of the value of the code's last line when it is an expression whose
    /// value is not `None`, like a notebook's `Out[]`.
    #[serde(default)]
    pub value: Option<String>,
    /// The exception, or why the code was stopped; `None` when `status` is `Ok`.
    #[serde(default)]
    pub error: Option<PythonError>,
    /// Wall-clock time from the request to the result, in milliseconds.
    #[serde(default, deserialize_with = "f64_or_null")]
    pub duration_ms: f64,
    /// Bytes of stdout cut from the middle because of the output limit (0: nothing cut).
    #[serde(default)]
    pub stdout_truncated_bytes: u64,
    /// Bytes of stderr cut from the middle because of the output limit (0: nothing cut).
    #[serde(default)]
    pub stderr_truncated_bytes: u64,
    /// What the session's other threads wrote to stdout since the previous execute's
    /// result: between executes, or during this one by threads that earlier executes
    /// started, or by code that was given up on. Delivered once, here, so it is never
    /// lost and never passed off as this execution's own `stdout`.
    #[serde(default)]
    pub background_stdout: String,
    /// Like [`background_stdout`](Self::background_stdout), for stderr.
    #[serde(default)]
    pub background_stderr: String,
    /// Rich output, in the order it was made: `display(obj)` calls, then the bundle of
    /// the last line's value when it has representations besides its repr (a
    /// DataFrame's HTML, an image's PNG), then the session's matplotlib figures that
    /// were not shown yet. Empty for most code.
    #[serde(default)]
    pub display: Vec<DisplayData>,
    /// Display items left out because this execution's display data went over its
    /// limit ([`display_limit`](crate::SessionBuilder::display_limit)); 0: none.
    #[serde(default)]
    pub display_dropped: u64,
    /// Like [`background_stdout`](Self::background_stdout), for displays made by the
    /// session's other threads.
    #[serde(default)]
    pub background_display: Vec<DisplayData>,
}

fn f64_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// An `ok` result with no output, value, error or display and a duration of 0: the
/// starting point for building a result outside this crate (see the type docs).
impl Default for ExecutionResult {
    fn default() -> Self {
        ExecutionResult::empty(Status::Ok)
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

#[cfg(test)]
mod tests {
    use super::*;
    use display::tests::display as bundle_with;
    use serde_json::json;

    #[test]
    fn default_result_is_ok_and_serializes_every_field() {
        let r = ExecutionResult::default();
        assert!(r.success());
        assert_eq!(
            r.to_json(),
            "{\"status\":\"ok\",\"success\":true,\"stdout\":\"\",\"stderr\":\"\",\
             \"value\":null,\"error\":null,\"duration_ms\":0.0,\
             \"stdout_truncated_bytes\":0,\"stderr_truncated_bytes\":0,\
             \"background_stdout\":\"\",\"background_stderr\":\"\",\"display\":[],\
             \"display_dropped\":0,\"background_display\":[]}"
        );
    }

    #[test]
    fn a_result_with_every_field_set_reads_back_equal_and_writes_the_same_json() {
        let mut r = ExecutionResult::empty(Status::Restarted);
        r.stdout = "out\n".into();
        r.stderr = "err\n".into();
        r.value = Some("'v'".into());
        r.error = Some(PythonError {
            type_name: "SessionRestarted".into(),
            message: "gone".into(),
            traceback: "Traceback...\n".into(),
        });
        r.duration_ms = 12.5;
        r.stdout_truncated_bytes = 7;
        r.stderr_truncated_bytes = 8;
        r.background_stdout = "bg out".into();
        r.background_stderr = "bg err".into();
        let mut value = bundle_with(&[
            ("text/plain", MimeData::Text("P()".into())),
            ("image/png", MimeData::Binary(vec![0x89, b'P', 0, 255])),
            (
                "application/json",
                MimeData::Json(json!({"a": [1, 2.5, null]})),
            ),
        ]);
        value.is_value = true;
        r.display = vec![value];
        r.display_dropped = 3;
        r.background_display = vec![bundle_with(&[("text/html", MimeData::Text("<i>".into()))])];
        let json = r.to_json();
        let back: ExecutionResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn durations_of_seventeen_digits_read_back_exactly() {
        // Values the shortest-digits writer prints with 17 digits, which a best-effort
        // float parser gets wrong by one unit in the last place.
        for ms in [985.6906946328695, 198136.40638684994, 0.1 + 0.2] {
            let r = ExecutionResult {
                duration_ms: ms,
                ..Default::default()
            };
            let back: ExecutionResult = serde_json::from_str(&r.to_json()).unwrap();
            assert_eq!(
                back.duration_ms.to_bits(),
                ms.to_bits(),
                "{ms} read back as {}: serde_json needs its `float_roundtrip` feature",
                back.duration_ms
            );
        }
    }

    #[test]
    fn a_nan_duration_is_written_as_null_and_reads_back_as_nan() {
        let r = ExecutionResult {
            duration_ms: f64::NAN,
            ..Default::default()
        };
        let json = r.to_json();
        assert!(json.contains("\"duration_ms\":null"), "{json}");
        let back: ExecutionResult = serde_json::from_str(&json).unwrap();
        assert!(back.duration_ms.is_nan());
        assert_eq!(back.to_json(), json);
    }

    #[test]
    fn only_status_is_required_and_success_is_not_trusted() {
        let r: ExecutionResult =
            serde_json::from_str(r#"{"status":"error","success":true,"later_field":{"x":1}}"#)
                .unwrap();
        assert_eq!(r.status, Status::Error);
        assert!(!r.success());
        assert_eq!(r, ExecutionResult::empty(Status::Error));
        let e = serde_json::from_str::<ExecutionResult>(r#"{"success":true}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `status`"), "{e}");
        let e = serde_json::from_str::<ExecutionResult>(r#"{"status":"done"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `done`"), "{e}");
    }

    #[test]
    fn a_variable_reads_back_from_its_json() {
        let v = Variable {
            name: "df".into(),
            type_name: "DataFrame".into(),
            repr: "   a\n0  1".into(),
        };
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(
            json,
            r#"{"name":"df","type":"DataFrame","repr":"   a\n0  1"}"#
        );
        assert_eq!(serde_json::from_str::<Variable>(&json).unwrap(), v);
    }
}
