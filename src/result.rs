//! What one `execute` produced: status, output, value and error, as plain owned data.

use serde::ser::SerializeStruct;
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

/// The outcome of one [`Session::execute`](crate::Session::execute).
///
/// Serializes to JSON with the field names shown here plus `success`.
#[derive(Debug, Clone, PartialEq)]
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
        }
    }

    /// The result as a JSON string (see the type docs for the field names).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"serialize_error\":\"{e}\"}}"))
    }
}

impl Serialize for ExecutionResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ExecutionResult", 11)?;
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
