//! The Python face of a session's output capture: what `sys.stdout.write` calls in an
//! embedded session.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::control::ControlShared;
use crate::capture::{CaptureShared, Written};
use crate::result::{DisplayData, Payload};

/// The Python face of [`CaptureShared`] for one worker: what `sys.stdout.write` calls.
#[pyclass(frozen, module = "pysession")]
pub(crate) struct Sink {
    pub shared: Arc<CaptureShared>,
    /// The worker's control, whose current run is the one a write of the worker's own
    /// thread belongs to.
    pub control: Arc<ControlShared>,
}

#[pymethods]
impl Sink {
    /// `run` is the run that started the writing thread; `None` for the worker's own
    /// thread, whose writes belong to the worker's current run.
    #[pyo3(signature = (stream, text, run=None))]
    fn write(&self, stream: u8, text: &Bound<'_, PyString>, run: Option<u64>) {
        let run = run.unwrap_or_else(|| self.control.current());
        // Lone surrogates cannot be UTF-8; they arrive as replacement characters.
        let text = text.to_string_lossy();
        self.shared.write(stream, run, Written::Text(&text));
    }

    /// A display: `items` are `(mime, str | bytes)` pairs; `is_value` marks the bundle
    /// of a cell's last expression.
    #[pyo3(signature = (items, is_value, run=None))]
    fn display(&self, items: Vec<(String, Bound<'_, PyAny>)>, is_value: bool, run: Option<u64>) {
        let run = run.unwrap_or_else(|| self.control.current());
        let parts = items.into_iter().map(|(mime, data)| {
            let payload = match data.cast::<PyBytes>() {
                Ok(b) => Payload::Bytes(b.as_bytes().to_vec()),
                Err(_) => Payload::Text(match data.cast::<PyString>() {
                    Ok(s) => s.to_string_lossy().into_owned(),
                    Err(_) => data
                        .str()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                }),
            };
            (mime, payload)
        });
        self.shared
            .display(run, DisplayData::from_parts(parts, is_value));
    }

    #[pyo3(signature = (stream, data, run=None))]
    fn write_bytes(&self, stream: u8, data: &[u8], run: Option<u64>) {
        let run = run.unwrap_or_else(|| self.control.current());
        self.shared.write_bytes(stream, run, data);
    }
}
