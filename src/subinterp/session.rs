//! A sub-interpreter session: its thread, its requests, and stopping its code.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender};

use super::ffi::{Args, Interp, Remote};
use crate::backend::Running;
use crate::capture::CaptureShared;
use crate::config::{human, Config};
use crate::embedded::control::ControlShared;
use crate::embedded::cwd::{CwdTurn, Refused};
use crate::error::Error;
use crate::interrupt::StopReason;
use crate::outcome::{DataReply, Replied};
use crate::protocol::{DataRequest, Reply};
use crate::result::ExecutionResult;

/// How often a stop is raised again while the code keeps going.
const REPEAT: Duration = Duration::from_millis(50);

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

/// A running sub-interpreter session.
pub(crate) struct SubInterpreter {
    tx: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    capture: Arc<CaptureShared>,
    control: Arc<ControlShared>,
    remote: Arc<Mutex<Option<Remote>>>,
    /// Held by a thread that raises a stop for as long as it is in the interpreter, and
    /// by the session's thread to end one: an interpreter cannot end while another
    /// thread has a state in it.
    visiting: Arc<Mutex<()>>,
    next_run: AtomicU64,
    alive: Arc<AtomicBool>,
    grace: Duration,
    output_limit: usize,
    startup_code: String,
    startup_timeout: Duration,
}

impl SubInterpreter {
    pub(crate) fn start(cfg: &Config) -> Result<SubInterpreter, Error> {
        crate::embedded::ensure_interpreter()?;
        let dir = crate::config::resolve_working_directory(cfg.working_directory.as_deref())?;
        let capture = CaptureShared::new(crate::capture::OutputLimits::of(cfg));
        let control = Arc::new(ControlShared::default());
        let (tx, rx) = bounded::<Request>(1);
        let (ready_tx, ready_rx) = bounded::<Result<(), String>>(1);
        let remote = Arc::new(Mutex::new(None));
        let visiting = Arc::new(Mutex::new(()));
        let alive = Arc::new(AtomicBool::new(true));
        let thread = {
            let shared = Shared {
                capture: capture.clone(),
                control: control.clone(),
                alive: alive.clone(),
                remote: remote.clone(),
                visiting: visiting.clone(),
                working_directory: dir,
            };
            std::thread::Builder::new()
                .name("pysession-subinterpreter".into())
                .stack_size(8 << 20)
                .spawn(move || serve(rx, ready_tx, shared))
                .map_err(|e| Error::Interpreter(format!("no thread for the session: {e}")))?
        };
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Interpreter(e)),
            Err(_) => {
                return Err(Error::Interpreter(
                    "the session's thread ended at start".into(),
                ))
            }
        }
        let this = SubInterpreter {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            capture,
            control,
            remote,
            visiting,
            next_run: AtomicU64::new(1),
            alive,
            grace: cfg.grace_period,
            output_limit: cfg.output_limit,
            startup_code: cfg.startup_code.clone(),
            startup_timeout: cfg.timeout,
        };
        this.startup()?;
        Ok(this)
    }

    /// Runs the startup code, if there is any; if it fails, the session is stopped.
    fn startup(&self) -> Result<(), Error> {
        if self.startup_code.is_empty() {
            return Ok(());
        }
        let r = self.execute(
            &self.startup_code,
            self.startup_timeout,
            &crossbeam_channel::never(),
        )?;
        let outcome = crate::embedded::startup_outcome(r);
        if outcome.is_err() {
            self.stop();
        }
        outcome
    }

    /// Sends `job` and waits for its reply until `timeout`, then stops the code (raised
    /// again every [`REPEAT`]) for up to the grace period, then gives the session up.
    fn call(
        &self,
        job: Job,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<Replied, Error> {
        let run = self.next_run.fetch_add(1, Ordering::Relaxed);
        let (reply, replies) = bounded(1);
        {
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            let tx = tx.as_ref().ok_or(Error::NotRunning)?;
            tx.send(Request { job, run, reply })
                .map_err(|_| Error::NotRunning)?;
        }
        let deadline = Instant::now().checked_add(timeout);
        if let Some(r) = crate::wait::spin_recv(&replies, crate::wait::several_cpus) {
            return Ok(r);
        }
        let reason = select! {
            recv(replies) -> r => return r.map_err(|_| gone()),
            recv(interrupts) -> _ => StopReason::Interrupt,
            default(deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()))) => StopReason::Timeout,
        };
        self.control.request_stop(run, reason);
        // The stop is raised from a thread of its own, every REPEAT while the run goes on:
        // raising takes the interpreter's lock, which code in C may hold for ever, and
        // the caller must not wait for that past the grace period.
        if let Some(remote) = *self.remote.lock().unwrap_or_else(|p| p.into_inner()) {
            let (control, visiting) = (self.control.clone(), self.visiting.clone());
            let _ = std::thread::Builder::new()
                .name("pysession-subinterpreter-stop".into())
                .spawn(move || {
                    while control.stop_requested() {
                        {
                            let _in = visiting.lock().unwrap_or_else(|p| p.into_inner());
                            // Checked again with the lock held: a run that ended may be
                            // followed by a restart that ends the interpreter.
                            if !control.stop_requested() {
                                break;
                            }
                            let c = control.clone();
                            remote.raise_stop(move || c.stop_requested());
                        }
                        std::thread::sleep(REPEAT);
                    }
                });
        }
        let last = Instant::now() + self.grace;
        match replies.recv_deadline(last) {
            Ok(r) => return Ok(r),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Err(gone()),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        // The code did not stop: the session is given up, its thread and interpreter
        // left as they are.
        self.alive.store(false, Ordering::Release);
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = None;
        Err(Error::Interpreter(format!(
            "the code did not stop within {} of its {} timeout: the session's interpreter is given up (it \
             keeps its thread; other sessions go on)",
            human(self.grace),
            human(timeout)
        )))
    }
}

fn gone() -> Error {
    Error::Interpreter("the session's interpreter thread ended".into())
}

/// What the session's thread shares with the session's handle.
struct Shared {
    capture: Arc<CaptureShared>,
    control: Arc<ControlShared>,
    alive: Arc<AtomicBool>,
    remote: Arc<Mutex<Option<Remote>>>,
    visiting: Arc<Mutex<()>>,
    working_directory: std::path::PathBuf,
}

/// The session's thread: makes the interpreter, then serves requests until the channel
/// closes; a restart is a new interpreter.
fn serve(rx: Receiver<Request>, ready: Sender<Result<(), String>>, shared: Shared) {
    let Shared {
        capture,
        control,
        alive,
        remote,
        visiting,
        working_directory,
    } = shared;
    let set_remote = |r: Option<Remote>| *remote.lock().unwrap_or_else(|p| p.into_inner()) = r;
    let scripts: Vec<_> = crate::runtime::embedded_scripts()
        .map(|s| (s.name, s.file, s.source))
        .collect();
    let make = || -> Result<Interp, String> {
        let mut interp = Interp::new()?;
        if let Err(e) = interp.boot(
            &scripts,
            crate::runtime::constants_json(),
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
    // Each side polls briefly for the other before it sleeps, as embedded sessions do:
    // a quick round trip then costs no wake-up.
    let next = || crate::wait::spin_recv(&rx, crate::wait::several_cpus).or_else(|| rx.recv().ok());
    while let Some(req) = next() {
        let dir = if matches!(req.job, Job::Restart) {
            &working_directory
        } else {
            &cwd
        };
        let turn = match CwdTurn::enter(dir, || false) {
            Ok(turn) => turn,
            Err(Refused::Missing(message)) => {
                let _ = req
                    .reply
                    .send(Replied::refused("FileNotFoundError", message));
                continue;
            }
            Err(Refused::Cancelled) => continue,
        };
        // Taken before the interpreter's lock (a stopping thread holds it while it waits
        // for that lock), and only to end the interpreter.
        let _alone = matches!(req.job, Job::Restart)
            .then(|| visiting.lock().unwrap_or_else(|p| p.into_inner()));
        interp.attach();
        capture.begin_run(req.run);
        control.begin(req.run);
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
                set_remote(None);
                interp.end();
                match make() {
                    Ok(i) => {
                        interp = i;
                        set_remote(Some(interp.remote()));
                        Reply::of(crate::protocol::ReplyStatus::Ok)
                    }
                    Err(e) => {
                        alive.store(false, Ordering::Release);
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
    let _alone = visiting.lock().unwrap_or_else(|p| p.into_inner());
    interp.attach();
    interp.end();
}

impl Running for SubInterpreter {
    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error> {
        let begun = Instant::now();
        let replied = self.call(Job::Execute(code.to_owned()), timeout, interrupts)?;
        let mut r = replied.into_cell(self.output_limit, timeout);
        r.duration_ms = begun.elapsed().as_secs_f64() * 1000.0;
        Ok(r)
    }

    fn data(&self, request: DataRequest, timeout: Duration) -> Result<DataReply, Error> {
        self.call(Job::Data(request), timeout, &crossbeam_channel::never())?
            .into_data(timeout)
    }

    fn restart(&self, timeout: Duration) -> Result<(), Error> {
        let replied = self.call(Job::Restart, timeout, &crossbeam_channel::never())?;
        if let Some(e) = replied.reply.error {
            return Err(Error::Interpreter(e.1));
        }
        self.startup()
    }

    fn stop(&self) {
        *self.tx.lock().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if self.alive.load(Ordering::Acquire) {
                let _ = t.join();
            }
        }
        self.alive.store(false, Ordering::Release);
    }

    fn capture(&self) -> &Arc<CaptureShared> {
        &self.capture
    }

    fn is_running(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

impl Drop for SubInterpreter {
    fn drop(&mut self) {
        self.stop();
    }
}
