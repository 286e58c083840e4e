"""Errors as the host reports them: ``(type name, message, traceback text)``, with
tracebacks that show the user's frames (cells, and what they called) and none of the
runtime's."""

import traceback

from pysession_runtime import config


def describe(exc, chain=True):
    """``exc`` as ``(type_name, message, traceback_text)``."""
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


def format_stack(exc):
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
    frames = [f for f in te.stack if not config.is_runtime_file(f.filename)]
    first_cell = next((i for i, f in enumerate(frames) if config.is_cell_file(f.filename)), None)
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
