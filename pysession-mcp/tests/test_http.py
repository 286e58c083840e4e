"""Streamable HTTP hardening: origins, the bearer token, binding beyond loopback,
body size, and Python sessions ending with their MCP session (DELETE, idle timeout)."""

from __future__ import annotations

import os
import subprocess
import time

import anyio
import httpx2
import pytest

from conftest import (
    BIN, HttpServer, Py, connect, die_with_parent, free_port, http_server, pid_alive, server_args, text, wait_gone,
)
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from rawrpc import RawHttp

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}


def test_a_foreign_origin_is_refused(native_http: HttpServer) -> None:
    with RawHttp(native_http.url) as s:
        resp = s.post(INIT, headers={"origin": "http://evil.example"})
        assert resp.status_code == 403, (resp.status_code, resp.text)
        assert "mcp-session-id" not in resp.headers
        resp = s.post(INIT, headers={"origin": f"http://127.0.0.1:{native_http.port}"})
        assert resp.status_code == 200, (resp.status_code, resp.text)
        s.initialize()
        s.still_works()


def test_a_foreign_host_header_is_refused(native_http: HttpServer) -> None:
    with RawHttp(native_http.url) as s:
        resp = s.post(INIT, headers={"host": "evil.example"})
        assert resp.status_code == 403, (resp.status_code, resp.text)


def test_allow_origin_admits_the_named_origin_only() -> None:
    with http_server("--allow-origin", "https://app.example") as server, RawHttp(server.url) as s:
        assert s.post(INIT, headers={"origin": "https://app.example"}).status_code == 200
        assert s.post(INIT, headers={"origin": "http://evil.example"}).status_code == 403


@pytest.mark.anyio
async def test_bearer_token_is_required_when_set() -> None:
    with http_server("--auth-token", "s3cret-T") as server:
        with RawHttp(server.url) as s:
            resp = s.post(INIT)
            assert resp.status_code == 401, (resp.status_code, resp.text)
            assert resp.headers.get("www-authenticate", "").startswith("Bearer")
            assert s.post(INIT, headers={"authorization": "Bearer wrong"}).status_code == 401
            assert s.post(INIT, headers={"authorization": "s3cret-T"}).status_code == 401
            assert s.http.get(server.url).status_code == 401
            assert s.http.delete(server.url).status_code == 401
        for mode in ("auto", "legacy"):
            async with httpx2.AsyncClient(headers={"authorization": "Bearer s3cret-T"}, timeout=30) as http:
                async with Client(streamable_http_client(server.url, http_client=http), mode=mode) as client:
                    py = Py(client, sessionless=(mode == "auto"))
                    with anyio.fail_after(60):
                        await py.run("x = 41")
                        assert await py.value("x + 1") == "42"
                        await py.still_works()
        # A client without the token cannot even connect.
        with pytest.raises(Exception):
            with anyio.fail_after(30):
                async with Client(server.url, mode="legacy") as client:
                    await client.call_tool("execute_python", {"code": "1"})


def test_token_from_the_environment_is_required_too() -> None:
    env = {**os.environ, "PYSESSION_MCP_AUTH_TOKEN": "from-env"}
    with http_server(env=env) as server, RawHttp(server.url) as s:
        assert s.post(INIT).status_code == 401
        assert s.post(INIT, headers={"authorization": "Bearer from-env"}).status_code == 200


def test_binding_beyond_loopback_without_a_token_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYSESSION_MCP_AUTH_TOKEN"}
    proc = subprocess.run(
        [str(BIN), "--http", f"0.0.0.0:{free_port()}", *server_args()],
        capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode != 0
    assert "--auth-token" in proc.stderr and "0.0.0.0" in proc.stderr, proc.stderr


def test_binding_beyond_loopback_with_a_token_starts() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "--http", f"0.0.0.0:{port}", "--auth-token", "T", *server_args()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                resp = httpx2.post(
                    f"http://127.0.0.1:{port}/mcp", json=INIT, timeout=5,
                    headers={**RawHttp.HEADERS, "authorization": "Bearer T"},
                )
                break
            except httpx2.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert resp.status_code == 200, resp.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_body_over_max_request_bytes_is_413() -> None:
    with http_server("--max-request-bytes", "4096") as server, RawHttp(server.url) as s:
        s.initialize()
        assert s.value("kept = 'state'; kept") == "'state'"
        code = "'" + "a" * 8000 + "'"
        resp = s.post({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                       "params": {"name": "execute_python", "arguments": {"code": code}}})
        assert resp.status_code == 413, (resp.status_code, resp.text[:300])
        assert s.value("kept") == "'state'"
        s.still_works()


def test_delete_of_a_legacy_mcp_session_stops_its_python_sessions(native_http: HttpServer) -> None:
    with RawHttp(native_http.url) as s:
        s.initialize()
        pids = [int(s.value("import os; os.getpid()"))]
        r = s.execute("import os; os.getpid()", session="second")
        pids.append(int(r["structuredContent"]["value"]))
        assert all(pid_alive(p) for p in pids)
        resp = s.delete()
        assert resp.status_code in (200, 202, 204), resp.status_code
        assert anyio.run(wait_gone, pids[0], 10) and anyio.run(wait_gone, pids[1], 10), pids
        # The MCP session is gone too.
        assert s.post({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}).status_code == 404
    with RawHttp(native_http.url) as fresh:
        fresh.initialize()
        fresh.still_works()


@pytest.mark.anyio
async def test_closing_an_sdk_client_stops_its_python_session(native_http: HttpServer) -> None:
    async with connect(native_http.url, "legacy") as client:
        pid = int(await Py(client, sessionless=False).value("import os; os.getpid()"))
        assert pid_alive(pid)
    assert await wait_gone(pid, 10)


@pytest.mark.anyio
async def test_idle_timeout_closes_an_idle_legacy_session() -> None:
    with http_server("--idle-timeout", "2") as server:
        async with connect(server.url, "legacy") as client:
            py = Py(client, sessionless=False)
            pid = int(await py.value("import os; os.getpid()"))
            assert await wait_gone(pid, 12), "the idle session's python is still running"
        # The server itself still serves new clients.
        async with connect(server.url, "legacy") as client:
            await Py(client, sessionless=False).still_works()


@pytest.mark.anyio
async def test_idle_timeout_closes_an_idle_handle_session() -> None:
    with http_server("--idle-timeout", "2") as server:
        async with connect(server.url, "auto") as client:
            py = Py(client, sessionless=True)
            pid = int(await py.value("import os; os.getpid()"))
            assert await wait_gone(pid, 12), "the idle session's python is still running"
            r = await py.run("1")
            assert r.is_error is True and py.name in text(r)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_idle_timeout_does_not_close_a_session_while_it_runs_code(mode: str) -> None:
    """A call that runs longer than --idle-timeout is not idle: it gets its result."""
    with http_server("--idle-timeout", "2") as server:
        async with connect(server.url, mode) as client:
            py = Py(client, sessionless=(mode == "auto"))
            await py.run("kept = 'state'")
            r = await py.run("import time\ntime.sleep(5)\n'slept'", within=30)
            assert r.is_error is False, text(r)
            assert r.structured_content["value"] == "'slept'"
            assert await py.value("kept") == "'state'"
            await py.still_works()


@pytest.mark.anyio
async def test_idle_timeout_spares_a_session_in_use() -> None:
    with http_server("--idle-timeout", "2") as server:
        async with connect(server.url, "legacy") as client:
            py = Py(client, sessionless=False)
            pid = int(await py.value("import os; os.getpid()"))
            for _ in range(6):  # 6 s of calls a second apart: never idle for 2 s
                await anyio.sleep(1)
                assert int(await py.value("import os; os.getpid()")) == pid
            assert pid_alive(pid)
