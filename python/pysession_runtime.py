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
import weakref

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


def _per_session(name):
    return property(
        lambda self: _session_python(name),
        lambda self, value: _set_session_python(name, value),
    )


class _SessionSys(types.ModuleType):
    """``sys`` whose ``executable`` and ``prefix`` are the calling session's when it runs
    in a virtual environment of its own, as they would be in that environment's
    ``python``; every other attribute is the process's."""

    executable = _per_session("executable")
    prefix = _per_session("prefix")
    exec_prefix = _per_session("exec_prefix")


def _session_environment():
    owner = _owners.get(_get_ident())
    return owner[0].environment if owner is not None else None


def _session_python(name):
    env = _session_environment()
    if env is not None:
        return env["prefix" if name == "exec_prefix" else name]
    return sys.__dict__[name]


def _set_session_python(name, value):
    env = _session_environment()
    if env is not None:
        env["prefix" if name == "exec_prefix" else name] = value
    else:
        sys.__dict__[name] = value


def set_executable(executable, guess=True):
    """Make ``sys.executable`` name ``executable`` (the interpreter the host was built
    for), or, when the host knows none and ``guess`` is true, the installation's own
    ``python3.X``: an embedded interpreter otherwise guesses the first ``python3`` on
    ``PATH``, which may be another Python. Sessions in a virtual environment see theirs
    either way."""
    if not executable and guess:
        candidate = os.path.join(sys.base_prefix, "bin", "python%d.%d" % sys.version_info[:2])
        if os.path.isfile(candidate):
            executable = candidate
    if executable:
        sys.__dict__["executable"] = executable
        sys.__dict__["_base_executable"] = executable
    if type(sys) is types.ModuleType:
        sys.__class__ = _SessionSys


def install(executable=None, guess=True):
    """Install the routing streams and hooks; the host calls this once per process."""
    global _stdout, _stderr, _stdin
    set_executable(executable, guess)
    _stdout = _SessionStream(1, sys.stdout, "<stdout>")
    _stderr = _SessionStream(2, sys.stderr, "<stderr>")
    _stdin = _NoStdin(sys.stdin)
    _restore_streams()
    builtins.input = _input
    time.sleep = _sleep
    threading.Thread.start = _thread_start
    os.chdir = _chdir
    install_display()
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
    """Make a virtual environment's packages importable, ahead of the system's
    site-packages, as they are in the environment's own ``python``."""
    import site

    before = set(sys.path)
    site.addsitedir(path)
    added = [p for p in sys.path if p not in before]
    rest = [p for p in sys.path if p not in added]
    # The working directory ('') and the standard library stay in front; the added
    # directories go before the first site-packages of the installation.
    sites = set(site.getsitepackages()) | {site.getusersitepackages()}
    at = next((i for i, p in enumerate(rest) if p in sites or p.endswith(("site-packages", "dist-packages"))), len(rest))
    sys.path[:] = rest[:at] + added + rest[at:]


# ---------------------------------------------------------------------------
# Sessions


class SessionState:
    """One session's namespace, output capture and run control."""

    __slots__ = (
        "ns", "capture", "control", "loop", "filenames", "source_bytes", "environment", "__weakref__"
    )

    def __init__(self, capture, control, environment=None):
        self.capture = capture
        self.control = control
        # The virtual environment the session runs in: {"executable", "prefix",
        # "site_packages"}, or None.
        self.environment = environment
        self.loop = None
        self.filenames = collections.deque()
        self.source_bytes = 0
        self.ns = _fresh_namespace()

    def reset(self):
        """Fresh state: a new namespace, the old one's event loop closed."""
        self.close()
        self.ns = _fresh_namespace()

    def close(self):
        self._drop_figures()
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
        ``(type_name, message, traceback_text)`` or None. A trailing expression whose
        value has rich representations is also displayed (as the value's bundle), and
        the session's open matplotlib figures are displayed and closed afterwards.
        """
        _restore_streams()
        filename = f"<cell {next(_cell_counter)}>"
        try:
            outcome = self._cell(code, filename)
            if "matplotlib.pyplot" in sys.modules:
                flush_figures(self)
            return outcome
        except StopExecution as e:
            try:
                # No further stop is raised after this; one already pending lands in
                # this `try`, not in the code below.
                self.control.settle()
                absorb_pending_stop()
            except StopExecution:
                pass
            # The stopped code's figures are closed unseen: drawing them could take as
            # long as what was just stopped, and nothing could stop that.
            self._drop_figures()
            return ("stopped", None, ("StopExecution", "", _format_stack(e)))

    def _drop_figures(self):
        if "matplotlib.pyplot" in sys.modules:
            try:
                flush_figures(self, render=False)
            except Exception:
                pass

    def _cell(self, code, filename):
        try:
            tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | _FLAGS, dont_inherit=True)
        except (SyntaxError, ValueError) as e:
            self._remember_source(filename, code)
            return ("error", None, _describe(e))
        self._remember_source(filename, code)
        try:
            body = tree.body
            last = None
            if body and isinstance(body[-1], ast.Expr):
                last = ast.Expression(body.pop().value)
            if body:
                self._run_code(compile(tree, filename, "exec", _FLAGS, dont_inherit=True))
            if last is None:
                return ("ok", None, None)
            value = self._run_code(compile(last, filename, "eval", _FLAGS, dont_inherit=True))
            if value is None:
                return ("ok", None, None)
            text = repr(value)
            if type(value) not in _PLAIN_TYPES:
                bundle = mime_bundle(value, plain=text, rich_only=True)
                if bundle is not None:
                    _emit((self, None), bundle, True)
            return ("ok", text, None)
        except StopExecution:
            raise
        except BaseException as e:
            return ("error", None, _describe(e))

    def data(self, op, name, arg, blobs=()):
        """Variables for the host, as JSON text: ``op`` is ``"get"`` (``name``), ``"set"``
        (``name`` to the JSON ``arg``, in which ``{"\\0bytes": i}`` stands for
        ``blobs[i]``) or ``"list"`` (``arg``: include modules); or as bytes:
        ``"get_bytes"`` and ``"set_bytes"`` (``blobs[0]``); or ``"info"``: the Python the
        session runs, as JSON.
        Returns ``(status, json_or_bytes_or_None, error)`` like ``run``."""
        try:
            if op == "get_bytes":
                if name not in self.ns:
                    return ("error", None, ("NameError", f"no variable named {name!r} in the session", ""))
                value = self.ns[name]
                if isinstance(value, bytes):
                    return ("ok", value, None)
                if isinstance(value, (bytearray, memoryview)):
                    return ("ok", bytes(value), None)
                message = f"variable {name!r} is a {type(value).__name__}, not bytes, bytearray or memoryview"
                return ("error", None, ("TypeError", message, ""))
            if op == "set_bytes":
                if not name.isidentifier():
                    return ("error", None, ("ValueError", f"{name!r} is not a valid Python name", ""))
                data = blobs[0]
                self.ns[name] = data if type(data) is bytes else bytes(data)
                return ("ok", None, None)
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
                if blobs:
                    self.ns[name] = json.loads(arg, object_hook=_blob_hook(blobs))
                else:
                    self.ns[name] = json.loads(arg)
                return ("ok", None, None)
            if op == "list":
                return ("ok", json.dumps(self._variables(bool(arg))), None)
            if op == "info":
                return ("ok", json.dumps(self._python_info()), None)
            return ("error", None, ("ValueError", f"unknown variable operation {op!r}", ""))
        except Exception as e:
            return ("error", None, _describe(e))

    def _python_info(self):
        import platform
        import site

        env = self.environment
        return {
            "version": platform.python_version(),
            "sys_version": sys.version,
            "executable": sys.executable,
            "base_executable": getattr(sys, "_base_executable", sys.executable),
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "site_packages": env["site_packages"] if env else site.getsitepackages(),
            "pid": os.getpid(),
        }

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


def _blob_hook(blobs):
    """``json.loads`` hook: the host's byte strings come back as ``bytes``."""

    def hook(obj):
        if len(obj) == 1 and "\0bytes" in obj:
            data = blobs[obj["\0bytes"]]
            return data if type(data) is bytes else bytes(data)
        return obj

    return hook


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


def new_session(capture, control, environment=None):
    if environment is not None:
        # The host may hand paths in as path objects; `sys` holds them as text.
        environment = {
            "executable": os.fspath(environment["executable"]),
            "prefix": os.fspath(environment["prefix"]),
            "site_packages": [os.fspath(p) for p in environment["site_packages"]],
        }
    return SessionState(capture, control, environment)


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
# Rich output: display(), MIME bundles, matplotlib figures

# Representation methods, as notebooks look them up (on the type, not the instance, so
# objects that answer every attribute do not claim every format).
_REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("text/latex", "_repr_latex_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("image/gif", "_repr_gif_"),
    ("application/pdf", "_repr_pdf_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
)
_BACKEND = "module://pysession_matplotlib"
# Values of these types have no representation but their repr: the common case, which
# skips the look for representation methods.
_PLAIN_TYPES = frozenset(
    (int, float, complex, bool, str, bytes, bytearray, list, tuple, dict, set, frozenset, range)
)
# Who displays from threads no session owns: the one session of a subprocess.
_fallback_owner = None
_figure_counter = iter(range(1, 1 << 62))


def _owner():
    return _owners.get(_get_ident(), _fallback_owner)


def _is_json(mime):
    return mime == "application/json" or mime.endswith("+json")


def _is_text(mime):
    """Types whose data is text: ``text/*``, SVG, XML, JavaScript, LaTeX..."""
    return (
        mime.startswith("text/")
        or mime.endswith(("+xml", "/xml", "/javascript", "/x-latex", "/x-tex"))
        or mime in ("application/x-javascript", "application/ecmascript")
    )


def _is_binary(mime):
    """Types whose data is bytes even when given as (base64) text."""
    kind = mime.split("/", 1)[0]
    return (kind in ("image", "audio", "video", "font") and not _is_text(mime)) or mime in (
        "application/pdf",
        "application/octet-stream",
        "application/zip",
        "application/gzip",
        "application/wasm",
    )


def _normalize(mime, data):
    """One representation as the host takes it: bytes for binary types (base64 text
    is decoded, as notebooks accept it), JSON text for JSON types, str otherwise.
    None: no representation."""
    if isinstance(data, tuple) and len(data) == 2:
        data = data[0]  # (data, metadata)
    if data is None:
        return None
    if _is_json(mime):
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        return json.dumps(data, default=_json_default, allow_nan=False)
    if _is_binary(mime):
        if isinstance(data, str):
            import base64
            import binascii

            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{mime} data given as text must be base64, and this is not") from None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{mime} data must be bytes (or base64 text), not {type(data).__name__}")
        return bytes(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        if _is_text(mime):
            return bytes(data).decode("utf-8", "replace")
        # Bytes of a type this list does not know: kept as bytes.
        return bytes(data)
    return str(data)


def _formatter_failed(obj, what, exc):
    sys.stderr.write(
        f"display: {type(obj).__name__}.{what} failed, that representation is left out: "
        f"{type(exc).__name__}: {exc}\n"
    )


def mime_bundle(obj, plain=None, rich_only=False, include=None, exclude=None):
    """``obj``'s representations as ``{mime: str | bytes}``, ``text/plain`` (its
    repr, or ``plain``) always among them. With ``rich_only``, None when it has no
    other."""
    bundle = {}
    cls = type(obj)
    if getattr(cls, "_repr_mimebundle_", None) is not None:
        try:
            got = obj._repr_mimebundle_(include=include, exclude=exclude)
            if isinstance(got, tuple):
                got = got[0]
            got = dict(got or {})
        except Exception as e:
            _formatter_failed(obj, "_repr_mimebundle_()", e)
            got = {}
        for mime, data in got.items():
            try:
                data = _normalize(str(mime), data)
            except Exception as e:
                _formatter_failed(obj, f"_repr_mimebundle_()[{mime!r}]", e)
                continue
            if data is not None:
                bundle[str(mime)] = data
    for mime, method in _REPR_METHODS:
        if mime in bundle or getattr(cls, method, None) is None:
            continue
        try:
            data = _normalize(mime, getattr(obj, method)())
        except Exception as e:
            _formatter_failed(obj, method + "()", e)
            continue
        if data is not None:
            bundle[mime] = data
    if "image/png" not in bundle and _is_figure(obj):
        try:
            bundle["image/png"] = _figure_png(obj)
        except Exception as e:
            _formatter_failed(obj, "savefig()", e)
    def wanted(mime):
        return (include is None or mime in include) and (exclude is None or mime not in exclude)

    if rich_only and not any(m != "text/plain" and wanted(m) for m in bundle):
        return None
    if plain is not None:
        # The value's repr, already made for the result.
        bundle["text/plain"] = plain
    elif "text/plain" not in bundle and wanted("text/plain"):
        bundle["text/plain"] = repr(obj)
    return {m: d for m, d in bundle.items() if wanted(m)}


def display(*objs, raw=False, include=None, exclude=None, metadata=None, **kwargs):
    """Show objects the way a notebook does: each becomes one item of the result's
    ``display`` list (a MIME bundle: HTML, PNG, ... and ``text/plain``), in order.

    ``raw=True``: each object already is a bundle, a dict of MIME type to data.
    ``include``/``exclude`` keep or leave out MIME types. Other notebook arguments
    (``metadata``, ``display_id``, ...) are accepted and have no effect here.
    """
    owner = _owner()
    for obj in objs:
        if raw:
            if not isinstance(obj, dict):
                raise TypeError(
                    f"display(raw=True) takes dicts of MIME type to data, not {type(obj).__name__}"
                )
            bundle = {}
            for mime, data in obj.items():
                data = _normalize(str(mime), data)
                if data is not None:
                    bundle[str(mime)] = data
        else:
            bundle = mime_bundle(obj, include=include, exclude=exclude)
        if not bundle:
            continue
        if owner is None:
            # Not a session's thread: the host's own code; show the text.
            print(bundle.get("text/plain", ""))
            continue
        _emit(owner, bundle, False)


def _emit(owner, bundle, is_value):
    state, run = owner
    # MIME type names cross to the host as UTF-8: a lone surrogate becomes U+FFFD.
    items = [(m.encode("utf-8", "replace").decode("utf-8"), d) for m, d in bundle.items()]
    state.capture.display(items, is_value, run)


def _is_figure(obj):
    figure = sys.modules.get("matplotlib.figure")
    return figure is not None and isinstance(obj, figure.Figure)


def _figure_png(fig):
    """The figure as PNG, at its own size and dpi (6.4 x 4.8 in at 100 dpi: 640 x 480)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    # savefig leaves the figure marked changed (it restores the dpi and colours it
    # rendered with); what changes it from now on marks it again.
    fig.stale = False
    png = buf.getvalue()
    # What was shown, to tell a change from a redraw (the user's own savefig marks the
    # figure changed too).
    fig._pysession_png = png
    return png


def _captures_figures():
    """Figures are the session's to show only with its own backend: one the user chose
    (even Agg) leaves them to the user."""
    matplotlib = sys.modules.get("matplotlib")
    return matplotlib is not None and dict.get(matplotlib.rcParams, "backend") == _BACKEND


def flush_figures(state, render=True):
    """Displays the session's open pyplot figures that were not shown since they last
    changed, in the order they were made, and closes them all (with ``render`` false,
    only closes them). Figures whose session is gone are closed too; figures made
    outside any session (by the host's own threads) are left alone."""
    if not _captures_figures():
        return
    plt = sys.modules.get("matplotlib.pyplot")
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if plt is None or helpers is None:
        return
    mine = []
    orphans = []
    for manager in helpers.Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        ref = getattr(fig, "_pysession_owner", None)
        if ref is None:
            continue
        owner = ref()
        if owner is state:
            mine.append((getattr(fig, "_pysession_order", 0), manager.num, fig))
        elif owner is None:
            orphans.append(fig)
    mine.sort(key=lambda entry: entry[:2])
    try:
        for _, _, fig in mine:
            shown = getattr(fig, "_pysession_png", None)
            if not render or (shown is not None and not fig.stale):
                continue
            try:
                png = _figure_png(fig)
            except Exception as e:
                _formatter_failed(fig, "savefig()", e)
                continue
            if png != shown:
                _emit((state, None), {"image/png": png, "text/plain": repr(fig)}, False)
    finally:
        for fig in [entry[2] for entry in mine] + orphans:
            plt.close(fig)


def _backend_attribute(name):
    """The ``pysession_matplotlib`` backend, made on first use (importing Agg is slow)."""
    if name.startswith("__"):
        raise AttributeError(name)
    module = sys.modules["pysession_matplotlib"]
    if "FigureCanvas" not in module.__dict__:
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        class FigureManager(FigureManagerBase):
            """Remembers the session a figure belongs to; ``fig.show()`` displays it."""

            def __init__(self, canvas, num):
                super().__init__(canvas, num)
                owner = _owner()
                figure = canvas.figure
                figure._pysession_owner = None if owner is None else weakref.ref(owner[0])
                figure._pysession_order = next(_figure_counter)

            def show(self):
                display(self.canvas.figure)

        class FigureCanvas(FigureCanvasAgg):
            manager_class = FigureManager

        def show(*args, **kwargs):
            """``plt.show()``: displays the session's figures now, and closes them."""
            owner = _owner()
            if owner is not None:
                flush_figures(owner[0])

        module.FigureCanvas = FigureCanvas
        module.FigureManager = FigureManager
        module.show = show
    try:
        return module.__dict__[name]
    except KeyError:
        raise AttributeError(f"module 'pysession_matplotlib' has no attribute {name!r}") from None


def _configure_matplotlib(matplotlib):
    """Without a display, figures render with Agg and come back as PNG: the session's
    backend, unless the user chose one (``MPLBACKEND``, matplotlibrc, ``use()``)."""
    try:
        rcsetup = sys.modules.get("matplotlib.rcsetup")
        sentinel = getattr(rcsetup, "_auto_backend_sentinel", None)
        if sentinel is not None and dict.get(matplotlib.rcParams, "backend") is sentinel:
            matplotlib.rcParams["backend"] = _BACKEND
    except Exception as e:
        sys.stderr.write(f"pysession: could not set the matplotlib backend: {e}\n")


class _ConfiguringLoader:
    """Runs matplotlib's own loader, then configures it."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        _configure_matplotlib(module)


class _MatplotlibFinder:
    """A ``sys.meta_path`` entry that sees matplotlib being imported."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "matplotlib":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ConfiguringLoader(spec.loader)
        return spec


def install_display(fallback=None):
    """``display`` for every session (a builtin, as in notebooks) and figures as PNG.
    ``fallback`` owns the output of threads no session owns (a subprocess's one
    session)."""
    global _fallback_owner
    if fallback is not None:
        _fallback_owner = (fallback, None)
    builtins.display = display
    if "pysession_matplotlib" not in sys.modules:
        backend = types.ModuleType("pysession_matplotlib")
        backend.__getattr__ = _backend_attribute
        sys.modules["pysession_matplotlib"] = backend
    if not any(isinstance(f, _MatplotlibFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MatplotlibFinder())
    if "matplotlib" in sys.modules:
        _configure_matplotlib(sys.modules["matplotlib"])


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
