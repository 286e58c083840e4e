//! Run bookkeeping shared by the caller, the worker and the watchdog: who may still
//! start, stop or give up on a run, decided by compare-and-swap so that exactly one
//! side wins each race.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use std::os::raw::c_int;
use std::path::PathBuf;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use super::ffi::LineTracer;
use crate::interrupt::StopReason;
use crate::runtime::CELL_FILE_PREFIX;

/// Per-worker run control: which run is current and whether it is being stopped.
/// Shared with Python as [`RunControl`], read without the interpreter by the caller.
#[derive(Debug, Default)]
pub(crate) struct ControlShared {
    /// The run in progress; 0 when none.
    current: AtomicU64,
    /// The run asked to stop, and why (a `StopReason` as u8).
    stopping: AtomicU64,
    stop_reason: AtomicU8,
    /// The run whose stop has arrived and been caught by the runtime.
    settled: AtomicU64,
    /// The run whose stop was ignored long enough to trace its lines.
    escalated: AtomicU64,
    /// Where the session's own `os.chdir` moved it, if it did.
    moved_to: Mutex<Option<PathBuf>>,
    /// When an interruptible wait (`time.sleep`) last returned for a stop: that stop
    /// is on its way, and the watchdog need not raise one more on top of it at once.
    woken: Mutex<Option<Instant>>,
    wake: Mutex<()>,
    cv: Condvar,
}

impl ControlShared {
    /// The run in progress; 0 when none.
    pub(crate) fn current(&self) -> u64 {
        self.current.load(Ordering::Acquire)
    }

    pub(crate) fn begin(&self, run: u64) {
        self.current.store(run, Ordering::Release);
    }

    /// Asks the current run (if it is `run`) to stop: wakes its interruptible waits and
    /// makes them, and the stop tracer, raise.
    pub(crate) fn request_stop(&self, run: u64, reason: StopReason) {
        self.stop_reason.store(reason as u8, Ordering::Release);
        self.stopping.store(run, Ordering::Release);
        let _guard = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        self.cv.notify_all();
    }

    /// True while the current run is asked to stop and the stop has not arrived.
    pub(crate) fn stop_requested(&self) -> bool {
        let current = self.current.load(Ordering::Acquire);
        current != 0
            && self.stopping.load(Ordering::Acquire) == current
            && self.settled.load(Ordering::Acquire) != current
    }

    /// Why the last stop was asked for.
    pub(crate) fn stop_reason(&self) -> StopReason {
        if self.stop_reason.load(Ordering::Acquire) == StopReason::Interrupt as u8 {
            StopReason::Interrupt
        } else {
            StopReason::Timeout
        }
    }

    /// True once the current run has been asked to stop (whether or not it arrived).
    pub(crate) fn was_stopped(&self) -> bool {
        let current = self.current.load(Ordering::Acquire);
        current != 0 && self.stopping.load(Ordering::Acquire) == current
    }

    /// The current run keeps going despite the stop: trace it from now on.
    pub(crate) fn escalate(&self) {
        self.escalated
            .store(self.current.load(Ordering::Acquire), Ordering::Release);
    }

    pub(crate) fn escalated(&self) -> bool {
        let current = self.current.load(Ordering::Acquire);
        current != 0 && self.escalated.load(Ordering::Acquire) == current
    }

    /// The session's code moved its working directory to `path`.
    #[cfg(all(feature = "subinterpreter", Py_3_12))]
    pub(crate) fn set_moved(&self, path: PathBuf) {
        *self.moved_to.lock().unwrap_or_else(|p| p.into_inner()) = Some(path);
    }

    /// Where the session's code moved its working directory since the last call.
    pub(crate) fn take_moved(&self) -> Option<PathBuf> {
        self.moved_to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// True when an interruptible wait returned for a stop less than `within` ago.
    pub(crate) fn woken_within(&self, within: Duration) -> bool {
        let woken = *self.woken.lock().unwrap_or_else(|p| p.into_inner());
        woken.is_some_and(|t| t.elapsed() < within)
    }

    /// The stop has arrived where the runtime catches it: no more may be raised.
    #[cfg(all(feature = "subinterpreter", Py_3_12))]
    pub(crate) fn settle(&self) {
        let current = self.current.load(Ordering::Acquire);
        self.settled.store(current, Ordering::Release);
    }

    /// Waits up to `duration`, returning early (true) if the run is asked to stop.
    pub(crate) fn wait(&self, duration: Duration) -> bool {
        let deadline = Instant::now().checked_add(duration);
        let mut guard = self.wake.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if self.stop_requested() {
                *self.woken.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                return true;
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d > now => d - now,
                Some(_) => return false,
                None => Duration::from_secs(3600),
            };
            guard = match self.cv.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// The Python face of [`ControlShared`]: `time.sleep` in a worker thread calls `sleep`.
#[pyclass(frozen, module = "pysession")]
pub(crate) struct RunControl {
    pub shared: Arc<ControlShared>,
    pub stop_exception: Py<PyType>,
}

#[pymethods]
impl RunControl {
    fn sleep(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        if seconds.is_nan() {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "Invalid value NaN (not a number)",
            ));
        }
        if seconds < 0.0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "sleep length must be non-negative",
            ));
        }
        let duration = Duration::try_from_secs_f64(seconds)
            .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("sleep length is too large"))?;
        let shared = &self.shared;
        if py.detach(|| shared.wait(duration)) {
            return Err(PyErr::from_type(self.stop_exception.bind(py).clone(), ()));
        }
        Ok(())
    }

    /// The threads whose code was given up on and is still in the interpreter (their
    /// `threading.get_ident()`), so that the runtime can tell what they hold.
    fn abandoned_threads(&self) -> Vec<u64> {
        super::abandoned::idents()
    }

    fn current_run(&self) -> u64 {
        self.shared.current()
    }

    fn stopping(&self) -> bool {
        self.shared.stop_requested()
    }

    /// The session's code called `os.chdir`: its next runs start in `path`.
    fn moved_to(&self, path: PathBuf) {
        super::cwd::moved(&path);
        *self
            .shared
            .moved_to
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(path);
    }

    /// Traces this thread so that every new line of user code raises the stop, once
    /// the watchdog has escalated (the code ignored the stop for a while).
    fn arm(slf: &Bound<'_, Self>) {
        if slf.get().shared.escalated() {
            super::ffi::trace_current::<StopTracer>(slf.py(), slf.as_any());
        }
    }

    /// The stop has arrived where the runtime catches it: no more may be raised. This
    /// runs under the interpreter lock, which the watchdog holds while it raises, so at
    /// most one raised earlier is still pending; the runtime absorbs it.
    fn settle(&self) {
        let current = self.shared.current.load(Ordering::Acquire);
        self.shared.settled.store(current, Ordering::Release);
    }
}

/// The stop tracer: raises the stop exception in a traced frame of user code while
/// the run is being stopped. It is given the worker's [`RunControl`].
pub(crate) struct StopTracer;

impl LineTracer for StopTracer {
    fn on_line(py: Python<'_>, control: &Bound<'_, PyAny>, frame: &Bound<'_, PyAny>) -> c_int {
        raise_if_stopping(py, control, frame)
    }
}

fn raise_if_stopping(
    py: Python<'_>,
    control: &Bound<'_, PyAny>,
    frame: &Bound<'_, PyAny>,
) -> c_int {
    let Ok(control) = control.cast::<RunControl>() else {
        return 0;
    };
    let control = control.get();
    if !control.shared.stop_requested() {
        return 0;
    }
    // Only the user's own code (cells, and functions defined in them) is stopped line
    // by line; library code, the runtime and their `finally` blocks run on, so an
    // event loop or a lock is not left half torn down.
    let in_cell = frame
        .getattr(intern!(py, "f_code"))
        .and_then(|code| code.getattr(intern!(py, "co_filename")))
        .is_ok_and(|name| {
            name.cast::<PyString>()
                .is_ok_and(|n| n.to_str().is_ok_and(|n| n.starts_with(CELL_FILE_PREFIX)))
        });
    if !in_cell {
        return 0;
    }
    PyErr::from_type(control.stop_exception.bind(py).clone(), ()).restore(py);
    -1
}
