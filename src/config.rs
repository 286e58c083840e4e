//! A session's settings and what every floor above needs of them: the backend, the
//! limits, the defaults, durations in words and the working directory. It imports
//! nothing of the session or the backends, which take their pieces from here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Default of [`SessionBuilder::timeout`](crate::SessionBuilder::timeout).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`SessionBuilder::grace_period`](crate::SessionBuilder::grace_period).
pub(crate) const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(2);
/// Default of [`SessionBuilder::output_limit`](crate::SessionBuilder::output_limit).
pub(crate) const DEFAULT_OUTPUT_LIMIT: usize = 1 << 20;
/// Default of [`SessionBuilder::display_limit`](crate::SessionBuilder::display_limit).
pub(crate) const DEFAULT_DISPLAY_LIMIT: usize = 64 << 20;

/// Where a session's code runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// In this process, on a thread of the session's own, in the process's one
    /// embedded interpreter. Fastest; see the crate docs for what it cannot isolate.
    #[default]
    Embedded,
    /// In a child `python` process of the session's own (the one named by
    /// [`python_executable`](crate::SessionBuilder::python_executable), default the
    /// interpreter the crate was built for): killable, crash-proof for the host, with output captured at the
    /// descriptor level and its own working directory, environment and limits.
    Subprocess,
    /// In this process, on a thread of the session's own, in an interpreter of the
    /// session's own (a sub-interpreter): its own modules, and on Python 3.12 and
    /// later its own interpreter lock, so sessions run Python in parallel. Extension
    /// modules that do not support sub-interpreters (numpy, today) cannot be imported,
    /// nor can it fork or start daemon threads. Experimental (the `subinterpreter`
    /// feature; refused before Python 3.12): see the README's "Backends" for each way
    /// its results differ from the embedded backend's.
    #[cfg(feature = "subinterpreter")]
    Subinterpreter,
}

/// Limits applied to a subprocess session's child before it runs Python.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcessLimits {
    /// RLIMIT_AS, in bytes.
    pub memory: Option<u64>,
    /// RLIMIT_CPU, in whole seconds (at least 1).
    pub cpu_seconds: Option<u64>,
}

/// A session's settings. Built by [`SessionBuilder`](crate::SessionBuilder); kept so
/// that [`Session::start`](crate::Session::start) after a stop starts the same session
/// again.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub startup_code: String,
    pub working_directory: Option<PathBuf>,
    pub backend: Backend,
    pub timeout: Duration,
    pub grace_period: Duration,
    pub output_limit: usize,
    pub display_limit: usize,
    pub python_executable: Option<PathBuf>,
    pub env_clear: bool,
    pub env: Vec<(OsString, OsString)>,
    pub limits: ProcessLimits,
    pub warm_spare: bool,
    pub fork_server: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            startup_code: String::new(),
            working_directory: None,
            backend: Backend::Embedded,
            timeout: DEFAULT_TIMEOUT,
            grace_period: DEFAULT_GRACE_PERIOD,
            output_limit: DEFAULT_OUTPUT_LIMIT,
            display_limit: DEFAULT_DISPLAY_LIMIT,
            python_executable: None,
            env_clear: false,
            env: Vec::new(),
            limits: ProcessLimits::default(),
            warm_spare: true,
            fork_server: true,
        }
    }
}

/// A duration the way a person writes it: `200 ms`, `1.5 s`.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        let s = d.as_secs_f64();
        if s.fract() == 0.0 {
            format!("{s:.0} s")
        } else {
            format!("{s:.1} s")
        }
    }
}

/// The absolute path of a session's working directory: `dir`, which must exist, or the
/// process's working directory.
pub(crate) fn resolve_working_directory(dir: Option<&Path>) -> Result<PathBuf, Error> {
    let Some(dir) = dir else {
        return std::env::current_dir().map_err(|e| {
            Error::Config(format!("the process has no usable working directory: {e}"))
        });
    };
    match std::fs::canonicalize(dir) {
        Ok(abs) if abs.is_dir() => Ok(abs),
        Ok(_) => Err(Error::Config(format!(
            "working directory {} is not a directory",
            dir.display()
        ))),
        Err(_) => Err(Error::NotFound {
            what: "working directory",
            path: dir.to_path_buf(),
        }),
    }
}

/// A session's working directory is still there (restart and each new process need
/// it): else [`Error::NotFound`].
pub(crate) fn check_working_directory(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(Error::NotFound {
            what: "working directory",
            path: dir.to_path_buf(),
        })
    }
}
