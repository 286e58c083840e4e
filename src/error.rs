//! Errors that stop a call itself. What the *code* does is data in
//! [`ExecutionResult`](crate::ExecutionResult), never an `Error`.

use std::path::PathBuf;

use crate::result::PythonError;

/// Why a session call could not be carried out.
///
/// Each message says what happened and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session is not running: it was never started, was stopped, or its startup
    /// code failed. Call [`Session::start`](crate::Session::start).
    #[error("session is not running: call start() first")]
    NotRunning,

    /// The session is already running; [`Session::start`](crate::Session::start) was
    /// called twice.
    #[error("session is already running: stop() it before start()")]
    AlreadyRunning,

    /// A path given in the configuration does not exist.
    #[error("{what} {} not found", path.display())]
    NotFound {
        /// What the path was for, such as `python_executable`.
        what: &'static str,
        /// The path as given.
        path: PathBuf,
    },

    /// The configuration cannot work, for example a virtual environment made from a
    /// different Python version than the embedded one.
    #[error("{0}")]
    Config(String),

    /// The startup code raised. The session is not running.
    #[error("startup code raised {}: {}\n{}", .0.type_name, .0.message, .0.traceback)]
    Startup(PythonError),

    /// A variable could not be read or written: there is no such name, or its value
    /// does not convert (to JSON, or to the requested Rust type). The session is fine.
    #[error("{0}")]
    Variable(String),

    /// Nothing ran, because code blocked where it cannot be stopped (in C) holds the
    /// interpreter: the startup code ran past its timeout and could not be stopped (the
    /// session is stopped), or, on the embedded backend, code that a session gave up on
    /// still holds the interpreter lock, so the call could not start within the grace
    /// period (the message says whose code it is; the session keeps its state and runs
    /// again once that code returns).
    #[error("{0}")]
    Busy(String),

    /// The Python interpreter could not be set up (for example the embedded runtime
    /// failed to load). This is a bug or a broken Python installation.
    #[error("python interpreter set-up failed: {0}")]
    Interpreter(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
