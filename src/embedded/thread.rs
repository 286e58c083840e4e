//! What the host knows of a worker thread: its ids in the interpreter, its run
//! control, and whether it has left Python. Shared by the worker, the watchdog that
//! raises into it, and the record of threads given up on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::wait::Seat;

/// What the watchdog needs to know about a worker thread.
#[derive(Debug, Default)]
pub(crate) struct WorkerThread {
    /// `threading.get_ident()` of the worker; 0 until it is up.
    pub ident: AtomicU64,
    /// The worker's `PyThreadState`, valid while `exited` is false.
    pub thread_state: AtomicUsize,
    /// The worker's `RunControl`, the trace function's argument.
    pub control: OnceLock<Py<PyAny>>,
    /// Set once the worker has left Python for good.
    pub exited: AtomicBool,
    /// Where the worker ran when it took its last request, for its caller's wait.
    pub worker_seat: Seat,
    /// Where the last caller ran when it sent a request, for the worker's wait.
    pub caller_seat: Seat,
}
