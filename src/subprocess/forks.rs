//! Fork servers: for each configuration (interpreter, working directory, environment,
//! memory limit, startup code), one process that has loaded the runtime and run the
//! startup code once, and forks each new session's process, and each restart's, from
//! itself: the cost model of Android's zygote and of Python's `forkserver`. Its side
//! of the conversation is `forkserver.py`.
//!
//! A server is started on first use and shared by every session of its configuration
//! in this process; it lives while one of them does. A server that ends (killed from
//! outside, say) is noticed at the next fork and started again; the sessions it forked
//! before live on, since their pipes are this process's. A server that may not fork
//! (its startup code left threads running) makes its configuration's sessions spawn
//! their own processes, as with `fork_server(false)`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use serde::Deserialize;

use super::child::{describe_end, private_capture, ChildConfig, ChildProcess, ForkFailure, Forker};
use super::sys;
use crate::capture::CaptureShared;
use crate::error::Error;

/// How long a server may take to answer: a fork copies the page tables of a process
/// that may be large.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// What makes the processes of two sessions interchangeable. The CPU time limit, which
/// the server does not run under, is part of it all the same: a spare child is forked
/// with it before anyone asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    python: PathBuf,
    working_directory: PathBuf,
    env_clear: bool,
    env: Vec<(OsString, OsString)>,
    memory: Option<u64>,
    cpu_seconds: Option<u64>,
    startup_code: String,
}

impl Key {
    pub(crate) fn of(cfg: &ChildConfig, startup_code: &str) -> Key {
        Key {
            python: cfg.python.clone(),
            working_directory: cfg.working_directory.clone(),
            env_clear: cfg.env_clear,
            env: cfg.env.clone(),
            memory: cfg.limits.memory,
            cpu_seconds: cfg.limits.cpu_seconds,
            startup_code: startup_code.to_owned(),
        }
    }
}

/// The fork server of one configuration, with a child forked ahead of need: the next
/// start or restart takes it at once (a swap, as a spawned session's warm spare), and
/// another is forked in the background. One spare per configuration, not per session.
pub(crate) struct ForkServer {
    state: Mutex<State>,
    spare: Mutex<Option<ChildProcess>>,
    /// A spare is being forked.
    refilling: AtomicBool,
}

enum State {
    /// None yet, or the last one ended.
    Down,
    Up(Arc<Instance>),
    /// It may not fork, for this reason: sessions spawn their own processes.
    Unsafe(String),
}

impl State {
    /// The server may not fork, for `why`: said once, as a warning.
    fn unsafe_because(why: String) -> State {
        crate::diag::must_warn!("sessions of this configuration spawn their own processes: {why}");
        State::Unsafe(why)
    }
}

/// How starting a fork server went.
pub(crate) enum Started {
    /// Its startup code ran, and it serves forks on the socket given.
    Serving(ChildProcess, OwnedFd),
    /// Its startup code ran, but it may not fork, for this reason.
    Unsafe(String),
    /// It failed when asked to serve, for this reason: the next start tries again.
    Failed(String),
}

impl ForkServer {
    /// The server of configuration `key`, shared with the other sessions of it.
    pub(crate) fn of(key: Key) -> Arc<ForkServer> {
        static SERVERS: OnceLock<Mutex<HashMap<Key, Weak<ForkServer>>>> = OnceLock::new();
        let mut servers = SERVERS
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        servers.retain(|_, server| server.strong_count() > 0);
        if let Some(server) = servers.get(&key).and_then(Weak::upgrade) {
            return server;
        }
        let server = Arc::new(ForkServer {
            state: Mutex::new(State::Down),
            spare: Mutex::new(None),
            refilling: AtomicBool::new(false),
        });
        servers.insert(key, Arc::downgrade(&server));
        server
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False once the server has shown that it may not fork.
    pub(crate) fn forking(&self) -> bool {
        !matches!(*self.lock(), State::Unsafe(_))
    }

    /// Why the server may not fork, once it has shown it may not.
    pub(crate) fn why_not(&self) -> Option<String> {
        match &*self.lock() {
            State::Unsafe(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// A session's process forked from the server, its output going to `sink`: the
    /// spare if there is one, else a fork made now, the server started with `start` if
    /// none is up. `None`: this start is to spawn a process instead (the server may not
    /// fork, or failed twice).
    pub(crate) fn fork(
        self: &Arc<Self>,
        cfg: &ChildConfig,
        sink: &Arc<CaptureShared>,
        start: impl FnOnce() -> Result<Started, Error>,
    ) -> Result<Option<ChildProcess>, Error> {
        let spare = self.spare.lock().unwrap_or_else(|p| p.into_inner()).take();
        // A spare of a server that has ended is let go: the start brings a server back.
        let spare = spare.filter(|child| !child.exited() && child.forked_by() == self.serving());
        let child = match spare {
            Some(mut child) => {
                child.fit(sink.clone(), cfg.output_limit);
                Some(child)
            }
            None => self.fork_now(cfg, sink, Some(start))?,
        };
        if child.is_some() {
            self.refill(cfg);
        }
        Ok(child)
    }

    /// The pid of the server that is up, if one is.
    fn serving(&self) -> Option<u32> {
        match &*self.lock() {
            State::Up(instance) if instance.alive() => Some(instance.pid),
            _ => None,
        }
    }

    /// Forks a spare in the background, unless one is being forked.
    fn refill(self: &Arc<Self>, cfg: &ChildConfig) {
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let server = self.clone();
        let cfg = cfg.clone();
        let forked = std::thread::Builder::new()
            .name("pysession-fork-spare".into())
            .spawn(move || {
                // Only from a server that is up: the next start brings one back.
                let no_start: Option<fn() -> Result<Started, Error>> = None;
                let forked = server.fork_now(&cfg, &private_capture(), no_start);
                let mut spare = server.spare.lock().unwrap_or_else(|p| p.into_inner());
                // Under the spare's lock: a start that takes this spare finds no refill
                // under way and asks for the next.
                server.refilling.store(false, Ordering::Release);
                if let (Ok(Some(child)), None) = (forked, &*spare) {
                    *spare = Some(child);
                }
            });
        if forked.is_err() {
            self.refilling.store(false, Ordering::Release);
        }
    }

    /// A fork made now; with no `start`, only from a server that is up.
    fn fork_now(
        &self,
        cfg: &ChildConfig,
        sink: &Arc<CaptureShared>,
        start: Option<impl FnOnce() -> Result<Started, Error>>,
    ) -> Result<Option<ChildProcess>, Error> {
        let mut state = self.lock();
        let mut start = start;
        loop {
            let instance = match &*state {
                State::Unsafe(_) => return Ok(None),
                State::Up(instance) if instance.alive() => instance.clone(),
                State::Up(_) | State::Down => {
                    let Some(start) = start.take() else {
                        return Ok(None);
                    };
                    match start()? {
                        Started::Serving(process, control) => {
                            let instance = Arc::new(Instance::new(process, control));
                            *state = State::Up(instance.clone());
                            instance
                        }
                        Started::Unsafe(why) => {
                            *state = State::unsafe_because(why);
                            return Ok(None);
                        }
                        Started::Failed(why) => {
                            crate::diag::must_warn!("no fork server for this session: {why}");
                            *state = State::Down;
                            return Ok(None);
                        }
                    }
                }
            };
            match ChildProcess::fork(instance.clone(), cfg, sink.clone()) {
                Ok(child) => return Ok(Some(child)),
                Err(ForkFailure::Unsafe(why)) => {
                    *state = State::unsafe_because(why);
                    return Ok(None);
                }
                Err(ForkFailure::Down(why)) => {
                    crate::diag::must_warn!("the fork server is replaced: {why}");
                    instance.end();
                    *state = State::Down;
                }
            }
        }
    }
}

/// One fork server process. Its children hold it: it is ended once none is left
/// unreaped and no session of its configuration needs it.
pub(crate) struct Instance {
    process: Mutex<ChildProcess>,
    control: Mutex<OwnedFd>,
    down: AtomicBool,
    pid: u32,
}

/// An answer of the server (see `forkserver.py`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Answer {
    pid: Option<u32>,
    #[serde(rename = "unsafe")]
    unsafe_because: Option<String>,
    error: Option<String>,
    code: Option<i32>,
    signal: Option<i32>,
    gone: bool,
}

impl Instance {
    fn new(process: ChildProcess, control: OwnedFd) -> Instance {
        // Killing the server must leave the sessions it forked alone.
        process.spare_descendants();
        Instance {
            pid: process.pid(),
            process: Mutex::new(process),
            control: Mutex::new(control),
            down: AtomicBool::new(false),
        }
    }

    fn process(&self) -> MutexGuard<'_, ChildProcess> {
        self.process.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn alive(&self) -> bool {
        !self.down.load(Ordering::Acquire) && !self.process().exited()
    }

    /// Kills the server (not its children) and reaps it.
    fn end(&self) {
        self.down.store(true, Ordering::Release);
        self.process().kill();
    }

    /// Sends `request` with copies of `fds` and waits for the answer. A server that does
    /// not answer is down from then on.
    fn ask(&self, request: &serde_json::Value, fds: &[BorrowedFd<'_>]) -> Result<Answer, String> {
        let control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        if self.down.load(Ordering::Acquire) {
            return Err("it has ended".into());
        }
        let body = request.to_string();
        let answer = sys::send_message(control.as_fd(), body.as_bytes(), fds)
            .and_then(|()| sys::receive_message(control.as_fd(), ANSWER_WITHIN));
        match answer {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("it answered what is not an answer ({e})")),
            Err(e) => {
                self.down.store(true, Ordering::Release);
                Err(match e.kind() {
                    std::io::ErrorKind::TimedOut => {
                        format!(
                            "it did not answer within {}",
                            crate::config::human(ANSWER_WITHIN)
                        )
                    }
                    std::io::ErrorKind::UnexpectedEof => "it has ended".into(),
                    _ => format!("it cannot be reached ({e})"),
                })
            }
        }
    }
}

impl Forker for Instance {
    fn fork(
        &self,
        token: &str,
        fds: [BorrowedFd<'_>; 5],
        cpu_seconds: Option<u64>,
    ) -> Result<u32, ForkFailure> {
        let request = serde_json::json!({"op": "fork", "token": token, "cpu": cpu_seconds});
        let answer = self.ask(&request, &fds).map_err(|e| {
            ForkFailure::Down(format!("the fork server made no session process: {e}"))
        })?;
        match answer {
            Answer { pid: Some(pid), .. } => Ok(pid),
            Answer {
                unsafe_because: Some(why),
                ..
            } => Err(ForkFailure::Unsafe(why)),
            Answer { error, .. } => Err(ForkFailure::Down(format!(
                "the fork server made no session process: {}",
                error.unwrap_or_else(|| "it did not say why".into())
            ))),
        }
    }

    fn pid(&self) -> u32 {
        self.pid
    }

    fn reap(&self, pid: u32) -> String {
        match self.ask(&serde_json::json!({"op": "reap", "pid": pid}), &[]) {
            Ok(answer) if answer.gone => {
                "unknown: its fork server had no such child to wait for".into()
            }
            Ok(Answer { code: Some(c), .. }) => describe_end(Some(c), None),
            Ok(Answer {
                signal: Some(s), ..
            }) => describe_end(None, Some(s)),
            Ok(Answer { error, .. }) => format!(
                "unknown: {}",
                error.unwrap_or_else(|| "its fork server did not say".into())
            ),
            Err(e) => format!("unknown: its fork server could not say ({e})"),
        }
    }
}
