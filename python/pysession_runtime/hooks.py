"""The process-wide functions a session's code reaches, made to know about sessions.

``input()`` never blocks on the host's standard input; ``time.sleep`` is a wait the
host can interrupt; ``os.chdir`` is remembered for the session's next runs; a thread
that session code starts belongs to that session; ``sys.executable`` and ``sys.prefix``
are the session's own when it runs in a virtual environment. An embedded interpreter
installs all of them (``install``); a subprocess session's child, which is its one
session's alone and has its own process state, needs only ``session_input``.
"""

import builtins
import os
import sys
import threading
import time
import types

from pysession_runtime import ownership, streams

_owner = ownership.owner

_original_input = builtins.input
_real_sleep = time.sleep
_real_chdir = os.chdir
_original_thread_start = threading.Thread.start


def session_input(prompt=""):
    """``input()``: an error in a session's threads, the host's own elsewhere."""
    if _owner() is None:
        return _original_input(prompt)
    raise EOFError(
        "input() is not available: a pysession session has no standard input; "
        "pass data in with code or variables instead"
    )


def _sleep(seconds):
    control = ownership.control()
    if control is None:
        return _real_sleep(seconds)
    control.sleep(seconds)


def _chdir(path):
    _real_chdir(path)
    owner = _owner()
    if owner is not None:
        # The session's next runs start here; other sessions keep their own.
        owner[0].control.moved_to(os.getcwd())


def _thread_start(self):
    owner = _owner()
    if owner is not None:
        state, started_by = owner
        if started_by is None:
            started_by = state.control.current_run()
        # The new thread's output belongs to the run that started it: written during a
        # later run, it is reported as background output, not as that run's own.
        owner = (state, started_by)
        run = self.run

        def _owned_run():
            ownership.run_owned(owner, run)

        self.run = _owned_run
    return _original_thread_start(self)


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
    owner = _owner()
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


def _refused(what, why):
    """A process-wide call that one embedded session must not make for all: refused in
    a session's threads, the host's own elsewhere."""
    original = getattr(_refused_module(what), what.rsplit(".", 1)[1])

    def refuse(*args, **kwargs):
        if _owner() is None:
            return original(*args, **kwargs)
        raise RuntimeError(
            f"{what}() is not available in an embedded session: {why}. Code that needs it "
            "belongs in a subprocess session (Backend::Subprocess), a process of its own"
        )

    refuse.__name__ = original.__name__
    refuse.__doc__ = original.__doc__
    return refuse


def _refused_module(what):
    import signal

    return {"signal": signal, "sys": sys}[what.split(".", 1)[0]]


# What an embedded session shares with the host and every other session, and so may
# not change for them.
_PROCESS_WIDE = (
    ("signal.alarm", "its SIGALRM goes to the whole host process, which it ends"),
    ("signal.setitimer", "its signals go to the whole host process, which they end"),
    ("sys.setswitchinterval", "the switch interval is how the host's one interpreter is shared among all sessions"),
)


def _refuse_process_wide():
    for what, why in _PROCESS_WIDE:
        module = _refused_module(what)
        setattr(module, what.rsplit(".", 1)[1], _refused(what, why))


def import_from_working_directory():
    """Like ``python`` and notebooks: modules in the working directory import."""
    if "" not in sys.path:
        sys.path.insert(0, "")


def install(executable=None, guess=True):
    """Every hook of an embedded interpreter, and its routing streams; once per process."""
    set_executable(executable, guess)
    streams.route_by_thread()
    builtins.input = session_input
    time.sleep = _sleep
    threading.Thread.start = _thread_start
    os.chdir = _chdir
    _refuse_process_wide()
    if not getattr(sys, "argv", None):
        sys.argv = [""]
    import_from_working_directory()
