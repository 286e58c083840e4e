"""The main loop of a subprocess session's child process.

The host starts ``python -u -c <boot> pysession_runtime.worker``; the boot code takes
the working directory off ``sys.path`` (so files there cannot shadow the modules loaded
here; ``main`` puts it back for the user's code), keeps descriptors 3 and 4 from the
user's own child processes, reads the host's constants and the runtime's modules from
descriptor 3 (``src/runtime.rs`` lists them, this one last) and runs this module's
``main``. From then on requests arrive on descriptor 3 and replies leave on descriptor
4, each a frame: a 4-byte little-endian length, then that many bytes of UTF-8 JSON.
Descriptors 1 and 2 carry the user's output untouched (Python prints, C ``printf``,
child processes), with markers around each request so that the host can tell which
request wrote what:

    NUL "pysession:" token ":" ("start" | "end") ":" id NUL

The token is random per process, so user output cannot forge a marker.

A JSON frame whose object has ``"blobs": n`` is followed by ``n`` raw frames, bytes
that travel as they are (a display's PNG, say) instead of inside the JSON. Besides its
reply, a request may send display frames (``{"id", "display", "is_value", "blobs"}``)
while it runs; so may threads it started, later (with the id of the request running
then, 0 between requests).

The process is its one session's: every thread the session's code starts is the
session's, its displays included, and the process's own ``sys``, working directory and
``time.sleep`` are the session's to change.

Asked to (``{"op": "serve_forks"}``, right after the startup code), the process
becomes its configuration's fork server instead (``forkserver``): it answers ``ok``,
or an error saying why it may not fork (threads), and from then on forks a child per
session on request; each child takes its own descriptors and serves this same loop,
with the startup code's state, under a token of its own.

To stop a request, the host writes its id (8 bytes, little-endian) at the start of
the in-memory file at descriptor 5, then sends SIGINT. A SIGINT for the request that
runs raises the runtime's ``StopExecution`` in the main thread; one that comes before
its request began is kept for it, which then stops as it starts; one meant for an
earlier request is ignored, so a late interrupt never lands in the next request. The
host repeats it every 50 ms while the code keeps going; from the third on, every new
line of the user's own code (cells and functions defined in them) raises it too, so
code that catches the stop ends all the same.
"""

import builtins
import json
import os
import signal
import sys
import threading

from pysession_runtime import config, display, figures, forkserver, hooks, ownership, session, streams, tracebacks, variables
from pysession_runtime.ownership import StopExecution

_REQUESTS = 3
_REPLIES = 4
_STOPS = 5


def stop_wanted():
    """The id of the request the host last asked to stop (0: none yet)."""
    try:
        return int.from_bytes(os.pread(_STOPS, 8, 0), "little")
    except OSError:
        return 0


class _Control:
    """The child's stand-in for the host's run control: stops arrive as signals."""

    def stopping(self):
        return False

    def arm(self):
        pass

    def settle(self):
        pass

    def moved_to(self, path):
        pass

    def current_run(self):
        return 0


def _read_exact(n):
    chunks = []
    while n:
        chunk = os.read(_REQUESTS, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_raw():
    head = _read_exact(4)
    if head is None:
        return None
    return _read_exact(int.from_bytes(head, "little"))


def read_frame():
    """The next request and its blobs; None at the end of the requests."""
    body = _read_raw()
    if body is None:
        return None
    request = json.loads(body)
    blobs = []
    for _ in range(request.get("blobs", 0)):
        blob = _read_raw()
        if blob is None:
            return None
        blobs.append(blob)
    return request, blobs


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _writev_all(fd, parts):
    """Writes ``parts`` with as few system calls as the pipe allows: one, unless a
    signal cuts it short. The host reads a frame that stops halfway for long as a
    broken one, and between two calls another thread may hold the interpreter."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


# Frames come from the main thread (replies) and from any thread (displays), one at a
# time. A stop never lands halfway through one: the SIGINT handler (see `main`) defers
# it, and it is raised once the frame is complete.
_frame_lock = threading.Lock()
_writing = threading.local()


class FrameTooLarge(ValueError):
    """A frame the host would refuse; nothing of it was written."""


def write_frame(obj, blobs=()):
    body = json.dumps(obj, ensure_ascii=False).encode("utf-8", "replace")
    # The most a frame may carry: the host refuses larger ones.
    limit = config.MAX_FRAME
    if len(body) > limit or any(len(b) > limit for b in blobs):
        raise FrameTooLarge("over 1 GiB in one frame")
    parts = [len(body).to_bytes(4, "little"), body]
    for blob in blobs:
        parts.append(len(blob).to_bytes(4, "little"))
        parts.append(blob)
    with _frame_lock:
        _writing.active = True
        try:
            _writev_all(_REPLIES, parts)
        finally:
            _writing.active = False
    if getattr(_writing, "deferred", False):
        _writing.deferred = False
        raise StopExecution()


class _WireCapture:
    """Where the runtime sends a display: a frame to the host, binary data as blobs."""

    def __init__(self):
        self.request = 0
        self.pid = os.getpid()

    def display(self, items, is_value, run=None):
        if os.getpid() != self.pid:
            # A forked child of the session's process: its frames would tangle with the
            # session's, so it shows the text.
            print(dict(items).get("text/plain", ""))
            return
        blobs = []
        out = []
        for mime, data in items:
            if isinstance(data, bytes):
                out.append([mime, {"blob": len(blobs)}])
                blobs.append(data)
            else:
                out.append([mime, variables.clean(data)])
        frame = {"id": self.request, "display": out, "is_value": bool(is_value), "blobs": len(blobs)}
        try:
            write_frame(frame, blobs)
        except FrameTooLarge:
            sys.stderr.write("display: an item over 1 GiB is left out\n")


def cut(text, limit, what):
    """``text`` with its middle cut out when it is over ``limit`` characters."""
    if not isinstance(text, str) or len(text) <= limit:
        return text
    head = limit // 2
    dropped = len(text) - limit
    return (
        text[:head]
        + f"\n[... {dropped} characters of {what} cut here: over the output limit ...]\n"
        + text[len(text) - (limit - head):]
    )


def _is_cell(frame):
    return config.is_cell_file(frame.f_code.co_filename)


def _prepare():
    """Sets the process up as its one session's, once: streams, hooks, the session."""
    streams.use_descriptors()
    builtins.input = hooks.session_input
    hooks.import_from_working_directory()

    def forked():
        global _frame_lock
        # Another thread may have held the lock at the fork; the child has only this one.
        _frame_lock = threading.Lock()

    os.register_at_fork(after_in_child=forked)
    wire = _WireCapture()
    state = session.new_session(wire, _Control())
    ownership.own_process(state)
    display.install()
    figures.install()
    return wire, state


def main(token):
    """Serves requests until the host closes descriptor 3; ``token`` marks output. Asked
    to (``serve_forks``, after the startup code), the process becomes the fork server of
    its configuration instead: each child it forks serves as a session of its own."""
    wire, state = _prepare()
    if _serve(token, wire, state) == "forks":

        def session_of_child(child_token):
            wire.pid = os.getpid()
            session.claim_process()
            _serve(child_token, wire, state)

        forkserver.serve(session_of_child)


def _serve(token, wire, state):
    """The request loop. Returns at the end of the requests, or ``"forks"`` once it has
    agreed to serve forks."""
    running = False
    interrupts = 0
    # The request being served, and the one the host wants stopped.
    current = 0
    stop_for = 0

    def stop_tracer(frame, event, arg):
        if not running or event not in ("line", "call"):
            return stop_tracer if running else None
        if _is_cell(frame):
            raise StopExecution()
        return stop_tracer

    def on_sigint(signum, frame):
        nonlocal interrupts, stop_for
        stop_for = stop_wanted()
        if not running or stop_for != current:
            # Before its request began (it stops as it starts), or late for an earlier one.
            return
        interrupts += 1
        if interrupts >= 3:
            # The code caught the earlier stops: trace its cell frames so that each new
            # line raises again (a raising tracer is switched off; the next SIGINT
            # switches it back on). Only cell lines raise, never the frame writer's.
            f = frame
            while f is not None:
                if _is_cell(f):
                    f.f_trace = stop_tracer
                f = f.f_back
            sys.settrace(stop_tracer)
        if getattr(_writing, "active", False):
            # Halfway through a frame: stop once it is written.
            _writing.deferred = True
            return
        raise StopExecution()

    signal.signal(signal.SIGINT, on_sigint)
    main_pid = os.getpid()

    # Markers go to copies of descriptors 1 and 2 as the process started with them:
    # code that closes 1 and opens a file (which then gets descriptor 1) must not find
    # them in its file.
    marked = [os.dup(1), os.dup(2)]

    def mark(kind, ident):
        marker = f"\0pysession:{token}:{kind}:{ident}\0".encode()
        for fd in marked:
            try:
                _write_all(fd, marker)
            except OSError:
                pass

    while True:
        got = read_frame()
        if got is None:
            _close_all(marked)
            return None
        request, blobs = got
        ident = request["id"]
        op = request["op"]
        streams.restore()
        # Code (or a library) may have replaced the handler or blocked the signal; stops
        # must keep working.
        signal.signal(signal.SIGINT, on_sigint)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        mark("start", ident)
        interrupts = 0
        wire.request = ident
        current = ident
        try:
            running = True
            if stop_for == ident:
                # Asked to stop before it began.
                raise StopExecution()
            if op == "data":
                reply = state.data(request["data_op"], request["name"], request["arg"], blobs)
                blobs = None
            elif op == "serve_forks":
                why = forkserver.unsafe()
                reply = ("ok", None, None) if why is None else ("error", None, ("ForkUnsafe", why, ""))
            else:
                reply = state.run(request["code"])
        except StopExecution:
            reply = ("stopped", None, None)
        except BaseException as e:
            # The runtime itself failed (what the code raises is in `reply`): say so in
            # the reply rather than lose the process and the session's state with it.
            reply = ("error", None, (type(e).__name__, tracebacks.text_of(e), ""))
        finally:
            running = False
            _writing.deferred = False
            wire.request = 0
            sys.settrace(None)
        if os.getpid() != main_pid:
            # A forked child that came back from the user's code: the session is its
            # parent's; it must not mark, answer or read requests.
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        mark("end", ident)
        status, value, error = reply
        limit = request.get("limit")
        if op != "data" and limit is not None:
            # Cut here, before they cross the pipe; the host cuts again to exact bytes.
            value = cut(value, limit, "the value")
            if error is not None:
                error = (error[0], cut(error[1], limit, "the message"), cut(error[2], limit, "the traceback"))
        try:
            if isinstance(value, bytes):
                # get_bytes: the bytes follow the reply as they are.
                write_frame({"id": ident, "status": status, "value": None, "error": None, "blobs": 1}, [value])
            else:
                write_frame({"id": ident, "status": status, "value": variables.clean(value), "error": variables.clean(error)})
        except FrameTooLarge:
            # Nothing of it was written: an error in its place.
            size = len(value) if isinstance(value, (bytes, str)) else 0
            message = f"the value ({size:,} long) is too large: a subprocess session moves at most 1 GiB at a time"
            write_frame({"id": ident, "status": "error", "value": None, "error": ("ValueError", message, "")})
        if op == "serve_forks" and status == "ok":
            _close_all(marked)
            return "forks"
        value = reply = None


def _close_all(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
