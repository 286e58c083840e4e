//! A sub-interpreter session: its thread, its requests, and stopping its code.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender};

use super::ffi::{Args, Interp, PromptSwitch, Remote};
use crate::backend::Running;
use crate::capture::CaptureShared;
use crate::config::{human, Config};
use crate::embedded::control::ControlShared;
use crate::embedded::cwd::{CwdTurn, Refused};
use crate::embedded::thread::Seat;
use crate::error::Error;
use crate::interrupt::StopReason;
use crate::outcome::{DataReply, Ended, Replied};
use crate::protocol::{DataRequest, Reply, ReplyStatus};
use crate::result::{ExecutionResult, PythonError, Status};

/// How often a stop is raised again while the code keeps going.
const REPEAT: Duration = Duration::from_millis(10);
/// How often a stop is raised into code that was given up on, or into a closing
/// session's `__del__`s.
const REPEAT_ABANDONED: Duration = Duration::from_millis(100);
/// Stops raised before the stopped thread's lines are traced.
const ESCALATE_AFTER: u32 = 4;
/// The run under which a closing session's namespace is cleared.
const CLOSING_RUN: u64 = u64::MAX;

enum Job {
    Execute(String),
    Data(DataRequest),
    Restart,
}

struct Request {
    job: Job,
    run: u64,
    reply: Sender<Replied>,
}

/// What a session keeps of its configuration.
struct Settings {
    grace: Duration,
    output_limit: usize,
    startup_code: String,
    startup_timeout: Duration,
    working_directory: PathBuf,
    /// The virtual environment as the runtime takes it (JSON, `null` for none).
    environment: String,
    /// The shared libpython the process loaded (`None`: linked into the executable).
    libpython: Option<PathBuf>,
}

/// One interpreter's thread and what reaches it. A session gets a new one when it
/// gives up on code that does not stop; the old one is left to that code.
struct Line {
    /// `None` once the session is stopped: the thread's loop then ends.
    tx: Mutex<Option<Sender<Request>>>,
    handle: Mutex<Option<JoinHandle<()>>>,
    /// Disconnected once the thread has ended.
    exited: Receiver<()>,
    control: Arc<ControlShared>,
    remote: Arc<Mutex<Option<Remote>>>,
    /// Held by a thread that raises a stop for as long as it is in the interpreter, and
    /// by the session's thread to end one: an interpreter cannot end while another
    /// thread has a state in it.
    visiting: Arc<Mutex<()>>,
    prompt: Arc<PromptSwitch>,
    /// The runs the thread has begun and ended (replied to) last.
    runs: Arc<Runs>,
    seats: Arc<Seats>,
}

/// The CPUs the session's thread and its caller last ran on: each polls for the other's
/// message only while they run on different CPUs, as embedded sessions do.
#[derive(Default)]
struct Seats {
    worker: Seat,
    caller: Seat,
}

/// The last run a session's thread began, and the last it ended: a stop asked for
/// before its run began waits for it, and one whose run ended goes.
#[derive(Default)]
struct Runs {
    begun: AtomicU64,
    ended: AtomicU64,
    /// The session gave this thread up: a request still waiting for its turn at the
    /// working directory does not run.
    given_up: AtomicBool,
}

impl Line {
    /// Starts the thread and its interpreter, and waits until the runtime is loaded.
    fn start(settings: &Settings, capture: &Arc<CaptureShared>) -> Result<Line, Error> {
        let control = Arc::new(ControlShared::default());
        let (tx, rx) = bounded::<Request>(1);
        let (ready_tx, ready_rx) = bounded::<Result<(), String>>(1);
        let (exited_tx, exited) = bounded::<()>(0);
        let remote = Arc::new(Mutex::new(None));
        let visiting = Arc::new(Mutex::new(()));
        let prompt = Arc::new(PromptSwitch::default());
        let runs = Arc::new(Runs::default());
        let seats = Arc::new(Seats::default());
        let shared = Shared {
            seats: seats.clone(),
            prompt: prompt.clone(),
            runs: runs.clone(),
            capture: capture.clone(),
            control: control.clone(),
            remote: remote.clone(),
            visiting: visiting.clone(),
            working_directory: settings.working_directory.clone(),
            environment: settings.environment.clone(),
            _exited: exited_tx,
        };
        let handle = std::thread::Builder::new()
            .name("pysession-subinterpreter".into())
            .stack_size(8 << 20)
            .spawn(move || serve(rx, ready_tx, shared))
            .map_err(|e| Error::Interpreter(format!("no thread for the session: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Interpreter(e)),
            Err(_) => {
                return Err(Error::Interpreter(
                    "the session's thread ended at start".into(),
                ))
            }
        }
        Ok(Line {
            tx: Mutex::new(Some(tx)),
            handle: Mutex::new(Some(handle)),
            exited,
            control,
            remote,
            visiting,
            prompt,
            runs,
            seats,
        })
    }

    fn ended(&self) -> bool {
        matches!(
            self.exited.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        )
    }

    /// Raises the stop from a thread of its own while the control says the run is
    /// being stopped: raising takes the interpreter's lock, which code in C may hold
    /// for ever, and nobody must wait for that. After a few stops the code ignored, its
    /// lines are traced (see `arm` in the FFI module).
    fn stopper(&self, run: u64, repeat: Duration) {
        let (control, visiting, remote, prompt, runs) = (
            self.control.clone(),
            self.visiting.clone(),
            self.remote.clone(),
            self.prompt.clone(),
            self.runs.clone(),
        );
        let _ = std::thread::Builder::new()
            .name("pysession-subinterpreter-stop".into())
            .spawn(move || {
                let mut rounds = 0u32;
                let asked = Instant::now();
                loop {
                    if runs.ended.load(Ordering::Acquire) >= run {
                        break;
                    }
                    if runs.begun.load(Ordering::Acquire) < run {
                        // Asked for before the run began: it is stopped once it has,
                        // looked for often at first (it is usually about to), then as
                        // often as stops are raised.
                        std::thread::sleep(if asked.elapsed() < Duration::from_millis(20) {
                            Duration::from_micros(50)
                        } else {
                            repeat
                        });
                        continue;
                    }
                    if !control.stop_requested() {
                        break;
                    }
                    {
                        let _in = visiting.lock().unwrap_or_else(|p| p.into_inner());
                        // Checked again with the lock held, and the interpreter read
                        // afresh: a run that ended may be followed by a restart that
                        // ends the interpreter.
                        let now = *remote.lock().unwrap_or_else(|p| p.into_inner());
                        let Some(now) = now else { break };
                        if !control.stop_requested() {
                            break;
                        }
                        rounds += 1;
                        if rounds > ESCALATE_AFTER {
                            control.escalate();
                        }
                        let c = control.clone();
                        now.raise_stop(move || c.stop_requested(), &prompt);
                    }
                    std::thread::sleep(repeat);
                }
            });
    }
}

/// A running sub-interpreter session.
pub(crate) struct SubInterpreter {
    /// The interpreter's thread; `None` once the session is stopped.
    line: Mutex<Option<Arc<Line>>>,
    capture: Arc<CaptureShared>,
    settings: Settings,
    next_run: AtomicU64,
    /// The startup code runs before the next execute: a new interpreter replaced one
    /// whose code was given up on.
    startup_pending: AtomicBool,
}

impl SubInterpreter {
    pub(crate) fn start(cfg: &Config) -> Result<SubInterpreter, Error> {
        let libpython = crate::embedded::ensure_interpreter()?;
        let working_directory =
            crate::config::resolve_working_directory(cfg.working_directory.as_deref())?;
        let environment = match &cfg.python_executable {
            Some(python) => {
                let env = crate::embedded::probe_environment(python, cfg.timeout)?;
                serde_json::json!({
                    "executable": env.executable,
                    "prefix": env.prefix,
                    "site_packages": env.site_packages,
                })
                .to_string()
            }
            None => "null".into(),
        };
        let settings = Settings {
            grace: cfg.grace_period,
            output_limit: cfg.output_limit,
            startup_code: cfg.startup_code.clone(),
            startup_timeout: cfg.timeout,
            working_directory,
            environment,
            libpython,
        };
        let capture = CaptureShared::new(crate::capture::OutputLimits::of(cfg));
        let line = Line::start(&settings, &capture)?;
        let this = SubInterpreter {
            line: Mutex::new(Some(Arc::new(line))),
            capture,
            settings,
            next_run: AtomicU64::new(1),
            startup_pending: AtomicBool::new(false),
        };
        this.startup()?;
        Ok(this)
    }

    fn line(&self) -> Option<Arc<Line>> {
        self.line.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs the startup code, if there is any; if it fails, the session is stopped.
    fn startup(&self) -> Result<(), Error> {
        if self.settings.startup_code.is_empty() {
            return Ok(());
        }
        let r = self
            .call(
                Job::Execute(self.settings.startup_code.clone()),
                self.settings.startup_timeout,
                &crossbeam_channel::never(),
            )?
            .into_cell(self.settings.output_limit, self.settings.startup_timeout);
        let outcome = crate::embedded::startup_outcome(r);
        if outcome.is_err() {
            self.stop();
        }
        outcome
    }

    /// Sends `job` and waits for its reply until `timeout`, then stops the code for up
    /// to the grace period, then gives the interpreter up to it and goes on in a new one.
    fn call(&self, job: Job, timeout: Duration, interrupts: &Receiver<()>) -> Result<Ended, Error> {
        let line = self.line().ok_or(Error::NotRunning)?;
        let run = self.next_run.fetch_add(1, Ordering::Relaxed);
        let (reply, replies) = bounded(1);
        {
            let tx = line.tx.lock().unwrap_or_else(|p| p.into_inner());
            let tx = tx.as_ref().ok_or(Error::NotRunning)?;
            line.seats.caller.take();
            tx.send(Request { job, run, reply })
                .map_err(|_| Error::NotRunning)?;
        }
        let deadline = Instant::now().checked_add(timeout);
        if let Some(r) = crate::wait::spin_recv(&replies, || line.seats.worker.elsewhere()) {
            return Ok(Ended::Replied(r));
        }
        let reason = select! {
            recv(replies) -> r => return r.map(Ended::Replied).map_err(|_| gone()),
            recv(interrupts) -> _ => StopReason::Interrupt,
            default(deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()))) => StopReason::Timeout,
        };
        line.control.request_stop(run, reason);
        line.stopper(run, REPEAT);
        match replies.recv_deadline(Instant::now() + self.settings.grace) {
            Ok(r) => return Ok(Ended::Replied(r)),
            Err(RecvTimeoutError::Disconnected) => return Err(gone()),
            Err(RecvTimeoutError::Timeout) => {}
        }
        Ok(Ended::Gave(self.give_up(&line, timeout, reason)))
    }

    /// The code did not stop: its interpreter and thread are left to it (the stopper
    /// goes on raising, so that it ends as soon as it is back in Python), and the
    /// session goes on in a new interpreter, whose startup code runs before the next
    /// execute.
    fn give_up(&self, line: &Line, timeout: Duration, reason: StopReason) -> ExecutionResult {
        *line.tx.lock().unwrap_or_else(|p| p.into_inner()) = None;
        line.runs.given_up.store(true, Ordering::Release);
        let output = self.capture.end_run(true);
        let replacement = Line::start(&self.settings, &self.capture);
        let outcome = match &replacement {
            Ok(_) => "the session was restarted with fresh state in a new interpreter (its startup code runs again before the next execute); all variables are lost".to_string(),
            Err(e) => format!("no new interpreter could be made ({e}), so the session is stopped"),
        };
        self.startup_pending.store(
            replacement.is_ok() && !self.settings.startup_code.is_empty(),
            Ordering::Release,
        );
        *self.line.lock().unwrap_or_else(|p| p.into_inner()) = replacement.ok().map(Arc::new);
        crate::diag::notice!(
            "sub-interpreter session gave up on code that could not be stopped; {outcome}"
        );
        let mut r = ExecutionResult::empty(Status::Restarted);
        output.fill(&mut r);
        r.error = Some(PythonError {
            type_name: "SessionRestarted".into(),
            message: format!(
                "the code {} and did not stop within the {} grace period: it is blocked where \
                 it cannot be interrupted (inside C code, such as a long computation in an \
                 extension or a wait on a lock or socket); {outcome}. The old interpreter and \
                 its thread are left to that code until it returns; other sessions go on, \
                 each with its own interpreter lock.",
                match reason {
                    StopReason::Timeout => format!("ran past its {} timeout", human(timeout)),
                    StopReason::Interrupt => "was interrupted".to_string(),
                },
                human(self.settings.grace)
            ),
            traceback: String::new(),
        });
        r
    }
}

fn gone() -> Error {
    Error::Interpreter("the session's interpreter thread ended".into())
}

/// What the session's thread shares with the session's handle.
struct Shared {
    capture: Arc<CaptureShared>,
    control: Arc<ControlShared>,
    remote: Arc<Mutex<Option<Remote>>>,
    visiting: Arc<Mutex<()>>,
    working_directory: PathBuf,
    environment: String,
    prompt: Arc<PromptSwitch>,
    runs: Arc<Runs>,
    seats: Arc<Seats>,
    /// Dropped as the thread ends.
    _exited: Sender<()>,
}

/// The session's thread: makes the interpreter, then serves requests until the channel
/// closes, then clears the session's namespace (a run the handle can stop) and ends
/// the interpreter; a restart is a new interpreter.
fn serve(rx: Receiver<Request>, ready: Sender<Result<(), String>>, shared: Shared) {
    let Shared {
        capture,
        control,
        remote,
        visiting,
        working_directory,
        environment,
        prompt,
        runs,
        seats,
        _exited,
    } = shared;
    let set_remote = |r: Option<Remote>| *remote.lock().unwrap_or_else(|p| p.into_inner()) = r;
    let make = || -> Result<Interp, String> {
        let scripts = crate::embedded::marshalled_scripts().map_err(|e| e.to_string())?;
        let mut interp = Interp::new()?;
        if let Err(e) = interp.boot(
            scripts,
            crate::runtime::constants_json(),
            &environment,
            capture.clone(),
            control.clone(),
        ) {
            interp.end();
            return Err(format!(
                "the runtime could not load in the sub-interpreter: {e}"
            ));
        }
        Ok(interp)
    };
    // Ends the interpreter (attached), once no stopping thread is in it: taken with the
    // lock let go, since a stopping thread holds `visiting` while it waits for it.
    let end = |mut interp: Interp| {
        interp.detach();
        let _alone = visiting.lock().unwrap_or_else(|p| p.into_inner());
        set_remote(None);
        interp.attach();
        interp.end();
    };
    let mut interp = match make() {
        Ok(i) => i,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    set_remote(Some(interp.remote()));
    let _ = ready.send(Ok(()));
    interp.detach();
    let mut cwd = working_directory.clone();
    // Each side polls briefly for the other before it sleeps (while they run on two
    // CPUs), as embedded sessions do: a quick round trip then costs no wake-up.
    let next = || {
        let req =
            crate::wait::spin_recv(&rx, || seats.caller.elsewhere()).or_else(|| rx.recv().ok());
        seats.worker.take();
        req
    };
    while let Some(req) = next() {
        let dir = if matches!(req.job, Job::Restart) {
            &working_directory
        } else {
            &cwd
        };
        let turn = match CwdTurn::enter(dir, || runs.given_up.load(Ordering::Acquire)) {
            Ok(turn) => turn,
            Err(Refused::Missing(message)) => {
                runs.ended.store(req.run, Ordering::Release);
                let _ = req
                    .reply
                    .send(Replied::refused("FileNotFoundError", message));
                continue;
            }
            Err(Refused::Cancelled) => {
                runs.ended.store(req.run, Ordering::Release);
                continue;
            }
        };
        interp.attach();
        prompt.settle(&interp);
        capture.begin_run(req.run);
        control.begin(req.run);
        runs.begun.store(req.run, Ordering::Release);
        let is_execute = matches!(req.job, Job::Execute(_));
        let reply = match &req.job {
            Job::Execute(code) => interp.call(c"run", Args::Run(code)),
            Job::Data(d) => {
                let arg = d.arg();
                interp.call(
                    c"data",
                    Args::Data {
                        op: d.op.name(),
                        name: &d.name,
                        arg: Some(arg),
                        blobs: &d.blobs,
                    },
                )
            }
            Job::Restart => {
                // The old namespace is cleared first, as part of the run (its
                // `__del__`s can be stopped), then the interpreter ended.
                let _ = interp.call(c"close", Args::None);
                end(interp);
                match make() {
                    Ok(i) => {
                        interp = i;
                        set_remote(Some(interp.remote()));
                        Reply::of(ReplyStatus::Ok)
                    }
                    Err(e) => {
                        let _ = req.reply.send(Replied::refused("RuntimeError", e));
                        return;
                    }
                }
            }
        };
        let reason = control.stop_reason();
        let stopped = control.was_stopped();
        control.begin(0);
        let output = capture.end_run(is_execute);
        interp.detach();
        drop(turn);
        if matches!(req.job, Job::Restart) {
            cwd = working_directory.clone();
            control.take_moved();
        } else if let Some(moved) = control.take_moved() {
            cwd = moved;
        }
        runs.ended.store(req.run, Ordering::Release);
        let _ = req.reply.send(Replied {
            reply,
            output: Some(output),
            reason,
        });
        if stopped {
            // After the reply, so the caller never waits on it: a stop raised just as
            // the run ended may still be pending; it lands here, not in the next run.
            interp.attach();
            interp.absorb_pending_stop();
            interp.detach();
        }
    }
    // Clearing the namespace runs the session's `__del__`s: under a run of its own,
    // which the handle stops once the grace period is over.
    interp.attach();
    control.begin(CLOSING_RUN);
    runs.begun.store(CLOSING_RUN, Ordering::Release);
    let _ = interp.call(c"close", Args::None);
    control.begin(0);
    interp.absorb_pending_stop();
    end(interp);
}

impl Running for SubInterpreter {
    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error> {
        let begun = Instant::now();
        if self.startup_pending.swap(false, Ordering::AcqRel) {
            // The startup code's output is not the submitted code's: nothing of it streams.
            let tap = self.capture.take_tap();
            let startup = self.call(
                Job::Execute(self.settings.startup_code.clone()),
                timeout,
                &crossbeam_channel::never(),
            );
            self.capture.set_tap(tap);
            let mut r = match startup {
                Ok(ended) => ended.into_cell(self.settings.output_limit, timeout),
                Err(e) => {
                    self.startup_pending.store(true, Ordering::Release);
                    return Err(e);
                }
            };
            if r.status != Status::Ok {
                self.stop();
                crate::outcome::startup_rerun_failed(&mut r);
                return Ok(r);
            }
        }
        let ended = self.call(Job::Execute(code.to_owned()), timeout, interrupts)?;
        let mut r = ended.into_cell(self.settings.output_limit, timeout);
        r.duration_ms = begun.elapsed().as_secs_f64() * 1000.0;
        Ok(r)
    }

    fn data(&self, request: DataRequest, timeout: Duration) -> Result<DataReply, Error> {
        self.call(Job::Data(request), timeout, &crossbeam_channel::never())?
            .into_data(timeout)
    }

    fn restart(&self, timeout: Duration) -> Result<(), Error> {
        // Refused before anything is reset: the session goes on as it was.
        crate::config::check_working_directory(&self.settings.working_directory)?;
        self.startup_pending.store(false, Ordering::Release);
        match self.call(Job::Restart, timeout, &crossbeam_channel::never())? {
            Ended::Replied(replied) => {
                if let Some(e) = replied.reply.error {
                    self.stop();
                    return Err(Error::Interpreter(e.1));
                }
            }
            Ended::Gave(r) => {
                return Err(Error::Interpreter(
                    r.error.map(|e| e.message).unwrap_or_default(),
                ))
            }
        }
        self.startup()
    }

    /// Ends the thread and its interpreter within the grace period; past it, what the
    /// session left (a `__del__` that loops) is stopped until the thread ends.
    fn stop(&self) {
        let Some(line) = self.line.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        *line.tx.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match line.exited.recv_timeout(self.settings.grace) {
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(h) = line.handle.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = h.join();
                }
            }
            _ => {
                line.control.request_stop(CLOSING_RUN, StopReason::Timeout);
                line.stopper(CLOSING_RUN, REPEAT_ABANDONED);
            }
        }
    }

    fn capture(&self) -> &Arc<CaptureShared> {
        &self.capture
    }

    fn is_running(&self) -> bool {
        self.line().is_some_and(|l| !l.ended())
    }

    fn loaded_libpython(&self) -> Option<PathBuf> {
        self.settings.libpython.clone()
    }
}

impl Drop for SubInterpreter {
    fn drop(&mut self) {
        self.stop();
    }
}
