//! The Python face of a session's output capture: what `sys.stdout.write` calls in an
//! embedded session.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyString;

use super::control::ControlShared;
use crate::capture::{CaptureShared, Written};

/// The Python face of [`CaptureShared`] for one worker: what `sys.stdout.write` calls.
#[pyclass(frozen, module = "pysession")]
pub(crate) struct Capture {
    pub shared: Arc<CaptureShared>,
    /// The worker's control, whose current run is the one a write of the worker's own
    /// thread belongs to.
    pub control: Arc<ControlShared>,
}

#[pymethods]
impl Capture {
    /// `run` is the run that started the writing thread; `None` for the worker's own
    /// thread, whose writes belong to the worker's current run.
    #[pyo3(signature = (stream, text, run=None))]
    fn write(&self, stream: u8, text: &Bound<'_, PyString>, run: Option<u64>) {
        let run = run.unwrap_or_else(|| self.control.current());
        // Lone surrogates cannot be UTF-8; they arrive as replacement characters.
        let text = text.to_string_lossy();
        self.shared.write(stream, run, Written::Text(&text));
    }

    #[pyo3(signature = (stream, data, run=None))]
    fn write_bytes(&self, stream: u8, data: &[u8], run: Option<u64>) {
        let run = run.unwrap_or_else(|| self.control.current());
        self.shared.write_bytes(stream, run, data);
    }
}
