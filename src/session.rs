//! `Session` and `SessionBuilder`: the public face of a session, whatever its backend.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Backend, Config};
use crate::engine::{
    decode_bytes, decode_done, decode_get, decode_info, decode_variables, done, executed,
    get_bytes_call, get_call, set_bytes_call, set_call, variables_call, Call, Engine,
};
use crate::error::Error;
use crate::interrupt::InterruptHandle;
use crate::python::PythonInfo;
use crate::result::{ExecutionResult, Variable};
use crate::stream::Execution;

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
    /// [`Error::Startup`]. What it writes while it runs is discarded; threads it starts
    /// are the session's, and what they write later is background output
    /// ([`ExecutionResult::background_stdout`]). Default: none.
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
    /// that a restart is a swap, when the session's processes are not forked (see
    /// [`fork_server`](Self::fork_server)). It costs a second process per session.
    /// Default: on.
    pub fn warm_spare(mut self, on: bool) -> Self {
        self.config.warm_spare = on;
        self
    }

    /// Subprocess sessions: whether the session's process, and each restart's, is a
    /// fork of its configuration's fork server: one process per interpreter, working
    /// directory, environment, memory limit and startup code, started on first use and
    /// shared by the sessions of that configuration in this process, that has run the
    /// runtime and the startup code once. A start or restart then takes a millisecond or
    /// two instead of a new interpreter's tens, and idle sessions share the server's
    /// memory. Off: each process is spawned (`python -c ...`) and runs the startup code
    /// itself. Where forking is not safe (the startup code left threads running) the
    /// sessions are spawned all the same; see the crate docs. Default: on.
    pub fn fork_server(mut self, on: bool) -> Self {
        self.config.fork_server = on;
        self
    }

    /// Starts the session: the interpreter (the first time in the process), the
    /// session's thread, then its startup code.
    pub fn start(self) -> Result<Session, Error> {
        let session = Session {
            engine: Arc::new(Engine::new(self.config)),
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
/// run one after another, in the order they were made. Dropping a session stops it:
/// code still running (submitted, say) is interrupted, calls still queued do not run,
/// and the drop waits at most the grace period for the code to stop.
pub struct Session {
    pub(crate) engine: Arc<Engine>,
    /// Runs the `_async` twins' calls.
    #[cfg(feature = "async")]
    pub(crate) driver: crate::driver::Driver,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("running", &self.is_running())
            .field("backend", &self.engine.config.backend)
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
        done(self.engine.call(Call::Start))
    }

    /// Runs `code` with the session's default timeout.
    ///
    /// `Err` only when the call itself cannot be made (the session is not running);
    /// whatever the code does, including raising, is in the [`ExecutionResult`].
    pub fn execute(&self, code: &str) -> Result<ExecutionResult, Error> {
        self.execute_with_timeout(code, self.engine.config.timeout)
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
        executed(self.engine.call(Call::Execute {
            code: code.to_owned(),
            timeout,
            tap: None,
        }))
    }

    /// Starts running `code` (with the session's default timeout) and returns at once.
    /// The [`Execution`] yields the output while the code runs, then the result; see
    /// [`Event`](crate::Event). Calls made meanwhile wait their turn, as with [`execute`](Self::execute).
    pub fn submit(&self, code: &str) -> Result<Execution, Error> {
        self.submit_with_timeout(code, self.engine.config.timeout)
    }

    /// [`submit`](Self::submit) with a timeout of its own.
    pub fn submit_with_timeout(&self, code: &str, timeout: Duration) -> Result<Execution, Error> {
        if !self.is_running() {
            return Err(Error::NotRunning);
        }
        Execution::start(
            self.engine.clone(),
            code.to_owned(),
            timeout,
            self.interrupt_handle(),
        )
    }

    /// Fresh state: a new namespace, the startup code run again. If the startup code
    /// raises or cannot finish, the session is stopped and the error returned. If the
    /// session's working directory is gone, the restart is refused with
    /// [`Error::NotFound`] and the session goes on as it was, state and all.
    pub fn restart(&self) -> Result<(), Error> {
        done(self.engine.call(Call::Restart))
    }

    /// Stops the session and its thread. Fails with [`Error::NotRunning`] if it is not
    /// running. Waits for a call in progress on another thread to finish, then at most
    /// the grace period for the thread to end.
    pub fn stop(&self) -> Result<(), Error> {
        done(self.engine.call(Call::Stop))
    }

    /// The value of the session's variable `name`, converted through JSON: Python
    /// `dict`/`list`/`str`/`int`/`float`/`bool`/`None` map to the JSON-like Rust types
    /// serde knows (`bytes` to a `Vec<u8>`; tuples and sets to sequences).
    ///
    /// Fails with [`Error::Variable`] when there is no such variable or its value does
    /// not convert (to JSON, or to `T`).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        decode_get(name, self.engine.call(get_call(name)))
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
        decode_done(self.engine.call(set_call(name, value)?))
    }

    /// The user's variables: every name in the session's namespace but the runtime's
    /// own (`__name__`, ...) and imported modules, with its type and a short repr.
    pub fn variables(&self) -> Result<Vec<Variable>, Error> {
        decode_variables(self.engine.call(variables_call(false)))
    }

    /// Like [`variables`](Self::variables), imported modules included.
    pub fn variables_including_modules(&self) -> Result<Vec<Variable>, Error> {
        decode_variables(self.engine.call(variables_call(true)))
    }

    /// Sets the session's variable `name` to a Python `bytes` holding `data`, as fast
    /// as memory copies: the embedded backend copies it once into the interpreter (pass
    /// a `Vec<u8>` to save the copy into it); the subprocess backend sends it down a
    /// pipe as it is, with no encoding. See the README for measured speeds.
    pub fn set_bytes(&self, name: &str, data: impl Into<Vec<u8>>) -> Result<(), Error> {
        decode_done(self.engine.call(set_bytes_call(name, data.into())))
    }

    /// The session's variable `name`, a `bytes`, `bytearray` or `memoryview`, as bytes
    /// (as fast as [`set_bytes`](Self::set_bytes)). Fails with [`Error::Variable`] when
    /// there is no such variable or it is another type.
    pub fn get_bytes(&self, name: &str) -> Result<Vec<u8>, Error> {
        decode_bytes(self.engine.call(get_bytes_call(name)))
    }

    /// The Python the session runs, as the session itself reports it: version,
    /// `sys.executable`, prefixes, where its packages are, its process, and (embedded)
    /// the libpython this process loaded, beside what the crate was built for.
    pub fn python_info(&self) -> Result<PythonInfo, Error> {
        decode_info(self.engine.config.backend, self.engine.call(Call::Info))
    }

    /// A handle that interrupts whatever this session is running, from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle::new(self.engine.interrupts.clone())
    }

    /// True between a successful start and a stop (or a failure that stopped the
    /// session, such as startup code that raised).
    pub fn is_running(&self) -> bool {
        self.engine.is_running()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Executions still running hold the engine; the session ends now all the
        // same: their code is interrupted, within the grace period.
        self.engine.close();
    }
}
