"""The Python side of pysession: runs inside the interpreter that hosts the sessions.

It is loaded once per interpreter by the Rust crate (embedded with ``include_str!``) and
does four jobs:

* routes ``sys.stdout`` / ``sys.stderr`` writes to the session that owns the writing
  thread (threads started by session code belong to that session);
* runs a cell with file semantics, returning the repr of a trailing expression the way a
  notebook's ``Out[]`` does, and supporting top-level ``await``;
* formats tracebacks that show the user's source lines and none of this module's frames;
* makes the waits it controls (``time.sleep``, a session's event loop) interruptible,
  keeps ``input()`` from ever blocking on the host's standard input, and remembers a
  session's ``os.chdir`` for its next runs.

Objects handed in by the host:

``capture``
    has ``write(stream, text)`` and ``write_bytes(stream, data)`` (stream 1 or 2); it
    bounds and stores output outside the interpreter.
``control``
    has ``sleep(seconds)`` (returns early, raising the stop exception, when the run is
    interrupted), ``stopping()`` (true while the current run is being stopped),
    ``arm()`` (trace this thread so that every new line raises the stop),
    ``settle()`` (the stop has arrived: raise no more) and ``moved_to(path)`` (the
    session changed its working directory).

Nothing here keeps per-session state in module globals except the thread-to-session
maps, which the host updates through ``bind_thread`` / ``unbind_thread``.
"""

import ast
import builtins
import collections
import io
import json
import linecache
import os
import sys
import threading
import time
import traceback
import types

RUNTIME_FILE = "<pysession-runtime>"
_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = 0x80
_get_ident = threading.get_ident

# Thread ident -> (SessionState, run): every thread whose output belongs to a session,
# with the run that started it (None for the session's worker thread itself).
_owners = {}
# Thread ident -> control object, for the session worker threads only.
_controls = {}
_cell_counter = iter(range(1, 1 << 62))
# Characters of cell source a session keeps for tracebacks.
_SOURCE_BUDGET = 16 << 20


class StopExecution(BaseException):
    """Raised inside a session's worker thread to stop the code it runs.

    It derives from ``BaseException`` so that ``except Exception`` does not catch it.
    Code that catches it anyway is stopped again: while a stop is pending, the host
    traces the thread and raises it at every new line of user code.
    """

    def __init__(self, *args):
        super().__init__(*args)
        # Where the interpreter creates the exception in the stopped thread (3.12+),
        # start the tracing from here; elsewhere the host starts it from outside.
        control = _controls.get(_get_ident())
        if control is not None and control.stopping():
            control.arm()


# ---------------------------------------------------------------------------
# Output routing


class _SessionStream(io.TextIOBase):
    """A process-wide ``sys.stdout``/``sys.stderr`` that routes by thread."""

    def __init__(self, stream, fallback, name):
        super().__init__()
        self._stream = stream
        self._fallback = fallback
        self._name = name
        self.buffer = _SessionBuffer(self)

    @property
    def name(self):
        return self._name

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "replace"

    @property
    def line_buffering(self):
        return True

    def write(self, s):
        owner = _owners.get(_get_ident())
        if owner is None:
            if self._fallback is None:
                return len(s)
            return self._fallback.write(s)
        if type(s) is not str:
            if not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not {type(s).__name__}")
            s = str(s)
        owner[0].capture.write(self._stream, s, owner[1])
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if _owners.get(_get_ident()) is None and self._fallback is not None:
            self._fallback.flush()

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation(
            "fileno: session output is captured in-process and has no file descriptor"
        )

    def close(self):
        # Shared by every session: closing it would silence all of them.
        pass

    @property
    def closed(self):
        return False


class _SessionBuffer(io.RawIOBase):
    """``sys.stdout.buffer``: bytes are decoded as UTF-8 with replacement."""

    def __init__(self, text):
        super().__init__()
        self._text = text

    def write(self, b):
        owner = _owners.get(_get_ident())
        data = bytes(b)
        if owner is None:
            fallback = self._text._fallback
            if fallback is not None and hasattr(fallback, "buffer"):
                return fallback.buffer.write(data)
            return len(data)
        owner[0].capture.write_bytes(self._text._stream, data, owner[1])
        return len(data)

    def writable(self):
        return True

    def flush(self):
        pass

    def close(self):
        pass

    @property
    def closed(self):
        return False

    def fileno(self):
        return self._text.fileno()


class _NoStdin(io.TextIOBase):
    """``sys.stdin`` for session threads: always at end of file, never blocks."""

    def __init__(self, fallback):
        super().__init__()
        self._fallback = fallback

    def _host(self):
        return self._fallback if _owners.get(_get_ident()) is None else None

    def read(self, size=-1):
        host = self._host()
        return host.read(size) if host is not None else ""

    def readline(self, size=-1):
        host = self._host()
        return host.readline(size) if host is not None else ""

    def readable(self):
        return True

    def isatty(self):
        return False

    def close(self):
        # exit() and quit() close stdin before raising SystemExit.
        pass

    @property
    def closed(self):
        return False


_original_input = builtins.input


def _input(prompt=""):
    if _owners.get(_get_ident()) is None:
        return _original_input(prompt)
    raise EOFError(
        "input() is not available: a pysession session has no standard input; "
        "pass data in with code or variables instead"
    )


_real_sleep = time.sleep


def _sleep(seconds):
    control = _controls.get(_get_ident())
    if control is None:
        return _real_sleep(seconds)
    control.sleep(seconds)


_real_chdir = os.chdir


def _chdir(path):
    _real_chdir(path)
    owner = _owners.get(_get_ident())
    if owner is not None:
        # The session's next runs start here; other sessions keep their own.
        owner[0].control.moved_to(os.getcwd())


_original_thread_start = threading.Thread.start


def _thread_start(self):
    owner = _owners.get(_get_ident())
    if owner is not None:
        state, started_by = owner
        if started_by is None:
            started_by = state.control.current_run()
        # The new thread's output belongs to the run that started it: written during a
        # later run, it is reported as background output, not as that run's own.
        owner = (state, started_by)
        run = self.run

        def _owned_run():
            ident = _get_ident()
            _owners[ident] = owner
            try:
                run()
            finally:
                _owners.pop(ident, None)

        self.run = _owned_run
    return _original_thread_start(self)


_stdout = None
_stderr = None
_stdin = None


def install():
    """Install the routing streams and hooks; the host calls this once per process."""
    global _stdout, _stderr, _stdin
    _stdout = _SessionStream(1, sys.stdout, "<stdout>")
    _stderr = _SessionStream(2, sys.stderr, "<stderr>")
    _stdin = _NoStdin(sys.stdin)
    _restore_streams()
    builtins.input = _input
    time.sleep = _sleep
    threading.Thread.start = _thread_start
    os.chdir = _chdir
    if not getattr(sys, "argv", None):
        sys.argv = [""]
    if "" not in sys.path:
        # Like `python` and notebooks: modules in the working directory import.
        sys.path.insert(0, "")


def _restore_streams():
    if _stdout is None:
        # Not installed: a subprocess session, whose output goes to real descriptors.
        return
    if sys.stdout is not _stdout:
        sys.stdout = _stdout
    if sys.stderr is not _stderr:
        sys.stderr = _stderr
    if sys.stdin is not _stdin:
        sys.stdin = _stdin


def add_site_dir(path):
    """Make a virtual environment's packages importable."""
    import site

    site.addsitedir(path)


# ---------------------------------------------------------------------------
# Sessions


class SessionState:
    """One session's namespace, output capture and run control."""

    __slots__ = ("ns", "capture", "control", "loop", "filenames", "source_bytes", "__weakref__")

    def __init__(self, capture, control):
        self.capture = capture
        self.control = control
        self.loop = None
        self.filenames = collections.deque()
        self.source_bytes = 0
        self.ns = _fresh_namespace()

    def reset(self):
        """Fresh state: a new namespace, the old one's event loop closed."""
        self.close()
        self.ns = _fresh_namespace()

    def close(self):
        for name in self.filenames:
            linecache.cache.pop(name, None)
        self.filenames.clear()
        self.source_bytes = 0
        loop, self.loop = self.loop, None
        if loop is not None and not loop.is_running():
            try:
                loop.close()
            except Exception:
                pass
        self.ns.clear()

    def run(self, code):
        """Run one cell. Returns ``(status, value_repr, error)``.

        ``status`` is ``"ok"``, ``"error"`` or ``"stopped"``; ``error`` is
        ``(type_name, message, traceback_text)`` or None.
        """
        _restore_streams()
        filename = f"<cell {next(_cell_counter)}>"
        try:
            try:
                tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | _FLAGS, dont_inherit=True)
            except (SyntaxError, ValueError) as e:
                self._remember_source(filename, code)
                return ("error", None, _describe(e))
            self._remember_source(filename, code)
            body = tree.body
            last = None
            if body and isinstance(body[-1], ast.Expr):
                last = ast.Expression(body.pop().value)
            if body:
                self._run_code(compile(tree, filename, "exec", _FLAGS, dont_inherit=True))
            if last is None:
                return ("ok", None, None)
            value = self._run_code(compile(last, filename, "eval", _FLAGS, dont_inherit=True))
            return ("ok", None if value is None else repr(value), None)
        except StopExecution as e:
            try:
                # No further stop is raised after this; one already pending lands in
                # this `try`, not in the code below.
                self.control.settle()
                absorb_pending_stop()
            except StopExecution:
                pass
            return ("stopped", None, ("StopExecution", "", _format_stack(e)))
        except BaseException as e:
            return ("error", None, _describe(e))

    def data(self, op, name, arg):
        """Variables for the host, as JSON text: ``op`` is ``"get"`` (``name``), ``"set"``
        (``name`` to the JSON ``arg``) or ``"list"`` (``arg``: include modules).
        Returns ``(status, json_or_None, error)`` like ``run``."""
        try:
            if op == "get":
                if name not in self.ns:
                    return ("error", None, ("NameError", f"no variable named {name!r} in the session", ""))
                value = self.ns[name]
                try:
                    return ("ok", json.dumps(value, default=_json_default, allow_nan=False), None)
                except (TypeError, ValueError) as e:
                    message = f"variable {name!r} (a {type(value).__name__}) cannot be converted to JSON: {e}"
                    return ("error", None, ("TypeError", message, ""))
            if op == "set":
                if not name.isidentifier():
                    return ("error", None, ("ValueError", f"{name!r} is not a valid Python name", ""))
                self.ns[name] = json.loads(arg)
                return ("ok", None, None)
            if op == "list":
                return ("ok", json.dumps(self._variables(bool(arg))), None)
            return ("error", None, ("ValueError", f"unknown variable operation {op!r}", ""))
        except Exception as e:
            return ("error", None, _describe(e))

    def _variables(self, modules):
        import reprlib

        short = reprlib.Repr()
        short.maxstring = short.maxother = 80
        found = []
        for name, value in list(self.ns.items()):
            if name.startswith("__") or name == "_":
                continue
            if isinstance(value, types.ModuleType) and not modules:
                continue
            try:
                text = short.repr(value)
            except Exception as e:
                text = f"<repr failed: {type(e).__name__}>"
            found.append([name, type(value).__name__, text])
        return found

    def _run_code(self, code):
        if not code.co_flags & _CO_COROUTINE:
            return eval(code, self.ns)
        loop = self._event_loop()
        task = loop.create_task(eval(code, self.ns))
        try:
            return loop.run_until_complete(task)
        except BaseException:
            # Stopped or failed inside the loop: the cell's task must not resume the
            # next time the loop runs.
            task.cancel()
            raise

    def _event_loop(self):
        if self.loop is None or self.loop.is_closed():
            import asyncio

            self.loop = asyncio.new_event_loop()
        return self.loop

    def _remember_source(self, filename, code):
        # Tracebacks show the lines of cells; the oldest are forgotten past a budget.
        lines = code.splitlines(keepends=True)
        linecache.cache[filename] = (len(code), None, lines, filename)
        self.filenames.append(filename)
        self.source_bytes += len(code)
        while self.source_bytes > _SOURCE_BUDGET and len(self.filenames) > 1:
            old = self.filenames.popleft()
            entry = linecache.cache.pop(old, None)
            if entry is not None:
                self.source_bytes -= entry[0]


def wake_loop(ident):
    """Called by the host while it stops a run: a session waiting in its event loop
    (top-level ``await``) wakes up, so the stop can be raised."""
    owner = _owners.get(ident)
    loop = owner[0].loop if owner is not None else None
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(_nothing)


def _nothing():
    pass


def absorb_pending_stop():
    """Gives a stop exception that is still pending a place to land: pending
    exceptions are raised at backward jumps like this loop's."""
    for _ in (0, 1):
        pass


def _json_default(value):
    # Bytes travel as a list of numbers, which serde reads as Vec<u8>.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return list(bytes(value))
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _fresh_namespace():
    return {
        "__name__": "__main__",
        "__doc__": None,
        "__package__": None,
        "__spec__": None,
        "__loader__": None,
        "__builtins__": builtins,
    }


def new_session(capture, control):
    return SessionState(capture, control)


def bind_thread(state):
    """Make the calling thread a session worker: its output and waits are the session's."""
    ident = _get_ident()
    _owners[ident] = (state, None)
    _controls[ident] = state.control


def unbind_thread():
    ident = _get_ident()
    _owners.pop(ident, None)
    _controls.pop(ident, None)


# ---------------------------------------------------------------------------
# Tracebacks


def _describe(exc, chain=True):
    message = str(exc)
    if isinstance(exc, SyntaxError):
        message = _syntax_message(exc)
    return (type(exc).__name__, message, _format(exc, chain))


def _syntax_message(exc):
    text = exc.msg or "invalid syntax"
    where = []
    if exc.lineno is not None:
        where.append(f"line {exc.lineno}")
    line = (exc.text or "").strip()
    if line:
        where.append(line)
    return f"{text} ({': '.join(where)})" if where else text


def _format(exc, chain=True):
    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
        _strip_runtime_frames(te, set())
        return "".join(te.format(chain=chain))
    except Exception:
        return "".join(traceback.format_exception_only(type(exc), exc))


def _format_stack(exc):
    """Where stopped code was: the user's frames and what they called, no exception
    line (the host words that)."""
    try:
        te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        _strip_runtime_frames(te, set(), user_only=True)
        if not te.stack:
            return ""
        return "Traceback (most recent call last):\n" + "".join(te.stack.format())
    except Exception:
        return ""


def _strip_runtime_frames(te, seen, user_only=False):
    """Drops the runtime's frames, and the frames of the machinery that called the
    user's code (such as an event loop) before the first frame of a cell."""
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = [f for f in te.stack if f.filename != RUNTIME_FILE]
    first_cell = next((i for i, f in enumerate(frames) if f.filename.startswith("<cell ")), None)
    if first_cell is not None:
        frames = frames[first_cell:]
    elif user_only:
        frames = []
    if len(frames) != len(te.stack):
        te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _strip_runtime_frames(linked, seen)
    for sub in getattr(te, "exceptions", None) or ():
        _strip_runtime_frames(sub, seen)
