//! The sub-interpreter backend's only unsafe code: making, entering and ending an
//! interpreter of a session's own, and the C functions its runtime calls for output
//! and run control. No PyO3 type, cache or interned string is used here, since PyO3's
//! are the main interpreter's: only `pyo3::ffi` calls and plain Rust data, and no
//! Python object ever leaves the interpreter it was made in.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::null_mut;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::ffi;

use crate::capture::{CaptureShared, Written};
use crate::embedded::control::ControlShared;
use crate::protocol::{Raised, Reply, ReplyStatus};
use crate::result::{DisplayData, Payload};

/// What the C functions of one interpreter reach: its session's output and run
/// control. Owned by the interpreter's `_pysession_host` module (a capsule).
pub(crate) struct Host {
    pub capture: Arc<CaptureShared>,
    pub control: Arc<ControlShared>,
    /// The runtime's `StopExecution` class, of this interpreter (a strong reference,
    /// used only while attached to it).
    stop_class: *mut ffi::PyObject,
}

/// A new interpreter's thread state (current, its lock held), or null. Attached to the
/// main interpreter.
fn new_interpreter() -> *mut ffi::PyThreadState {
    let mut tstate: *mut ffi::PyThreadState = null_mut();
    let config = ffi::_PyInterpreterConfig_INIT;
    // SAFETY: the caller is attached to the main interpreter; `config` is a valid
    // config (its own lock, its own allocator, no fork, no daemon threads) and `tstate`
    // receives the new thread state.
    let status = unsafe { ffi::Py_NewInterpreterFromConfig(&mut tstate, &config) };
    // SAFETY: reads the status struct just returned.
    if unsafe { ffi::PyStatus_Exception(status) } != 0 {
        return null_mut();
    }
    tstate
}

/// One interpreter, made on the calling thread and used only there.
pub(crate) struct Interp {
    tstate: *mut ffi::PyThreadState,
    /// The main interpreter's thread state of this thread, current again at the end.
    saved: *mut ffi::PyThreadState,
    gil: ffi::PyGILState_STATE,
    /// The session's state object (`session.SessionState`), a strong reference.
    state: *mut ffi::PyObject,
    host: *const Host,
}

/// What another thread needs to raise a stop in the interpreter's thread.
#[derive(Clone, Copy)]
pub(crate) struct Remote {
    interp: usize,
    thread_ident: u64,
    stop_class: usize,
}

/// Takes the raised exception (a new reference, or null), clearing it.
unsafe fn fetch_exception() -> *mut ffi::PyObject {
    // SAFETY: the caller is attached.
    unsafe { ffi::PyErr_GetRaisedException() }
}

/// The interpreter's error as `(type name, message)`, the exception cleared.
unsafe fn take_error() -> (String, String) {
    // SAFETY: the caller is attached with an exception set; every reference taken here
    // is released.
    unsafe {
        let exc = fetch_exception();
        if exc.is_null() {
            return ("RuntimeError".into(), "unknown error".into());
        }
        let name = CStr::from_ptr((*ffi::Py_TYPE(exc)).tp_name)
            .to_string_lossy()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        let s = ffi::PyObject_Str(exc);
        let message = text_of(s);
        ffi::Py_XDECREF(s);
        ffi::Py_DECREF(exc);
        (name, message)
    }
}

/// The UTF-8 text of a `str` (empty for anything else or null); clears a failure.
unsafe fn text_of(s: *mut ffi::PyObject) -> String {
    if s.is_null() {
        // SAFETY: the caller is attached.
        unsafe { ffi::PyErr_Clear() };
        return String::new();
    }
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: the caller is attached and `s` is a live object.
    let p = unsafe { ffi::PyUnicode_AsUTF8AndSize(s, &mut size) };
    if p.is_null() {
        // SAFETY: the caller is attached; a `str` with lone surrogates has no UTF-8, so
        // each is written as `surrogatepass` does and then made one U+FFFD, as the
        // embedded backend's text is. The bytes object is released here.
        unsafe {
            ffi::PyErr_Clear();
            let b = ffi::PyUnicode_AsEncodedString(s, c"utf-8".as_ptr(), c"surrogatepass".as_ptr());
            if b.is_null() {
                ffi::PyErr_Clear();
                return String::new();
            }
            let bytes = std::slice::from_raw_parts(
                ffi::PyBytes_AsString(b).cast::<u8>(),
                ffi::PyBytes_Size(b) as usize,
            );
            let text = crate::embedded::sink::replace_surrogates(bytes);
            ffi::Py_DECREF(b);
            return text;
        }
    }
    // SAFETY: CPython returns `size` bytes of valid UTF-8 owned by `s`.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), size as usize) };
    String::from_utf8_lossy(bytes).into_owned()
}

unsafe fn new_str(s: &str) -> *mut ffi::PyObject {
    // SAFETY: the caller is attached; attached.
    unsafe {
        ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast::<c_char>(), s.len() as ffi::Py_ssize_t)
    }
}

impl Interp {
    /// Makes an interpreter on the calling thread, with its own lock on 3.12 and later
    /// (else one that shares the main interpreter's), and leaves the thread attached to
    /// it. The main interpreter must be initialised and not held by this thread.
    pub(crate) fn new() -> Result<Interp, String> {
        // SAFETY: the main interpreter is initialised (the caller's duty); this takes
        // its lock for this thread, as creating an interpreter requires.
        let gil = unsafe { ffi::PyGILState_Ensure() };
        // SAFETY: attached just above.
        let saved = unsafe { ffi::PyThreadState_Get() };
        let tstate = new_interpreter();
        if tstate.is_null() {
            // SAFETY: back to the main interpreter's state, then its lock let go.
            unsafe {
                ffi::PyThreadState_Swap(saved);
                ffi::PyGILState_Release(gil);
            }
            return Err("the interpreter could not make a sub-interpreter".into());
        }
        Ok(Interp {
            tstate,
            saved,
            gil,
            state: null_mut(),
            host: std::ptr::null(),
        })
    }

    /// Lets go of the interpreter's lock (the thread waits for work).
    pub(crate) fn detach(&mut self) {
        // SAFETY: attached to this interpreter; the thread state is kept in `tstate`.
        self.tstate = unsafe { ffi::PyEval_SaveThread() };
    }

    pub(crate) fn attach(&mut self) {
        // SAFETY: `tstate` is this thread's state of this interpreter, detached.
        unsafe { ffi::PyEval_RestoreThread(self.tstate) };
    }

    /// Loads the runtime (`scripts`: name, file, code in `marshal`'s bytes, in order),
    /// installs it with the virtual environment `environment` (JSON, or `null`), and
    /// makes the session's state with `capture` and `control`. Attached.
    pub(crate) fn boot(
        &mut self,
        scripts: &[crate::embedded::Compiled],
        constants: &str,
        environment: &str,
        capture: Arc<CaptureShared>,
        control: Arc<ControlShared>,
    ) -> Result<(), String> {
        // SAFETY: attached to this interpreter; every object made here is its own.
        unsafe {
            let main = ffi::PyImport_AddModule(c"__main__".as_ptr());
            let globals = ffi::PyModule_GetDict(main);
            let list = ffi::PyList_New(0);
            for (name, file, code) in scripts {
                let item = ffi::PyTuple_New(3);
                ffi::PyTuple_SetItem(item, 0, new_str(name));
                ffi::PyTuple_SetItem(item, 1, new_str(file));
                ffi::PyTuple_SetItem(
                    item,
                    2,
                    ffi::PyBytes_FromStringAndSize(
                        code.as_ptr().cast::<c_char>(),
                        code.len() as ffi::Py_ssize_t,
                    ),
                );
                ffi::PyList_Append(list, item);
                ffi::Py_DECREF(item);
            }
            ffi::PyDict_SetItemString(globals, c"_pysession_scripts".as_ptr(), list);
            ffi::Py_DECREF(list);
            let consts = new_str(constants);
            ffi::PyDict_SetItemString(globals, c"_pysession_constants".as_ptr(), consts);
            ffi::Py_DECREF(consts);
            let env = new_str(environment);
            ffi::PyDict_SetItemString(globals, c"_pysession_environment".as_ptr(), env);
            ffi::Py_DECREF(env);
            let host = Box::new(Host {
                capture,
                control,
                stop_class: null_mut(),
            });
            let host_ptr = Box::into_raw(host);
            let capsule =
                ffi::PyCapsule_New(host_ptr.cast::<c_void>(), CAPSULE.as_ptr(), Some(drop_host));
            let module = ffi::PyModule_New(c"_pysession_host".as_ptr());
            for def in METHODS.iter() {
                let f = ffi::PyCFunction_NewEx(def.get(), capsule, null_mut());
                ffi::PyModule_AddObject(module, (*def.get()).ml_name, f);
            }
            ffi::Py_DECREF(capsule);
            ffi::PyDict_SetItemString(globals, c"_pysession_host".as_ptr(), module);
            ffi::Py_DECREF(module);
            let code = CString::new(BOOT).map_err(|e| e.to_string())?;
            let r = ffi::PyRun_String(code.as_ptr(), ffi::Py_file_input, globals, globals);
            if r.is_null() {
                let (ty, message) = take_error();
                return Err(format!("{ty}: {message}"));
            }
            ffi::Py_DECREF(r);
            let state = ffi::PyDict_GetItemString(globals, c"_pysession_state".as_ptr());
            let stop = ffi::PyDict_GetItemString(globals, c"_pysession_stop".as_ptr());
            if state.is_null() || stop.is_null() {
                return Err("the runtime made no session".into());
            }
            self.state = ffi::Py_NewRef(state);
            (*host_ptr).stop_class = ffi::Py_NewRef(stop);
            self.host = host_ptr;
        }
        Ok(())
    }

    /// How another thread raises a stop here.
    pub(crate) fn remote(&self) -> Remote {
        // SAFETY: `tstate` is a live thread state of this interpreter.
        let interp = unsafe { ffi::PyThreadState_GetInterpreter(self.tstate) } as usize;
        // SAFETY: reads the calling thread's id; no interpreter state needed.
        let thread_ident = unsafe { ffi::PyThread_get_thread_ident() } as u64;
        // SAFETY: `host` was set by `boot` and lives as long as the interpreter.
        let stop_class = unsafe { (*self.host).stop_class } as usize;
        Remote {
            interp,
            thread_ident,
            stop_class,
        }
    }

    /// `state.run(code)` or `state.data(op, name, arg, blobs)`: the runtime's
    /// `(status, value, error)` as a [`Reply`]. Attached.
    pub(crate) fn call(&self, method: &CStr, args: Args<'_>) -> Reply {
        // SAFETY: attached; `state` is this interpreter's; every object made is freed.
        unsafe {
            let tuple = match args {
                Args::None => ffi::PyTuple_New(0),
                Args::Run(code) => {
                    let t = ffi::PyTuple_New(1);
                    ffi::PyTuple_SetItem(t, 0, new_str(code));
                    t
                }
                Args::Data {
                    op,
                    name,
                    arg,
                    blobs,
                } => {
                    let t = ffi::PyTuple_New(4);
                    ffi::PyTuple_SetItem(t, 0, new_str(op));
                    ffi::PyTuple_SetItem(t, 1, new_str(name));
                    let arg = match arg {
                        Some(a) => new_str(a),
                        None => ffi::Py_NewRef(ffi::Py_None()),
                    };
                    ffi::PyTuple_SetItem(t, 2, arg);
                    let list = ffi::PyList_New(0);
                    for b in blobs {
                        let o = ffi::PyBytes_FromStringAndSize(
                            b.as_ptr().cast::<c_char>(),
                            b.len() as ffi::Py_ssize_t,
                        );
                        ffi::PyList_Append(list, o);
                        ffi::Py_DECREF(o);
                    }
                    ffi::PyTuple_SetItem(t, 3, list);
                    t
                }
            };
            let f = ffi::PyObject_GetAttrString(self.state, method.as_ptr());
            let out = if f.is_null() {
                null_mut()
            } else {
                ffi::PyObject_Call(f, tuple, null_mut())
            };
            ffi::Py_XDECREF(f);
            ffi::Py_DECREF(tuple);
            if out.is_null() {
                // What escaped the runtime: its stop (raised in its own bookkeeping), or
                // a failure of the runtime itself.
                let host = &*self.host;
                if ffi::PyErr_ExceptionMatches(host.stop_class) != 0 {
                    ffi::PyErr_Clear();
                    return Reply::of(ReplyStatus::Stopped);
                }
                let (ty, message) = take_error();
                return Reply {
                    error: Some(Raised(ty, message, String::new())),
                    ..Reply::of(ReplyStatus::Error)
                };
            }
            let reply = reply_of(out);
            ffi::Py_DECREF(out);
            reply
        }
    }

    /// Lets a stop that is still pending land (and be dropped) now. Attached.
    pub(crate) fn absorb_pending_stop(&self) {
        // SAFETY: attached; a null trace function turns tracing off (`arm` may have set
        // one); the code runs in this interpreter's `__main__`, where the boot code
        // imported the runtime's session module; a failure is cleared.
        unsafe {
            ffi::PyEval_SetTrace(None, null_mut());
            let main = ffi::PyImport_AddModule(c"__main__".as_ptr());
            let globals = ffi::PyModule_GetDict(main);
            let code = c"try:\n    _session.absorb_pending_stop()\nexcept _session.StopExecution:\n    pass\n";
            let r = ffi::PyRun_String(code.as_ptr(), ffi::Py_file_input, globals, globals);
            if r.is_null() {
                ffi::PyErr_Clear();
            } else {
                ffi::Py_DECREF(r);
            }
        }
    }

    /// Ends the interpreter and gives the thread back to the main one. Attached.
    pub(crate) fn end(self) {
        // SAFETY: attached to this interpreter; its objects are released first, then it
        // is ended (which frees the host through the capsule), and the thread's main
        // thread state made current again before its lock is let go.
        unsafe {
            ffi::Py_XDECREF(self.state);
            if !self.host.is_null() {
                ffi::Py_XDECREF((*self.host).stop_class);
            }
            ffi::Py_EndInterpreter(self.tstate);
            ffi::PyThreadState_Swap(self.saved);
            ffi::PyGILState_Release(self.gil);
        }
    }
}

/// The arguments of a call into the session's state.
pub(crate) enum Args<'a> {
    None,
    Run(&'a str),
    Data {
        op: &'a str,
        name: &'a str,
        arg: Option<&'a str>,
        blobs: &'a [Vec<u8>],
    },
}

/// The runtime's `(status, value, error)` tuple as a [`Reply`].
unsafe fn reply_of(out: *mut ffi::PyObject) -> Reply {
    // SAFETY: the caller is attached; attached; `out` is a live object.
    unsafe {
        if out == ffi::Py_None() || ffi::PyTuple_Check(out) == 0 || ffi::PyTuple_Size(out) < 3 {
            return Reply::of(ReplyStatus::Ok);
        }
        let item = |i| {
            let o = ffi::PyTuple_GetItem(out, i);
            if o.is_null() || o == ffi::Py_None() {
                None
            } else {
                Some(o)
            }
        };
        let status = item(0)
            .and_then(|s| ReplyStatus::parse(&text_of(s)))
            .unwrap_or(ReplyStatus::Error);
        let mut reply = Reply::of(status);
        if let Some(v) = item(1) {
            if ffi::PyBytes_Check(v) != 0 {
                let n = ffi::PyBytes_Size(v) as usize;
                let p = ffi::PyBytes_AsString(v);
                reply.blob = Some(std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec());
            } else {
                reply.value = Some(text_of(v));
            }
        }
        if let Some(e) = item(2) {
            let part = |i| {
                let p = ffi::PySequence_GetItem(e, i);
                let t = text_of(p);
                ffi::Py_XDECREF(p);
                t
            };
            reply.error = Some(Raised(part(0), part(1), part(2)));
        }
        reply
    }
}

impl Remote {
    /// Raises the runtime's stop in the interpreter's thread, if `still` says so once
    /// the interpreter's lock is held (so that the run cannot end meanwhile). Waits for
    /// the lock: up to one switch interval while the thread runs Python.
    ///
    /// The first time, it also makes the interpreter's switch interval short (see
    /// [`PromptSwitch`]), so that the next stops do not wait for the lock that long.
    pub(crate) fn raise_stop(&self, still: impl Fn() -> bool, prompt: &PromptSwitch) {
        // SAFETY: the interpreter lives as long as the session thread, which does not
        // end it while a run is in flight (the caller's duty); this thread makes a state
        // of its own for it, takes its lock, raises, and deletes that state.
        unsafe {
            let ts = ffi::PyThreadState_New(self.interp as *mut ffi::PyInterpreterState);
            ffi::PyEval_RestoreThread(ts);
            // Also when the run ended while this waited: the next stop is prompt.
            prompt.shorten();
            if still() {
                ffi::PyThreadState_SetAsyncExc(
                    self.thread_ident as _,
                    self.stop_class as *mut ffi::PyObject,
                );
                // A session waiting in its event loop wakes up to meet the stop.
                let main = ffi::PyImport_AddModule(c"__main__".as_ptr());
                let globals = ffi::PyModule_GetDict(main);
                let code = CString::new(format!("_session.wake_loop({})", self.thread_ident))
                    .unwrap_or_default();
                let r = ffi::PyRun_String(code.as_ptr(), ffi::Py_eval_input, globals, globals);
                if r.is_null() {
                    ffi::PyErr_Clear();
                } else {
                    ffi::Py_DECREF(r);
                }
            }
            ffi::PyThreadState_Clear(ts);
            ffi::PyThreadState_DeleteCurrent();
        }
    }
}

/// A short switch interval while stops are raised: a thread waiting for an
/// interpreter's lock asks the holder for it after the interval (5 ms by default), so a
/// stop raised into code shorter than that would land after it. The first stop of a
/// while makes it short (100 µs); the session's thread puts the previous one back at
/// the start of a run once no stop has come for a second. The interval is the
/// interpreter's own: no other session sees it.
#[derive(Default)]
pub(crate) struct PromptSwitch(Mutex<Option<(f64, Instant)>>);

const PROMPT_SWITCH: f64 = 100e-6;
const PROMPT_LINGER: Duration = Duration::from_secs(1);

impl PromptSwitch {
    /// Attached to the interpreter.
    unsafe fn shorten(&self) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match kept.as_mut() {
            Some((_, last)) => *last = Instant::now(),
            None => {
                // SAFETY: attached (the caller's duty).
                let previous = unsafe { switch_interval(None) };
                if previous > PROMPT_SWITCH {
                    // SAFETY: as above.
                    unsafe { switch_interval(Some(PROMPT_SWITCH)) };
                    *kept = Some((previous, Instant::now()));
                }
            }
        }
    }

    /// Puts the interval back once no stop has come for [`PROMPT_LINGER`]. Attached.
    pub(crate) fn settle(&self, _interp: &Interp) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((previous, last)) = *kept {
            if last.elapsed() >= PROMPT_LINGER {
                // SAFETY: `_interp` is attached: this thread's interpreter.
                unsafe { switch_interval(Some(previous)) };
                *kept = None;
            }
        }
    }
}

/// The interpreter's switch interval, set to `to` first if given. Attached.
unsafe fn switch_interval(to: Option<f64>) -> f64 {
    // SAFETY: attached (the caller's duty); every new reference is released, and a
    // failure is cleared.
    unsafe {
        let module = ffi::PyImport_ImportModule(c"sys".as_ptr());
        if module.is_null() {
            ffi::PyErr_Clear();
            return 0.0;
        }
        let call = |name: &CStr, arg: *mut ffi::PyObject| {
            let f = ffi::PyObject_GetAttrString(module, name.as_ptr());
            let r = if f.is_null() {
                null_mut()
            } else if arg.is_null() {
                ffi::PyObject_CallNoArgs(f)
            } else {
                ffi::PyObject_CallOneArg(f, arg)
            };
            ffi::Py_XDECREF(f);
            r
        };
        if let Some(seconds) = to {
            let arg = ffi::PyFloat_FromDouble(seconds);
            let r = call(c"setswitchinterval", arg);
            ffi::Py_XDECREF(arg);
            ffi::Py_XDECREF(r);
        }
        let now = call(c"getswitchinterval", null_mut());
        let seconds = if now.is_null() {
            0.0
        } else {
            ffi::PyFloat_AsDouble(now)
        };
        ffi::Py_XDECREF(now);
        ffi::Py_DECREF(module);
        ffi::PyErr_Clear();
        seconds
    }
}

const CAPSULE: &CStr = c"pysession.host";

unsafe extern "C" fn drop_host(capsule: *mut ffi::PyObject) {
    // SAFETY: the capsule was made with a `Box<Host>` under this name.
    unsafe {
        let p = ffi::PyCapsule_GetPointer(capsule, CAPSULE.as_ptr());
        if !p.is_null() {
            drop(Box::from_raw(p.cast::<Host>()));
        }
    }
}

/// The host behind a C function's `self` (the capsule).
unsafe fn host<'a>(slf: *mut ffi::PyObject) -> &'a Host {
    // SAFETY: the caller is attached; `slf` is the capsule the functions were made with, alive
    // while they are.
    unsafe { &*ffi::PyCapsule_GetPointer(slf, CAPSULE.as_ptr()).cast::<Host>() }
}

/// `args[i]` as an optional run id (None or absent: the current run).
unsafe fn run_arg(host: &Host, args: *mut ffi::PyObject, i: ffi::Py_ssize_t) -> u64 {
    // SAFETY: the caller is attached and `args` is the call's argument tuple.
    unsafe {
        if ffi::PyTuple_Size(args) > i {
            let r = ffi::PyTuple_GetItem(args, i);
            if r != ffi::Py_None() {
                let v = ffi::PyLong_AsUnsignedLongLong(r);
                if !ffi::PyErr_Occurred().is_null() {
                    ffi::PyErr_Clear();
                } else {
                    return v;
                }
            }
        }
    }
    host.control.current()
}

unsafe fn none() -> *mut ffi::PyObject {
    // SAFETY: the caller is attached; None is immortal or counted, either way alive.
    unsafe { ffi::Py_NewRef(ffi::Py_None()) }
}

/// `write(stream, text, run=None)`.
unsafe extern "C" fn host_write(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this attached, with a tuple of arguments.
    unsafe {
        let host = host(slf);
        let stream = ffi::PyLong_AsLong(ffi::PyTuple_GetItem(args, 0)) as u8;
        let text = text_of(ffi::PyTuple_GetItem(args, 1));
        let run = run_arg(host, args, 2);
        host.capture.write(stream, run, Written::Text(&text));
        none()
    }
}

/// `write_bytes(stream, data, run=None)`.
unsafe extern "C" fn host_write_bytes(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`; `data` is bytes-like, read through a buffer view.
    unsafe {
        let host = host(slf);
        let stream = ffi::PyLong_AsLong(ffi::PyTuple_GetItem(args, 0)) as u8;
        let data = ffi::PyTuple_GetItem(args, 1);
        let run = run_arg(host, args, 2);
        let bytes = ffi::PyBytes_FromObject(data);
        if bytes.is_null() {
            return null_mut();
        }
        let n = ffi::PyBytes_Size(bytes) as usize;
        let p = ffi::PyBytes_AsString(bytes);
        host.capture
            .write_bytes(stream, run, std::slice::from_raw_parts(p.cast::<u8>(), n));
        ffi::Py_DECREF(bytes);
        none()
    }
}

/// `display(items, is_value, run=None)`: items are `(mime, str | bytes)` pairs.
unsafe extern "C" fn host_display(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`.
    unsafe {
        let host = host(slf);
        let items = ffi::PyTuple_GetItem(args, 0);
        let is_value = ffi::PyObject_IsTrue(ffi::PyTuple_GetItem(args, 1)) == 1;
        let run = run_arg(host, args, 2);
        let seq = ffi::PySequence_Fast(items, c"display items".as_ptr());
        if seq.is_null() {
            return null_mut();
        }
        let mut parts = Vec::new();
        for i in 0..ffi::PySequence_Size(seq) {
            let pair = ffi::PySequence_GetItem(seq, i);
            let mime = ffi::PySequence_GetItem(pair, 0);
            let data = ffi::PySequence_GetItem(pair, 1);
            let payload = if !data.is_null() && ffi::PyBytes_Check(data) != 0 {
                let n = ffi::PyBytes_Size(data) as usize;
                let p = ffi::PyBytes_AsString(data);
                Payload::Bytes(std::slice::from_raw_parts(p.cast::<u8>(), n).to_vec())
            } else {
                let s = if data.is_null() {
                    null_mut()
                } else {
                    ffi::PyObject_Str(data)
                };
                let t = text_of(s);
                ffi::Py_XDECREF(s);
                Payload::Text(t)
            };
            parts.push((text_of(mime), payload));
            ffi::Py_XDECREF(mime);
            ffi::Py_XDECREF(data);
            ffi::Py_XDECREF(pair);
        }
        ffi::Py_DECREF(seq);
        host.capture
            .display(run, DisplayData::from_parts(parts, is_value));
        none()
    }
}

/// `sleep(seconds)`: waits without the interpreter's lock; raises the stop if one
/// comes meanwhile.
unsafe extern "C" fn host_sleep(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`; the lock is let go around the wait and taken back.
    unsafe {
        let host = host(slf);
        let seconds = ffi::PyFloat_AsDouble(ffi::PyTuple_GetItem(args, 0));
        if !ffi::PyErr_Occurred().is_null() {
            return null_mut();
        }
        if seconds.is_nan() || seconds < 0.0 {
            ffi::PyErr_SetString(
                ffi::PyExc_ValueError,
                c"sleep length must be non-negative".as_ptr(),
            );
            return null_mut();
        }
        let Ok(duration) = Duration::try_from_secs_f64(seconds) else {
            ffi::PyErr_SetString(
                ffi::PyExc_OverflowError,
                c"sleep length is too large".as_ptr(),
            );
            return null_mut();
        };
        let ts = ffi::PyEval_SaveThread();
        let stopped = host.control.wait(duration);
        ffi::PyEval_RestoreThread(ts);
        if stopped {
            ffi::PyErr_SetNone(host.stop_class);
            return null_mut();
        }
        none()
    }
}

unsafe extern "C" fn host_stopping(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`.
    unsafe { ffi::PyBool_FromLong(c_int::from(host(slf).control.stop_requested()).into()) }
}

unsafe extern "C" fn host_current_run(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`.
    unsafe { ffi::PyLong_FromUnsignedLongLong(host(slf).control.current()) }
}

unsafe extern "C" fn host_settle(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`.
    unsafe {
        host(slf).control.settle();
        none()
    }
}

/// `moved_to(path)`: the session's code called `os.chdir`.
unsafe extern "C" fn host_moved_to(
    slf: *mut ffi::PyObject,
    args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls this attached, with a tuple of arguments; `fspath` gives a
    // new reference or null.
    unsafe {
        let host = host(slf);
        let p = ffi::PyOS_FSPath(ffi::PyTuple_GetItem(args, 0));
        if p.is_null() {
            return null_mut();
        }
        let path = std::path::PathBuf::from(text_of(p));
        ffi::Py_DECREF(p);
        crate::embedded::cwd::moved(&path);
        host.control.set_moved(path);
        none()
    }
}

/// `arm()`: called as the stop is made in the stopped thread; once the code has
/// ignored a few stops (the stopper escalated), traces this thread so that every new
/// line of the user's code raises the stop, as the embedded backend does.
unsafe extern "C" fn host_arm(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `host_write`; CPython keeps its own reference to the capsule for as
    // long as the trace function is set.
    unsafe {
        if host(slf).control.escalated() {
            ffi::PyEval_SetTrace(Some(stop_tracer), slf);
        }
        none()
    }
}

/// The trace function `arm` sets: at each new line or call of code from a cell, while
/// the run is being stopped, raises the stop.
unsafe extern "C" fn stop_tracer(
    obj: *mut ffi::PyObject,
    frame: *mut ffi::PyFrameObject,
    what: c_int,
    _arg: *mut ffi::PyObject,
) -> c_int {
    if what != ffi::PyTrace_LINE && what != ffi::PyTrace_CALL {
        return 0;
    }
    // SAFETY: CPython calls trace functions attached, with the capsule given to
    // `PyEval_SetTrace` and the live frame being traced; the code object and its file
    // name are new references, released here.
    unsafe {
        let host = host(obj);
        if !host.control.stop_requested() {
            return 0;
        }
        // Only the user's own code is stopped line by line: library code, the runtime
        // and their `finally` blocks run on.
        let code = ffi::PyFrame_GetCode(frame);
        let file = ffi::PyObject_GetAttrString(code.cast(), c"co_filename".as_ptr());
        ffi::Py_DECREF(code.cast());
        let in_cell = text_of(file).starts_with(crate::runtime::CELL_FILE_PREFIX);
        ffi::Py_XDECREF(file);
        if !in_cell {
            return 0;
        }
        ffi::PyErr_SetNone(host.stop_class);
        -1
    }
}

/// The C functions, made once per interpreter with the capsule as their `self`.
struct Def(std::cell::UnsafeCell<ffi::PyMethodDef>);
// SAFETY: the definitions are written only here, read by CPython.
unsafe impl Sync for Def {}
impl Def {
    const fn new(name: &'static CStr, f: ffi::PyCFunction) -> Def {
        Def(std::cell::UnsafeCell::new(ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
            ml_flags: ffi::METH_VARARGS,
            ml_doc: std::ptr::null(),
        }))
    }
    fn get(&self) -> *mut ffi::PyMethodDef {
        self.0.get()
    }
}

static METHODS: [Def; 9] = [
    Def::new(c"write", host_write),
    Def::new(c"write_bytes", host_write_bytes),
    Def::new(c"display", host_display),
    Def::new(c"sleep", host_sleep),
    Def::new(c"stopping", host_stopping),
    Def::new(c"current_run", host_current_run),
    Def::new(c"settle", host_settle),
    Def::new(c"arm", host_arm),
    Def::new(c"moved_to", host_moved_to),
];

/// Loads the runtime in the new interpreter as the embedded interpreter loads it, and
/// makes the session's state with the host's functions as its capture and control.
const BOOT: &str = r#"
import marshal, sys, types, threading
_pkg = types.ModuleType("pysession_runtime")
_pkg.__path__ = []
sys.modules["pysession_runtime"] = _pkg
for _name, _file, _code in _pysession_scripts:
    _m = types.ModuleType(_name)
    _m.__file__ = _file
    sys.modules[_name] = _m
    setattr(_pkg, _name.rsplit(".", 1)[1], _m)
    exec(marshal.loads(_code), _m.__dict__)
    if _name.endswith(".config"):
        _m.configure(_pysession_constants)
del _pysession_scripts, _name, _file, _code, _m
from pysession_runtime import session as _session
# The switch interval is this interpreter's own (its own lock): not refused here.
_switch = sys.setswitchinterval
_session.install(None, False)
sys.setswitchinterval = _switch
del _switch
_h = _pysession_host
_capture = types.SimpleNamespace(write=_h.write, write_bytes=_h.write_bytes, display=_h.display)
_control = types.SimpleNamespace(
    sleep=_h.sleep, stopping=_h.stopping, current_run=_h.current_run, settle=_h.settle,
    arm=_h.arm, moved_to=_h.moved_to, abandoned_threads=lambda: [])
# The virtual environment the session runs in (JSON: executable, prefix,
# site_packages), or null: its packages importable here, as in an embedded session.
import json as _json
_env = _json.loads(_pysession_environment)
del _json, _pysession_environment
if _env is not None:
    for _dir in _env["site_packages"]:
        _session.add_site_dir(_dir)
_pysession_state = _session.new_session(_capture, _control, _env)
del _env
_session.bind_thread(_pysession_state)
_pysession_stop = _session.StopExecution

def _refusing_extensions():
    # An extension module built without sub-interpreter support cannot be loaded here:
    # say which one, and what to use instead, even when a package wraps the error in
    # its own (numpy does).
    import builtins, importlib.machinery
    marker = "does not support loading in subinterpreters"
    advice = ("cannot be loaded in a sub-interpreter session: it is an extension module "
              "built without sub-interpreter support. Run this code in an embedded or "
              "subprocess session (pysession Backend::Embedded or Backend::Subprocess)")
    loader = importlib.machinery.ExtensionFileLoader
    create = loader.create_module

    def create_module(self, spec):
        try:
            return create(self, spec)
        except ImportError as e:
            if marker not in str(e):
                raise
            err = ImportError(f"module {spec.name} {advice}", name=spec.name)
            err._pysession_refused = spec.name
            raise err from None

    loader.create_module = create_module
    original = builtins.__import__

    def refused_in(e):
        seen = set()
        while e is not None and id(e) not in seen:
            seen.add(id(e))
            name = getattr(e, "_pysession_refused", None)
            if name is not None:
                return name
            e = e.__cause__ or e.__context__
        return None

    # Only the outermost import (the statement the user wrote) is named: the imports it
    # makes on the way fail through it.
    depth = threading.local()

    def __import__(name, *args, **kwargs):
        level = getattr(depth, "n", 0)
        depth.n = level + 1
        try:
            return original(name, *args, **kwargs)
        except ImportError as e:
            inner = refused_in(e)
            if level or inner is None or inner == name:
                raise
            err = ImportError(f"{name} needs the module {inner}, which {advice}", name=name)
            err._pysession_refused = inner
            raise err from e
        finally:
            depth.n = level

    builtins.__import__ = __import__

_refusing_extensions()
del _refusing_extensions
"#;
