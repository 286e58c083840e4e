//! Persistent Python sessions for Rust programs: code runs step by step, and variables,
//! imports and functions survive from one [`Session::execute`] to the next, like a
//! notebook kernel, but inside your process and in microseconds.
//!
//! ```
//! use std::time::Duration;
//! use pysession::{Session, Status};
//!
//! let session = Session::builder()
//!     .startup_code("import math")
//!     .timeout(Duration::from_secs(30))
//!     .start()?;
//!
//! session.execute("x = 10; y = 20")?;
//! let r = session.execute("z = x + y; print(z)")?;
//! assert!(r.success());
//! assert_eq!(r.stdout, "30\n");
//!
//! // The last line's value comes back like a notebook's Out[].
//! assert_eq!(session.execute("math.floor(math.sqrt(z))")?.value.as_deref(), Some("5"));
//!
//! // What the code does is data, not an Err: exceptions included.
//! let r = session.execute("1 / 0")?;
//! assert_eq!(r.status, Status::Error);
//! assert_eq!(r.error.unwrap().type_name, "ZeroDivisionError");
//!
//! // Timeouts stop the code and keep the state.
//! let r = session.execute_with_timeout("a = 5\nwhile True: pass", Duration::from_millis(200))?;
//! assert_eq!(r.status, Status::Timeout);
//! assert_eq!(session.execute("a")?.value.as_deref(), Some("5"));
//!
//! session.restart()?; // fresh state, startup code run again
//! assert_eq!(session.execute("'x' in dir()")?.value.as_deref(), Some("False"));
//! session.stop()?;
//! # Ok::<(), pysession::Error>(())
//! ```
//!
//! # Concepts
//!
//! - A [`Session`] is a namespace plus a thread that runs code in it. Its methods take
//!   `&self`; it is `Send + Sync`; calls from several threads run one after another in
//!   the order they were made. Dropping it stops it and joins its thread (waiting at
//!   most the grace period).
//! - [`Err`]`(`[`Error`]`)` is only for calls that cannot be carried out: the session is
//!   not running, cannot start, or its startup code raised. Everything the *code* does
//!   (output, value, exceptions, `sys.exit()`, running out of time) is data in the
//!   [`ExecutionResult`], because the reader is often a program or a language model.
//! - Code runs with the semantics of a `.py` file, not of a REPL: any number of
//!   statements, blocks with blank lines, one-line compound statements. If the last
//!   statement is an expression, its `repr()` is [`ExecutionResult::value`] (`None`
//!   values give no value). Top-level `await` works; each session has its own event
//!   loop for it, and `asyncio.run()` works in a cell too.
//! - Tracebacks show the user's own source lines (each execute is a "file" named
//!   `<cell N>`) and none of the runtime's frames.
//! - `startup_code` runs when the session starts and after every restart. If it raises,
//!   starting fails with [`Error::Startup`] and the traceback; a failure on
//!   [`Session::restart`] also leaves the session stopped. What it writes while it
//!   runs is discarded; threads it starts belong to the session like any other, and
//!   what they write later arrives as background output.
//!
//! # Output
//!
//! `sys.stdout` and `sys.stderr` are replaced, once per process, by streams that route
//! each write to the session owning the writing thread. Threads started by session code
//! (`threading.Thread`, thread pools) belong to that session (threads started with the
//! low-level `_thread.start_new_thread` do not: their output goes to the host's real
//! stdout/stderr). Output is stored outside
//! the interpreter, bounded where it is produced: past
//! [`output_limit`](SessionBuilder::output_limit) bytes per stream, the head and the tail
//! are kept with a marker between that says how many bytes were cut, and
//! [`stdout_truncated_bytes`](ExecutionResult::stdout_truncated_bytes) says so too. A
//! flood costs a fixed amount of memory however long it runs. Bytes written to
//! `sys.stdout.buffer` are decoded as UTF-8 with invalid sequences replaced by U+FFFD;
//! a lone surrogate in a string (`'\ud800'`, which UTF-8 cannot hold) becomes one
//! U+FFFD, in output, messages and displays alike, on both backends.
//!
//! An execute's `stdout` holds only what its own code wrote (and threads it started
//! while it runs). What the session's other threads write (between executes, or
//! threads started by earlier executes, or code that was given up on) is kept and
//! delivered once, in the next execute's
//! [`background_stdout`](ExecutionResult::background_stdout) /
//! [`background_stderr`](ExecutionResult::background_stderr): never lost, never
//! passed off as that execute's own output.
//!
//! Code that replaces `sys.stdout` (or closes it) does not break capture: the routing
//! streams are put back at the start of every execute, and closing them is ignored.
//!
//! # Timeouts
//!
//! Every execute has a timeout (the session's default, or
//! [`Session::execute_with_timeout`]). At the deadline the code is stopped: a
//! `BaseException` subclass is raised in the session's thread (so `except Exception`
//! does not catch it), and raised again every 5 ms while the code catches it. Code that
//! keeps catching it for more than about 20 ms is then stopped line by line: every new
//! line of the user's own code (cells, and functions defined in them) raises it, so
//! even `except BaseException: pass` loops end. Library code is not stopped line by
//! line, so its `finally` blocks and `with` exits complete. `time.sleep` returns at
//! once when the run is stopped, and a session waiting in its event loop (top-level
//! `await`), or in a loop of its own (`asyncio.run`), is woken up. However short the
//! timeout, code still running at its deadline is stopped: while stops are being
//! raised, and for a second after the last one, the embedded backend's switch interval
//! (`sys.getswitchinterval()`) is 100 µs instead of 5 ms, so its watchdog gets the
//! interpreter soon (on 3.12 and later, where the interval can only be set holding the
//! interpreter, the first stop after a quiet second may wait one interval). The result
//! has status [`Status::Timeout`], the output so far, a traceback of where the user's
//! code was, and the session's state is kept.
//!
//! Code that does not return to Python bytecode cannot be stopped that way: a long call
//! into C (`sum(range(10**10))`, a pathological regular expression, a blocking lock or
//! socket wait). When the code has not stopped within the
//! [grace period](SessionBuilder::grace_period) after the deadline, the session gives
//! up on it: its thread is abandoned, a fresh thread and namespace take its place (the
//! startup code runs again), and the result has status [`Status::Restarted`] with the
//! output so far and an explanation. **No call waits longer than its timeout plus the
//! grace period** (counted from its turn: calls on one session run one after another,
//! so a call also waits for the earlier ones). The abandoned code is stopped as soon as it returns to Python.
//! Startup code that cannot be stopped is not run again: [`Session::start`] or
//! [`Session::restart`] fails with [`Error::Busy`] and the session is stopped.
//!
//! On the embedded backend, abandoned C code may still hold the interpreter lock, and
//! then nothing else can run until it returns. A call that cannot start while such code
//! is still in the interpreter does not wait out its whole timeout: after the grace
//! period it fails with [`Error::Busy`], whose message says whose code holds the
//! interpreter (this session's own earlier run, or another session's, and since when).
//! Nothing ran, the session keeps its state (a restarted session still runs its
//! startup code before its next execute), and the same call works once that code
//! returns.
//!
//! # Sync and async
//!
//! Every blocking method has an `_async` twin on the same type (`execute_async`,
//! `execute_with_timeout_async`, `restart_async`, `stop_async`, `start_async`,
//! `get_async`, `set_async`, `variables_async`, `variables_including_modules_async`,
//! `set_bytes_async`, `get_bytes_async`, `python_info_async`), behind the `async`
//! cargo feature, on by default (it needs no runtime: the old name `tokio` still
//! works). The rule, once: an `_async` method does
//! exactly what its twin does and takes its place among the session's calls when first
//! polled. The call itself is made by a driver thread of the session's, so the future
//! never blocks the executor's thread. The futures work on Tokio or any other executor. Cancel safety: dropping the future
//! after its first poll does not stop what it started; the call goes ahead in its turn
//! and its result is discarded. To stop running code, use an [`InterruptHandle`].
//!
//! # Streaming
//!
//! [`Session::submit`] starts code and returns an [`Execution`] at once. Iterate over it
//! (or, with the `async` feature, use it as a `futures_core::Stream`) to get the output
//! as the code writes it ([`Event::Stdout`], [`Event::Stderr`]), then
//! [`Event::Finished`] with the same [`ExecutionResult`] `execute` returns, all output
//! included, so streaming costs nothing to callers that only want the result.
//! Submitted code takes its place among the session's calls at `submit`.
//!
//! Events wait for their reader in a bounded queue: the unread ones hold at most what
//! the result itself may (twice the output limit, plus the display limit), and one
//! event more. A reader
//! that falls behind further loses events, not output: what was not sent is counted,
//! and an [`Event::Skipped`] says how many bytes and display items before the next
//! event; the result has all of it, within its limits.
//!
//! ```
//! use pysession::{Event, Session};
//!
//! let session = Session::new()?;
//! let mut seen = String::new();
//! for event in session.submit("print('first')\nprint('second')")? {
//!     match event {
//!         Event::Stdout(text) => seen.push_str(&text),
//!         Event::Finished(result) => assert_eq!(result?.stdout, "first\nsecond\n"),
//!         _ => {}
//!     }
//! }
//! assert_eq!(seen, "first\nsecond\n");
//! # Ok::<(), pysession::Error>(())
//! ```
//!
//! # Variables
//!
//! [`Session::set`] and [`Session::get`] pass data in and out without writing Python
//! source, for any serde type, converted through JSON: maps become `dict`, sequences
//! `list`, strings `str`, numbers `int`/`float`, booleans `bool`, unit and `None`
//! `None`; byte strings (`serde_bytes`) become `bytes`, carried beside the JSON
//! unencoded; on the way out `bytes` become a `Vec<u8>` (or a `serde_bytes::ByteBuf`),
//! tuples and sets sequences. A
//! missing name, or a value that does not convert, is an [`Error::Variable`] that
//! says which. [`Session::variables`] lists the user's names (not the runtime's, not
//! imported modules unless asked) with their types and short reprs.
//!
//! JSON is the wrong road for large binary data: [`Session::set_bytes`] makes a Python
//! `bytes` and [`Session::get_bytes`] reads one (or a `bytearray`/`memoryview`) with a
//! single memory copy in the embedded backend (100 MB in about 50 ms, the time of a
//! `Vec::clone` on the same machine) and as raw bytes through a pipe in the subprocess
//! backend (about 4 times slower; at most 1 GiB per byte string or JSON text there, a
//! clear [`Error::Variable`] past it). The README has the measured figures.
//!
//! ```
//! use pysession::Session;
//!
//! let session = Session::new()?;
//! session.set("prices", &vec![3.5, 4.25])?;
//! session.execute("total = sum(prices)")?;
//! assert_eq!(session.get::<f64>("total")?, 7.75);
//! assert_eq!(session.variables()?.len(), 2);
//! # Ok::<(), pysession::Error>(())
//! ```
//!
//! # Rich output: display, plots, images, tables
//!
//! Every session has `display(obj)` (a builtin, as in notebooks). Each call adds one
//! [`DisplayData`] to [`ExecutionResult::display`]: a MIME bundle of the object's
//! representations, found the way notebooks find them (`_repr_mimebundle_`, then
//! `_repr_html_`, `_repr_markdown_`, `_repr_latex_`, `_repr_svg_`, `_repr_png_`,
//! `_repr_jpeg_`, `_repr_gif_`, `_repr_pdf_`, `_repr_json_`, `_repr_javascript_`), with
//! `text/plain` (the repr) among them. Binary types (images but SVG, audio, video, PDF,
//! and any type given `bytes` that is not a text type) arrive as bytes
//! ([`MimeData::Binary`]), JSON types as JSON, the rest as text. `display(bundle,
//! raw=True)` shows a dict of MIME type to data as it is (invalid data there is an
//! error in the code); `include=`/`exclude=` pick types, `text/plain` included. A representation method that raises is left out and named on stderr.
//!
//! The last line's value also gets its bundle (marked [`DisplayData::is_value`]) when it
//! has more than its repr: a pandas DataFrame gives `text/html` and `text/plain`, a PIL
//! image `image/png`. Plain values (numbers, strings, lists, numpy arrays) get none.
//!
//! matplotlib needs no display: unless the user chose a backend (`MPLBACKEND`,
//! `matplotlibrc`, `matplotlib.use`, even `"agg"`), sessions draw with Agg through their
//! own backend; with a backend the user chose, figures are left to the user.
//! The figures an execute leaves open come back as `image/png` (at the figure's own
//! size and dpi) at the end of that execute, in the order they were made, whether or
//! not the code called `plt.show()`, and are then closed, so memory does not grow.
//! `plt.show()` shows them at once and closes them, as notebooks do; a figure shown by
//! `display(fig)` or as the last line's value is not shown again at the end unless its
//! picture changed (saving it to a file is no change). The figures of an
//! execute that was stopped (timeout, interrupt) are closed without being drawn, as
//! are those of a session's old state at a restart. In the embedded
//! backend each session gets the figures its own threads made, though pyplot's
//! "current figure" is shared by the process: sessions that plot at the same time
//! should hold their figures (`fig, ax = plt.subplots()`) rather than lean on
//! `plt.gcf()`. The backend is process-wide too: a session that picks another one
//! (`matplotlib.use(...)`) picks it for every session in the process, whose figures
//! then stay open, left to the user.
//!
//! Order: `display()` calls as they happen, then the value's bundle, then the figures
//! left open. [`Event::Display`] streams each item as it is made. An execution keeps
//! at most [`display_limit`](SessionBuilder::display_limit) bytes of display data (64
//! MiB by default); further items are counted in
//! [`ExecutionResult::display_dropped`]. Displays made by the session's other threads
//! after their execute ended arrive in the next result's
//! [`background_display`](ExecutionResult::background_display).
//!
//! ```
//! use pysession::Session;
//!
//! let session = Session::new()?;
//! let r = session.execute(
//!     "class Money:\n    def _repr_html_(self):\n        return '<b>$5</b>'\ndisplay(Money())",
//! )?;
//! assert_eq!(r.display[0].html(), Some("<b>$5</b>"));
//! # Ok::<(), pysession::Error>(())
//! ```
//!
//! `cargo run --example plot` writes the PNGs of a session's figures to files.
//!
//! # Interrupts
//!
//! [`Session::interrupt_handle`] gives an [`InterruptHandle`] (`Send + Sync + Clone`)
//! that any thread can use to stop the code a session is running, as a timeout would
//! but at once: status [`Status::Interrupted`], state kept, and the same escalation when
//! the code does not stop (grace period, then [`Status::Restarted`]). An interrupt while
//! nothing runs does nothing and never reaches a later execute; interrupts racing with
//! restarts and stops are safe.
//!
//! ```
//! use std::time::Duration;
//! use pysession::{Session, Status};
//!
//! let session = Session::new()?;
//! let handle = session.interrupt_handle();
//! std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_millis(100));
//!     handle.interrupt();
//! });
//! let r = session.execute("import time\ntime.sleep(60)")?;
//! assert_eq!(r.status, Status::Interrupted);
//! # Ok::<(), pysession::Error>(())
//! ```
//!
//! # The embedded backend and its limits
//!
//! All embedded sessions share the process's one interpreter (initialised on first use
//! and never finalised) and its global interpreter lock. A session's thread holds the
//! lock only while it runs code, so idle sessions cost nothing but memory (about 32 KiB
//! each) and never slow the others. What cannot be separated in-process:
//!
//! - **The interpreter lock.** Python code in several sessions takes turns on the lock
//!   (every 5 ms); CPU-bound sessions do not run in parallel. C code that holds the
//!   lock for a long time (see above) stalls *every* session until it returns: calls
//!   in other sessions then end with status `Timeout` and a message saying that the
//!   code never started, or, once the stuck code has been given up on, with
//!   [`Error::Busy`] after the grace period, naming it; the stuck session comes back
//!   (fresh) as soon as the lock is free. No call waits past its own timeout plus
//!   grace period.
//! - **File descriptors.** Writes straight to descriptors 1 and 2 (C `printf`,
//!   `os.write(1, ...)`, child processes) bypass `sys.stdout` and go to the host's
//!   real stdout/stderr; they cannot be told apart per session in-process (the
//!   subprocess backend captures them).
//! - **The process.** `sys.exit()`, `exit()`, `quit()` and `KeyboardInterrupt` are
//!   error results; but `os._exit()`, a segmentation fault in C code, or `os.kill` of
//!   the process take the host down with it (use the subprocess backend for such code).
//!   What would do so as a matter of course is refused in a session's threads with a
//!   `RuntimeError` that names the subprocess backend: `signal.alarm` and
//!   `signal.setitimer` (their signals end the process), and `sys.setswitchinterval`
//!   (one session would decide how the interpreter is shared by all). A child made by
//!   `os.fork()` that comes back from the cell ends there; it never lingers as a copy
//!   of the host. The runtime's hooks (`time.sleep`, `threading.Thread.start`, the
//!   record of running event loops) are put back whenever code imports those modules
//!   again or reloads them.
//! - **Process-wide state.** `sys.modules`, `sys.path`, environment variables,
//!   `sys.stdout` replacements and monkey-patches are shared by all sessions; `restart`
//!   gives a fresh namespace but imported modules stay imported. Pickling classes
//!   defined in a session fails (they are not in the real `__main__`).
//! - **Working directory.** The process has one. Each session has its own (default: the
//!   process's working directory when it started); runs of sessions that want different
//!   directories take turns, and runs that want the same one go together. `os.chdir`
//!   in a session's code moves that session for its next runs (sessions running in
//!   the same directory at that moment see the move until their run ends); `restart`
//!   moves it back. When no session runs code, the process is back in the directory
//!   the host had it in.
//! - **Standard input.** There is none: `input()` raises `EOFError` at once and
//!   `sys.stdin` reads as empty. The host's stdin is never read.
//! - **Virtual environments.** [`python_executable`](SessionBuilder::python_executable)
//!   adds a virtual environment's `site-packages` to the process's import path; it must
//!   be made from the same Python version as the embedded interpreter, or starting
//!   fails with a clear [`Error::Config`]. The session's code sees the environment's
//!   `python` as `sys.executable` and the environment as `sys.prefix` (see
//!   [Which Python](#which-python)). To use another interpreter, build with
//!   `PYO3_PYTHON=/path/to/python3.x`.
//!
//! # The subprocess backend
//!
//! [`Backend::Subprocess`] runs each session in a child `python` process of its own (the
//! one named by [`python_executable`](SessionBuilder::python_executable), default the
//! interpreter the crate was built for, see [Which Python](#which-python)), with the
//! same API and the same results. The child runs the
//! same Python-side runtime, shipped inside the crate, so nothing has to be installed
//! in the target interpreter. Requests and replies travel on dedicated pipes
//! (descriptors 3 and 4, length-prefixed JSON); a reply that cannot be decoded ends the
//! child and the call returns [`Status::Restarted`] saying so, never a hang.
//!
//! What it adds, at the price of a process per session and a slower round trip (tens
//! of microseconds instead of about ten):
//!
//! - **A fork server** (on by default; [`fork_server`](SessionBuilder::fork_server)).
//!   For each configuration (interpreter, working directory, environment, memory
//!   limit, startup code) one process is spawned on first use; it loads the runtime,
//!   runs the startup code once, and then forks the process of every session of that
//!   configuration in this process, and of every restart, from itself: a start or a
//!   restart takes about a millisecond instead of a fresh interpreter's thirty to fifty
//!   (hundreds with numpy or pandas in the startup code), and idle sessions share the
//!   server's memory page by page until they write to it (under 2 MiB of their own
//!   each). One child is kept forked ahead of need per configuration, so the next start
//!   or restart is a swap, and another is forked in the background. A forked process is a
//!   session's like a spawned one: its own pid, process group and descriptors, the same
//!   protocol, capture, timeouts, kill, CPU time limit (counted from the fork) and
//!   environment. [`PythonInfo::process`] says how a session's process was made. What
//!   to know:
//!   - *The startup code runs once per server*, not once per session or restart: each
//!     fork starts from the state it left. Startup code whose effects must happen per
//!     session (a log line, a file read that changes, a network connection, which
//!     every fork would share) belongs in a first execute, or in sessions with the
//!     fork server off. Files and sockets the startup code leaves open are shared by
//!     all forks, as after any `fork()`.
//!   - *What must not be shared is re-seeded* in each fork: `random`'s state and
//!     numpy's global generator; `secrets`, `uuid4` and `tempfile` read the system's
//!     randomness or notice the new pid. The hash seed (`PYTHONHASHSEED`) is the
//!     server's, as for every `multiprocessing` fork: it cannot change once the
//!     interpreter runs.
//!   - *Only a single-threaded process may fork.* A server whose startup code left
//!     Python threads running, or whose native threads are still there when a fork
//!     returns, does not fork: its configuration's sessions are spawned as with the
//!     fork server off, a warning says why once, and `PythonInfo::process` is
//!     `Spawned` with the reason. Native pools that stop their threads before a fork,
//!     as OpenBLAS (numpy's) does, are fine.
//!   - *A server lives while a session of its configuration does* (a stopped session
//!     lets go of it). One killed or crashed, or stopped (no answer within 3 s), is
//!     noticed at the next fork and replaced; the sessions it forked live on. Sessions
//!     run as the host's user, so a session's code can signal its server as it can
//!     any of the host's processes: that harms no other session. Startup code that
//!     fails or never ends fails the start with the same errors as a spawned
//!     process's.
//!   - A server runs without the CPU time limit (each fork gets its own), and its
//!     startup code's objects are frozen out of the garbage collector (`gc.freeze()`),
//!     so that collections in the forks do not copy their pages.
//!
//! - **Output at the descriptor level.** Descriptors 1 and 2 of the child are captured
//!   whole: `os.write(1, ...)`, C `printf`, child processes. Markers with a random token
//!   around each request put each byte in the result of the execute that wrote it, in
//!   order with Python-level prints; bytes written between executes are background
//!   output. The markers go to copies of the descriptors taken at start, so a file
//!   that gets descriptor 1 after `os.close(1)` never receives them, and the token is
//!   kept out of `__main__`; code that digs it out of the runtime's own frames can
//!   forge a marker, which misfiles its own session's output and nothing else. Unlike the embedded backend, a write cannot be traced to the thread that
//!   made it: output that a thread started by an earlier execute writes *during* a
//!   later one counts as that later execute's own.
//! - **Timeouts that always work.** At the deadline the child gets SIGINT (again every
//!   50 ms, with SIGINT unblocked and its handler put back before each request; from
//!   the third on, every new line of the user's code raises the stop too;
//!   each names its request, so one that arrives before its request began stops it as
//!   it begins, and a late one never lands in the next request),
//!   so `time.sleep`, blocking reads and busy loops stop with state kept. After the
//!   grace period the whole process group is killed (SIGKILL): status
//!   [`Status::Restarted`], and the next execute runs in a fresh process. The caller
//!   never waits past deadline plus grace, and no process is left behind.
//! - **Crashes.** `os._exit()`, a segmentation fault, the child killed from outside:
//!   the execute returns [`Status::Restarted`] with how the process ended (`exit status
//!   1`, `killed by signal 11`), and the next execute works in a fresh process. Every
//!   child is reaped.
//! - **A warm spare**, where the process is spawned (fork server off, or not safe).
//!   After start and after each restart a spare child is prepared in the background,
//!   startup code already run, so [`Session::restart`] (and the recovery after a crash)
//!   is a swap. Its startup code runs before the restart is asked for: startup code
//!   with outside effects sees them happen early.
//! - **Isolation.** A real working directory per session, environment variables
//!   ([`env`](SessionBuilder::env), [`env_clear`](SessionBuilder::env_clear)) and
//!   resource limits ([`memory_limit`](SessionBuilder::memory_limit),
//!   [`cpu_time_limit`](SessionBuilder::cpu_time_limit)); any Python version. These
//!   options are refused by the embedded backend with [`Error::Config`].
//! - [`stop`](Session::stop) closes the child's request pipe, waits up to the grace
//!   period for it to exit, then kills its process group, also when the code ignores
//!   SIGINT and SIGTERM.
//! - **No process left behind.** At stop, restart and every kill, the child's
//!   process group is killed, and so is every descendant found by its parent ids in
//!   `/proc` while the child still holds it: processes that left the group or the
//!   session (`os.setsid()`, `start_new_session=True`) included. *Limit*: a process
//!   whose own parent had already ended (a daemon's double fork) belongs to init, not
//!   to the session, and is not found; a container or a cgroup per session bounds
//!   those.
//!
//! # Which Python
//!
//! The crate is built for one Python: the one PyO3 builds for (`PYO3_PYTHON`, or the
//! first `python3` on `PATH` at build time). Its build script records that
//! interpreter's own `sys.executable` (the real program, not a pyenv shim), its version
//! and its libpython ([`BuildPython::current`]), and every session runs that Python:
//!
//! - **Embedded sessions** run in the libpython the process loaded. The interpreter is
//!   told, before it starts, that it is the built-for `python`, so `sys.executable`
//!   and `sys._base_executable` name it (an embedded interpreter otherwise takes the
//!   first `python3` on `PATH` for itself): `subprocess.run([sys.executable, "-m",
//!   "pip", ...])`, `multiprocessing` with the spawn method and `venv` use the same
//!   Python with the same packages. A session given a virtual environment
//!   ([`python_executable`](SessionBuilder::python_executable)) sees the
//!   environment's `python` as `sys.executable` and the environment as `sys.prefix`,
//!   as its own `python` would, and its packages come before the system's; other
//!   sessions keep their `sys.executable` (threads a session starts see its values). At the first start the loaded libpython is compared with the
//!   built-for one: when both are on the machine and differ (the dynamic loader found
//!   another Python of the same minor version first), starting fails with an
//!   [`Error::Config`] that names both and the fix. A binary deployed where the
//!   built-for library does not exist runs with the one it finds; `sys.executable`
//!   is then that installation's `bin/pythonX.Y`. Set
//!   `PYSESSION_ALLOW_OTHER_LIBPYTHON=1` to run in another library on purpose.
//! - **Subprocess sessions** run the built-for interpreter unless
//!   [`python_executable`](SessionBuilder::python_executable) names another (when the
//!   built-for one is not on the machine, the first `python3` on `PATH`).
//!
//! [`Session::python_info`] reads what a session runs from the session itself:
//! version, `sys.executable`, prefixes, site-packages, process and (embedded) the
//! loaded libpython, beside [`BuildPython`].
//!
//! **A binary of your own** links libpython dynamically, and the dynamic loader must
//! find the same library at run time. A Python in a standard place (Debian's
//! `/usr/bin/python3`) is found without help; any other (pyenv, a custom build,
//! `PYO3_PYTHON` pointing at 3.12 when the system has 3.11) needs a run path.
//! pysession hands the directory of its libpython to the build scripts of the crates
//! that depend on it, as `DEP_PYSESSION_LIBPYTHON_DIR`; a build script of three lines
//! in your crate (no build dependency) gives your binaries that run path:
//!
//! ```ignore
//! // build.rs
//! fn main() {
//!     if let Ok(dir) = std::env::var("DEP_PYSESSION_LIBPYTHON_DIR") {
//!         println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
//!     }
//! }
//! ```
//!
//! Without it, a binary built for pyenv's 3.12 does not start
//! (`libpython3.12.so.1.0: cannot open shared object file`), and one built for pyenv's
//! 3.11.7 on a machine whose system Python is 3.11.2 would load the system library;
//! pysession refuses that at start with the error above rather than run a Python you
//! did not build for. CI builds such a crate against every supported Python and runs
//! it from another directory with no environment variables (`.ci/downstream`).
//!
//! # Cargo features
//!
//! - `async` (default): the `_async` twins and [`Execution`] as a
//!   `futures_core::Stream`. `tokio` is its old name.
//! - `subinterpreter` (experimental): `Backend::Subinterpreter`, sessions in
//!   interpreters of their own in this process, each with its own interpreter lock on
//!   Python 3.12 and later (refused before 3.12). No extension module without
//!   sub-interpreter support (numpy, today) can be imported in them; see the README's
//!   "Backends" for what differs from the embedded backend, each difference tested.
//! - `tracing`: diagnostics as [`tracing`](https://docs.rs/tracing) events (target
//!   `pysession`): sessions started, restarted and stopped (debug); code given up on,
//!   calls refused while the interpreter is held, subprocesses that died (warn).
//!   Without it the crate prints nothing, but for a watchdog thread that cannot start.
//!
//! # Platforms
//!
//! Linux with glibc (tested on x86-64; other 64-bit Linux targets are expected to work
//! but untested); CPython 3.11, 3.12 and 3.13 with a shared libpython. Other platforms fail to compile with a message that says so. The
//! minimum Rust version is the `rust-version` in `Cargo.toml`; CI checks it with
//! clippy's `incompatible_msrv` lint (std items newer than it) and by comparing every
//! dependency's declared `rust-version` with it (`.ci/msrv`), since this machine has
//! one toolchain.
//!
//! **PyO3.** [`pyo3`] is re-exported: a host that uses PyO3 itself must use this
//! version (two PyO3 versions cannot link one libpython into one program). A host
//! that initialises Python itself before the first session gets its own
//! `sys.executable`, as it set it up.
//!
//! # Design
//!
//! Each session is a worker thread (embedded) or a child process (subprocess) that owns
//! its namespace and takes requests one at a time; the [`Session`] handle sends a
//! request and waits for the reply on its own clock, so a stuck interpreter can never
//! hold a caller past its deadline. The crate is built in floors, each importing only
//! the floors below it (CI checks it with `.ci/layers`):
//!
//! - **The faces**: [`Session`] and its builder, the `_async` twins, and [`Execution`].
//!   Each method builds a call, hands it to the session's engine and decodes the
//!   answer; a blocking method and its twin share both halves. The twins go through a
//!   driver thread per session, so no future ever blocks its executor.
//! - **The engine**, one per session: its settings, the queue that makes calls from
//!   several threads run in the order they were made, and the running backend, held as
//!   a trait object of the one internal contract.
//! - **The contract** every backend implements: execute, the variable operations,
//!   restart, stop, where the output goes, and the async fast path as an operation a
//!   backend may offer (the embedded one sends the code at once and looks for a quick
//!   answer; the subprocess backend queues as usual). Adding a backend is implementing
//!   it; no backend knows of the faces or the engine.
//! - **The backends.** Embedded: a worker thread per session, a watchdog thread that
//!   raises the stop exception into runs that are over time, output kept in Rust-side
//!   buffers that can be read whether or not the interpreter is free, and the one FFI
//!   module. Subprocess: a child `python` spoken to in frames over two dedicated pipes,
//!   its stdout and stderr read by a thread of its own, forked by its configuration's
//!   fork server (a registry of them, one Unix socket each, descriptors passed over it)
//!   or spawned with a warm spare for restarts.
//! - **The protocol and its decoding**: typed requests (a cell, a variable operation)
//!   and the runtime's typed reply, shared by both backends; one decoding turns a reply
//!   into an [`ExecutionResult`] or a variable's answer, so the rules (values cut to the
//!   output limit, data never cut, how a stop is worded) are written once.
//! - **The ground**: results and their JSON, errors, settings, bounded output buffers,
//!   events, interrupts, values on their way in.
//!
//! The Python side of the runtime is real `.py` modules with one concern each
//! (`python/pysession_runtime/`: ownership, streams, hooks, tracebacks, variables,
//! display, figures, cells, the session, the subprocess worker and its fork server), compiled into the
//! crate and loaded by both backends in one fixed order from one list
//! (`src/runtime.rs`), with the constants they share (file names, the frame limit,
//! which MIME types are text) handed in from Rust at start-up.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
compile_error!(
    "pysession supports Linux with glibc only: its embedded backend drives CPython's \
     threads and its subprocess backend uses Linux process calls (waitid, rlimits, \
     process groups)"
);

/// The PyO3 this crate is built with. A host that also uses PyO3 must use this version.
pub use pyo3;

#[cfg(feature = "async")]
mod asynchronous;
mod backend;
mod capture;
mod config;
mod diag;
#[cfg(feature = "async")]
mod driver;
mod embedded;
mod engine;
mod error;
mod event;
mod fifo;
mod interrupt;
mod outcome;
mod protocol;
mod python;
mod result;
mod runtime;
mod session;
mod stream;
#[cfg(feature = "subinterpreter")]
mod subinterp;
mod subprocess;
mod value;
mod wait;

pub use config::Backend;
pub use error::{Error, Result};
pub use event::Event;
pub use interrupt::InterruptHandle;
pub use python::{BuildPython, ProcessOrigin, PythonInfo};
pub use result::{DisplayData, ExecutionResult, MimeData, PythonError, Status, Variable};
pub use session::{Session, SessionBuilder};
pub use stream::Execution;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Session>();
        assert_send_sync::<crate::ExecutionResult>();
        assert_send_sync::<crate::Error>();
    }
}
