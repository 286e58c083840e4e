//! What the host knows of a worker thread: its ids in the interpreter, its run
//! control, and whether it has left Python. Shared by the worker, the watchdog that
//! raises into it, and the record of threads given up on.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use pyo3::prelude::*;

use super::ffi;

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

/// The CPU a thread said it last ran on, for the thread that waits for its messages:
/// that one polls busily only while the two run on different CPUs (`crate::wait`).
#[derive(Debug)]
pub(crate) struct Seat(AtomicI32);

impl Default for Seat {
    fn default() -> Self {
        Seat(AtomicI32::new(-1))
    }
}

impl Seat {
    /// Records the calling thread's CPU.
    pub(crate) fn take(&self) {
        self.0.store(ffi::current_cpu(), Ordering::Relaxed);
    }

    /// Whether the seat's thread runs on another CPU than the calling one (unknown: if
    /// the process may use several).
    pub(crate) fn elsewhere(&self) -> bool {
        let theirs = self.0.load(Ordering::Relaxed);
        if theirs < 0 {
            return crate::wait::several_cpus();
        }
        theirs != ffi::current_cpu()
    }
}
