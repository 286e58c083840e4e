//! The embedded backend's only unsafe code: the CPython calls PyO3 does not wrap, and
//! the one C library call it needs (which CPU a thread is on).
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_long};

use pyo3::prelude::*;
use pyo3::types::PyType;

/// Schedules `exception` to be raised in the thread whose `threading.get_ident()` is
/// `thread_id`, at its next bytecode boundary.
///
/// Never used to clear a pending exception: on CPython 3.11 clearing leaves the
/// interpreter's "something pending" flag set, which makes traced code spin forever at
/// function entry. A pending stop is absorbed by running a little Python instead.
pub(crate) fn set_async_exc(_py: Python<'_>, thread_id: u64, exception: &Bound<'_, PyType>) {
    // SAFETY: `_py` proves this thread is attached to the interpreter, as the call
    // requires. `exception` is a live class object kept alive by the borrowed `Bound`
    // for the duration of the call; CPython takes its own reference. The cast keeps the
    // bit pattern of the `unsigned long` thread id that CPython declares (pyo3-ffi
    // spells the parameter `c_long`).
    unsafe {
        pyo3::ffi::PyThreadState_SetAsyncExc(thread_id as c_long, exception.as_ptr());
    }
}

/// The CPU the calling thread runs on, or -1. glibc reads it from memory the kernel
/// keeps up to date (rseq): 3 ns here. (rustix's `sched_getcpu` finds the vDSO by
/// reading the ELF auxiliary vector, which crashes the process under valgrind.)
pub(crate) fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu takes no arguments and writes no memory of ours.
    unsafe { libc::sched_getcpu() }
}

/// `threading.get_ident()` of the calling thread, usable without the interpreter.
pub(crate) fn thread_ident() -> u64 {
    // SAFETY: PyThread_get_thread_ident only reads the calling thread's id
    // (pthread_self); it needs no interpreter state and cannot fail.
    unsafe { pyo3::ffi::PyThread_get_thread_ident() as u64 }
}

/// The calling thread's `PyThreadState`, as an address the watchdog can hand to
/// [`trace_thread`] while the thread is known to be alive.
pub(crate) fn current_thread_state(_py: Python<'_>) -> usize {
    // SAFETY: `_py` proves the calling thread is attached, so it has a current thread
    // state and PyThreadState_Get cannot fail.
    unsafe { pyo3::ffi::PyThreadState_Get() as usize }
}

#[cfg(not(Py_3_13))]
extern "C" {
    // Exported by CPython 3.11 and 3.12 (declared in `cpython/ceval.h` in 3.11); it is
    // what `threading.settrace_all_threads` uses to trace another thread.
    fn _PyEval_SetTrace(
        tstate: *mut pyo3::ffi::PyThreadState,
        func: Option<pyo3::ffi::Py_tracefunc>,
        arg: *mut pyo3::ffi::PyObject,
    ) -> std::os::raw::c_int;
}

#[cfg(not(Py_3_12))]
extern "C" {
    // Exported by CPython 3.11 (`cpython/ceval.h`): what sys.setswitchinterval and
    // sys.getswitchinterval call, in microseconds. From 3.12 the interval is the
    // interpreter's, and these need an attached thread to find it.
    fn _PyEval_SetSwitchInterval(microseconds: std::os::raw::c_ulong);
    fn _PyEval_GetSwitchInterval() -> std::os::raw::c_ulong;
}

/// The switch interval, in seconds, read and set without the interpreter lock: on 3.11
/// it is one process-wide word.
#[cfg(not(Py_3_12))]
pub(crate) fn swap_switch_interval_detached(seconds: f64) -> f64 {
    // SAFETY: on 3.11 both calls read or write one word of the runtime's state and need
    // no thread state or lock (CPython's own waiters read it holding only the lock's
    // mutex); the interpreter is initialised before any watchdog exists.
    let previous = unsafe { _PyEval_GetSwitchInterval() };
    let wanted = (seconds * 1e6) as std::os::raw::c_ulong;
    if wanted.max(1) < previous {
        // SAFETY: as above.
        unsafe { _PyEval_SetSwitchInterval(wanted.max(1)) };
    }
    previous as f64 / 1e6
}

/// What a line tracer does, at every new line or call of the traced thread's code:
/// `obj` is the object given when tracing began. Returns what a CPython trace function
/// returns: 0, or -1 with an exception set (which the traced code then raises).
pub(crate) trait LineTracer {
    fn on_line(py: Python<'_>, obj: &Bound<'_, PyAny>, frame: &Bound<'_, PyAny>) -> c_int;
}

/// Installs the tracer `T` in another thread, so that its code stops at the next line
/// even when it catches every exception. Returns false where CPython offers no way to
/// do this (3.13+; there the stop exception installs it from inside the thread).
#[cfg(not(Py_3_13))]
pub(crate) fn trace_thread<T: LineTracer>(
    _py: Python<'_>,
    thread_state: usize,
    control: &Bound<'_, PyAny>,
) -> bool {
    // SAFETY: `_py` proves we hold the interpreter lock, as _PyEval_SetTrace requires.
    // `thread_state` was taken from a worker that is still attached to the interpreter:
    // the caller checked, under this same lock, that the worker has not exited, and a
    // worker only gives up its thread state after marking itself exited under the lock.
    // CPython takes its own reference to `control`.
    unsafe {
        _PyEval_SetTrace(
            thread_state as *mut pyo3::ffi::PyThreadState,
            Some(trampoline::<T>),
            control.as_ptr(),
        ) == 0
    }
}

#[cfg(Py_3_13)]
pub(crate) fn trace_thread<T: LineTracer>(
    _py: Python<'_>,
    _thread_state: usize,
    _control: &Bound<'_, PyAny>,
) -> bool {
    false
}

/// Installs the tracer `T` in the calling thread.
pub(crate) fn trace_current<T: LineTracer>(_py: Python<'_>, control: &Bound<'_, PyAny>) {
    // SAFETY: `_py` proves the calling thread holds the interpreter lock; CPython takes
    // its own reference to `control`.
    unsafe { pyo3::ffi::PyEval_SetTrace(Some(trampoline::<T>), control.as_ptr()) }
}

/// Removes any trace function from the calling thread.
pub(crate) fn untrace_current(_py: Python<'_>) {
    // SAFETY: `_py` proves the calling thread holds the interpreter lock; a null
    // function with a null argument is the documented way to turn tracing off.
    unsafe { pyo3::ffi::PyEval_SetTrace(None, std::ptr::null_mut()) }
}

/// The C trace function of the tracer `T`: hands every new line or call to it. CPython
/// calls it with the interpreter lock held.
extern "C" fn trampoline<T: LineTracer>(
    obj: *mut pyo3::ffi::PyObject,
    frame: *mut pyo3::ffi::PyFrameObject,
    what: std::os::raw::c_int,
    _arg: *mut pyo3::ffi::PyObject,
) -> c_int {
    if what != pyo3::ffi::PyTrace_LINE && what != pyo3::ffi::PyTrace_CALL {
        return 0;
    }
    // SAFETY: CPython calls trace functions only on a thread that holds the interpreter
    // lock.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `obj` is the object given to PyEval_SetTrace, kept alive by CPython for
    // as long as the trace function is installed; `frame` is the live frame being
    // traced. Both are borrowed for the duration of this call only.
    let (control, frame) = unsafe {
        (
            Bound::from_borrowed_ptr(py, obj),
            Bound::from_borrowed_ptr(py, frame.cast::<pyo3::ffi::PyObject>()),
        )
    };
    T::on_line(py, &control, &frame)
}

/// The file the interpreter's shared library was loaded from, as the dynamic loader
/// reports it; `None` when libpython is linked into the executable itself.
pub(crate) fn loaded_libpython() -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let symbol = pyo3::ffi::Py_IsInitialized as *const std::ffi::c_void;
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: `symbol` is the address of a function of libpython, which stays loaded
    // for the life of the process; `info` is a writable `Dl_info` that dladdr fills in.
    let found = unsafe { libc::dladdr(symbol, info.as_mut_ptr()) } != 0;
    if !found {
        return None;
    }
    // SAFETY: dladdr returned non-zero, so it filled in `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader, valid while the
    // object is loaded (for the life of the process); it is copied at once.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes()));
    let exe = std::env::current_exe().ok();
    let same_as_exe = match (path.canonicalize(), exe.and_then(|e| e.canonicalize().ok())) {
        (Ok(a), Some(b)) => a == b,
        _ => false,
    };
    (!same_as_exe).then_some(path)
}

/// Tells the interpreter, before it is initialised, which `python` it is, so that it
/// finds its own standard library and `sys.executable` names that program (not the
/// first `python3` on `PATH`, which is what an embedded interpreter guesses).
///
/// Must be called at most once, before the interpreter is initialised.
pub(crate) fn set_program_name(program: &str) {
    // On Linux `wchar_t` is a UTF-32 code unit; the path is valid UTF-8, so every char
    // is one unit. CPython keeps the pointer, so the string lives for the process.
    let wide: Vec<libc::wchar_t> = program
        .chars()
        .map(|c| c as libc::wchar_t)
        .chain(std::iter::once(0))
        .collect();
    let wide: &'static [libc::wchar_t] = Box::leak(wide.into_boxed_slice());
    // SAFETY: the interpreter is not initialised yet (the caller's contract), which is
    // when Py_SetProgramName may be called; `wide` is NUL-terminated and never freed.
    // It is deprecated since 3.11; unlike `PyConfig` it leaves the rest of the legacy
    // initialisation that PyO3 uses (locale, signals) as it is.
    #[allow(deprecated)]
    unsafe {
        pyo3::ffi::Py_SetProgramName(wide.as_ptr().cast());
    }
}

/// True once the interpreter is initialised (by this crate or by the host).
pub(crate) fn is_initialized() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time, before or after
    // initialisation, from any thread; it only reads a flag.
    unsafe { pyo3::ffi::Py_IsInitialized() != 0 }
}

/// `PyCF_ALLOW_TOP_LEVEL_AWAIT`, and what `compile()` adds for a `str` source:
/// `PyCF_SOURCE_IS_UTF8 | PyCF_IGNORE_COOKIE`.
const COMPILE_FLAGS: c_int = 0x2000 | 0x0100 | 0x0800;

/// `compile(source, filename, "eval" if expression else "exec",
/// ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)` for source text, without the
/// builtin's argument parsing; `minor` is the running version's (its grammar, as
/// `compile()` asks for it).
pub(crate) fn compile<'py>(
    py: Python<'py>,
    source: &std::ffi::CStr,
    filename: &Bound<'py, PyAny>,
    expression: bool,
    minor: u8,
) -> PyResult<Bound<'py, PyAny>> {
    let start = if expression {
        pyo3::ffi::Py_eval_input
    } else {
        pyo3::ffi::Py_file_input
    };
    let mut flags = pyo3::ffi::PyCompilerFlags {
        cf_flags: COMPILE_FLAGS,
        cf_feature_version: c_int::from(minor),
    };
    // SAFETY: `py` proves the thread is attached. `source` is a NUL-terminated UTF-8
    // string and `filename` a live object, both borrowed for the call; `flags` is a
    // valid, initialised struct the call may read and update; -1 is "the current
    // optimisation level", as `compile()` passes it.
    let code = unsafe {
        pyo3::ffi::Py_CompileStringObject(source.as_ptr(), filename.as_ptr(), start, &mut flags, -1)
    };
    // SAFETY: the call returns a new reference, or null with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, code) }
}

/// The source line of the instruction at byte `offset` of `code`, as `co_lines()` gives
/// it, without building its tuples; None for an instruction of no line, or an offset
/// not below `size`, the byte length of the code's instructions.
pub(crate) fn code_line(
    code: &Bound<'_, pyo3::types::PyCode>,
    offset: usize,
    size: usize,
) -> Option<usize> {
    let offset = c_int::try_from(offset).ok().filter(|_| offset < size)?;
    // SAFETY: the `Bound` proves the thread is attached and keeps the code object alive
    // for the call; it is a code object (its type says so), and `offset` is within its
    // instructions, as the call asserts. It reads the line table only.
    let line = unsafe { pyo3::ffi::PyCode_Addr2Line(code.as_ptr().cast(), offset) };
    usize::try_from(line).ok()
}
