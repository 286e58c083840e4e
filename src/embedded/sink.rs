//! The Python face of a session's output capture: what `sys.stdout.write` calls in an
//! embedded session.

use std::borrow::Cow;
use std::sync::Arc;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

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
        let text = utf8(text);
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
                Err(_) => Payload::Text(text_of(&data)),
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

/// `sys.stdout.write` and `sys.stderr.write` of an embedded interpreter, in native
/// code: the routing stream's own `write` (`slow`) does the same in Python, at three
/// times the cost of a `print` into an `io.StringIO`. A `str` written by a thread a
/// session owns goes straight to that session's capture; anything else (no owner, a
/// `str` subclass, not a `str`) takes `slow`, which says how it is handled.
#[pyclass(frozen, module = "pysession")]
pub(crate) struct StreamWrite {
    stream: u8,
    /// The runtime's thread ident → `(session state, run)` map (`ownership._owners`).
    owners: Py<PyDict>,
    slow: Py<PyAny>,
}

#[pymethods]
impl StreamWrite {
    #[new]
    fn new(stream: u8, owners: Py<PyDict>, slow: Py<PyAny>) -> Self {
        StreamWrite {
            stream,
            owners,
            slow,
        }
    }

    fn __call__<'py>(&self, s: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = s.py();
        if let Ok(text) = s.cast_exact::<PyString>() {
            if let Some((sink, run)) = self.owner(py)? {
                sink.get().write(self.stream, text, run);
                return Ok(text.len()?.into_pyobject(py)?.into_any());
            }
        }
        self.slow.bind(py).call1((s,))
    }
}

impl StreamWrite {
    /// The capture and run of the session that owns the calling thread, when the
    /// runtime's map has it with a capture of this host's.
    fn owner<'py>(&self, py: Python<'py>) -> PyResult<Option<(Bound<'py, Sink>, Option<u64>)>> {
        let Some(owner) = self.owners.bind(py).get_item(super::ffi::thread_ident())? else {
            return Ok(None);
        };
        let Ok(owner) = owner.cast_into::<PyTuple>() else {
            return Ok(None);
        };
        let (Ok(state), Ok(run)) = (owner.get_item(0), owner.get_item(1)) else {
            return Ok(None);
        };
        let Ok(sink) = state.getattr(intern!(py, "capture"))?.cast_into::<Sink>() else {
            return Ok(None);
        };
        Ok(Some((sink, run.extract()?)))
    }
}

/// Any object's text (`str()`, or the string itself) as [`utf8`] makes it.
pub(crate) fn text_of(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyString>() {
        Ok(s) => utf8(s).into_owned(),
        Err(_) => obj.str().map(|s| utf8(&s).into_owned()).unwrap_or_default(),
    }
}

/// A Python string as UTF-8, each lone surrogate (which UTF-8 cannot hold) one U+FFFD,
/// as a subprocess session's streams write it.
pub(crate) fn utf8<'a>(s: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    if let Ok(text) = s.to_str() {
        return Cow::Borrowed(text);
    }
    // `surrogatepass` gives every lone surrogate as the three bytes ED A0-BF 80-BF.
    let bytes = match s.call_method1("encode", ("utf-8", "surrogatepass")) {
        Ok(b) => match b.cast::<PyBytes>() {
            Ok(b) => b.as_bytes().to_vec(),
            Err(_) => return s.to_string_lossy(),
        },
        Err(_) => return s.to_string_lossy(),
    };
    Cow::Owned(replace_surrogates(&bytes))
}

/// UTF-8 with lone surrogates encoded in it (as `surrogatepass` writes them) made
/// valid: one U+FFFD for each, and for each byte of anything else invalid.
pub(crate) fn replace_surrogates(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(rest) => {
                out.push_str(rest);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                // Valid, by `from_utf8`'s own word.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                let surrogate = matches!(rest, [0xED, 0xA0..=0xBF, 0x80..=0xBF, ..]);
                let skip = if surrogate {
                    3
                } else {
                    e.error_len().unwrap_or(rest.len())
                };
                bytes = &rest[skip.min(rest.len())..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_surrogates;

    #[test]
    fn a_lone_surrogate_is_one_replacement_character() {
        // "x\ud800y" as surrogatepass encodes it, then a stray continuation byte.
        assert_eq!(replace_surrogates(b"x\xed\xa0\x80y"), "x\u{FFFD}y");
        assert_eq!(replace_surrogates(b"a\x80b"), "a\u{FFFD}b");
        assert_eq!(replace_surrogates("plain é".as_bytes()), "plain é");
        assert_eq!(replace_surrogates(b"\xed\xa0"), "\u{FFFD}\u{FFFD}");
    }
}
