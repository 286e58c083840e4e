"""Who owns a thread, and the exception that stops a session's code.

A thread owned by a session writes its output to that session and displays into it:
the session's worker thread (which the host binds), and every thread its code starts,
together with the run that started it. Many sessions share an embedded interpreter, so
there each thread is looked up; a subprocess session's process is its one session's
alone, and says so once, with ``own_process``: from then on that session owns every
thread the process has.

These maps are the runtime's only per-session state in module globals; the host
changes them through ``bind_thread`` / ``unbind_thread``.
"""

import threading

_get_ident = threading.get_ident

# Thread ident -> (SessionState, run): every thread whose output belongs to a session,
# with the run that started it (None for the session's worker thread itself). The
# embedded host's native `sys.stdout.write` holds this very dict: change it in place,
# never rebind it.
_owners = {}
# Thread ident -> control object, for the session worker threads only.
_controls = {}
# (SessionState, None) when one session owns the whole process, else None.
_process_owner = None


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


def bind_thread(state):
    """Make the calling thread a session worker: its output and waits are the session's."""
    ident = _get_ident()
    _owners[ident] = (state, None)
    _controls[ident] = state.control


def unbind_thread():
    ident = _get_ident()
    _owners.pop(ident, None)
    _controls.pop(ident, None)


def own_process(state):
    """Make ``state`` the one session of this process: it owns every thread, bound or
    not (a subprocess session's child). None: no session owns it."""
    global _process_owner
    _process_owner = None if state is None else (state, None)


def owner():
    """``(state, run)`` of the session that owns the calling thread, or None."""
    return _owners.get(_get_ident(), _process_owner)


def owner_of(ident):
    """``(state, run)`` of the session that owns thread ``ident``, or None."""
    return _owners.get(ident, _process_owner)


def control():
    """The run control of the session whose worker the calling thread is, or None."""
    return _controls.get(_get_ident())


def run_owned(who, function):
    """Calls ``function`` with the calling thread (a new one) owned by ``who``, a
    ``(state, run)`` pair."""
    ident = _get_ident()
    _owners[ident] = who
    try:
        return function()
    finally:
        _owners.pop(ident, None)


def absorb_pending_stop():
    """Gives a stop exception that is still pending a place to land: pending
    exceptions are raised at backward jumps like this loop's."""
    for _ in (0, 1):
        pass
