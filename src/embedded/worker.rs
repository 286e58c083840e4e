//! A session's worker thread: owns the namespace, attached to the interpreter only
//! while it runs code.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::control::{ControlShared, RunControl};
use super::cwd::{CwdTurn, Refused};
use super::ffi;
use super::interp::{Environment, Runtime};
use super::sink::{text_of, Sink};
use super::thread::WorkerThread;
use super::ticket::{Phase, Ticket};
use crate::capture::CaptureShared;
use crate::interrupt::StopReason;
use crate::outcome::Replied;
use crate::protocol::{DataRequest, Raised, Reply, ReplyStatus};

/// The run number of the worker's last act, clearing its namespace as it ends.
const CLOSING_RUN: u64 = u64::MAX;

/// Python's own default is the platform's (8 MiB on Linux); worker threads get the same
/// so deep recursion fails with `RecursionError`, not a crash. Untouched pages cost no
/// memory.
const STACK_SIZE: usize = 8 << 20;

/// What a run does.
#[derive(Debug)]
pub(crate) enum Job {
    /// Run user code.
    Execute(String),
    /// Run the startup code in the current namespace.
    Startup,
    /// Fresh namespace, then the startup code.
    Restart,
    /// A variable operation (`SessionState.data`).
    Data(DataRequest),
}

pub(crate) struct Request {
    pub job: Job,
    pub run: u64,
    pub ticket: Arc<Ticket>,
    pub reply: Sender<Replied>,
}

pub(crate) enum Msg {
    Run(Request),
    Stop,
}

/// What every incarnation of a session's worker starts from.
#[derive(Debug)]
pub(crate) struct WorkerConfig {
    pub startup_code: String,
    pub output_limit: usize,
    pub working_directory: PathBuf,
    /// The virtual environment the session runs in, if it was given one.
    pub environment: Option<Environment>,
}

/// The caller's side of one worker thread.
pub(crate) struct Worker {
    pub tx: Sender<Msg>,
    pub thread: Arc<WorkerThread>,
    pub control: Arc<ControlShared>,
    join: Option<JoinHandle<()>>,
    /// Disconnects when the thread is about to end.
    exited: Receiver<()>,
}

impl Worker {
    pub(crate) fn spawn(
        rt: &'static Runtime,
        cfg: Arc<WorkerConfig>,
        capture: Arc<CaptureShared>,
    ) -> std::io::Result<Worker> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let (exit_tx, exited) = bounded::<()>(0);
        let thread = Arc::new(WorkerThread::default());
        let control = Arc::new(ControlShared::default());
        let ctx = Context {
            rt,
            cfg,
            capture,
            thread: thread.clone(),
            control: control.clone(),
        };
        let join = std::thread::Builder::new()
            .name("pysession-worker".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                let _exit = exit_tx;
                ctx.main(rx);
            })?;
        Ok(Worker {
            tx,
            thread,
            control,
            join: Some(join),
            exited,
        })
    }

    /// Asks the thread to end and joins it if it does within `wait`. A thread that
    /// cannot end in time (the interpreter is held by code in C) is left to end on its
    /// own as soon as it can; it never runs anything again.
    pub(crate) fn shut_down(mut self, wait: Duration) {
        let _ = self.tx.send(Msg::Stop);
        match self.exited.recv_timeout(wait) {
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(join) = self.join.take() {
                    let _ = join.join();
                }
            }
            _ => {
                // Still in Python past the grace period (a run that will not end, or a
                // `__del__` that loops as the namespace is cleared): what the session
                // left is stopped as abandoned code is, until the thread ends, so that
                // nothing of it runs on unbounded.
                self.control.request_stop(CLOSING_RUN, StopReason::Timeout);
                let ticket = Ticket::new();
                ticket.advance(Phase::Pending, Phase::Abandoned);
                super::watchdog::stop(self.thread.clone(), self.control.clone(), ticket);
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Dropping `tx` ends the thread's loop once it is idle; never block here.
        if let Some(join) = self.join.take() {
            if join.is_finished() {
                let _ = join.join();
            }
        }
    }
}

struct Context {
    rt: &'static Runtime,
    cfg: Arc<WorkerConfig>,
    capture: Arc<CaptureShared>,
    thread: Arc<WorkerThread>,
    control: Arc<ControlShared>,
}

impl Context {
    fn main(self, rx: Receiver<Msg>) {
        Python::attach(|py| {
            match self.set_up(py) {
                Ok(state) => {
                    self.serve(py, &state, &rx);
                    let module = self.rt.module.bind(py);
                    // Clearing the namespace runs the session's `__del__`s: under a run
                    // of its own, which the caller can stop once the grace is over.
                    self.control.begin(CLOSING_RUN);
                    // Errors here (a stop landing late) change nothing: the thread ends.
                    let _ = state.call_method0(intern!(py, "close"));
                    let _ = module.call_method0(intern!(py, "unbind_thread"));
                    drop(state);
                }
                Err(e) => self.refuse_all(py, &rx, e),
            }
            // Under the interpreter lock, like the watchdog's check: no stop can be
            // raised into this thread (or a later one with the same id) after this.
            self.thread.exited.store(true, Ordering::Release);
        });
    }

    fn set_up<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let module = self.rt.module.bind(py);
        let capture = Bound::new(
            py,
            Sink {
                shared: self.capture.clone(),
                control: self.control.clone(),
            },
        )?;
        let control = Bound::new(
            py,
            RunControl {
                shared: self.control.clone(),
                stop_exception: self.rt.stop_exception.clone_ref(py),
            },
        )?;
        let environment = match &self.cfg.environment {
            Some(env) => {
                let d = PyDict::new(py);
                d.set_item("executable", &env.executable)?;
                d.set_item("prefix", &env.prefix)?;
                d.set_item("site_packages", &env.site_packages)?;
                Some(d)
            }
            None => None,
        };
        let state =
            module.call_method1(intern!(py, "new_session"), (capture, &control, environment))?;
        module.call_method1(intern!(py, "bind_thread"), (&state,))?;
        let _ = self.thread.control.set(control.into_any().unbind());
        self.thread
            .thread_state
            .store(ffi::current_thread_state(py), Ordering::Release);
        self.thread
            .ident
            .store(ffi::thread_ident(), Ordering::Release);
        Ok(state)
    }

    /// The interpreter could not give this worker a session: answer every request with
    /// the reason rather than leave callers waiting.
    fn refuse_all(&self, py: Python<'_>, rx: &Receiver<Msg>, e: PyErr) {
        let message = format!("the session could not be set up: {e}");
        while let Ok(Msg::Run(req)) = py.detach(|| rx.recv()) {
            if req.ticket.advance(Phase::Pending, Phase::Finishing) {
                let _ = req
                    .reply
                    .send(Replied::refused("RuntimeError", message.clone()));
            }
        }
    }

    fn serve(&self, py: Python<'_>, state: &Bound<'_, PyAny>, rx: &Receiver<Msg>) {
        let mut cwd = self.cfg.working_directory.clone();
        loop {
            let (req, turn) = {
                let cwd = &cwd;
                let cfg = &self.cfg;
                let next = py.detach(|| {
                    let msg =
                        match crate::wait::spin_recv(rx, || self.thread.caller_seat.elsewhere()) {
                            Some(msg) => Ok(msg),
                            None => rx.recv(),
                        };
                    self.thread.worker_seat.take();
                    match msg {
                        Ok(Msg::Run(req)) => {
                            let dir = match req.job {
                                Job::Restart => &cfg.working_directory,
                                _ => cwd,
                            };
                            let cancelled = || req.ticket.phase() == Phase::Cancelled;
                            let turn = CwdTurn::enter(dir, cancelled);
                            Some((req, turn))
                        }
                        Ok(Msg::Stop) | Err(_) => None,
                    }
                });
                match next {
                    Some(next) => next,
                    None => return,
                }
            };
            match turn {
                Ok(turn) => req.ticket.hold(turn),
                Err(Refused::Cancelled) => continue,
                Err(Refused::Missing(message)) => {
                    if req.ticket.advance(Phase::Pending, Phase::Finishing) {
                        let _ = req
                            .reply
                            .send(Replied::refused("FileNotFoundError", message));
                    }
                    continue;
                }
            }
            if !req.ticket.advance(Phase::Pending, Phase::Running) {
                req.ticket.release();
                continue;
            }
            if matches!(req.job, Job::Restart) {
                cwd = self.cfg.working_directory.clone();
                self.control.take_moved();
            }
            let Some((replied, stopped)) = self.run(py, state, &req) else {
                // The caller gave up on this worker; it has released the directory.
                return;
            };
            req.ticket.release();
            if let Some(dir) = self.control.take_moved() {
                cwd = dir;
            }
            let _ = req.reply.send(replied);
            if stopped {
                // After the reply, so the caller never waits on this Python code: a
                // stop raised just before the run settled may still be pending; let it
                // land here rather than in the next run.
                ffi::untrace_current(py);
                let _ = self
                    .rt
                    .module
                    .bind(py)
                    .call_method0(intern!(py, "absorb_pending_stop"));
            }
        }
    }

    /// Runs one job; returns its reply and whether a stop was requested. `None` when
    /// the caller abandoned the run meanwhile.
    fn run(
        &self,
        py: Python<'_>,
        state: &Bound<'_, PyAny>,
        req: &Request,
    ) -> Option<(Replied, bool)> {
        self.capture.begin_run(req.run);
        self.control.begin(req.run);
        let outcome = match &req.job {
            Job::Execute(code) => state.call_method1(intern!(py, "run"), (code,)),
            Job::Startup => self.startup(py, state),
            Job::Restart => state
                .call_method0(intern!(py, "reset"))
                .and_then(|_| self.startup(py, state)),
            Job::Data(data) => {
                let blobs: Vec<_> = data.blobs.iter().map(|b| PyBytes::new(py, b)).collect();
                let args = (data.op.name(), &data.name, data.arg(), blobs);
                state.call_method1(intern!(py, "data"), args)
            }
        };
        let stopped = self.control.was_stopped();
        // Leaving Running under the interpreter lock: the watchdog raises no more.
        if !req.ticket.advance(Phase::Running, Phase::Finishing) {
            return None;
        }
        // From here to the reply no Python bytecode runs, so the interpreter lock is
        // not given up and the waiting caller gets its answer at once.
        self.control.begin(0);
        let output = self.capture.end_run(matches!(req.job, Job::Execute(_)));
        let replied = Replied {
            reply: self.to_reply(py, outcome),
            output: Some(output),
            reason: self.control.stop_reason(),
        };
        Some((replied, stopped))
    }

    fn startup<'py>(
        &self,
        py: Python<'py>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.cfg.startup_code.is_empty() {
            return Ok(py.None().into_bound(py));
        }
        state.call_method1(intern!(py, "run"), (&self.cfg.startup_code,))
    }

    /// The runtime's `(status, value, error)` (or what escaped it) as a [`Reply`].
    fn to_reply(&self, py: Python<'_>, outcome: PyResult<Bound<'_, PyAny>>) -> Reply {
        let outcome = match outcome {
            Ok(o) if o.is_none() => return Reply::of(ReplyStatus::Ok),
            Ok(o) => o,
            // The stop landed in the runtime's own bookkeeping: no traceback.
            Err(e) if e.get_type(py).is(self.rt.stop_exception.bind(py)) => {
                return Reply::of(ReplyStatus::Stopped)
            }
            Err(e) => {
                let type_name = e
                    .get_type(py)
                    .name()
                    .map(|n| text_of(n.as_any()))
                    .unwrap_or_default();
                let message = text_of(e.value(py).as_any());
                return Reply {
                    error: Some(Raised(type_name, message, String::new())),
                    ..Reply::of(ReplyStatus::Error)
                };
            }
        };
        let item = |i: usize| outcome.get_item(i).ok().filter(|v| !v.is_none());
        let status = item(0)
            .and_then(|s| ReplyStatus::parse(&text_of(&s)))
            .unwrap_or(ReplyStatus::Error);
        let mut reply = Reply::of(status);
        match item(1) {
            // `get_bytes`: data for the host, copied once out of the interpreter.
            Some(v) if v.is_instance_of::<PyBytes>() => {
                reply.blob = v.cast::<PyBytes>().ok().map(|b| b.as_bytes().to_vec());
            }
            value => reply.value = value.map(|v| text_of(&v)),
        }
        reply.error = item(2).map(|e| {
            let part = |i: usize| e.get_item(i).map(|p| text_of(&p)).unwrap_or_default();
            Raised(part(0), part(1), part(2))
        });
        reply
    }
}
