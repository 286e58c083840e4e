//! The crate's only unsafe code: the CPython calls PyO3 does not wrap.
#![allow(unsafe_code)]

use std::os::raw::c_long;

use pyo3::prelude::*;
use pyo3::types::PyType;

/// Schedules `exception` to be raised in the thread whose `threading.get_ident()` is
/// `thread_id`, at its next bytecode boundary; `None` clears a pending one.
pub(crate) fn set_async_exc(
    _py: Python<'_>,
    thread_id: u64,
    exception: Option<&Bound<'_, PyType>>,
) {
    let exc = exception.map_or(std::ptr::null_mut(), |e| e.as_ptr());
    // SAFETY: `_py` proves this thread is attached to the interpreter, as the call
    // requires. `exc` is null (which clears) or a live class object kept alive by the
    // borrowed `Bound` for the duration of the call; CPython takes its own reference.
    // The cast keeps the bit pattern of the `unsigned long` thread id that CPython
    // declares (pyo3-ffi spells the parameter `c_long`).
    unsafe {
        pyo3::ffi::PyThreadState_SetAsyncExc(thread_id as c_long, exc);
    }
}

/// `threading.get_ident()` of the calling thread, usable without the interpreter.
pub(crate) fn thread_ident() -> u64 {
    // SAFETY: PyThread_get_thread_ident only reads the calling thread's id
    // (pthread_self); it needs no interpreter state and cannot fail.
    unsafe { pyo3::ffi::PyThread_get_thread_ident() as u64 }
}
