//! The embedded backend: sessions on dedicated threads inside this process's one
//! interpreter.

/// Initialises the process's interpreter (the main one), as the first embedded
/// session does.
#[cfg(all(feature = "subinterpreter", Py_3_12))]
pub(crate) fn ensure_interpreter() -> Result<Option<std::path::PathBuf>, Error> {
    interp::runtime().map(|rt| rt.libpython.clone())
}

mod abandoned;
mod cellplan;
pub(crate) mod control;
pub(crate) mod cwd;
mod ffi;
mod interp;
#[cfg(all(feature = "subinterpreter", Py_3_12))]
pub(crate) use interp::{marshalled_scripts, probe_environment, Compiled};
pub(crate) mod sink;
pub(crate) mod thread;
mod ticket;
mod watchdog;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};

use self::abandoned::Holder;
use self::interp::Runtime;
use self::ticket::{Phase, Ticket};
use self::worker::{Job, Msg, Request, Worker, WorkerConfig};
use crate::backend::Running;
use crate::capture::CaptureShared;
use crate::config::{check_working_directory, human, resolve_working_directory, Config};
use crate::error::Error;
use crate::interrupt::StopReason;
use crate::outcome::{DataReply, Ended, Replied};
use crate::protocol::DataRequest;
use crate::result::{ExecutionResult, PythonError, Status};

/// A job sent to the worker, not yet answered.
struct InFlight {
    begun: Instant,
    is_execute: bool,
    /// What the job is, in words: "the code", "the startup code", ...
    what: &'static str,
    run: u64,
    ticket: Arc<Ticket>,
    replies: Receiver<Replied>,
    /// The timeout the caller gave, for the words of the result.
    timeout: Duration,
    /// When the caller stops waiting for the code: `timeout` after the call began.
    deadline: Option<Instant>,
    thread: Arc<thread::WorkerThread>,
    control: Arc<control::ControlShared>,
}

/// Numbers the process's embedded sessions, to tell whose abandoned code is whose.
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// One running embedded session.
pub(crate) struct Embedded {
    id: u64,
    rt: &'static Runtime,
    cfg: Arc<WorkerConfig>,
    grace: Duration,
    capture: Arc<CaptureShared>,
    worker: Mutex<Option<Worker>>,
    next_run: AtomicU64,
    /// Set when a fresh worker replaced one that was given up on: its startup code runs
    /// at the start of the next execute, under that call's deadline.
    startup_pending: AtomicBool,
}

impl Embedded {
    /// Starts a worker and runs the startup code in it.
    pub(crate) fn start(config: &Config) -> Result<Embedded, Error> {
        if config.env_clear
            || !config.env.is_empty()
            || config.limits.memory.is_some()
            || config.limits.cpu_seconds.is_some()
        {
            return Err(Error::Config(
                "env, env_clear, memory_limit and cpu_time_limit apply to a process of the \
                 session's own: use Backend::Subprocess"
                    .into(),
            ));
        }
        let rt = interp::runtime()?;
        let environment = match &config.python_executable {
            Some(python) => Some(interp::use_environment(python, config.timeout)?),
            None => None,
        };
        let working_directory = resolve_working_directory(config.working_directory.as_deref())?;
        let cfg = Arc::new(WorkerConfig {
            startup_code: config.startup_code.clone(),
            output_limit: config.output_limit,
            working_directory,
            environment,
        });
        let capture = CaptureShared::new(crate::capture::OutputLimits::of(config));
        let worker = Worker::spawn(rt, cfg.clone(), capture.clone())
            .map_err(|e| Error::Interpreter(format!("cannot start a session thread: {e}")))?;
        let session = Embedded {
            id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
            rt,
            cfg,
            grace: config.grace_period,
            capture,
            worker: Mutex::new(Some(worker)),
            next_run: AtomicU64::new(1),
            startup_pending: AtomicBool::new(false),
        };
        let result = session.run(Job::Startup, config.timeout)?;
        if let Err(e) = startup_outcome(result) {
            session.stop();
            return Err(e);
        }
        Ok(session)
    }

    fn lock_worker(&self) -> MutexGuard<'_, Option<Worker>> {
        self.worker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a job and waits for it: until the deadline, then (if the code is running)
    /// a grace period while it is stopped, then no longer: the worker is abandoned.
    fn run(&self, job: Job, timeout: Duration) -> Result<ExecutionResult, Error> {
        let flight = self.begin(job, timeout, Instant::now().checked_add(timeout))?;
        self.finish_cell(flight, &crossbeam_channel::never())
    }

    /// Sends a job to the worker, to be waited for until `deadline`; `timeout` is the
    /// limit the caller gave, named in the result. [`finish`](Self::finish) waits.
    fn begin(
        &self,
        job: Job,
        timeout: Duration,
        deadline: Option<Instant>,
    ) -> Result<InFlight, Error> {
        let begun = Instant::now();
        let is_execute = matches!(job, Job::Execute(_));
        let what = match job {
            Job::Execute(_) => "the code",
            Job::Startup => "the startup code",
            Job::Restart => "the restart",
            Job::Data(_) => "the variable operation",
        };
        let run = self.next_run.fetch_add(1, Ordering::Relaxed);
        let ticket = Ticket::new();
        let (reply, replies) = bounded(1);
        let worker = self.lock_worker();
        let worker = worker.as_ref().ok_or(Error::NotRunning)?;
        let request = Request {
            job,
            run,
            ticket: ticket.clone(),
            reply,
        };
        worker.thread.caller_seat.take();
        worker
            .tx
            .send(Msg::Run(request))
            .map_err(|_| Error::NotRunning)?;
        Ok(InFlight {
            begun,
            is_execute,
            what,
            run,
            ticket,
            replies,
            timeout,
            deadline,
            thread: worker.thread.clone(),
            control: worker.control.clone(),
        })
    }

    /// The reply to `flight`, if it comes within `spin` (looked for without blocking
    /// for longer).
    #[cfg(feature = "async")]
    fn quick(&self, flight: &InFlight, spin: Duration) -> Option<ExecutionResult> {
        let started = Instant::now();
        loop {
            if let Ok(replied) = flight.replies.try_recv() {
                let mut r = replied.into_cell(self.cfg.output_limit, flight.timeout);
                r.duration_ms = flight.begun.elapsed().as_secs_f64() * 1000.0;
                return Some(r);
            }
            if started.elapsed() >= spin {
                return None;
            }
            crate::wait::pause(flight.thread.worker_seat.elsewhere());
        }
    }

    /// Waits for a cell sent by [`begin`](Self::begin), as [`finish`](Self::finish)
    /// does, and makes its result.
    fn finish_cell(
        &self,
        flight: InFlight,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error> {
        let (begun, timeout) = (flight.begun, flight.timeout);
        let mut r = self
            .finish(flight, interrupts)?
            .into_cell(self.cfg.output_limit, timeout);
        r.duration_ms = begun.elapsed().as_secs_f64() * 1000.0;
        Ok(r)
    }

    /// Waits for a job sent by [`begin`](Self::begin): until its deadline, then (if the
    /// code is running) a grace period while it is stopped, then no longer: the worker
    /// is abandoned.
    fn finish(&self, flight: InFlight, interrupts: &Receiver<()>) -> Result<Ended, Error> {
        let InFlight {
            begun: _,
            is_execute,
            what,
            run,
            ticket,
            replies,
            timeout,
            deadline,
            thread,
            control,
        } = flight;
        let first = match crate::wait::spin_recv(&replies, || thread.worker_seat.elsewhere()) {
            Some(r) => Ok(Ok(r)),
            None => match self.wait_for_start(&replies, interrupts, deadline, &ticket) {
                Ok(waited) => waited,
                Err(holder) => return Err(self.held(what, is_execute, holder)),
            },
        };
        let reason = match first {
            Ok(Ok(replied)) => return Ok(Ended::Replied(replied)),
            Ok(Err(())) => StopReason::Interrupt,
            Err(RecvTimeoutError::Disconnected) => return Err(worker_gone()),
            Err(RecvTimeoutError::Timeout) => StopReason::Timeout,
        };
        let ended = if ticket.advance(Phase::Pending, Phase::Cancelled) {
            let holder = Holder::for_session(self.id);
            if !is_execute {
                return Err(Error::Busy(format!(
                    "{what} did not start within its {} timeout: the interpreter (or the \
                     process's working directory) was held by {}; nothing ran",
                    human(timeout),
                    holder.describe()
                )));
            }
            Ended::Gave(not_started(timeout, reason, holder))
        } else {
            control.request_stop(run, reason);
            watchdog::stop(thread.clone(), control, ticket.clone());
            let last = Instant::now().checked_add(self.grace);
            match wait(&replies, &crossbeam_channel::never(), last) {
                Ok(Ok(replied)) => Ended::Replied(replied),
                Ok(Err(())) | Err(RecvTimeoutError::Disconnected) => return Err(worker_gone()),
                Err(RecvTimeoutError::Timeout) => {
                    if ticket.advance(Phase::Running, Phase::Abandoned) {
                        ticket.release();
                        abandoned::record(self.id, thread);
                        Ended::Gave(self.abandon(timeout, is_execute, reason))
                    } else {
                        // Finishing: the reply is being built right now.
                        Ended::Replied(replies.recv().map_err(|_| worker_gone())?)
                    }
                }
            }
        };
        Ok(ended)
    }

    /// Waits for a reply until `deadline`. While the job has not started and code that
    /// was given up on is still in the interpreter, waits only the grace period: that
    /// code may not return for hours, and the caller is told so now: `Err` with whose
    /// code it is, the job cancelled.
    fn wait_for_start(
        &self,
        replies: &Receiver<Replied>,
        interrupts: &Receiver<()>,
        deadline: Option<Instant>,
        ticket: &Ticket,
    ) -> Result<Waited, Holder> {
        let early = Instant::now().checked_add(self.grace);
        if let Some(early) = early.filter(|e| deadline.is_none_or(|d| *e < d)) {
            match wait(replies, interrupts, Some(early)) {
                Err(RecvTimeoutError::Timeout) => {
                    let holder = Holder::for_session(self.id);
                    if ticket.phase() == Phase::Pending
                        && holder.is_abandoned_code()
                        && ticket.advance(Phase::Pending, Phase::Cancelled)
                    {
                        return Err(holder);
                    }
                }
                waited => return Ok(waited),
            }
        }
        Ok(wait(replies, interrupts, deadline))
    }

    /// The error of a job that could not start because abandoned code holds the
    /// interpreter.
    fn held(&self, what: &str, is_execute: bool, holder: Holder) -> Error {
        crate::diag::notice!(
            "embedded session {} refused {what}: the interpreter is held by {}",
            self.id,
            holder.describe()
        );
        let state = if is_execute {
            " The session's state is kept."
        } else {
            ""
        };
        Error::Busy(format!(
            "{what} did not run: it could not start within the {} grace period; the \
             interpreter is most likely held by {}.{state} Try again once that code returns; \
             code that must always be stoppable belongs in a subprocess session.",
            human(self.grace),
            holder.describe()
        ))
    }

    /// Gives up on the worker whose code would not stop, and says so. After user code,
    /// a fresh worker takes its place (running the startup code); after startup code,
    /// which would only block again, the session is left stopped. The old thread ends
    /// by itself once its code returns to Python.
    fn abandon(&self, timeout: Duration, respawn: bool, reason: StopReason) -> ExecutionResult {
        let output = self.capture.end_run(respawn);
        let replacement = if respawn {
            Worker::spawn(self.rt, self.cfg.clone(), self.capture.clone()).ok()
        } else {
            None
        };
        let what = if respawn {
            "the code"
        } else {
            "the startup code"
        };
        let outcome = match (&replacement, respawn) {
            (Some(_), _) => "the session was restarted with fresh state (its startup code runs again before the next execute); all variables are lost",
            (None, true) => "the session could not be restarted (no thread could be started) and is stopped",
            (None, false) => "the session is stopped",
        };
        self.startup_pending
            .store(replacement.is_some(), Ordering::Release);
        *self.lock_worker() = replacement;
        crate::diag::notice!(
            "embedded session {} gave up on {what}, which could not be stopped; {outcome}",
            self.id
        );
        let mut r = ExecutionResult::empty(Status::Restarted);
        output.fill(&mut r);
        r.error = Some(PythonError {
            type_name: "SessionRestarted".into(),
            message: format!(
                "{what} {} and did not stop within the {} grace period: it is blocked where \
                 it cannot be interrupted (inside C code, such as a long computation in an \
                 extension or a wait on a lock or socket); {outcome}. If that code holds the \
                 interpreter lock, every session waits until it returns.",
                match reason {
                    StopReason::Timeout => format!("ran past its {} timeout", human(timeout)),
                    StopReason::Interrupt => "was interrupted".to_string(),
                },
                human(self.grace)
            ),
            traceback: String::new(),
        });
        r
    }
}

impl Running for Embedded {
    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error> {
        let begun = Instant::now();
        let deadline = begun.checked_add(timeout);
        if self.startup_pending.swap(false, Ordering::AcqRel) {
            // The startup code's output is not the submitted code's: nothing of it streams.
            let tap = self.capture.take_tap();
            let startup = self
                .begin(Job::Startup, timeout, deadline)
                .and_then(|flight| self.finish_cell(flight, &crossbeam_channel::never()));
            if startup.is_err() {
                // Nothing ran: the startup code is still due before the next execute.
                self.startup_pending.store(true, Ordering::Release);
            }
            self.capture.set_tap(tap);
            let mut r = startup?;
            if r.status != Status::Ok {
                // The session cannot come back as configured.
                self.stop();
                crate::outcome::startup_rerun_failed(&mut r);
                return Ok(r);
            }
        }
        let flight = self.begin(Job::Execute(code.to_owned()), timeout, deadline)?;
        let mut r = self.finish_cell(flight, interrupts)?;
        r.duration_ms = begun.elapsed().as_secs_f64() * 1000.0;
        Ok(r)
    }

    fn data(&self, request: DataRequest, timeout: Duration) -> Result<DataReply, Error> {
        let flight = self.begin(
            Job::Data(request),
            timeout,
            Instant::now().checked_add(timeout),
        )?;
        self.finish(flight, &crossbeam_channel::never())?
            .into_data(timeout)
    }

    fn restart(&self, timeout: Duration) -> Result<(), Error> {
        // Refused before anything is reset: the session goes on as it was.
        check_working_directory(&self.cfg.working_directory)?;
        self.startup_pending.store(false, Ordering::Release);
        let outcome = startup_outcome(self.run(Job::Restart, timeout)?);
        if let Err(Error::Startup(_)) = outcome {
            self.stop();
        }
        outcome
    }

    fn stop(&self) {
        if let Some(worker) = self.lock_worker().take() {
            worker.shut_down(self.grace);
        }
    }

    fn capture(&self) -> &Arc<CaptureShared> {
        &self.capture
    }

    /// False once the worker is gone for good (stopped, or given up on during startup).
    fn is_running(&self) -> bool {
        self.lock_worker().is_some()
    }

    fn loaded_libpython(&self) -> Option<std::path::PathBuf> {
        self.rt.libpython.clone()
    }

    /// Sends the code to the worker at once; when the session must first re-run its
    /// startup code, the whole execute is the rest of the wait.
    #[cfg(feature = "async")]
    fn begin_execute(
        self: Arc<Self>,
        code: &str,
        timeout: Duration,
        spin: Duration,
    ) -> crate::backend::Begun {
        use crate::backend::Begun;
        if self.startup_pending.load(Ordering::Acquire) {
            let code = code.to_owned();
            return Begun::Later(Box::new(move |interrupts| {
                self.execute(&code, timeout, interrupts)
            }));
        }
        let deadline = Instant::now().checked_add(timeout);
        let flight = match self.begin(Job::Execute(code.to_owned()), timeout, deadline) {
            Ok(flight) => flight,
            Err(e) => return Begun::Done(Box::new(Err(e))),
        };
        match self.quick(&flight, spin) {
            Some(r) => Begun::Done(Box::new(Ok(r))),
            None => Begun::Later(Box::new(move |interrupts| {
                self.finish_cell(flight, interrupts)
            })),
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a wait for a reply came to: the reply, an interrupt (`Ok(Err(()))`), or the
/// deadline or a lost worker.
type Waited = Result<Result<Replied, ()>, RecvTimeoutError>;

fn worker_gone() -> Error {
    Error::Interpreter("the session's thread ended unexpectedly".into())
}

fn not_started(timeout: Duration, reason: StopReason, holder: Holder) -> ExecutionResult {
    let (status, message) = match reason {
        StopReason::Timeout => (
            Status::Timeout,
            format!(
                "the code did not start within its {} timeout: the interpreter (or the \
                 process's working directory) was held by {}. Nothing ran; the session's \
                 state is kept.",
                human(timeout),
                holder.describe()
            ),
        ),
        StopReason::Interrupt => (
            Status::Interrupted,
            format!(
                "the code was interrupted before it started (the interpreter or the \
                 process's working directory was held by {}). Nothing ran; the session's \
                 state is kept.",
                holder.describe()
            ),
        ),
    };
    let mut r = ExecutionResult::empty(status);
    r.error = Some(PythonError {
        type_name: match reason {
            StopReason::Timeout => "TimeoutError".into(),
            StopReason::Interrupt => "Interrupted".into(),
        },
        message,
        traceback: String::new(),
    });
    r
}

/// What the startup code's result means for the session's start.
pub(crate) fn startup_outcome(result: ExecutionResult) -> Result<(), Error> {
    match result.status {
        Status::Ok => Ok(()),
        Status::Restarted => Err(Error::Busy(
            result.error.map(|e| e.message).unwrap_or_default(),
        )),
        _ => Err(Error::Startup(result.error.unwrap_or_else(|| {
            PythonError {
                type_name: "RuntimeError".into(),
                message: format!("startup code ended with status {}", result.status),
                traceback: String::new(),
            }
        }))),
    }
}

/// Waits for a reply until `deadline`; `Ok(Err(()))` when an interrupt came first.
fn wait(
    replies: &Receiver<Replied>,
    interrupts: &Receiver<()>,
    deadline: Option<Instant>,
) -> Waited {
    let timeout = match deadline {
        Some(d) => d.saturating_duration_since(Instant::now()),
        None => Duration::MAX,
    };
    crossbeam_channel::select! {
        recv(replies) -> r => r.map(Ok).map_err(|_| RecvTimeoutError::Disconnected),
        recv(interrupts) -> i => match i {
            Ok(()) => Ok(Err(())),
            // The handle side is gone: nobody can interrupt any more; keep waiting.
            Err(_) => wait(replies, &crossbeam_channel::never(), deadline),
        },
        default(timeout) => Err(RecvTimeoutError::Timeout),
    }
}
