//! `Session` and `SessionBuilder`: the public face of a session, whatever its backend.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::Receiver;
use std::time::Duration;

use crate::capture::{CaptureShared, TapGuard};
use crate::config::{Backend, Config, DataArg};
use crate::embedded::Embedded;
use crate::event::EventSender;
use crate::fifo::FifoLock;
use crate::interrupt::{InterruptHandle, Interrupts};
use crate::python::{PythonInfo, ReportedInfo};
use crate::stream::Execution;
use crate::subprocess::Subprocess;
use crate::{Error, ExecutionResult, Status, Variable};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Settings for a new [`Session`]; every one has a default.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until .start()"]
pub struct SessionBuilder {
    config: Config,
}

impl SessionBuilder {
    /// Default of [`timeout`](Self::timeout): 30 seconds.
    pub const DEFAULT_TIMEOUT: Duration = crate::config::DEFAULT_TIMEOUT;
    /// Default of [`grace_period`](Self::grace_period): 2 seconds.
    pub const DEFAULT_GRACE_PERIOD: Duration = crate::config::DEFAULT_GRACE_PERIOD;
    /// Default of [`output_limit`](Self::output_limit): 1 MiB per stream.
    pub const DEFAULT_OUTPUT_LIMIT: usize = crate::config::DEFAULT_OUTPUT_LIMIT;
    /// Default of [`display_limit`](Self::display_limit): 64 MiB per execution.
    pub const DEFAULT_DISPLAY_LIMIT: usize = crate::config::DEFAULT_DISPLAY_LIMIT;

    /// Python code run when the session starts and after every
    /// [`restart`](Session::restart). If it raises, starting fails with
    /// [`Error::Startup`]. Its output is discarded. Default: none.
    pub fn startup_code(mut self, code: impl Into<String>) -> Self {
        self.config.startup_code = code.into();
        self
    }

    /// The directory the session's code sees as its working directory. Default: the
    /// process's working directory when the session starts. `os.chdir` in the
    /// session's code moves the session, not the others; [`restart`](Session::restart)
    /// comes back here.
    pub fn working_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.working_directory = Some(dir.into());
        self
    }

    /// Where the code runs. Default: [`Backend::Embedded`].
    pub fn backend(mut self, backend: Backend) -> Self {
        self.config.backend = backend;
        self
    }

    /// How long [`Session::execute`] lets code run before stopping it. Also bounds the
    /// startup code. Default: [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// How long code that is being stopped gets to stop before the session gives up
    /// on it and restarts (status [`Restarted`](crate::Status::Restarted)). No call
    /// waits longer than its timeout plus this, once it is its turn (calls on one
    /// session wait for the earlier ones). Default:
    /// [`DEFAULT_GRACE_PERIOD`](Self::DEFAULT_GRACE_PERIOD).
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.config.grace_period = grace;
        self
    }

    /// Bytes of stdout and of stderr kept per execution (and the most of a `value`
    /// repr). Past it, the head and the tail are kept with a marker between that says
    /// how much was cut. Default: [`DEFAULT_OUTPUT_LIMIT`](Self::DEFAULT_OUTPUT_LIMIT).
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.config.output_limit = bytes;
        self
    }

    /// Bytes of rich output ([`ExecutionResult::display`]: images, HTML, ...) kept per
    /// execution. Items past it are left out and counted in
    /// [`display_dropped`](ExecutionResult::display_dropped). Default:
    /// [`DEFAULT_DISPLAY_LIMIT`](Self::DEFAULT_DISPLAY_LIMIT).
    pub fn display_limit(mut self, bytes: usize) -> Self {
        self.config.display_limit = bytes;
        self
    }

    /// For an embedded session: the `python` of a virtual environment whose packages
    /// the session imports. It must be the embedded interpreter's version, or starting
    /// fails with [`Error::Config`]; a missing path fails with [`Error::NotFound`].
    /// Default: none.
    pub fn python_executable(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.python_executable = Some(path.into());
        self
    }

    /// Subprocess sessions: sets an environment variable of the child process (on top of
    /// this process's environment, or of none after [`env_clear`](Self::env_clear)).
    /// Starting an embedded session with it fails with [`Error::Config`].
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.config.env.push((key.into(), value.into()));
        self
    }

    /// Subprocess sessions: the child starts with no environment variables but those
    /// given with [`env`](Self::env). Default: it inherits this process's.
    pub fn env_clear(mut self) -> Self {
        self.config.env_clear = true;
        self
    }

    /// Subprocess sessions: the most address space the child may use (`RLIMIT_AS`), in
    /// bytes. Code that needs more gets a `MemoryError` (or the process dies and the
    /// session restarts); the host is never affected. Default: no limit.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.config.limits.memory = Some(bytes);
        self
    }

    /// Subprocess sessions: the most CPU time the child may use in all (`RLIMIT_CPU`,
    /// whole seconds, at least one). Past it the process is killed and the session
    /// restarts. Default: no limit.
    pub fn cpu_time_limit(mut self, limit: Duration) -> Self {
        self.config.limits.cpu_seconds = Some(limit.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    /// Subprocess sessions: whether to keep a spare child ready (startup code run) so
    /// that a restart is a swap. It costs a second process per session. Default: on.
    pub fn warm_spare(mut self, on: bool) -> Self {
        self.config.warm_spare = on;
        self
    }

    /// Starts the session: the interpreter (the first time in the process), the
    /// session's thread, then its startup code.
    pub fn start(self) -> Result<Session, Error> {
        let session = Session {
            inner: Arc::new(Inner {
                config: self.config,
                calls: FifoLock::default(),
                running: Mutex::new(None),
                interrupts: Arc::default(),
            }),
            #[cfg(feature = "async")]
            driver: Default::default(),
        };
        session.start()?;
        Ok(session)
    }
}

/// A persistent Python session: code runs step by step and state survives between
/// steps.
///
/// `Session` is `Send + Sync` and its methods take `&self`. Calls from several threads
/// run one after another, in the order they were made. Dropping a session stops it.
pub struct Session {
    pub(crate) inner: Arc<Inner>,
    /// Runs the `_async` twins' calls.
    #[cfg(feature = "async")]
    pub(crate) driver: crate::asynchronous::Driver,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("running", &self.is_running())
            .field("backend", &self.inner.config.backend)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A builder with every setting at its default.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// Starts a session with default settings.
    pub fn new() -> Result<Session, Error> {
        Session::builder().start()
    }

    /// Starts a stopped session again, with fresh state and the startup code run.
    /// Fails with [`Error::AlreadyRunning`] if it runs.
    pub fn start(&self) -> Result<(), Error> {
        done(self.inner.call(Call::Start))
    }

    /// Runs `code` with the session's default timeout.
    ///
    /// `Err` only when the call itself cannot be made (the session is not running);
    /// whatever the code does, including raising, is in the [`ExecutionResult`].
    pub fn execute(&self, code: &str) -> Result<ExecutionResult, Error> {
        self.execute_with_timeout(code, self.inner.config.timeout)
    }

    /// Runs `code`, stopping it after `timeout` (status
    /// [`Timeout`](crate::Status::Timeout), state kept). Code that will not stop is
    /// given the grace period, then abandoned and the session restarted (status
    /// [`Restarted`](crate::Status::Restarted)).
    pub fn execute_with_timeout(
        &self,
        code: &str,
        timeout: Duration,
    ) -> Result<ExecutionResult, Error> {
        executed(self.inner.call(Call::Execute {
            code: code.to_owned(),
            timeout,
            tap: None,
        }))
    }

    /// Starts running `code` (with the session's default timeout) and returns at once.
    /// The [`Execution`] yields the output while the code runs, then the result; see
    /// [`Event`](crate::Event). Calls made meanwhile wait their turn, as with [`execute`](Self::execute).
    pub fn submit(&self, code: &str) -> Result<Execution, Error> {
        self.submit_with_timeout(code, self.inner.config.timeout)
    }

    /// [`submit`](Self::submit) with a timeout of its own.
    pub fn submit_with_timeout(&self, code: &str, timeout: Duration) -> Result<Execution, Error> {
        if !self.is_running() {
            return Err(Error::NotRunning);
        }
        Execution::start(
            self.inner.clone(),
            code.to_owned(),
            timeout,
            self.interrupt_handle(),
        )
    }

    /// Fresh state: a new namespace, the startup code run again. If the startup code
    /// raises or cannot finish, the session is stopped and the error returned.
    pub fn restart(&self) -> Result<(), Error> {
        done(self.inner.call(Call::Restart))
    }

    /// Stops the session and its thread. Fails with [`Error::NotRunning`] if it is not
    /// running. Waits for a call in progress on another thread to finish, then at most
    /// the grace period for the thread to end.
    pub fn stop(&self) -> Result<(), Error> {
        done(self.inner.call(Call::Stop))
    }

    /// The value of the session's variable `name`, converted through JSON: Python
    /// `dict`/`list`/`str`/`int`/`float`/`bool`/`None` map to the JSON-like Rust types
    /// serde knows (`bytes` to a `Vec<u8>`; tuples and sets to sequences).
    ///
    /// Fails with [`Error::Variable`] when there is no such variable or its value does
    /// not convert (to JSON, or to `T`).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        decode_get(
            name,
            self.inner.call(data_call("get", name, DataArg::default())),
        )
    }

    /// Sets the session's variable `name` to `value`, converted as JSON is (maps
    /// become `dict`, sequences `list`, and so on), except that byte strings (what
    /// serde serializes as bytes: `serde_bytes::ByteBuf`, fields marked
    /// `#[serde(with = "serde_bytes")]`) become `bytes`, carried beside the JSON
    /// without encoding. A plain `Vec<u8>` is a sequence to serde and becomes a `list`
    /// of ints; use [`set_bytes`](Self::set_bytes) for one large byte string.
    ///
    /// As with serde_json, NaN and infinities become `None`, and 128-bit integers are
    /// Python ints. Fails with [`Error::Variable`] when the value has no JSON form (a
    /// map whose keys are not strings, numbers or booleans) or `name` is not a Python
    /// name.
    pub fn set<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), Error> {
        decode_done(self.inner.call(set_call(name, value)?))
    }

    /// The user's variables: every name in the session's namespace but the runtime's
    /// own (`__name__`, ...) and imported modules, with its type and a short repr.
    pub fn variables(&self) -> Result<Vec<Variable>, Error> {
        decode_variables(self.inner.call(variables_call(false)))
    }

    /// Like [`variables`](Self::variables), imported modules included.
    pub fn variables_including_modules(&self) -> Result<Vec<Variable>, Error> {
        decode_variables(self.inner.call(variables_call(true)))
    }

    /// Sets the session's variable `name` to a Python `bytes` holding `data`, as fast
    /// as memory copies: the embedded backend copies it once into the interpreter (pass
    /// a `Vec<u8>` to save the copy into it); the subprocess backend sends it down a
    /// pipe as it is, with no encoding. See the README for measured speeds.
    pub fn set_bytes(&self, name: &str, data: impl Into<Vec<u8>>) -> Result<(), Error> {
        decode_done(self.inner.call(set_bytes_call(name, data.into())))
    }

    /// The session's variable `name`, a `bytes`, `bytearray` or `memoryview`, as bytes
    /// (as fast as [`set_bytes`](Self::set_bytes)). Fails with [`Error::Variable`] when
    /// there is no such variable or it is another type.
    pub fn get_bytes(&self, name: &str) -> Result<Vec<u8>, Error> {
        decode_bytes(
            self.inner
                .call(data_call("get_bytes", name, DataArg::default())),
        )
    }

    /// The Python the session runs, as the session itself reports it: version,
    /// `sys.executable`, prefixes, where its packages are, its process, and (embedded)
    /// the libpython this process loaded, beside what the crate was built for.
    pub fn python_info(&self) -> Result<PythonInfo, Error> {
        decode_info(
            &self.inner.config,
            self.inner.call(data_call("info", "", DataArg::default())),
        )
    }

    /// A handle that interrupts whatever this session is running, from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle::new(self.inner.interrupts.clone())
    }

    /// True between a successful start and a stop (or a failure that stopped the
    /// session, such as startup code that raised).
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Executions still running hold the inner state; the session ends now all the
        // same (after the call in progress, as `stop` does).
        let _ = self.inner.call(Call::Stop);
    }
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    calls: FifoLock,
    running: Mutex<Option<Arc<Running>>>,
    interrupts: Arc<Interrupts>,
}

/// What a queued call does once its turn comes.
pub(crate) enum Call {
    Start,
    Execute {
        code: String,
        timeout: Duration,
        tap: Option<EventSender>,
    },
    Restart,
    Stop,
    /// A variable operation: get, set or list (see `SessionState.data`).
    Data {
        op: &'static str,
        name: String,
        arg: DataArg,
    },
}

/// What a call gave.
pub(crate) enum Answer {
    Done,
    Executed(Box<ExecutionResult>),
}

impl Inner {
    fn slot(&self) -> MutexGuard<'_, Option<Arc<Running>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Result<Arc<Running>, Error> {
        self.slot().clone().ok_or(Error::NotRunning)
    }

    /// Takes a place in the queue of calls, for [`call_in_turn`](Self::call_in_turn).
    pub(crate) fn enqueue(&self) -> u64 {
        self.calls.enqueue()
    }

    /// Gives up `place` in the queue of calls, in its turn, without making a call.
    pub(crate) fn skip(&self, place: u64) {
        drop(self.calls.wait_for(place));
    }

    /// Makes `call` now, in its turn among the session's calls.
    fn call(&self, call: Call) -> Result<Answer, Error> {
        self.call_in_turn(self.calls.enqueue(), call)
    }

    /// Makes `call` when `place` in the queue of calls comes up. Every place taken must
    /// be passed here once.
    pub(crate) fn call_in_turn(&self, place: u64, call: Call) -> Result<Answer, Error> {
        let _turn = self.calls.wait_for(place);
        match call {
            Call::Start => self.start().map(|()| Answer::Done),
            Call::Execute { code, timeout, tap } => self
                .execute(&code, timeout, tap)
                .map(|r| Answer::Executed(Box::new(r))),
            Call::Restart => self.restart().map(|()| Answer::Done),
            Call::Data { op, name, arg } => {
                let backend = self.current()?;
                let r = backend.data(op, &name, arg, self.config.timeout);
                self.after(&backend);
                r.map(|r| Answer::Executed(Box::new(r)))
            }
            Call::Stop => self.stop().map(|()| Answer::Done),
        }
    }

    fn start(&self) -> Result<(), Error> {
        if self.slot().is_some() {
            return Err(Error::AlreadyRunning);
        }
        let backend = match self.config.backend {
            Backend::Embedded => Running::Embedded(Embedded::start(&self.config)?),
            Backend::Subprocess => Running::Subprocess(Subprocess::start(&self.config)?),
        };
        *self.slot() = Some(Arc::new(backend));
        crate::diag::lifecycle!("{:?} session started", self.config.backend);
        Ok(())
    }

    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        tap: Option<EventSender>,
    ) -> Result<ExecutionResult, Error> {
        let backend = self.current()?;
        let run = self.interrupts.begin();
        let _tap = TapGuard::set(backend.capture(), tap);
        let result = backend.execute(code, timeout, &run.rx);
        drop(run);
        self.after(&backend);
        result
    }

    fn restart(&self) -> Result<(), Error> {
        let backend = self.current()?;
        let outcome = backend.restart(self.config.timeout);
        self.after(&backend);
        crate::diag::lifecycle!(
            "session restarted: {}",
            if outcome.is_ok() { "ok" } else { "failed" }
        );
        outcome
    }

    fn stop(&self) -> Result<(), Error> {
        let backend = self.slot().take().ok_or(Error::NotRunning)?;
        backend.stop();
        crate::diag::lifecycle!("session stopped");
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.slot().as_ref().is_some_and(|b| b.is_running())
    }
}

/// What the async fast path came to.
#[cfg(feature = "async")]
pub(crate) enum Quick {
    /// Answered while the caller looked.
    Done(Box<Result<ExecutionResult, Error>>),
    /// Still running: the closure waits for the rest (blocking), to be run off the
    /// executor's thread. It holds the session's turn until it returns.
    Later(Box<dyn FnOnce() -> Result<ExecutionResult, Error> + Send>),
    /// Not possible now (the session is busy, or not embedded): queue as usual.
    Queue,
}

/// A turn among the session's calls taken with `FifoLock::try_now`; ends when dropped.
#[cfg(feature = "async")]
struct OwnedTurn(Arc<Inner>);

#[cfg(feature = "async")]
impl Drop for OwnedTurn {
    fn drop(&mut self) {
        self.0.calls.release();
    }
}

#[cfg(feature = "async")]
impl Inner {
    /// The async fast path: when the session is idle, sends `code` to an embedded
    /// session's worker at once and looks for the answer for up to `spin`, so a quick
    /// call needs no other thread.
    pub(crate) fn quick_execute(
        self: &Arc<Self>,
        code: &str,
        timeout: Duration,
        spin: Duration,
    ) -> Quick {
        if !self.calls.try_now() {
            return Quick::Queue;
        }
        let turn = OwnedTurn(self.clone());
        let backend = match self.current() {
            Ok(backend) => backend,
            Err(e) => return Quick::Done(Box::new(Err(e))),
        };
        let Some(embedded) = backend.embedded() else {
            return Quick::Queue;
        };
        let run = self.interrupts.begin();
        let flight = match embedded.begin_execute(code, timeout) {
            Ok(flight) => flight,
            Err(e) => return Quick::Done(Box::new(Err(e))),
        };
        if let Some(r) = flight.as_ref().and_then(|f| f.quick(spin)) {
            drop(run);
            self.after(&backend);
            drop(turn);
            return Quick::Done(Box::new(Ok(r)));
        }
        let inner = self.clone();
        let code = code.to_owned();
        Quick::Later(Box::new(move || {
            let result = match (backend.embedded(), flight) {
                (Some(embedded), Some(flight)) => embedded.finish(flight, &run.rx),
                // The startup code is due first: the whole execute, as the sync path does.
                (Some(embedded), None) => embedded.execute(&code, timeout, &run.rx),
                (None, _) => Err(Error::NotRunning),
            };
            drop(run);
            inner.after(&backend);
            drop(turn);
            result
        }))
    }
}

impl Inner {
    /// A call that left the backend stopped (startup failure, say) stops the session.
    fn after(&self, backend: &Running) {
        if !backend.is_running() {
            self.slot().take();
        }
    }
}

pub(crate) fn executed(answer: Result<Answer, Error>) -> Result<ExecutionResult, Error> {
    match answer? {
        Answer::Executed(r) => Ok(*r),
        Answer::Done => Err(Error::Interpreter("a call answered out of kind".into())),
    }
}

pub(crate) fn done(answer: Result<Answer, Error>) -> Result<(), Error> {
    answer.map(|_| ())
}

// The variable and info calls, each as the call to make and the decoding of its
// answer, shared by the blocking methods and their `_async` twins.

pub(crate) fn data_call(op: &'static str, name: &str, arg: DataArg) -> Call {
    Call::Data {
        op,
        name: name.to_owned(),
        arg,
    }
}

pub(crate) fn set_call<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<Call, Error> {
    let (text, blobs) = crate::value::to_json_and_blobs(value).map_err(|e| {
        Error::Variable(format!(
            "the value for {name:?} cannot be converted to JSON: {e}"
        ))
    })?;
    Ok(data_call("set", name, DataArg { text, blobs }))
}

pub(crate) fn set_bytes_call(name: &str, data: Vec<u8>) -> Call {
    let arg = DataArg {
        text: String::new(),
        blobs: vec![data],
    };
    data_call("set_bytes", name, arg)
}

pub(crate) fn variables_call(modules: bool) -> Call {
    let arg = DataArg {
        text: if modules { "1" } else { "" }.to_string(),
        blobs: Vec::new(),
    };
    data_call("list", "", arg)
}

/// The result of a variable operation, or its failure as an [`Error::Variable`].
fn data_result(answer: Result<Answer, Error>) -> Result<ExecutionResult, Error> {
    let r = executed(answer)?;
    match (r.status, &r.error) {
        (Status::Ok, _) => Ok(r),
        (_, Some(e)) => Err(Error::Variable(e.message.clone())),
        (status, None) => Err(Error::Variable(format!(
            "the variable operation ended with status {status}"
        ))),
    }
}

fn data_text(answer: Result<Answer, Error>) -> Result<String, Error> {
    data_result(answer).map(|r| r.value.unwrap_or_default())
}

pub(crate) fn decode_done(answer: Result<Answer, Error>) -> Result<(), Error> {
    data_result(answer).map(|_| ())
}

pub(crate) fn decode_get<T: DeserializeOwned>(
    name: &str,
    answer: Result<Answer, Error>,
) -> Result<T, Error> {
    let json = data_text(answer)?;
    serde_json::from_str(&json).map_err(|e| {
        Error::Variable(format!(
            "variable {name:?} does not convert to {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

pub(crate) fn decode_variables(answer: Result<Answer, Error>) -> Result<Vec<Variable>, Error> {
    let json = data_text(answer)?;
    let listed: Vec<(String, String, String)> = serde_json::from_str(&json).map_err(|e| {
        Error::Interpreter(format!("the variable list is not what was expected: {e}"))
    })?;
    Ok(listed
        .into_iter()
        .map(|(name, type_name, repr)| Variable {
            name,
            type_name,
            repr,
        })
        .collect())
}

pub(crate) fn decode_bytes(answer: Result<Answer, Error>) -> Result<Vec<u8>, Error> {
    data_result(answer)?
        .blob
        .ok_or_else(|| Error::Interpreter("the bytes of the variable did not arrive".into()))
}

pub(crate) fn decode_info(
    config: &Config,
    answer: Result<Answer, Error>,
) -> Result<PythonInfo, Error> {
    let json = data_text(answer)?;
    let reported: ReportedInfo = serde_json::from_str(&json).map_err(|e| {
        Error::Interpreter(format!(
            "the session's Python report is not what was expected: {e}"
        ))
    })?;
    let libpython = match config.backend {
        Backend::Embedded => crate::embedded::loaded_libpython(),
        Backend::Subprocess => None,
    };
    Ok(reported.complete(config.backend, libpython))
}

/// A running session of either backend.
enum Running {
    Embedded(Embedded),
    Subprocess(Subprocess),
}

impl Running {
    fn execute(
        &self,
        code: &str,
        timeout: Duration,
        interrupts: &Receiver<()>,
    ) -> Result<ExecutionResult, Error> {
        match self {
            Running::Embedded(b) => b.execute(code, timeout, interrupts),
            Running::Subprocess(b) => b.execute(code, timeout, interrupts),
        }
    }

    fn data(
        &self,
        op: &'static str,
        name: &str,
        arg: DataArg,
        timeout: Duration,
    ) -> Result<ExecutionResult, Error> {
        match self {
            Running::Embedded(b) => b.data(op, name, arg, timeout),
            Running::Subprocess(b) => b.data(op, name, arg, timeout),
        }
    }

    fn restart(&self, timeout: Duration) -> Result<(), Error> {
        match self {
            Running::Embedded(b) => b.restart(timeout),
            Running::Subprocess(b) => b.restart(timeout),
        }
    }

    fn stop(&self) {
        match self {
            Running::Embedded(b) => b.stop(),
            Running::Subprocess(b) => b.stop(),
        }
    }

    fn capture(&self) -> &Arc<CaptureShared> {
        match self {
            Running::Embedded(b) => b.capture(),
            Running::Subprocess(b) => b.capture(),
        }
    }

    #[cfg(feature = "async")]
    fn embedded(&self) -> Option<&Embedded> {
        match self {
            Running::Embedded(b) => Some(b),
            Running::Subprocess(_) => None,
        }
    }

    fn is_running(&self) -> bool {
        match self {
            Running::Embedded(b) => b.is_running(),
            Running::Subprocess(b) => b.is_running(),
        }
    }
}
