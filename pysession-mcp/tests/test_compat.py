"""`--tools ipybox` and `--tools ansys`: the names, parameters, defaults and result
texts of the servers users switch from (see /tmp/compat.md: ipybox 0.9.2,
ansys-common-mcp 0.3.2)."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import mcp_types as types
import pytest

from conftest import BIN, PACKAGE, StdioServerParameters, connect, stdio

pytestmark = pytest.mark.anyio

IPYBOX_ERROR = "Error executing tool execute_ipython_cell: "


def only_text(r: types.CallToolResult) -> str:
    assert len(r.content) == 1 and isinstance(r.content[0], types.TextContent), r.content
    return r.content[0].text


async def _cell(client, code: str, within: float = 60, **kw) -> types.CallToolResult:
    with anyio.fail_after(within):
        r = await client.call_tool("execute_ipython_cell", {"code": code, **kw})
    assert r.structured_content is None
    return r


# ----------------------------------------------------------------------------- ipybox


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_ipybox_tools_have_ipyboxs_names_parameters_and_defaults(mode: str) -> None:
    async with connect(stdio("--tools", "ipybox"), mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"install_package", "execute_ipython_cell", "reset"}
        cell = tools["execute_ipython_cell"]
        assert cell.description.startswith("Execute Python code in a stateful IPython kernel.\n\n        State")
        assert cell.output_schema is None
        s = cell.input_schema
        assert s["required"] == ["code"]
        assert s["properties"]["code"]["type"] == "string"
        assert s["properties"]["code"]["description"] == "Python code to execute in the IPython kernel"
        assert s["properties"]["timeout"]["type"] == "number" and s["properties"]["timeout"]["default"] == 120
        assert s["properties"]["max_output_chars"]["type"] == "integer"
        assert s["properties"]["max_output_chars"]["default"] == 5000
        inst = tools["install_package"].input_schema
        assert inst["required"] == ["package_name"] and inst["properties"]["package_name"]["type"] == "string"
        assert tools["install_package"].description.startswith("Install a Python package via pip.")
        assert not tools["reset"].input_schema.get("properties")
        assert tools["reset"].description.startswith("Reset the IPython kernel to a clean state.")
        assert all(t.output_schema is None for t in tools.values())


@pytest.mark.parametrize(
    "code, expected",
    [
        ("print('hello')\nprint('world')", "hello\nworld"),
        ("2+2", "4"),
        ("x = 1", ""),
        ("import sys; print('out'); print('err', file=sys.stderr); 'last'", "out\nerr\n'last'"),
        ("print('a', end='')", "a"),
        ("display({'a':1})", "{'a': 1}"),
        ("print('  padded  ')\n", "padded"),
    ],
)
async def test_ipybox_cell_text_follows_ipyboxs_rules(code: str, expected: str) -> None:
    async with connect(stdio("--tools", "ipybox"), "legacy") as client:
        r = await _cell(client, code)
        assert r.is_error is False
        assert only_text(r) == expected


async def test_ipybox_shell_escape_runs_the_command() -> None:
    """ipybox runs cells in IPython: `!cmd` is a shell escape (compat.md §1.3 table)."""
    async with connect(stdio("--tools", "ipybox"), "legacy") as client:
        r = await _cell(client, "!echo shell")
        assert r.is_error is False, only_text(r)
        assert only_text(r) == "shell"


async def test_ipybox_truncation_keeps_the_head_and_appends_the_exact_notice() -> None:
    async with connect(stdio("--tools", "ipybox"), "legacy") as client:
        r = await _cell(client, "print('x' * 60)", max_output_chars=50)
        assert only_text(r) == "x" * 50 + "\n\n[Output truncated: exceeded 50 character limit]"
        r = await _cell(client, "print('y' * 50)", max_output_chars=50)
        assert only_text(r) == "y" * 50  # exactly N is not cut
        r = await _cell(client, "print('z' * 5001)")
        t = only_text(r)
        assert t == "z" * 5000 + "\n\n[Output truncated: exceeded 5000 character limit]"  # the default


async def test_ipybox_exception_is_an_error_with_ipyboxs_prefix_and_drops_output() -> None:
    async with connect(stdio("--tools", "ipybox"), "legacy") as client:
        await _cell(client, "kept = 'state'")
        r = await _cell(client, "print('before'); 1/0")
        assert r.is_error is True
        t = only_text(r)
        assert t.startswith(IPYBOX_ERROR + "ZeroDivisionError: division by zero\n"), t
        assert "Traceback" in t and t.rstrip().endswith("ZeroDivisionError: division by zero")
        assert "\nbefore\n" not in t  # the output printed before the error is dropped
        r = await _cell(client, "def f(:\n  pass")
        assert r.is_error is True and only_text(r).startswith(IPYBOX_ERROR + "SyntaxError: ")
        assert only_text(await _cell(client, "kept")) == "'state'"
        assert only_text(await _cell(client, "1 + 1")) == "2"


async def test_ipybox_timeout_is_the_bare_prefix_and_keeps_state() -> None:
    async with connect(stdio("--tools", "ipybox"), "legacy") as client:
        r = await _cell(client, "kept = 'state'\nwhile True:\n    pass", timeout=1, within=30)
        assert r.is_error is True
        assert only_text(r) == IPYBOX_ERROR
        assert only_text(await _cell(client, "kept")) == "'state'"
        assert only_text(await _cell(client, "1 + 1")) == "2"


async def test_ipybox_reset_returns_empty_content_and_clears_state() -> None:
    async with connect(stdio("--tools", "ipybox"), "legacy") as client:
        await _cell(client, "gone = 1")
        with anyio.fail_after(60):
            r = await client.call_tool("reset", {})
        assert r.is_error is False and r.content == [] and r.structured_content is None
        r = await _cell(client, "gone")
        assert r.is_error is True and "NameError" in only_text(r)
        assert only_text(await _cell(client, "1 + 1")) == "2"


async def test_ipybox_images_are_saved_and_linked(tmp_path: Path) -> None:
    params = StdioServerParameters(command=str(BIN), args=stdio("--tools", "ipybox").args, cwd=str(tmp_path))
    async with connect(params, "legacy") as client:
        code = "import matplotlib.pyplot as plt\nplt.figure(figsize=(2, 1), dpi=50)\nplt.plot([1, 2])\nplt.show()"
        r = await _cell(client, code, within=90)
        t = only_text(r)
        head, sep, links = t.partition("\n\nGenerated images:\n\n")
        assert sep, t
        assert "<Figure size 100x50 with 1 Axes>" in head
        assert links.endswith(")\n")
        stem, _, path = links[3:-2].partition("](")
        assert links.startswith("- [") and len(stem) == 8 and int(stem, 16) >= 0, links
        png = Path(path)
        assert png.is_absolute() and png.parent == tmp_path / "images" and png.stem == stem
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_ipybox_install_package_returns_pips_text_never_an_error(fresh_venv: Path) -> None:
    params = StdioServerParameters(command=str(BIN), args=["--python", str(fresh_venv), "--tools", "ipybox"])
    async with connect(params, "legacy", within=240) as client:
        await _cell(client, "kept = 'state'")
        with anyio.fail_after(200):
            r = await client.call_tool("install_package", {"package_name": PACKAGE})
        assert r.is_error is False and "Successfully installed" in only_text(r), only_text(r)
        assert only_text(await _cell(client, f"import {PACKAGE}; {PACKAGE}.__name__")) == f"'{PACKAGE}'"
        with anyio.fail_after(60):
            r = await client.call_tool("install_package", {"package_name": "--index-url=http://127.0.0.1:9/"})
        assert r.is_error is False and "not a package requirement" in only_text(r), only_text(r)
        assert only_text(await _cell(client, "kept")) == "'state'"


# ------------------------------------------------------------------------------ ansys


def ansys_json(r: types.CallToolResult) -> list[tuple[str, object]]:
    """The JSON text, as key-value pairs in order; also checks it is formatted as
    `json.dumps(..., indent=2)` formats it and is pure ASCII."""
    assert r.is_error is False and r.structured_content is None
    t = only_text(r)
    pairs = json.loads(t, object_pairs_hook=list)
    assert t == json.dumps(dict(pairs), indent=2, ensure_ascii=False), t
    assert t.isascii(), t
    return pairs


async def _ansys(client, code: str, within: float = 60, **kw) -> list[tuple[str, object]]:
    with anyio.fail_after(within):
        return ansys_json(await client.call_tool("execute_python_code", {"code": code, **kw}))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_ansys_tool_has_its_name_and_parameters(mode: str) -> None:
    async with connect(stdio("--tools", "ansys"), mode) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert "execute_python_code" in tools and set(tools) <= {"execute_python_code", "run_python_code"}
        s = tools["execute_python_code"].input_schema
        assert s["required"] == ["code"]
        assert s["properties"]["code"]["type"] == "string"
        assert s["properties"]["timeout"]["type"] == "integer" and s["properties"]["timeout"]["default"] == 60
        assert tools["execute_python_code"].output_schema is None


async def test_ansys_success_is_the_exact_json() -> None:
    async with connect(stdio("--tools", "ansys"), "legacy") as client:
        with anyio.fail_after(60):
            r = await client.call_tool("execute_python_code", {"code": "print('hello')\nprint('world')"})
        assert only_text(r) == (
            '{\n  "success": true,\n  "stdout": "hello\\nworld",\n  "stderr": "",\n'
            '  "message": "Python code executed successfully."\n}'
        )
        assert await _ansys(client, "1+1") == [
            ("success", True), ("stdout", "2"), ("stderr", ""), ("message", "Python code executed successfully.")
        ]
        pairs = dict(await _ansys(client, "import sys\nprint('o')\nprint('w', file=sys.stderr)"))
        assert (pairs["stdout"], pairs["stderr"]) == ("o", "w")


async def test_ansys_exception_is_success_false_with_the_traceback() -> None:
    async with connect(stdio("--tools", "ansys"), "legacy") as client:
        await _ansys(client, "kept = 'state'")
        pairs = await _ansys(client, "print('before')\n1/0")
        assert [k for k, _ in pairs] == ["success", "stdout", "stderr", "error"]
        d = dict(pairs)
        assert d["success"] is False and d["stdout"] == "before"
        assert "Traceback (most recent call last):" in d["error"]
        assert d["error"].endswith("ZeroDivisionError: division by zero")
        assert "ZeroDivisionError" in d["stderr"]
        assert dict(await _ansys(client, "kept"))["stdout"] == "'state'"
        assert dict(await _ansys(client, "1 + 1"))["stdout"] == "2"


async def test_ansys_timeout_has_the_originals_message_and_keeps_state() -> None:
    async with connect(stdio("--tools", "ansys"), "legacy") as client:
        pairs = await _ansys(client, "kept = 'state'\nprint('tick', flush=True)\nwhile True:\n    pass", timeout=1, within=30)
        assert pairs == [
            ("success", False), ("stdout", "tick"), ("stderr", ""), ("error", "Code execution timed out after 1 seconds.")
        ]
        assert dict(await _ansys(client, "kept"))["stdout"] == "'state'"
        assert dict(await _ansys(client, "1 + 1"))["stdout"] == "2"


async def test_ansys_non_ascii_output_is_replaced_by_ascii() -> None:
    async with connect(stdio("--tools", "ansys"), "legacy") as client:
        d = dict(await _ansys(client, "print('caf\\u00e9 \\u2713 \\u4e2d x\\u00b2 \\u2022 a\\u00a0b')"))
        assert d["stdout"] == "caf? [OK] ? x^2 * a b"
        d = dict(await _ansys(client, "raise ValueError('\\u00fcber')"))
        assert d["error"].endswith("ValueError: ?ber"), d
