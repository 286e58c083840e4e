"""Shared pieces of the real-client suite: where the server and the venv are, servers
started over stdio and streamable HTTP, and a small wrapper that runs code in one
Python session whatever the transport.

Environment (all optional when run from the workspace root after a build):

* ``PYSESSION_MCP_BIN``: the server binary (default ``target/debug/pysession-mcp``).
* ``PYSESSION_TEST_VENV``: a venv's python with numpy and matplotlib, passed to the
  server as ``--python`` (default ``target/test-venv/bin/python``).
* ``PYSESSION_MCP_NPM``: a folder with ``@modelcontextprotocol/inspector`` installed
  (default ``target/npm``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("PYSESSION_MCP_BIN", ROOT / "target/debug/pysession-mcp")).resolve()
VENV_PY = Path(os.environ.get("PYSESSION_TEST_VENV", ROOT / "target/test-venv/bin/python")).absolute()
NPM = Path(os.environ.get("PYSESSION_MCP_NPM", ROOT / "target/npm")).resolve()

MODERN = "2026-07-28"
LEGACY = "2025-11-25"

NATIVE_TOOLS = {
    "execute_python",
    "restart_session",
    "list_variables",
    "install_package",
    "list_sessions",
    "close_session",
}

#: The four ways a client reaches the server: transport x protocol era.
TARGETS = ["stdio-auto", "stdio-legacy", "http-auto", "http-legacy"]


def pytest_sessionstart(session: pytest.Session) -> None:
    if not BIN.is_file():
        raise pytest.UsageError(f"no server binary at {BIN}: run `cargo build -p pysession-mcp` first")
    if not VENV_PY.exists():
        raise pytest.UsageError(f"no venv python at {VENV_PY}: set PYSESSION_TEST_VENV")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


async def wait_gone(pid: int, within: float) -> bool:
    """Waits up to `within` seconds for `pid` to end; True when it did."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        await anyio.sleep(0.1)
    return not pid_alive(pid)


def die_with_parent() -> None:
    """preexec_fn: the server gets SIGTERM if the test run dies (PR_SET_PDEATHSIG), so a
    killed run leaves no HTTP server behind."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_args(*extra: str, python: bool = True) -> list[str]:
    """The server's arguments: ``--python VENV`` (so sessions import numpy) plus `extra`."""
    return (["--python", str(VENV_PY)] if python else []) + list(extra)


def stdio(*extra: str, python: bool = True) -> StdioServerParameters:
    return StdioServerParameters(command=str(BIN), args=server_args(*extra, python=python))


@dataclass
class HttpServer:
    """A ``pysession-mcp --http 127.0.0.1:PORT`` process; its stderr goes to a file."""

    extra: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = None
    port: int = 0
    log: Any = None
    _log_path: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/mcp"

    def start(self) -> "HttpServer":
        # A free port can be taken between the probe and the bind: try a few.
        for _ in range(5):
            self.port = free_port()
            fd, self._log_path = tempfile.mkstemp(prefix="pysession-mcp-http-", suffix=".log")
            self.log = os.fdopen(fd, "w+")
            args = [str(BIN), "--http", f"{self.host}:{self.port}", *server_args(*self.extra)]
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=self.env,
                preexec_fn=die_with_parent,
            )
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection((self.host, self.port), timeout=0.2).close()
                    return self
                except OSError:
                    time.sleep(0.05)
            out = self.stderr()
            self.stop()
            if "cannot listen" not in out:
                raise RuntimeError(f"the HTTP server did not start: {out}")
        raise RuntimeError("no free port could be bound")

    def stderr(self) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        return Path(self._log_path).read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.log is not None:
            self.log.close()
            self.log = None
            with contextlib.suppress(OSError):
                os.unlink(self._log_path)

    def __enter__(self) -> "HttpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def http_server(*extra: str, env: dict[str, str] | None = None) -> Iterator[HttpServer]:
    with HttpServer(extra=tuple(extra), env=env) as s:
        yield s


@pytest.fixture(scope="session")
def native_http() -> Iterator[HttpServer]:
    """One HTTP server with the native tools, shared by the tests that only need one."""
    with http_server() as s:
        yield s


# --------------------------------------------------------------------------- clients


def http_client(url: str, headers: dict[str, str] | None = None, hooks: dict | None = None):
    """A streamable HTTP transport whose httpx2 client has bounded timeouts."""
    return httpx2.AsyncClient(
        headers=headers or {},
        timeout=httpx2.Timeout(30.0, read=120.0),
        event_hooks=hooks or {},
    )


@contextlib.asynccontextmanager
async def connect(target: Any, mode: str, *, within: float = 150, **kw: Any) -> AsyncIterator[Client]:
    """A `Client` on `target` (stdio params, an HTTP URL or a transport). The whole
    connection, handshake to close, is bounded by `within` seconds: anyio's cancel scopes
    must nest, so the bound wraps the client rather than each step."""
    with anyio.fail_after(within):
        if isinstance(target, str):
            async with http_client(target) as http:
                transport = streamable_http_client(target, http_client=http)
                async with Client(transport, mode=mode, **kw) as c:
                    yield c
        else:
            async with Client(target, mode=mode, **kw) as c:
                yield c


@contextlib.asynccontextmanager
async def stdio_logged(params: StdioServerParameters, mode: str, log: Any, *, within: float = 150) -> AsyncIterator[Client]:
    """A stdio `Client` whose server's stderr goes to the file `log`."""
    async with connect(stdio_client(params, errlog=log), mode, within=within) as c:
        yield c


def text(result: types.CallToolResult) -> str:
    """All text blocks of a result, joined."""
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


@dataclass
class Py:
    """One Python session seen through a client. Without a connection (2026-07-28 over
    HTTP) the session is the handle the first result returned, passed back on every
    call; otherwise it is `name` (the server's default session when None)."""

    client: Client
    sessionless: bool
    name: str | None = None
    calls: int = field(default=0)

    def args(self, **kw: Any) -> dict[str, Any]:
        if self.name is not None and "session" not in kw:
            kw["session"] = self.name
        return kw

    async def run(self, code: str, *, within: float = 60, **kw: Any) -> types.CallToolResult:
        with anyio.fail_after(within):
            r = await self.client.call_tool("execute_python", self.args(code=code, **kw))
        self.calls += 1
        if self.sessionless and self.name is None and r.structured_content:
            self.name = r.structured_content["session"]
        return r

    async def value(self, code: str, **kw: Any) -> str | None:
        """The value of `code`'s last expression; fails the test if the code failed."""
        r = await self.run(code, **kw)
        assert r.is_error is False, text(r)
        return r.structured_content["value"]

    async def tool(self, name: str, within: float = 60, **kw: Any) -> types.CallToolResult:
        with anyio.fail_after(within):
            return await self.client.call_tool(name, self.args(**kw))

    async def still_works(self) -> None:
        """The session answers ``1 + 1`` with 2."""
        assert await self.value("1 + 1") == "2"


@contextlib.asynccontextmanager
async def py_on(target_name: str, http: HttpServer, *extra: str, **kw: Any) -> AsyncIterator[Py]:
    """A `Py` on one of `TARGETS`: stdio servers are started with `extra`, HTTP uses
    `http` (already started). Tests open it themselves rather than through an async
    fixture, so that every wait is bounded in the test's own task."""
    transport, mode = target_name.split("-")
    target = stdio(*extra) if transport == "stdio" else http.url
    async with connect(target, mode, **kw) as client:
        assert client.protocol_version == (MODERN if mode == "auto" else LEGACY)
        p = Py(client, sessionless=(transport == "http" and mode == "auto"))
        try:
            yield p
        finally:
            # Handles outlive the request that made them: close this test's one so the
            # shared server does not fill up to --max-sessions.
            if p.sessionless and p.name is not None:
                with anyio.move_on_after(10, shield=True):
                    await client.call_tool("close_session", {"session": p.name})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # A test that asks for `target_name` (or `py`) runs once per target, unless it
    # parametrizes `target_name` itself.
    if "target_name" in metafunc.fixturenames and not any(
        "target_name" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")
    ):
        metafunc.parametrize("target_name", TARGETS)


#: Small (one module), pure Python, stable for years, not a dependency of pip, and
#: not shipped by Debian's base system (six is, as python3-six).
PACKAGE = "iniconfig"


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Path:
    """A new venv's python, without PACKAGE."""
    venv = tmp_path / "venv"
    subprocess.run([str(VENV_PY), "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", f"import {PACKAGE}"], capture_output=True, timeout=60)
    assert probe.returncode != 0, f"{PACKAGE} is already importable in a fresh venv"
    return python
