"""A fork server: a subprocess session's process, its startup code run, kept to make the
processes of the other sessions of its configuration by forking itself.

The host asks a process that has just run its startup code to become one (the request
``serve_forks``; ``unsafe`` says when it may not). From then on the process reads
requests on descriptor 6, a Unix seqpacket socket, one JSON object per message, and
answers each with one:

``{"op": "fork", "token": t, "cpu": s}``, with five descriptors
    (requests, replies, stop slot, stdout, stderr). A child takes them as descriptors
    3, 4, 5, 1 and 2, leads a process group of its own, gets RLIMIT_CPU ``s`` (none
    when null), re-seeds what must not be shared, and serves as one session under the
    marker token ``t`` (``start(t)``), its startup code already run. The answer is
    ``{"pid": n}``; ``{"unsafe": why}`` when this process had another thread at the
    fork (the child is killed, and the host starts its sessions without forking from
    then on); ``{"error": why}`` when the request was not a good one.
``{"op": "reap", "pid": n}``
    for a child the host has seen end: reaps it and answers how it ended,
    ``{"code": c}`` or ``{"signal": s}``, or ``{"gone": true}`` when it is not a child
    to wait for. Children are reaped only when the host asks, so that no pid the host
    still signals (the child's, its process group's) can have been reused.

The server ends when the host closes the socket. Its children are sessions of their
own and live on; once it has gone, the system reaps them.

A fork copies only the thread that calls it: a thread that held a lock (the import
lock, a logging handler's, malloc's) would leave it held forever in the child. Threads
of Python code (``threading``, ``_thread``) are refused before the first fork; native
pools that stop their threads on their own before a fork (OpenBLAS, numpy's) are fine,
and any native thread that is still there when the fork returns makes it ``unsafe``.
"""

import gc
import json
import os
import random
import resource
import signal
import socket
import sys
import threading
import traceback

CONTROL = 6
# Where the child takes the descriptors of a fork request, in their order.
_CHILD_DESCRIPTORS = (3, 4, 5, 1, 2)


def _os_threads():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def unsafe():
    """None when this process may serve forks; else why not, in words."""
    me = threading.get_ident()
    others = [t for t in threading.enumerate() if t.ident != me]
    raw = [i for i in sys._current_frames() if i != me and i not in {t.ident for t in others}]
    if others or raw:
        names = [t.name for t in others] + [f"thread {i} (from _thread)" for i in raw]
        return (
            f"the startup code left Python threads running ({', '.join(sorted(names))}), and a fork "
            "copies none of them nor the locks they hold"
        )
    if not hasattr(socket, "recv_fds"):
        return f"Python {sys.version_info[0]}.{sys.version_info[1]} cannot pass descriptors (3.9 or later can)"
    return None


def serve(start):
    """Serves fork requests on descriptor ``CONTROL`` until the host closes it; a child
    runs ``start(token)`` and ends when it returns."""
    control = socket.socket(fileno=CONTROL)
    # What the runtime imports on first use (``python_info``, listing variables) is
    # imported here, once, for every fork to share: in each child it would cost over a
    # megabyte of its own.
    import platform  # noqa: F401
    import reprlib  # noqa: F401

    # What the startup code made stays in every child: kept out of the collector's
    # reach, its pages are not touched (and so copied) by each child's collections.
    gc.collect()
    gc.freeze()
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 65536, 8)
        except OSError:
            os._exit(0)
        if not message:
            # The host has gone.
            os._exit(0)
        try:
            request = json.loads(message)
            op = request.get("op")
            if op == "fork":
                answer = _fork(request, fds, control, start)
            elif op == "reap":
                answer = _reap(int(request["pid"]))
            else:
                answer = {"error": f"no such request: {op!r}"}
        except Exception as e:
            answer = {"error": f"{type(e).__name__}: {e}"}
        finally:
            for fd in fds:
                _close(fd)
        try:
            control.send(json.dumps(answer).encode())
        except OSError:
            os._exit(0)


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def _fork(request, fds, control, start):
    if len(fds) != len(_CHILD_DESCRIPTORS) or min(fds) <= CONTROL:
        return {"error": f"a fork takes {len(_CHILD_DESCRIPTORS)} descriptors above {CONTROL}, not {fds}"}
    token = str(request["token"])
    cpu = request.get("cpu")
    pid = os.fork()
    if pid == 0:
        _become_session(fds, control, token, cpu, start)
    try:
        # Also in the child: whichever runs first, the group exists before the host
        # learns the pid.
        os.setpgid(pid, pid)
    except OSError:
        pass
    threads = _os_threads()
    if threads > 1:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return {
            "unsafe": f"the fork server had {threads - 1} other thread(s) when it forked (started "
            "by native code the startup code loaded), which a fork would leave behind with any "
            "lock they held"
        }
    return {"pid": pid}


def _become_session(fds, control, token, cpu, start):
    """In the child of a fork: takes the session's descriptors, then serves. Never returns."""
    code = 0
    try:
        os.setpgid(0, 0)
        control.close()
        for fd, target in zip(fds, _CHILD_DESCRIPTORS):
            # Requests, replies and stops are the runtime's alone; stdout and stderr
            # are the code's, and its own child processes', as in a spawned process.
            os.dup2(fd, target, inheritable=target < 3)
        for fd in fds:
            _close(fd)
        if cpu:
            resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))
        _reseed()
        start(token)
    except BaseException:
        code = 70
        try:
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        except OSError:
            pass
    finally:
        os._exit(code)


def _reseed():
    """What a fork must not share between sessions: random state. (``random`` re-seeds
    itself at a fork too; ``secrets``, ``uuid4`` and ``tempfile`` read the system's
    randomness or notice the new pid. The hash seed is the server's, as it is for every
    ``multiprocessing`` fork: it cannot change once the interpreter has started.)"""
    random.seed()
    legacy = sys.modules.get("numpy.random")
    if legacy is not None:
        try:
            # numpy's global generator, seeded once at import, from the system's randomness.
            legacy.seed()
        except Exception:
            pass


def _reap(pid):
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return {"gone": True}
    if got == 0:
        return {"error": f"process {pid} has not ended"}
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"code": os.WEXITSTATUS(status)}
