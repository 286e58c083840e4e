"""The MCP Inspector CLI (2.12.0), a second, independent client, over stdio."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import BIN, NPM, VENV_PY, server_args

INSPECTOR = NPM / "node_modules" / ".bin" / "mcp-inspector"


def inspector(*args: str) -> subprocess.CompletedProcess:
    if not INSPECTOR.exists():
        pytest.fail(f"no MCP Inspector at {INSPECTOR}: set PYSESSION_MCP_NPM")
    env = {**os.environ, "PATH": f"{VENV_PY.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # The '--' form: the server's own arguments start with '-'.
    return subprocess.run(
        [str(INSPECTOR), "--cli", *args, "--format", "json", "-q", "--", str(BIN), *server_args()],
        capture_output=True, text=True, timeout=90, env=env, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_lists_execute_python(era: str) -> None:
    p = inspector("--method", "tools/list", "--protocol-era", era)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    tools = {t["name"]: t for t in json.loads(p.stdout)["result"]["tools"]}
    assert "execute_python" in tools
    assert tools["execute_python"]["inputSchema"]["required"] == ["code"]


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_inspector_calls_execute_python(era: str) -> None:
    p = inspector(
        "--method", "tools/call", "--tool-name", "execute_python", "--tool-arg", "code=print(6*7)",
        "--protocol-era", era,
    )
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    result = json.loads(p.stdout)["result"]
    assert result["isError"] is False
    assert "42" in result["content"][0]["text"]
    assert result["structuredContent"]["stdout"] == "42\n"


def test_inspector_reports_a_python_error_as_a_tool_error() -> None:
    p = inspector("--method", "tools/call", "--tool-name", "execute_python", "--tool-arg", "code=1/0")
    assert p.returncode == 5, (p.returncode, p.stdout, p.stderr)  # Inspector's "tool error" exit code
    result = json.loads(p.stdout)["result"]
    assert result["isError"] is True and "ZeroDivisionError" in result["content"][0]["text"]
