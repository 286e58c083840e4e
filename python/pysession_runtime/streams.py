"""``sys.stdout``, ``sys.stderr`` and ``sys.stdin`` as sessions see them, kept that way.

In an embedded interpreter one pair of routing streams serves the whole process: each
write goes to the session that owns the writing thread, and threads no session owns
write to the host's own streams. In a subprocess session the streams are descriptors 1
and 2 themselves, whose output the host reads whole. Either way a session never reads
the host's standard input, and code that replaces or closes the streams does not
silence the next runs: ``restore`` puts them back before each.
"""

import codecs
import io
import sys

from pysession_runtime import ownership

_owner = ownership.owner

# Text as the host takes it: UTF-8 cannot hold a lone surrogate, which becomes one
# U+FFFD, on both backends (the embedded host makes its strings so too).
REPLACE = "pysession.replace"


def _replace(error):
    if isinstance(error, UnicodeEncodeError) and error.encoding.replace("-", "").lower() == "utf8":
        # As bytes: the UTF-8 encoder takes only ASCII text from a handler.
        return ("\ufffd".encode() * (error.end - error.start), error.end)
    if isinstance(error, UnicodeEncodeError):
        return ("?" * (error.end - error.start), error.end)
    raise error


codecs.register_error(REPLACE, _replace)


class SessionStream(io.TextIOBase):
    """A process-wide ``sys.stdout``/``sys.stderr`` that routes by thread."""

    def __init__(self, stream, fallback, name):
        super().__init__()
        self._stream = stream
        self._fallback = fallback
        self._name = name
        self.buffer = SessionBuffer(self)

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
        owner = _owner()
        if owner is None:
            if self._fallback is None:
                return len(s)
            return self._fallback.write(s)
        if type(s) is not str:
            if not isinstance(s, str):
                raise TypeError(f"write() argument must be str, not {type(s).__name__}")
            # Its text, as a file's `write` takes it, not what its `__str__` says.
            s = str.__str__(s)
        owner[0].capture.write(self._stream, s, owner[1])
        return len(s)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if _owner() is None and self._fallback is not None:
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


class SessionBuffer(io.RawIOBase):
    """``sys.stdout.buffer``: bytes are decoded as UTF-8 with replacement."""

    def __init__(self, text):
        super().__init__()
        self._text = text

    def write(self, b):
        owner = _owner()
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


class NoStdin(io.TextIOBase):
    """``sys.stdin`` for sessions: always at end of file, never blocks, survives
    ``exit()`` closing it. Threads no session owns read ``fallback`` (the host's own
    standard input), if there is one."""

    def __init__(self, fallback=None):
        super().__init__()
        self._fallback = fallback

    def _host(self):
        return self._fallback if _owner() is None else None

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


class _Routing:
    """An embedded interpreter's streams: one routing pair, installed once."""

    def __init__(self):
        self.stdout = SessionStream(1, sys.stdout, "<stdout>")
        self.stderr = SessionStream(2, sys.stderr, "<stderr>")
        self.stdin = NoStdin(sys.stdin)

    def restore(self):
        if sys.stdout is not self.stdout:
            sys.stdout = self.stdout
        if sys.stderr is not self.stderr:
            sys.stderr = self.stderr
        if sys.stdin is not self.stdin:
            sys.stdin = self.stdin


def _stream_for(fd):
    return io.TextIOWrapper(
        io.FileIO(fd, "w", closefd=False),
        encoding="utf-8",
        errors=REPLACE,
        line_buffering=True,
        write_through=True,
    )


class _Descriptors:
    """A subprocess's streams: descriptors 1 and 2 as the process started with them."""

    def __init__(self):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(errors=REPLACE)
            except (AttributeError, ValueError):
                pass
        self.originals = {1: sys.stdout, 2: sys.stderr}

    def restore(self):
        originals = self.originals
        for name, fd in (("stdout", 1), ("stderr", 2)):
            stream = getattr(sys, name)
            if stream is not originals[fd] or stream.closed:
                if originals[fd].closed:
                    originals[fd] = _stream_for(fd)
                setattr(sys, name, originals[fd])
        if not isinstance(sys.stdin, NoStdin):
            sys.stdin = NoStdin()


# What `restore` puts back: None until a backend installs its streams.
_installed = None


def use_native_write(make_write):
    """The routing streams' ``write`` in the host's native code, which behaves as
    ``SessionStream.write`` does: ``make_write(stream, owners, slow)`` makes it from
    the thread-owner map and the Python ``write``, which it calls for what it does not
    take itself."""
    for stream in (_installed.stdout, _installed.stderr):
        stream.write = make_write(stream._stream, ownership._owners, stream.write)


def route_by_thread():
    """Install the routing streams (an embedded interpreter, once)."""
    global _installed
    _installed = _Routing()
    _installed.restore()


def use_descriptors():
    """Keep the descriptors' own streams (a subprocess session's child)."""
    global _installed
    _installed = _Descriptors()
    _installed.restore()


def restore():
    """Code that replaced or closed the streams does not silence the next run."""
    if _installed is not None:
        _installed.restore()

