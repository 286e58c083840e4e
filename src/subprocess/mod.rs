//! The subprocess backend: each session is a child `python` process running the same
//! Python-side runtime, spoken to over dedicated pipes. Slower than the embedded
//! backend, but the code can be killed, may crash, writes to real descriptors, and has
//! its own working directory, environment, interpreter and resource limits.

mod child;
mod forks;
mod scan;
mod sys;

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use self::child::{private_capture, ChildConfig, ChildProcess, FromChild, KillSwitch};
use self::forks::{ForkServer, Key, Started};
use crate::backend::Running;
use crate::capture::{bound_text, CaptureShared, RunOutput};
use crate::config::{
    check_working_directory, human, resolve_working_directory, Config, ProcessLimits,
};
use crate::error::Error;
use crate::interrupt::StopReason;
use crate::outcome::{self, timeout_error, DataReply, Ended, Replied};
use crate::protocol::{DataRequest, ReplyStatus, Request};
use crate::python::ProcessOrigin;
use crate::result::{ExecutionResult, PythonError, Status};

/// How long a restart waits for its old forked process to be reaped and its output
/// read (usually a millisecond; a process that left the group may hold the pipes open).
const REAP_WAIT: Duration = Duration::from_millis(20);

/// How often a stopped child is sent SIGINT again while its code keeps going.
const REPEAT_INTERRUPT: Duration = Duration::from_millis(50);

/// What one request to a child came to.
enum Exchange {
    /// A reply, with the run's output and why a stop was asked for (if one was).
    Replied(Replied),
    /// The code did not stop within the grace period: the child was killed.
    Stuck(RunOutput, String, StopReason),
    /// The child died while the request ran; how it ended.
    Died(RunOutput, String),
    /// The child had ended before the request was sent (between requests, by a thread
    /// of its own or a signal from outside): nothing ran.
    Gone(RunOutput, String),
    /// The child broke the protocol; it was killed.
    Broken(RunOutput, String),
}

/// Everything a child needs to be started and made ready, shared with the thread that
/// prepares the warm spare.
struct Recipe {
    child: ChildConfig,
    startup_code: String,
    timeout: Duration,
    grace: Duration,
    next_id: AtomicU64,
    warm_spare: bool,
    /// Kills the spare being prepared, so that `stop` leaves no process behind.
    spare_killer: Mutex<Option<Arc<KillSwitch>>>,
    /// The fork server of the configuration, unless turned off; let go at `stop`.
    forks: Mutex<Option<Arc<ForkServer>>>,
}

impl Recipe {
    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn fork_server(&self) -> Option<Arc<ForkServer>> {
        self.forks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the session's processes are forked (no spare needed).
    fn forking(&self) -> bool {
        self.fork_server().is_some_and(|f| f.forking())
    }

    /// A child with the startup code run in it: forked from the fork server, or
    /// spawned; `spare` (always spawned) publishes a way to kill it while it gets ready.
    fn ready_child(&self, spare: bool) -> Result<ChildProcess, Error> {
        if let Some(forks) = self.fork_server().filter(|_| !spare) {
            check_working_directory(&self.child.working_directory)?;
            if let Some(child) =
                forks.fork(&self.child, &private_capture(), || self.start_server())?
            {
                return Ok(child);
            }
        }
        self.spawn_ready(&self.child, spare, None)
    }

    /// The fork server: a process spawned and made ready as a session's would be (its
    /// errors are a session's), then asked to serve forks. It runs without the CPU time
    /// limit, which each child it forks gets for itself.
    fn start_server(&self) -> Result<Started, Error> {
        let io_err = |e: std::io::Error| Error::Config(format!("cannot start a fork server: {e}"));
        let (ours, theirs) = sys::seqpacket_pair().map_err(io_err)?;
        let cfg = ChildConfig {
            limits: ProcessLimits {
                cpu_seconds: None,
                ..self.child.limits
            },
            ..self.child.clone()
        };
        let mut server = self.spawn_ready(&cfg, false, Some(theirs.as_fd()))?;
        drop(theirs);
        let private = private_capture();
        server.adopt(private.clone());
        let asked = exchange(
            &mut server,
            &private,
            self.id(),
            (&Request::ServeForks, &[]),
            self.timeout,
            self.grace,
            RunKind::Data,
            &crossbeam_channel::never(),
        );
        match asked {
            Exchange::Replied(r) if r.reply.status == ReplyStatus::Ok => {
                Ok(Started::Serving(server, ours))
            }
            Exchange::Replied(r) => Ok(Started::Unsafe(
                outcome::python_error(r.reply.error).message,
            )),
            Exchange::Stuck(_, how, _)
            | Exchange::Died(_, how)
            | Exchange::Gone(_, how)
            | Exchange::Broken(_, how) => Ok(Started::Failed(format!(
                "it ended when asked to serve ({how})"
            ))),
        }
    }

    /// A spawned child of configuration `cfg` with the startup code run in it; `spare`
    /// publishes a way to kill it while it gets ready; a fork server gets its `control`
    /// socket.
    fn spawn_ready(
        &self,
        cfg: &ChildConfig,
        spare: bool,
        control: Option<BorrowedFd<'_>>,
    ) -> Result<ChildProcess, Error> {
        let private = private_capture();
        // Handing over the runtime counts against the startup's own timeout.
        let begun = Instant::now();
        let deadline = begun + self.timeout.min(Duration::from_secs(10));
        let mut child = ChildProcess::spawn(cfg, private.clone(), deadline, control)?;
        if spare {
            *self.spare_killer.lock().unwrap_or_else(|p| p.into_inner()) = Some(child.killer());
        }
        let id = self.id();
        match exchange(
            &mut child,
            &private,
            id,
            (
                &Request::Run {
                    code: &self.startup_code,
                },
                &[],
            ),
            self.timeout.saturating_sub(begun.elapsed()),
            self.grace,
            RunKind::Startup,
            &crossbeam_channel::never(),
        ) {
            Exchange::Replied(r) => match r.reply.status {
                ReplyStatus::Ok => Ok(child),
                ReplyStatus::Stopped => Err(Error::Startup(timeout_error(self.timeout, ""))),
                ReplyStatus::Error => Err(Error::Startup(outcome::python_error(r.reply.error))),
            },
            Exchange::Stuck(..) => Err(Error::Busy(format!(
                "the startup code ran past its {} timeout and did not stop within the {} grace \
                 period; its process was killed",
                human(self.timeout),
                human(self.grace)
            ))),
            Exchange::Died(out, how) | Exchange::Gone(out, how) => Err(Error::Config(format!(
                "the Python process {} ended ({how}) before it was ready{}",
                cfg.python.display(),
                stderr_excerpt(&out)
            ))),
            Exchange::Broken(_, what) => Err(Error::Config(format!(
                "the Python process {} did not speak the protocol: {what}",
                cfg.python.display()
            ))),
        }
    }
}

fn stderr_excerpt(out: &RunOutput) -> String {
    let text = out.stderr.0.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", bound_text(text.to_string(), 2000))
    }
}

/// What a request is, for its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// User code: its output is its result's, with the background output.
    Execute,
    /// Startup code: its output is collected (its stderr explains a failure).
    Startup,
    /// A variable operation: it opens no run, so what other threads write meanwhile
    /// stays background output for the next execute.
    Data,
}

/// Sends request `id` and waits for its reply: until the deadline, then SIGINT (again
/// every 50 ms) for the grace period, then the process group is killed.
#[allow(clippy::too_many_arguments)]
fn exchange(
    child: &mut ChildProcess,
    capture: &CaptureShared,
    id: u64,
    (request, blobs): (&Request<'_>, &[Vec<u8>]),
    timeout: Duration,
    grace: Duration,
    kind: RunKind,
    interrupts: &Receiver<()>,
) -> Exchange {
    let begun = Instant::now();
    if kind != RunKind::Data {
        capture.begin_run(id);
    }
    let end = |capture: &CaptureShared| capture.end_run(kind == RunKind::Execute);
    let send_by = begun
        + timeout
            .saturating_add(grace)
            .min(Duration::from_secs(86_400));
    if child.exited() {
        let how = child.reap();
        return Exchange::Gone(end(capture), how);
    }
    match child.send(id, request, blobs, send_by) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            let how = child.kill();
            return Exchange::Stuck(end(capture), how, StopReason::Timeout);
        }
        Err(_) => {
            // Its end of the pipe is closed: it ended before it read the request.
            let how = child.kill();
            return Exchange::Gone(end(capture), how);
        }
    }
    let mut stopping_until: Option<Option<Instant>> = None;
    let mut reason = StopReason::Timeout;
    let mut wait_until = begun.checked_add(timeout);
    let never = crossbeam_channel::never();
    loop {
        let left = wait_until.map_or(Duration::MAX, |t| {
            t.saturating_duration_since(Instant::now())
        });
        // Once stopping, a further interrupt changes nothing.
        let watch = if stopping_until.is_some() {
            &never
        } else {
            interrupts
        };
        let next = crossbeam_channel::select! {
            recv(child.events) -> e => e.map_err(|_| RecvTimeoutError::Disconnected),
            recv(watch) -> i => {
                if i.is_ok() {
                    reason = StopReason::Interrupt;
                    Err(RecvTimeoutError::Timeout)
                } else {
                    // The handle side is gone; wait on as before.
                    continue;
                }
            },
            default(left) => Err(RecvTimeoutError::Timeout),
        };
        match next {
            Ok(FromChild::Reply { id: got, reply }) if got == id => {
                return Exchange::Replied(Replied {
                    reply,
                    output: Some(end(capture)),
                    reason,
                })
            }
            Ok(FromChild::Reply { .. }) => {}
            Ok(FromChild::Broken(what)) => {
                child.kill();
                return Exchange::Broken(end(capture), what);
            }
            Err(RecvTimeoutError::Disconnected) => {
                let how = child.reap();
                return Exchange::Died(end(capture), how);
            }
            Err(RecvTimeoutError::Timeout) if child.exited() => {
                // Dead, though something it started still holds its pipes open.
                let how = child.reap();
                return Exchange::Died(end(capture), how);
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                let last = *stopping_until.get_or_insert_with(|| now.checked_add(grace));
                if last.is_some_and(|last| now >= last) {
                    let how = child.kill();
                    return Exchange::Stuck(end(capture), how, reason);
                }
                child.interrupt(id);
                let again = now + REPEAT_INTERRUPT;
                wait_until = Some(last.map_or(again, |last| again.min(last)));
            }
        }
    }
}

/// One running subprocess session.
pub(crate) struct Subprocess {
    recipe: Arc<Recipe>,
    output_limit: usize,
    capture: Arc<CaptureShared>,
    /// The child; `None` while running means a fresh one is due before the next call.
    child: Mutex<Option<ChildProcess>>,
    running: AtomicBool,
    /// A child being made ready in the background, startup code run, for the next
    /// restart. Dropping the handle discards (kills) it.
    spare: Mutex<Option<JoinHandle<Result<ChildProcess, Error>>>>,
}

impl Subprocess {
    pub(crate) fn start(config: &Config) -> Result<Subprocess, Error> {
        let python = resolve_python(config.python_executable.as_deref())?;
        let working_directory = resolve_working_directory(config.working_directory.as_deref())?;
        let child = ChildConfig {
            python,
            working_directory,
            env_clear: config.env_clear,
            env: config.env.clone(),
            limits: config.limits,
            output_limit: config.output_limit,
        };
        let forks = config
            .fork_server
            .then(|| ForkServer::of(Key::of(&child, &config.startup_code)));
        let recipe = Arc::new(Recipe {
            child,
            startup_code: config.startup_code.clone(),
            timeout: config.timeout,
            grace: config.grace_period,
            next_id: AtomicU64::new(1),
            warm_spare: config.warm_spare,
            spare_killer: Mutex::new(None),
            forks: Mutex::new(forks),
        });
        let capture = CaptureShared::new(crate::capture::OutputLimits::of(config));
        let child = recipe.ready_child(false)?;
        child.adopt(capture.clone());
        let session = Subprocess {
            recipe,
            output_limit: config.output_limit,
            capture,
            child: Mutex::new(Some(child)),
            running: AtomicBool::new(true),
            spare: Mutex::new(None),
        };
        session.prepare_spare();
        Ok(session)
    }

    fn lock_child(&self) -> MutexGuard<'_, Option<ChildProcess>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn prepare_spare(&self) {
        if !self.recipe.warm_spare || self.recipe.forking() {
            return;
        }
        let recipe = self.recipe.clone();
        let handle = std::thread::Builder::new()
            .name("pysession-spare".into())
            .spawn(move || recipe.ready_child(true))
            .ok();
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = handle;
    }

    /// A ready child for this session: the warm spare if it made it, else a new one.
    fn fresh_child(&self) -> Result<ChildProcess, Error> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        let child = match spare.map(JoinHandle::join) {
            Some(Ok(Ok(child))) => child,
            // The spare's startup failed: doing it again would only fail again, twice
            // as slowly.
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(_)) | None => self.recipe.ready_child(false)?,
        };
        child.adopt(self.capture.clone());
        self.prepare_spare();
        Ok(child)
    }

    /// Sends one request of `kind` (an execute's result carries the background
    /// output) and waits for it.
    fn request(
        &self,
        request: (&Request<'_>, &[Vec<u8>]),
        timeout: Duration,
        interrupts: &Receiver<()>,
        kind: RunKind,
    ) -> Result<Ended, Error> {
        let begun = Instant::now();
        let mut slot = self.lock_child();
        if !self.running.load(Ordering::Acquire) {
            return Err(Error::NotRunning);
        }
        if slot.is_none() {
            match self.fresh_child() {
                Ok(child) => *slot = Some(child),
                Err(e) => {
                    self.running.store(false, Ordering::Release);
                    let mut r = ExecutionResult::empty(Status::Restarted);
                    r.error = Some(PythonError {
                        type_name: "SessionRestarted".into(),
                        message: format!(
                            "a fresh Python process for this session could not be made ready, \
                             so the session is stopped and this code did not run: {e}"
                        ),
                        traceback: String::new(),
                    });
                    return Ok(Ended::Gave(r));
                }
            }
        }
        let Some(child) = slot.as_mut() else {
            return Err(Error::NotRunning);
        };
        let id = self.recipe.id();
        let left = timeout.saturating_sub(begun.elapsed());
        let exchanged = exchange(
            child,
            &self.capture,
            id,
            request,
            left,
            self.recipe.grace,
            kind,
            interrupts,
        );
        let r = match exchanged {
            Exchange::Replied(replied) => return Ok(Ended::Replied(replied)),
            Exchange::Stuck(out, how, reason) => {
                *slot = None;
                restarted(
                    out,
                    format!(
                        "the code {} and did not stop within the {} grace period after SIGINT \
                         (it is probably blocked inside C code), so its process group was \
                         killed ({how})",
                        match reason {
                            StopReason::Timeout =>
                                format!("ran past its {} timeout", human(timeout)),
                            StopReason::Interrupt => "was interrupted".to_string(),
                        },
                        human(self.recipe.grace)
                    ),
                )
            }
            Exchange::Died(out, how) => {
                *slot = None;
                restarted(
                    out,
                    format!("the Python process died while running the code ({how})"),
                )
            }
            Exchange::Gone(out, how) => {
                *slot = None;
                restarted(
                    out,
                    format!(
                        "the Python process had ended before this code was sent ({how}), so \
                         the code did not run"
                    ),
                )
            }
            Exchange::Broken(out, what) => {
                *slot = None;
                restarted(
                    out,
                    format!("the Python process broke the protocol ({what}) and was killed"),
                )
            }
        };
        Ok(Ended::Gave(r))
    }
}

impl Running for Subprocess {
    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error> {
        let begun = Instant::now();
        let request = (&Request::Run { code }, &[][..]);
        let ended = self.request(request, timeout, interrupts, RunKind::Execute)?;
        let mut r = ended.into_cell(self.output_limit, timeout);
        r.duration_ms = begun.elapsed().as_secs_f64() * 1000.0;
        Ok(r)
    }

    /// A variable operation: `SessionState.data` in the child. The data is never cut.
    fn data(&self, request: DataRequest, timeout: Duration) -> Result<DataReply, Error> {
        if let Some(size) = std::iter::once(request.text.len())
            .chain(request.blobs.iter().map(Vec::len))
            .find(|&size| size > crate::runtime::MAX_FRAME)
        {
            return Err(Error::Variable(format!(
                "the value for {:?} is {size} bytes long; a subprocess session moves at \
                 most 1 GiB at a time (the embedded backend has no such limit)",
                request.name
            )));
        }
        let frame = Request::data(&request);
        let never = crossbeam_channel::never();
        self.request((&frame, &request.blobs), timeout, &never, RunKind::Data)?
            .into_data(timeout)
    }

    /// Fresh state: the warm spare (startup code already run) takes the place of the
    /// current child, which is killed in the background.
    fn restart(&self, _timeout: Duration) -> Result<(), Error> {
        let mut slot = self.lock_child();
        if !self.running.load(Ordering::Acquire) {
            return Err(Error::NotRunning);
        }
        // Refused before the current process is let go: the session goes on as it was.
        check_working_directory(&self.recipe.child.working_directory)?;
        // The old process is killed while the new one starts. A forked one is reaped in
        // about a millisecond, and the restart waits for that (its output read to the
        // end): what its threads wrote before the restart is then background output of
        // the first result after it. A spawned one is not waited for: reaping it races
        // with the next spare's start (measured: every restart 20 ms slower).
        let old = slot.take();
        let wait_for_it = old.as_ref().is_some_and(|o| o.forked_by().is_some());
        let reaper = old.and_then(|mut old| {
            std::thread::Builder::new()
                .name("pysession-reaper".into())
                .spawn(move || {
                    old.kill();
                })
                .ok()
        });
        let fresh = self.fresh_child();
        if let Some(reaper) = reaper.filter(|_| wait_for_it) {
            let begun = Instant::now();
            while !reaper.is_finished() && begun.elapsed() < REAP_WAIT {
                std::thread::sleep(Duration::from_micros(200));
            }
            if reaper.is_finished() {
                let _ = reaper.join();
            }
        }
        match fresh {
            Ok(child) => {
                *slot = Some(child);
                Ok(())
            }
            Err(e) => {
                self.running.store(false, Ordering::Release);
                Err(e)
            }
        }
    }

    fn stop(&self) {
        self.running.store(false, Ordering::Release);
        if let Some(mut child) = self.lock_child().take() {
            child.shut_down(self.recipe.grace);
        }
        // A spare still getting ready is killed now; a ready one when its thread's
        // result is dropped with the handle.
        let killer = self
            .recipe
            .spare_killer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(killer) = killer {
            killer.kill();
        }
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        // The fork server ends with the last session that holds it.
        self.recipe
            .forks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Where the session's output is collected.
    fn capture(&self) -> &Arc<CaptureShared> {
        &self.capture
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    fn origin(&self) -> ProcessOrigin {
        let forked_by = self.lock_child().as_ref().and_then(ChildProcess::forked_by);
        match forked_by {
            Some(fork_server_pid) => ProcessOrigin::Forked { fork_server_pid },
            None => ProcessOrigin::Spawned {
                not_forked_because: self.recipe.fork_server().and_then(|f| f.why_not()),
            },
        }
    }
}

impl Drop for Subprocess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn restarted(out: RunOutput, what: String) -> ExecutionResult {
    crate::diag::notice!("subprocess session restarted: {what}");
    let mut r = ExecutionResult::empty(Status::Restarted);
    out.fill(&mut r);
    r.error = Some(PythonError {
        type_name: "SessionRestarted".into(),
        message: format!(
            "{what}. The session was restarted: a fresh process (with the startup code's state) \
             takes its place for the next execute, and all variables are lost."
        ),
        traceback: String::new(),
    });
    r
}

/// The interpreter to run, as an absolute path (so that `env_clear` cannot hide it):
/// `python_executable`; else the interpreter the crate was built for, when it is on
/// this machine; else `python3` on PATH.
fn resolve_python(python: Option<&Path>) -> Result<PathBuf, Error> {
    if python.is_none() {
        if let Some(built_for) = crate::python::default_executable() {
            return Ok(built_for.to_path_buf());
        }
    }
    let wanted = python.unwrap_or(Path::new("python3"));
    let not_found = || Error::NotFound {
        what: "python_executable",
        path: wanted.to_path_buf(),
    };
    if wanted.components().count() > 1 || wanted.is_absolute() {
        return if wanted.is_file() {
            Ok(wanted.to_path_buf())
        } else {
            Err(not_found())
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(wanted))
        .find(|candidate| candidate.is_file())
        .ok_or_else(not_found)
}
