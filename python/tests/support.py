"""What the tests share: the host's constants (the tests' own values) and stand-ins for
the host's capture and run control.

Importing this configures the runtime. Its runtime file prefix is the package's folder,
so that traceback stripping drops the frames of the modules imported from disk as it
drops those the host compiles under ``<pysession-runtime/...>``.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
PACKAGE_DIR = os.path.join(PYTHON_DIR, "pysession_runtime")
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

from pysession_runtime import config  # noqa: E402

CONSTANTS = {
    "runtime_file_prefix": PACKAGE_DIR + os.sep,
    "cell_file_prefix": "<cell ",
    "max_frame": 1 << 30,
    "mime": {
        "json_types": ["application/json"],
        "json_suffixes": ["+json"],
        "text_prefixes": ["text/"],
        "text_suffixes": ["+xml", "/xml", "/javascript", "/x-latex", "/x-tex"],
        "text_types": ["application/x-javascript", "application/ecmascript"],
        "binary_kinds": ["image", "audio", "video", "font"],
        "binary_types": [
            "application/pdf",
            "application/octet-stream",
            "application/zip",
            "application/gzip",
            "application/wasm",
        ],
    },
}


def configure(**changes):
    """Configures the runtime with the tests' constants, ``changes`` replacing some."""
    config.configure({**CONSTANTS, **changes})


configure()


class Control:
    """Stands in for the host's run control; records what the runtime asks of it."""

    def __init__(self, stopping=False, run=0):
        self._stopping = stopping
        self._run = run
        self.calls = []

    def stopping(self):
        return self._stopping

    def arm(self):
        self.calls.append(("arm",))

    def settle(self):
        self.calls.append(("settle",))

    def sleep(self, seconds):
        self.calls.append(("sleep", seconds))

    def moved_to(self, path):
        self.calls.append(("moved_to", path))

    def current_run(self):
        return self._run


class Recorder:
    """Stands in for the host's capture: keeps the output and the displays."""

    def __init__(self):
        self.writes = []
        self.displays = []

    def write(self, stream, text, run=None):
        self.writes.append((stream, text, run))

    def write_bytes(self, stream, data, run=None):
        self.writes.append((stream, data, run))

    def display(self, items, is_value, run=None):
        self.displays.append((dict(items), is_value))


class Owner:
    """A session state as ownership and the hooks see it."""

    def __init__(self, capture=None, control=None, environment=None):
        self.capture = capture if capture is not None else Recorder()
        self.control = control if control is not None else Control()
        self.environment = environment
        self.loop = None
