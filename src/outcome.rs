//! One decoding of the runtime's [`Reply`] for both backends: into the
//! [`ExecutionResult`] of a cell, or into the answer of a variable operation. Also the
//! words of a run that was stopped.

use std::time::Duration;

use crate::capture::{bound_text, RunOutput};
use crate::config::human;
use crate::error::Error;
use crate::interrupt::StopReason;
use crate::protocol::{Raised, Reply, ReplyStatus};
use crate::result::{ExecutionResult, PythonError, Status};

/// What a variable operation gave: JSON text (or nothing), and raw bytes.
#[derive(Debug, Default)]
pub(crate) struct DataReply {
    pub text: String,
    pub blob: Option<Vec<u8>>,
}

/// A reply as a backend received it: with what the run wrote (`None` when nothing
/// ran) and why the run was stopped, if it was.
#[derive(Debug)]
pub(crate) struct Replied {
    pub reply: Reply,
    pub output: Option<RunOutput>,
    pub reason: StopReason,
}

impl Replied {
    /// The reply to a request that did not run: an error of this type and message.
    pub(crate) fn refused(type_name: &str, message: String) -> Replied {
        Replied {
            reply: Reply {
                error: Some(Raised(type_name.into(), message, String::new())),
                ..Reply::of(ReplyStatus::Error)
            },
            output: None,
            reason: StopReason::Timeout,
        }
    }

    /// A cell's whole result: [`execution`] and the output.
    pub(crate) fn into_cell(self, limit: usize, timeout: Duration) -> ExecutionResult {
        let stop = Stop {
            reason: self.reason,
            timeout,
        };
        let mut r = execution(self.reply, limit, stop);
        if let Some(output) = self.output {
            output.fill(&mut r);
        }
        r
    }

    /// A variable operation's answer: [`data`].
    pub(crate) fn into_data(self, timeout: Duration) -> Result<DataReply, Error> {
        let stop = Stop {
            reason: self.reason,
            timeout,
        };
        data(self.reply, stop)
    }
}

/// How a request ended, as its backend saw it.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The runtime replied.
    Replied(Replied),
    /// The backend's wait gave the result itself: the request did not start in time,
    /// or its code was given up on (the session restarted).
    Gave(ExecutionResult),
}

impl Ended {
    /// As a cell's result.
    pub(crate) fn into_cell(self, limit: usize, timeout: Duration) -> ExecutionResult {
        match self {
            Ended::Replied(replied) => replied.into_cell(limit, timeout),
            Ended::Gave(r) => r,
        }
    }

    /// As a variable operation's answer.
    pub(crate) fn into_data(self, timeout: Duration) -> Result<DataReply, Error> {
        match self {
            Ended::Replied(replied) => replied.into_data(timeout),
            Ended::Gave(r) => Err(data_failure(&r)),
        }
    }
}

/// Why a run that the runtime reports as stopped was stopped, and the limit it had.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stop {
    pub reason: StopReason,
    pub timeout: Duration,
}

/// A cell's result from its reply (the output is the caller's to add): the value, the
/// exception's message and its traceback each cut to `limit` bytes as output is, a
/// stop worded by `stop`.
pub(crate) fn execution(reply: Reply, limit: usize, stop: Stop) -> ExecutionResult {
    let mut r = ExecutionResult::empty(Status::Ok);
    match reply.status {
        ReplyStatus::Ok => r.value = reply.value.map(|v| bound_text(v, limit)),
        ReplyStatus::Stopped => {
            let stack = bound_text(reply.error.map(|e| e.2).unwrap_or_default(), limit);
            let (status, error) = stopped_error(stop.reason, stop.timeout, &stack);
            r.status = status;
            r.error = Some(error);
        }
        ReplyStatus::Error => {
            // The exception's text is the code's output too: bounded the same way.
            let mut error = python_error(reply.error);
            error.message = bound_text(error.message, limit);
            error.traceback = bound_text(error.traceback, limit);
            r.status = Status::Error;
            r.error = Some(error);
        }
    }
    r
}

/// A variable operation's answer from its reply; its failure as an
/// [`Error::Variable`]. The data is never cut: it is for the host, not a reader.
pub(crate) fn data(reply: Reply, stop: Stop) -> Result<DataReply, Error> {
    match reply.status {
        ReplyStatus::Ok => Ok(DataReply {
            text: reply.value.unwrap_or_default(),
            blob: reply.blob,
        }),
        ReplyStatus::Stopped | ReplyStatus::Error => {
            Err(data_failure(&execution(reply, usize::MAX, stop)))
        }
    }
}

/// A variable operation that did not get as far as a reply (it timed out before it
/// started, or the session was restarted under it), as an [`Error::Variable`].
pub(crate) fn data_failure(r: &ExecutionResult) -> Error {
    match &r.error {
        Some(e) => Error::Variable(e.message.clone()),
        None => Error::Variable(format!(
            "the variable operation ended with status {}",
            r.status
        )),
    }
}

/// The exception of a reply (there is always one after an error; a runtime that sent
/// none is named so).
pub(crate) fn python_error(error: Option<Raised>) -> PythonError {
    match error {
        Some(Raised(type_name, message, traceback)) => PythonError {
            type_name,
            message,
            traceback,
        },
        None => PythonError {
            type_name: "RuntimeError".into(),
            message: "the code failed without an exception".into(),
            traceback: String::new(),
        },
    }
}

/// A startup code that failed when it ran again, after code given up on restarted the
/// session (which is then stopped): its error says so, and that the code submitted did
/// not run.
pub(crate) fn startup_rerun_failed(r: &mut ExecutionResult) {
    if let Some(e) = r.error.as_mut() {
        e.message = format!(
            "the session had been restarted after code that could not be stopped, and its \
             startup code then failed, so the session is stopped and this code did not run: {}",
            e.message
        );
    }
}

/// The error of code stopped at its timeout; `stack` is where the user's code was (a
/// formatted traceback without its exception line, or empty).
pub(crate) fn timeout_error(timeout: Duration, stack: &str) -> PythonError {
    let message = format!(
        "the code ran past its {} timeout and was stopped; the session's state is kept",
        human(timeout)
    );
    PythonError {
        type_name: "TimeoutError".into(),
        traceback: format!("{stack}TimeoutError: {message}\n"),
        message,
    }
}

/// The error of code stopped by an interrupt; `stack` as for [`timeout_error`].
fn interrupted_error(stack: &str) -> PythonError {
    let message = "the code was interrupted and stopped; the session's state is kept".to_string();
    PythonError {
        type_name: "Interrupted".into(),
        traceback: format!("{stack}Interrupted: {message}\n"),
        message,
    }
}

/// The status and error of code stopped for `reason`.
pub(crate) fn stopped_error(
    reason: StopReason,
    timeout: Duration,
    stack: &str,
) -> (Status, PythonError) {
    match reason {
        StopReason::Timeout => (Status::Timeout, timeout_error(timeout, stack)),
        StopReason::Interrupt => (Status::Interrupted, interrupted_error(stack)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOP: Stop = Stop {
        reason: StopReason::Timeout,
        timeout: Duration::from_millis(200),
    };

    #[test]
    fn a_cell_value_is_cut_and_data_is_not() {
        let reply = Reply {
            value: Some("x".repeat(10_000)),
            ..Reply::of(ReplyStatus::Ok)
        };
        let cell = execution(reply.clone(), 1000, STOP);
        let value = cell.value.unwrap();
        assert!(value.len() < 2000 && value.contains("cut here"), "{value}");
        let data = data(reply, STOP).unwrap();
        assert_eq!(data.text.len(), 10_000);
    }

    #[test]
    fn an_exception_text_is_cut_like_output() {
        let huge = "x".repeat(100_000);
        let reply = Reply {
            error: Some(Raised("ValueError".into(), huge.clone(), huge)),
            ..Reply::of(ReplyStatus::Error)
        };
        let error = execution(reply, 1000, STOP).error.unwrap();
        assert_eq!(error.type_name, "ValueError");
        for text in [&error.message, &error.traceback] {
            assert!(text.len() < 2000 && text.contains("cut here"), "{text}");
        }
    }

    #[test]
    fn a_stop_is_worded_by_its_reason_with_the_stack_first() {
        let reply = Reply {
            error: Some(Raised("".into(), "".into(), "  File \"<cell 1>\"\n".into())),
            ..Reply::of(ReplyStatus::Stopped)
        };
        let r = execution(reply, 100, STOP);
        assert_eq!(r.status, Status::Timeout);
        let error = r.error.unwrap();
        assert!(error.message.contains("200 ms timeout"), "{error:?}");
        assert!(
            error.traceback.starts_with("  File \"<cell 1>\""),
            "{error:?}"
        );
    }

    #[test]
    fn failed_data_operations_are_variable_errors_with_the_message() {
        let reply = Reply {
            error: Some(Raised("NameError".into(), "no x".into(), String::new())),
            ..Reply::of(ReplyStatus::Error)
        };
        match data(reply, STOP) {
            Err(Error::Variable(m)) => assert_eq!(m, "no x"),
            other => panic!("{other:?}"),
        }
        let error = data_failure(&ExecutionResult::empty(Status::Restarted));
        assert!(error.to_string().contains("status restarted"), "{error}");
    }
}
