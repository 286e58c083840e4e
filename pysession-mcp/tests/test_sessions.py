"""Named sessions, handles without a connection, per-client isolation and the
session limit."""

from __future__ import annotations

import re
import uuid

import anyio
import pytest

from conftest import HttpServer, Py, connect, py_on, stdio, text

pytestmark = pytest.mark.anyio

#: Targets with a connection, where a client names its sessions.
CONNECTED = ["stdio-auto", "stdio-legacy", "http-legacy"]


@pytest.mark.parametrize("target_name", CONNECTED)
async def test_named_sessions_keep_separate_state(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        await py.run("x = 'in a'", session="a")
        await py.run("x = 'in b'", session="b")
        await py.run("x = 'in default'")
        assert await py.value("x", session="a") == "'in a'"
        assert await py.value("x", session="b") == "'in b'"
        assert await py.value("x") == "'in default'"
        r = await py.run("import os; os.getpid()", session="a")
        pid_a = r.structured_content["value"]
        r = await py.run("import os; os.getpid()", session="b")
        assert r.structured_content["value"] != pid_a  # subprocess backend: a process each
        r = await py.tool("list_sessions")
        assert r.is_error is False
        assert r.structured_content["sessions"] == ["a", "b", "default"]
        assert all(name in text(r) for name in ("a", "b", "default"))
        await py.still_works()


@pytest.mark.parametrize("target_name", CONNECTED)
async def test_close_session_closes_one_and_twice_is_an_error(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        await py.run("y = 1", session="doomed")
        await py.run("y = 2", session="other")
        r = await py.tool("close_session", session="doomed")
        assert r.is_error is False, text(r)
        assert (await py.tool("list_sessions")).structured_content["sessions"] == ["other"]
        r = await py.tool("close_session", session="doomed")
        assert r.is_error is True
        assert "doomed" in text(r)
        # The name can be used again: a fresh session without the old state.
        assert await py.value("'y' in globals()", session="doomed") == "False"
        assert await py.value("y", session="other") == "2"
        await py.still_works()


async def test_restart_session_clears_state(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        await py.run("z = 5")
        r = await py.tool("restart_session")
        assert r.is_error is False, text(r)
        assert "restarted" in text(r)
        assert await py.value("'z' in globals()") == "False"
        await py.still_works()


async def test_list_variables_lists_a_variable_with_its_type(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        await py.run("x = 41\nname = 'pi'")
        r = await py.tool("list_variables")
        assert r.is_error is False, text(r)
        variables = {v["name"]: v for v in r.structured_content["variables"]}
        assert "x" in variables and "name" in variables, variables
        assert "int" in str(variables["x"]), variables["x"]
        assert "str" in str(variables["name"]), variables["name"]
        assert re.search(r"^x: int = 41$", text(r), re.M), text(r)
        await py.still_works()


async def test_without_a_connection_a_session_is_a_handle(native_http: HttpServer) -> None:
    async with connect(native_http.url, "auto") as client:
        r = await client.call_tool("execute_python", {"code": "x = 41"})
        handle = r.structured_content["session"]
        assert re.fullmatch(r"ps-[0-9a-f]{32}", handle), handle
        assert handle in text(r)
        # Passing it back keeps state.
        r = await client.call_tool("execute_python", {"code": "x + 1", "session": handle})
        assert r.structured_content["value"] == "42" and r.structured_content["session"] == handle
        # A call without it gets a new session of its own.
        r = await client.call_tool("execute_python", {"code": "'x' in globals()"})
        other = r.structured_content["session"]
        assert other != handle and r.structured_content["value"] == "False"
        # Handles are closed like names; a closed or made-up handle is a tool error.
        assert (await client.call_tool("close_session", {"session": other})).is_error is False
        for bad in (other, f"ps-{uuid.uuid4().hex}", "a-name", "ps-short"):
            r = await client.call_tool("execute_python", {"code": "1", "session": bad})
            assert r.is_error is True, (bad, text(r))
            assert bad in text(r)
        py = Py(client, sessionless=True, name=handle)
        assert await py.value("x") == "41"
        await py.still_works()
        await client.call_tool("close_session", {"session": handle})


async def test_two_legacy_http_clients_do_not_share_the_default_session(native_http: HttpServer) -> None:
    async with connect(native_http.url, "legacy") as one, connect(native_http.url, "legacy") as two:
        a, b = Py(one, sessionless=False), Py(two, sessionless=False)
        await a.run("secret = 'one'")
        assert await b.value("'secret' in globals()") == "False"
        await b.run("secret = 'two'")
        assert await a.value("secret") == "'one'"
        assert await b.value("secret") == "'two'"
        assert await a.value("import os; os.getpid()") != await b.value("import os; os.getpid()")
        assert (await one.call_tool("list_sessions", {})).structured_content["sessions"] == ["default"]
        await a.still_works()
        await b.still_works()


async def test_a_third_session_over_max_sessions_is_refused() -> None:
    async with connect(stdio("--max-sessions", "2"), "legacy") as client:
        py = Py(client, sessionless=False)
        await py.run("v = 'a'", session="a")
        await py.run("v = 'b'", session="b")
        r = await py.run("v = 'c'", session="c")
        assert r.is_error is True
        assert "--max-sessions" in text(r) and "2" in text(r), text(r)
        # The two sessions still work and kept their state.
        assert await py.value("v", session="a") == "'a'"
        assert await py.value("v", session="b") == "'b'"
        # Closing one makes room.
        assert (await py.tool("close_session", session="a")).is_error is False
        assert await py.value("1 + 1", session="c") == "2"


async def test_sessions_are_forks_of_one_fork_server_unless_it_is_turned_off() -> None:
    # By default each session's process is a fork of the one server that ran the
    # startup code; --no-fork-server spawns each from the MCP server itself.
    startup = ("--startup-code", "import os\nboot = os.getpid()")
    async with connect(stdio(*startup), "legacy") as client:
        py = Py(client, sessionless=False)
        parents = {await py.value("os.getppid()", session=name) for name in ("a", "b")}
        boots = {await py.value("boot", session=name) for name in ("a", "b")}
        assert len(parents) == 1 and parents == boots, (parents, boots)
        assert await py.value("os.getpid() != boot", session="a") == "True"
        assert (await py.tool("restart_session", session="a")).is_error is False
        assert await py.value("os.getppid()", session="a") == parents.pop()
        assert await py.value("1 + 1", session="a") == "2"
    async with connect(stdio(*startup, "--no-fork-server"), "legacy") as client:
        py = Py(client, sessionless=False)
        probe = "(os.getppid(), boot == os.getpid())"
        a = await py.value(probe, session="a")
        b = await py.value(probe, session="b")
        # Spawned by the one MCP server, each ran the startup code itself.
        assert a == b and a.endswith(", True)"), (a, b)
