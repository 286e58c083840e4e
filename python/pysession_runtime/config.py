"""The constants the host defines once, in ``src/runtime.rs``, and hands in at start-up.

The host calls ``configure`` right after loading this module, before any other module
of the runtime runs; the unit tests call it with values of their own. Nothing here has a
default: the other modules read these names when they run, and a constant that was not
handed in is an error there, never a guess.

``RUNTIME_FILE_PREFIX``
    how the file names of the runtime's own code begin: tracebacks leave those frames out.
``CELL_FILE_PREFIX``
    how the file names of the user's cells begin (``<cell 12>``).
``MAX_FRAME``
    the most bytes one frame of the subprocess protocol may carry.
``JSON_TYPES``, ``JSON_SUFFIXES``, ``TEXT_PREFIXES``, ``TEXT_SUFFIXES``, ``TEXT_TYPES``, ``BINARY_KINDS``, ``BINARY_TYPES``
    which MIME types carry JSON, text and bytes: the host reads a bundle back by the
    same rules.
"""

import json

_MIME_KEYS = {
    "JSON_TYPES": ("json_types", frozenset),
    "JSON_SUFFIXES": ("json_suffixes", tuple),
    "TEXT_PREFIXES": ("text_prefixes", tuple),
    "TEXT_SUFFIXES": ("text_suffixes", tuple),
    "TEXT_TYPES": ("text_types", frozenset),
    "BINARY_KINDS": ("binary_kinds", frozenset),
    "BINARY_TYPES": ("binary_types", frozenset),
}


def configure(values):
    """Takes the host's constants: a JSON object as text (from the host) or a dict."""
    if isinstance(values, (str, bytes)):
        values = json.loads(values)
    try:
        constants = {
            "RUNTIME_FILE_PREFIX": str(values["runtime_file_prefix"]),
            "CELL_FILE_PREFIX": str(values["cell_file_prefix"]),
            "MAX_FRAME": int(values["max_frame"]),
        }
        mime = values["mime"]
        for name, (key, kind) in _MIME_KEYS.items():
            constants[name] = kind(str(m) for m in mime[key])
    except KeyError as e:
        raise ValueError(f"the host's constants for the runtime lack {e.args[0]!r}") from None
    if not constants["RUNTIME_FILE_PREFIX"] or not constants["CELL_FILE_PREFIX"]:
        raise ValueError("the runtime's and the cells' file-name prefixes must not be empty")
    globals().update(constants)


def cell_file(number):
    """The file name of the user's cell ``number``: ``<cell 12>``."""
    return f"{CELL_FILE_PREFIX}{number}>"


def is_cell_file(filename):
    return filename.startswith(CELL_FILE_PREFIX)


def is_runtime_file(filename):
    return filename.startswith(RUNTIME_FILE_PREFIX)
