"""Running one cell of a session: file semantics, the value of a trailing expression
(as a notebook's ``Out[]``), top-level ``await`` on the session's own event loop, and
the cell's source kept for tracebacks.

A cell runs against a session state with ``ns`` (its namespace), ``loop`` (its event
loop, or None), ``filenames`` and ``source_bytes`` (the cell sources it keeps).
"""

import ast
import linecache
from types import FunctionType

from pysession_runtime import config, display, hooks, ownership, tracebacks
from pysession_runtime.ownership import StopExecution

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_CO_COROUTINE = 0x80
_cell_counter = iter(range(1, 1 << 62))
# Cell sources a session keeps for tracebacks: at most this many characters and this
# many cells (each kept cell costs a few hundred bytes besides its text).
SOURCE_BUDGET = 16 << 20
SOURCE_CELLS = 1000
# Values of these types have no representation but their repr: the common case, which
# skips the look for representation methods.
_PLAIN_TYPES = frozenset(
    (int, float, complex, bool, str, bytes, bytearray, list, tuple, dict, set, frozenset, range)
)


def next_filename():
    """The file name of the next cell of the process: ``<cell 12>``."""
    return config.cell_file(next(_cell_counter))


def run_cell(state, code, filename):
    """Runs ``code`` as the cell ``filename``. Returns ``(status, value_repr, error)``:
    ``"ok"`` or ``"error"``, the repr of a trailing expression's value (None for no
    value, or None itself), and ``(type_name, message, traceback_text)`` or None. A
    value with rich representations is displayed too, as the value's bundle. A stop
    is raised on, for the caller to handle."""
    try:
        plan = _plan(code, filename) if _plan is not None else None
        if plan is None:
            tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | _FLAGS, dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        remember_source(state, filename, code)
        return ("error", None, tracebacks.describe(e))
    remember_source(state, filename, code)
    try:
        if plan is not None:
            value = _run_code(state, plan[0])
            if plan[1] is not None:
                value = eval(plan[1], state.ns)
        else:
            body = tree.body
            last = None
            if body and isinstance(body[-1], ast.Expr):
                last = ast.Expression(body.pop().value)
            if body:
                _run_code(state, compile(tree, filename, "exec", _FLAGS, dont_inherit=True))
            if last is None:
                return ("ok", None, None)
            value = _run_code(state, compile(last, filename, "eval", _FLAGS, dont_inherit=True))
        if value is None:
            return ("ok", None, None)
        text = repr(value)
        if type(value) not in _PLAIN_TYPES:
            bundle = display.mime_bundle(value, plain=text, rich_only=True)
            if bundle is not None:
                display.emit((state, None), bundle, True)
        return ("ok", text, None)
    except StopExecution:
        raise
    except BaseException as e:
        return ("error", None, tracebacks.describe(e))


# How the embedded host runs a cell without the `ast` route (`use_native_plan`), or None;
# and why the one it offered was not taken: (cell, what it gave, what it should give).
_plan = None
plan_refused = None
# Cells and their values, as the `ast` route gives them: a plan is used only if it
# gives the same.
_PLAN_CHECKS = (
    ("x = 1", None), ("len('ab')", 2), ("x = 3\nx * 2  # six", 6), ("x = 1\n'a' 'b'", "ab"),
    ("for i in range(3):\n    i", None), ("x = [1]\nx[0] = 5\nx", [5]), ("x = 0\nf = len\nf(\"a\") if x else f(\"bc\")", 2),
)


def use_native_plan(plan):
    """Cells are run as ``plan(code, filename)`` says from now on: ``(code_object,
    constant)``, where running the code object gives the cell's value (and, when
    ``constant`` is not None, evaluating it gives it), or None for the `ast` route.
    The embedded host's plan compiles a cell once, where that route parses it into
    `ast` objects and compiles it from them (see the host's `cellplan` module). It is
    used if it gives what the `ast` route gives on a few cells."""
    global _plan, plan_refused
    _plan = None
    for code, want in _PLAN_CHECKS:
        try:
            ns = {}
            got = plan(code, "<check>")
            if got is None:
                continue
            value = eval(got[0], ns)
            if got[1] is not None:
                value = eval(got[1], ns)
        except Exception as e:
            value = e
        if value != want:
            plan_refused = (code, value, want)
            return
    plan_refused = None
    _plan = plan


def _run_code(state, code):
    if not code.co_flags & _CO_COROUTINE:
        # Called as a function, not through `eval`: a stop raised while the code ran
        # lands in the code, never as it returns. CPython checks for a pending stop at
        # the end of a call to a C function such as `eval`, and 3.13 may leave one raised
        # during the code's last bytecodes for that check (the code's last statement ran,
        # yet the run would end stopped); the return of a Python call to Python code has
        # no such check. Code that is not a function's runs with the globals as its
        # locals, as under `eval`.
        return FunctionType(code, state.ns)()
    loop = _event_loop(state)
    task = loop.create_task(eval(code, state.ns))
    try:
        return loop.run_until_complete(task)
    except BaseException:
        # Stopped or failed inside the loop: the cell's task must not resume the
        # next time the loop runs.
        task.cancel()
        raise


def _event_loop(state):
    if state.loop is None or state.loop.is_closed():
        import asyncio

        state.loop = asyncio.new_event_loop()
    return state.loop


def close_loop(state):
    """Closes the session's event loop, unless it is running."""
    loop, state.loop = state.loop, None
    if loop is not None and not loop.is_running():
        try:
            loop.close()
        except Exception:
            pass


def wake_loop(ident):
    """Called by the host while it stops a run: a session waiting in its event loop
    (top-level ``await``) wakes up, so the stop can be raised."""
    owner = ownership.owner_of(ident)
    # The session's own loop (top-level `await`), or one the code runs in that thread
    # (`asyncio.run`).
    for loop in (owner[0].loop if owner is not None else None, hooks.running_loops.get(ident)):
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(_nothing)


def _nothing():
    pass


def remember_source(state, filename, code):
    """Tracebacks show the lines of cells; the oldest are forgotten past a budget of
    characters and of cells."""
    lines = code.splitlines(keepends=True)
    linecache.cache[filename] = (len(code), None, lines, filename)
    state.filenames.append(filename)
    state.source_bytes += len(code)
    while (state.source_bytes > SOURCE_BUDGET or len(state.filenames) > SOURCE_CELLS) and len(
        state.filenames
    ) > 1:
        old = state.filenames.popleft()
        entry = linecache.cache.pop(old, None)
        if entry is not None:
            state.source_bytes -= entry[0]


def forget_sources(state):
    for name in state.filenames:
        linecache.cache.pop(name, None)
    state.filenames.clear()
    state.source_bytes = 0
