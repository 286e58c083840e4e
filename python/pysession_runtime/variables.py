"""A session's variables for the host (the ``data`` operations), and values as the host
takes them: JSON, bytes, and text without lone surrogates."""

import json
import os
import sys
import types

from pysession_runtime import streams, tracebacks


def data(ns, op, name, arg, blobs=(), environment=None):
    """Variables of the namespace ``ns`` for the host, as JSON text: ``op`` is ``"get"``
    (``name``), ``"set"`` (``name`` to the JSON ``arg``, in which ``{"\\0bytes": i}``
    stands for ``blobs[i]``) or ``"list"`` (``arg``: include modules); or as bytes:
    ``"get_bytes"`` and ``"set_bytes"`` (``blobs[0]``); or ``"info"``: the Python the
    session runs (in ``environment``, if it has one), as JSON.
    Returns ``(status, json_or_bytes_or_None, error)`` like a cell's run."""
    try:
        if op == "get_bytes":
            if name not in ns:
                return ("error", None, ("NameError", f"no variable named {name!r} in the session", ""))
            value = ns[name]
            if isinstance(value, bytes):
                return ("ok", value, None)
            if isinstance(value, (bytearray, memoryview)):
                return ("ok", bytes(value), None)
            message = f"variable {name!r} is a {type(value).__name__}, not bytes, bytearray or memoryview"
            return ("error", None, ("TypeError", message, ""))
        if op == "set_bytes":
            if not name.isidentifier():
                return ("error", None, ("ValueError", f"{name!r} is not a valid Python name", ""))
            blob = blobs[0]
            ns[name] = blob if type(blob) is bytes else bytes(blob)
            return ("ok", None, None)
        if op == "get":
            if name not in ns:
                return ("error", None, ("NameError", f"no variable named {name!r} in the session", ""))
            value = ns[name]
            try:
                return ("ok", json.dumps(value, default=json_default, allow_nan=False), None)
            except (TypeError, ValueError) as e:
                message = f"variable {name!r} (a {type(value).__name__}) cannot be converted to JSON: {e}"
                return ("error", None, ("TypeError", message, ""))
        if op == "set":
            if not name.isidentifier():
                return ("error", None, ("ValueError", f"{name!r} is not a valid Python name", ""))
            if blobs:
                ns[name] = json.loads(arg, object_hook=_blob_hook(blobs))
            else:
                ns[name] = json.loads(arg)
            return ("ok", None, None)
        if op == "list":
            return ("ok", json.dumps(_variables(ns, bool(arg))), None)
        if op == "info":
            return ("ok", json.dumps(_python_info(environment)), None)
        return ("error", None, ("ValueError", f"unknown variable operation {op!r}", ""))
    except Exception as e:
        return ("error", None, tracebacks.describe(e))


def _python_info(environment):
    import platform
    import site

    return {
        "version": platform.python_version(),
        "sys_version": sys.version,
        "executable": sys.executable,
        "base_executable": getattr(sys, "_base_executable", sys.executable),
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "site_packages": environment["site_packages"] if environment else site.getsitepackages(),
        "pid": os.getpid(),
    }


def _variables(ns, modules):
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = 80
    found = []
    for name, value in list(ns.items()):
        if name.startswith("__") or name == "_":
            continue
        if isinstance(value, types.ModuleType) and not modules:
            continue
        try:
            text = short.repr(value)
        except Exception as e:
            text = f"<repr failed: {type(e).__name__}>"
        found.append([name, type(value).__name__, text])
    return found


def _blob_hook(blobs):
    """``json.loads`` hook: the host's byte strings come back as ``bytes``."""

    def hook(obj):
        if len(obj) == 1 and "\0bytes" in obj:
            blob = blobs[obj["\0bytes"]]
            return blob if type(blob) is bytes else bytes(blob)
        return obj

    return hook


def json_default(value):
    """``json.dumps`` default: bytes as a list of numbers (which serde reads as
    ``Vec<u8>``), sets and tuples as lists."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return list(bytes(value))
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def clean(value):
    """Strings as the host can take them (UTF-8 and JSON have no lone surrogates: each
    becomes U+FFFD), in lists and tuples too."""
    if isinstance(value, str):
        return value.encode("utf-8", streams.REPLACE).decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value
