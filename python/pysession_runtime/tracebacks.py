"""Errors as the host reports them: ``(type name, message, traceback text)``, with
tracebacks that show the user's frames (cells, and what they called) and none of the
runtime's."""

import traceback

from pysession_runtime import config


def describe(exc, chain=True):
    """``exc`` as ``(type_name, message, traceback_text)``. Reading an exception's text
    runs its ``__str__``, which is the user's code: it runs under the same timeout as
    the cell (a stop raised in it goes on up), and when it fails, the exception is
    still the one the user raised, with a note in place of its text."""
    if isinstance(exc, SyntaxError):
        message = _syntax_message(exc)
    else:
        message = text_of(exc)
    return (type(exc).__name__, message, _format(exc, chain))


def text_of(exc):
    """``str(exc)``, or a note that says why it could not be read."""
    try:
        return str(exc)
    except Exception as e:
        try:
            why = f"{type(e).__name__}: {e}"
        except Exception:
            why = type(e).__name__
        return f"<the text of this {type(exc).__name__} could not be read: its __str__ raised {why}>"


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
    line (the host words that). Only the frames are read, never an exception's text:
    this runs after the stop has settled, where the user's code must not run."""
    try:
        frames = traceback.extract_tb(exc.__traceback__)
        frames = _user_frames(frames, user_only=True)
        if not frames:
            return ""
        return "Traceback (most recent call last):\n" + "".join(
            traceback.StackSummary.from_list(frames).format()
        )
    except Exception:
        return ""


def _user_frames(frames, user_only=False):
    """The frames of a stack but the runtime's, from the first cell's on."""
    frames = [f for f in frames if not config.is_runtime_file(f.filename)]
    first_cell = next((i for i, f in enumerate(frames) if config.is_cell_file(f.filename)), None)
    if first_cell is not None:
        return frames[first_cell:]
    return [] if user_only else frames


def _strip_runtime_frames(te, seen, user_only=False):
    """Drops the runtime's frames, and the frames of the machinery that called the
    user's code (such as an event loop) before the first frame of a cell."""
    if id(te) in seen:
        return
    seen.add(id(te))
    frames = _user_frames(te.stack, user_only)
    if len(frames) != len(te.stack):
        te.stack = traceback.StackSummary.from_list(frames)
    for linked in (te.__cause__, te.__context__):
        if linked is not None:
            _strip_runtime_frames(linked, seen)
    for sub in getattr(te, "exceptions", None) or ():
        _strip_runtime_frames(sub, seen)
