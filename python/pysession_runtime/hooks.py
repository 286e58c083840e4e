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


def _owning(start):
    """``Thread.start`` that gives the new thread to the session that starts it."""
    if getattr(start, "_pysession_owning", False):
        return start

    def owned_start(self):
        _give_to_owner(self)
        return start(self)

    owned_start._pysession_owning = True
    owned_start.__doc__ = start.__doc__
    return owned_start


def _give_to_owner(self):
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


# The event loop each thread runs (asyncio's own record of it is thread-local, where the
# host, stopping a run, cannot see it).
running_loops = {}


def _tracking(set_running_loop):
    """``asyncio.events._set_running_loop`` that also records the loop by thread."""
    if getattr(set_running_loop, "_pysession_tracking", False):
        return set_running_loop

    def tracked(loop):
        ident = threading.get_ident()
        if loop is None:
            running_loops.pop(ident, None)
        else:
            running_loops[ident] = loop
        return set_running_loop(loop)

    tracked._pysession_tracking = True
    return tracked


def _hook_time(module):
    module.sleep = _sleep


def _hook_threading(module):
    module.Thread.start = _owning(module.Thread.start)


def _hook_asyncio_events(module):
    module._set_running_loop = _tracking(module._set_running_loop)


# Modules whose functions an embedded interpreter's sessions must reach hooked, each
# time the module is executed: imported again after `del sys.modules[...]`, or
# `importlib.reload`ed.
_EMBEDDED_HOOKS = {"time": _hook_time, "threading": _hook_threading, "asyncio.events": _hook_asyncio_events}
# What `after_import` runs, by module name.
_MODULE_HOOKS = {}


class _HookedLoader:
    """Runs a module's own loader, then its hook. The module keeps its own loader: a
    later import or reload is seen by the finder again."""

    def __init__(self, loader, hook):
        self._loader = loader
        self._hook = hook

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
        self._hook(module)


class _HookingFinder:
    """A ``sys.meta_path`` entry that sees the hooked modules being (re)imported."""

    def find_spec(self, fullname, path=None, target=None):
        hook = _MODULE_HOOKS.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            # Past every finder like this one (a second one would ask this one back).
            if isinstance(finder, _HookingFinder) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookedLoader(spec.loader, hook)
        return spec


def _guard_module_locks():
    """An import that would wait for a module that code given up on is importing (its
    top level blocked where it cannot be stopped) fails at once with an ImportError
    that says so, rather than block until the session is given up on too."""
    import _frozen_importlib as bootstrap

    lock_class = bootstrap._ModuleLock
    acquire = lock_class.acquire
    if getattr(acquire, "_pysession_guarded", False):
        return

    def guarded_acquire(self):
        owner = self.owner
        if owner is not None and owner != threading.get_ident():
            control = ownership.control()
            abandoned = getattr(control, "abandoned_threads", None)
            if abandoned is not None and owner in abandoned():
                raise ImportError(
                    f"module {self.name!r} cannot be imported now: code that was given up on "
                    "(it never returned) is importing it, and the import finishes only when "
                    "that code returns. Nothing else is lost: the session's state is kept.",
                    name=self.name,
                )
        return acquire(self)

    guarded_acquire._pysession_guarded = True
    lock_class.acquire = guarded_acquire


def after_import(name, hook):
    """Runs ``hook(module)`` on the module ``name`` now if it is imported, and each time
    it is executed from now on (imported, imported again, reloaded)."""
    _MODULE_HOOKS[name] = hook
    if not any(isinstance(f, _HookingFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _HookingFinder())
    if name in sys.modules:
        hook(sys.modules[name])


def install(executable=None, guess=True):
    """Every hook of an embedded interpreter, and its routing streams; once per process."""
    set_executable(executable, guess)
    streams.route_by_thread()
    builtins.input = session_input
    for name, hook in _EMBEDDED_HOOKS.items():
        after_import(name, hook)
    os.chdir = _chdir
    _refuse_process_wide()
    _guard_module_locks()
    if not getattr(sys, "argv", None):
        sys.argv = [""]
    import_from_working_directory()
