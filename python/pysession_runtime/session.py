"""One session's state, and what the embedded host calls.

A session is a namespace with its output capture and run control: ``run`` runs a cell
(``cells``) and then shows the figures it left open (``figures``); ``data`` is the
variable operations (``variables``). The embedded host loads every module of the
runtime but ``worker``, calls ``install`` once, and drives sessions through the names
this module gives it: ``new_session``, ``bind_thread``, ``unbind_thread``,
``StopExecution``, ``absorb_pending_stop``, ``wake_loop``, ``add_site_dir``,
``use_native_write``, ``use_native_plan``.

Objects handed in by the host:

``capture``
    has ``write(stream, text, run)``, ``write_bytes(stream, data, run)`` (stream 1 or
    2) and ``display(items, is_value, run)``; it bounds and stores output outside the
    interpreter.
``control``
    has ``sleep(seconds)`` (returns early, raising the stop exception, when the run is
    interrupted), ``stopping()`` (true while the current run is being stopped),
    ``arm()`` (trace this thread so that every new line raises the stop),
    ``settle()`` (the stop has arrived: raise no more), ``moved_to(path)`` (the
    session changed its working directory) and ``current_run()``.
"""

import builtins
import collections
import os
import sys

from pysession_runtime import cells, display, figures, hooks, streams, tracebacks, variables
from pysession_runtime.cells import use_native_plan, wake_loop
from pysession_runtime.hooks import add_site_dir
from pysession_runtime.ownership import StopExecution, absorb_pending_stop, bind_thread, unbind_thread
from pysession_runtime.streams import use_native_write

__all__ = [
    "SessionState", "new_session", "install", "bind_thread", "unbind_thread",
    "StopExecution", "absorb_pending_stop", "wake_loop", "add_site_dir", "use_native_write",
    "use_native_plan",
]


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
        cells.forget_sources(self)
        cells.close_loop(self)
        self.ns.clear()

    def run(self, code):
        """Run one cell. Returns ``(status, value_repr, error)``.

        ``status`` is ``"ok"``, ``"error"`` or ``"stopped"``; ``error`` is
        ``(type_name, message, traceback_text)`` or None. A trailing expression whose
        value has rich representations is also displayed (as the value's bundle), and
        the session's open matplotlib figures are displayed and closed afterwards.
        """
        streams.restore()
        filename = cells.next_filename()
        try:
            outcome = cells.run_cell(self, code, filename)
            if _forked:
                # A child that `os.fork()` made came back from the cell: the session is
                # its parent's, and nothing waits for this copy; it ends here.
                os._exit(0)
            if "matplotlib.pyplot" in sys.modules:
                figures.flush_figures(self)
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
            return ("stopped", None, ("StopExecution", "", tracebacks.format_stack(e)))

    def data(self, op, name, arg, blobs=()):
        """A variable operation on the session's namespace: see ``variables.data``."""
        return variables.data(self.ns, op, name, arg, blobs, self.environment)

    def _drop_figures(self):
        if "matplotlib.pyplot" in sys.modules:
            try:
                figures.flush_figures(self, render=False)
            except Exception:
                pass


# Whether this process is a child that `os.fork()` made of the session's (so a cell's end
# asks no system call): Python's at-fork hook says so. The fork server's child that
# takes a session over clears it (`claim_process`). A raw `fork()` through ctypes
# skips the hooks, and leaves an interpreter Python itself does not support.
_forked = False


def _mark_forked():
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_mark_forked)


def claim_process():
    """The calling process (a fork server's child) is the session's from now on."""
    global _forked
    _forked = False


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


def install(executable=None, guess=True):
    """Sets up an embedded interpreter for sessions that share it, once per process:
    the routing streams and hooks, ``display``, figures."""
    hooks.install(executable, guess)
    display.install()
    figures.install()
