"""Rich output: MIME bundles of objects, and ``display()``.

An object's bundle is what notebooks would show of it: its ``_repr_*_`` methods and
``_repr_mimebundle_``, plus what a module of the runtime registers for kinds of objects
that have none (``figures``: a matplotlib figure's PNG), with ``text/plain`` always
among them. Each bundle goes to the capture of the session that owns the calling thread.
Which MIME types carry JSON, text or bytes are the host's rules (``config``).
"""

import builtins
import json
import sys

from pysession_runtime import config, ownership, variables

# Representation methods, as notebooks look them up (on the type, not the instance, so
# objects that answer every attribute do not claim every format).
_REPR_METHODS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("text/latex", "_repr_latex_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("image/gif", "_repr_gif_"),
    ("application/pdf", "_repr_pdf_"),
    ("application/json", "_repr_json_"),
    ("application/javascript", "_repr_javascript_"),
)
# (mime, claims(obj), render(obj), what): representations of objects that have no
# method for them, tried after the methods.
_renderers = []


def is_json(mime):
    return mime in config.JSON_TYPES or mime.endswith(config.JSON_SUFFIXES)


def is_text(mime):
    """Types whose data is text: ``text/*``, SVG, XML, JavaScript, LaTeX..."""
    return (
        mime.startswith(config.TEXT_PREFIXES)
        or mime.endswith(config.TEXT_SUFFIXES)
        or mime in config.TEXT_TYPES
    )


def is_binary(mime):
    """Types whose data is bytes even when given as (base64) text."""
    kind = mime.split("/", 1)[0]
    return (kind in config.BINARY_KINDS and not is_text(mime)) or mime in config.BINARY_TYPES


def normalize(mime, data):
    """One representation as the host takes it: bytes for binary types (base64 text
    is decoded, as notebooks accept it), JSON text for JSON types, str otherwise.
    None: no representation."""
    if isinstance(data, tuple) and len(data) == 2:
        data = data[0]  # (data, metadata)
    if data is None:
        return None
    if is_json(mime):
        if isinstance(data, (str, bytes)):
            data = json.loads(data)
        return json.dumps(data, default=variables.json_default, allow_nan=False)
    if is_binary(mime):
        if isinstance(data, str):
            import base64
            import binascii

            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{mime} data given as text must be base64, and this is not") from None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"{mime} data must be bytes (or base64 text), not {type(data).__name__}")
        return bytes(data)
    if isinstance(data, (bytes, bytearray, memoryview)):
        if is_text(mime):
            return bytes(data).decode("utf-8", "replace")
        # Bytes of a type this list does not know: kept as bytes.
        return bytes(data)
    return str(data)


def formatter_failed(obj, what, exc):
    """Says on the session's stderr that one representation of ``obj`` failed."""
    sys.stderr.write(
        f"display: {type(obj).__name__}.{what} failed, that representation is left out: "
        f"{type(exc).__name__}: {exc}\n"
    )


def add_renderer(mime, claims, render, what):
    """``render(obj)`` is the ``mime`` representation of objects ``claims(obj)`` says
    are its, when they have none of their own; ``what`` names it in failures."""
    if not any(r[0] == mime and r[1] is claims for r in _renderers):
        _renderers.append((mime, claims, render, what))


def mime_bundle(obj, plain=None, rich_only=False, include=None, exclude=None):
    """``obj``'s representations as ``{mime: str | bytes}``, ``text/plain`` (its
    repr, or ``plain``) always among them. With ``rich_only``, None when it has no
    other."""
    bundle = {}
    cls = type(obj)
    if getattr(cls, "_repr_mimebundle_", None) is not None:
        try:
            got = obj._repr_mimebundle_(include=include, exclude=exclude)
            if isinstance(got, tuple):
                got = got[0]
            got = dict(got or {})
        except Exception as e:
            formatter_failed(obj, "_repr_mimebundle_()", e)
            got = {}
        for mime, data in got.items():
            try:
                data = normalize(str(mime), data)
            except Exception as e:
                formatter_failed(obj, f"_repr_mimebundle_()[{mime!r}]", e)
                continue
            if data is not None:
                bundle[str(mime)] = data
    for mime, method in _REPR_METHODS:
        if mime in bundle or getattr(cls, method, None) is None:
            continue
        try:
            data = normalize(mime, getattr(obj, method)())
        except Exception as e:
            formatter_failed(obj, method + "()", e)
            continue
        if data is not None:
            bundle[mime] = data
    for mime, claims, render, what in _renderers:
        if mime not in bundle and claims(obj):
            try:
                bundle[mime] = render(obj)
            except Exception as e:
                formatter_failed(obj, what, e)

    def wanted(mime):
        return (include is None or mime in include) and (exclude is None or mime not in exclude)

    if rich_only and not any(m != "text/plain" and wanted(m) for m in bundle):
        return None
    if plain is not None:
        # The value's repr, already made for the result.
        bundle["text/plain"] = plain
    elif "text/plain" not in bundle and wanted("text/plain"):
        bundle["text/plain"] = repr(obj)
    return {m: d for m, d in bundle.items() if wanted(m)}


def display(*objs, raw=False, include=None, exclude=None, metadata=None, **kwargs):
    """Show objects the way a notebook does: each becomes one item of the result's
    ``display`` list (a MIME bundle: HTML, PNG, ... and ``text/plain``), in order.

    ``raw=True``: each object already is a bundle, a dict of MIME type to data.
    ``include``/``exclude`` keep or leave out MIME types. Other notebook arguments
    (``metadata``, ``display_id``, ...) are accepted and have no effect here.
    """
    owner = ownership.owner()
    for obj in objs:
        if raw:
            if not isinstance(obj, dict):
                raise TypeError(
                    f"display(raw=True) takes dicts of MIME type to data, not {type(obj).__name__}"
                )
            bundle = {}
            for mime, data in obj.items():
                data = normalize(str(mime), data)
                if data is not None:
                    bundle[str(mime)] = data
        else:
            bundle = mime_bundle(obj, include=include, exclude=exclude)
        if not bundle:
            continue
        if owner is None:
            # Not a session's thread: the host's own code; show the text.
            print(bundle.get("text/plain", ""))
            continue
        emit(owner, bundle, False)


def emit(owner, bundle, is_value):
    """Hands ``bundle`` to the capture of ``owner``, a ``(state, run)`` pair."""
    state, run = owner
    # MIME type names cross to the host as UTF-8 (a lone surrogate becomes "?").
    items = [(variables.clean(m), d) for m, d in bundle.items()]
    state.capture.display(items, is_value, run)


def install():
    """``display`` for every session, a builtin as in notebooks."""
    builtins.display = display
