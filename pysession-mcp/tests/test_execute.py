"""execute_python: state, the parts of a result, errors, timeouts, truncation, images
and the structured result, on every transport and protocol era."""

from __future__ import annotations

import base64
import struct

import anyio
import jsonschema
import mcp_types as types

import pytest

from conftest import HttpServer, py_on, Py, text

pytestmark = pytest.mark.anyio


async def _output_schema(py: Py) -> dict:
    with anyio.fail_after(30):
        tools = (await py.client.list_tools()).tools
    return next(t.output_schema for t in tools if t.name == "execute_python")


async def test_state_is_kept_between_calls(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        r = await py.run("x = 41")
        assert r.is_error is False and r.structured_content["status"] == "ok"
        r = await py.run("x + 1")
        assert r.is_error is False
        assert r.structured_content["value"] == "42"
        assert "--- value ---\n42\n" in text(r)
        await py.still_works()


async def test_text_has_stdout_stderr_and_value(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        r = await py.run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\n'the value'")
        t = text(r)
        assert r.is_error is False
        assert t.startswith("status: ok"), t
        assert "--- stdout ---\nto out\n" in t
        assert "--- stderr ---\nto err\n" in t
        assert "--- value ---\n'the value'\n" in t
        sc = r.structured_content
        assert (sc["stdout"], sc["stderr"], sc["value"]) == ("to out\n", "to err\n", "'the value'")
        jsonschema.validate(sc, await _output_schema(py))


async def test_exception_is_a_tool_error_with_its_traceback_and_keeps_state(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        await py.run("kept = 'yes'")
        r = await py.run("def boom():\n    return 1 / 0\nprint('before')\nboom()")
        assert r.is_error is True
        t = text(r)
        assert "status: error (ZeroDivisionError)" in t
        assert "--- stdout ---\nbefore\n" in t
        assert "Traceback (most recent call last):" in t and "in boom" in t
        assert "ZeroDivisionError: division by zero" in t
        sc = r.structured_content
        assert sc["status"] == "error" and sc["success"] is False
        assert sc["error"]["type"] == "ZeroDivisionError"
        jsonschema.validate(sc, await _output_schema(py))
        assert await py.value("kept") == "'yes'"
        await py.still_works()


async def test_syntax_error_is_a_tool_error(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        r = await py.run("def f(:\n    pass")
        assert r.is_error is True
        assert r.structured_content["error"]["type"] == "SyntaxError"
        assert "SyntaxError" in text(r)
        await py.still_works()


async def test_timeout_stops_a_busy_loop_and_keeps_state(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        r = await py.run("before_loop = 'survived'\nwhile True:\n    pass", timeout_seconds=1, within=30)
        assert r.is_error is True
        sc = r.structured_content
        assert sc["status"] == "timeout", sc
        assert "status: timeout" in text(r)
        jsonschema.validate(sc, await _output_schema(py))
        assert await py.value("before_loop") == "'survived'"
        await py.still_works()


async def test_timeout_stops_a_sleep(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        r = await py.run("import time\nslept = 'before'\ntime.sleep(30)\nslept = 'after'", timeout_seconds=1, within=20)
        assert r.is_error is True and r.structured_content["status"] == "timeout"
        assert await py.value("slept") == "'before'"
        await py.still_works()


async def test_small_max_output_chars_cuts_the_text_and_says_how_much(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        # 1000 characters and a newline; 100 are kept, so 901 are cut.
        r = await py.run("print('a' * 500 + 'b' * 500)", max_output_chars=100)
        assert r.is_error is False
        t = text(r)
        assert "901 characters cut" in t, t
        assert "a" * 50 in t and "b" * 49 in t
        assert "a" * 51 not in t and "b" * 51 not in t
        assert len(t) < 400
        # The value is cut by the same limit.
        r = await py.run("'v' * 1000", max_output_chars=10)
        t = text(r)
        assert "characters cut" in t and "v" * 20 not in t, t
        await py.still_works()


async def test_invalid_timeout_is_a_tool_error(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        r = await py.run("1", timeout_seconds=-1)
        assert r.is_error is True and "timeout_seconds" in text(r)
        await py.still_works()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


async def test_matplotlib_figure_comes_back_as_a_png_image(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        code = (
            "import matplotlib.pyplot as plt\n"
            "fig = plt.figure(figsize=(3, 2), dpi=50)\n"
            "plt.plot([1, 3, 2])\n"
            "plt.show()"
        )
        r = await py.run(code, within=90)
        assert r.is_error is False, text(r)
        images = [c for c in r.content if isinstance(c, types.ImageContent)]
        assert len(images) == 1, r.content
        assert images[0].mime_type == "image/png"
        assert _png_size(base64.b64decode(images[0].data)) == (150, 100)
        assert "1 image(s) attached" in text(r)
        jsonschema.validate(r.structured_content, await _output_schema(py))
        # A figure as the last expression is shown too, at its own size.
        r = await py.run("fig2 = plt.figure(figsize=(2, 4), dpi=40)\nfig2")
        images = [c for c in r.content if isinstance(c, types.ImageContent)]
        assert [_png_size(base64.b64decode(i.data)) for i in images] == [(80, 160)]
        await py.still_works()
