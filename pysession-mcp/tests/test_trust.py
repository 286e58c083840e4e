"""Over stdio the protocol owns the server's stdin and stdout. Code in an embedded
session (the same process) that writes to fd 1, runs a shell, calls C printf or reads
fd 0 must neither corrupt the JSON-RPC stream nor eat its bytes."""

from __future__ import annotations

import pytest

from conftest import Py, connect, stdio
from rawrpc import RawStdio

HOSTILE_WRITES = {
    "os-write-fd1": "import os\nos.write(1, b'garbage-os-write\\n')",
    "os-system": "import os\nos.system('echo garbage-from-shell')",
    "c-printf": (
        "import ctypes\nlibc = ctypes.CDLL(None)\n"
        "libc.printf(b'garbage-from-printf\\n')\nlibc.fflush(None)"
    ),
    "sys-stdout-fd": "import os, sys\nos.write(sys.__stdout__.fileno(), b'garbage-dunder-stdout\\n')",
    "subprocess": "import subprocess\nsubprocess.run(['echo', 'garbage-from-child'])",
}

HOSTILE_READS = {
    "os-read-fd0": "import os\nos.read(0, 10)",
    "cat": "import subprocess\nsubprocess.run(['cat'], timeout=5, capture_output=True).stdout",
    "sys-stdin": "import sys\nsys.stdin.read()",
    "input": "input()",
}


@pytest.fixture(params=["embedded", "subprocess"])
def raw(request: pytest.FixtureRequest) -> RawStdio:
    with RawStdio("--backend", request.param) as s:
        s.initialize()
        assert s.value("kept = 'state'; kept") == "'state'"
        yield s


@pytest.mark.parametrize("name", HOSTILE_WRITES)
def test_writes_to_fd1_do_not_reach_the_protocol(raw: RawStdio, name: str) -> None:
    raw.execute(HOSTILE_WRITES[name], timeout=30)
    assert raw.value("kept") == "'state'"
    raw.still_works()
    # Every line on stdout parsed as JSON-RPC, and none carries the garbage.
    assert raw.junk == []
    assert not any(b"garbage" in line and b'"jsonrpc"' not in line for line in raw.lines)


def test_fd_level_output_of_embedded_code_goes_to_stderr() -> None:
    with RawStdio("--backend", "embedded") as s:
        s.initialize()
        s.execute(HOSTILE_WRITES["os-write-fd1"])
        s.execute(HOSTILE_WRITES["c-printf"])
        s.still_works()
        # Give the server's stderr a moment to be flushed to the file.
        import time

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "garbage-from-printf" not in s.stderr():
            time.sleep(0.1)
        err = s.stderr()
        assert "garbage-os-write" in err and "garbage-from-printf" in err, err
        assert s.junk == []


@pytest.mark.parametrize("name", HOSTILE_READS)
def test_reading_stdin_does_not_eat_protocol_bytes(raw: RawStdio, name: str) -> None:
    result = raw.execute(HOSTILE_READS[name], timeout=30)
    sc = result["structuredContent"]
    # Reading finds nothing (end of file) rather than protocol bytes.
    if sc["status"] == "ok":
        assert sc["value"] in (None, "b''", "''"), sc
    else:
        assert sc["error"]["type"] in ("EOFError", "OSError", "TimeoutExpired", "RuntimeError"), sc
    assert "jsonrpc" not in str(sc)
    # Requests sent right after are all answered, in order.
    for i in range(3):
        assert raw.value(f"{i} + 40") == str(i + 40)
    assert raw.value("kept") == "'state'"
    raw.still_works()
    assert raw.junk == []


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk_client_keeps_working_after_hostile_code(mode: str) -> None:
    async with connect(stdio("--backend", "embedded"), mode) as client:
        py = Py(client, sessionless=False)
        await py.run("kept = 'state'")
        for code in list(HOSTILE_WRITES.values()) + list(HOSTILE_READS.values()):
            r = await py.run(code, within=30)
            assert r.structured_content is not None
        assert await py.value("kept") == "'state'"
        await py.still_works()


def test_subprocess_sessions_capture_fd_level_output_as_stdout() -> None:
    with RawStdio() as s:
        s.initialize()
        for name in ("os-write-fd1", "os-system", "c-printf", "subprocess"):
            sc = s.execute(HOSTILE_WRITES[name])["structuredContent"]
            assert "garbage" in sc["stdout"], (name, sc)
        s.still_works()
        assert s.junk == []
