"""Many legacy HTTP clients at once, each with its own default session and counter.
Bounded in time; it checks every result, not the speed."""

from __future__ import annotations

import anyio
import pytest

from conftest import Py, connect, http_server

pytestmark = pytest.mark.anyio


async def _client(url: str, n: int, calls: int, results: dict[int, list[str]]) -> None:
    async with connect(url, "legacy", within=150) as client:
        py = Py(client, sessionless=False)
        got = [await py.value(f"counter = {n} * 1000\ncounter")]
        for _ in range(calls - 1):
            got.append(await py.value("counter += 1\ncounter"))
        results[n] = got


async def _load(backend: str, clients: int, calls: int) -> None:
    with http_server("--backend", backend, "--max-sessions", str(clients + 4)) as server:
        results: dict[int, list[str]] = {}
        with anyio.fail_after(150):
            async with anyio.create_task_group() as tg:
                for n in range(clients):
                    tg.start_soon(_client, server.url, n, calls, results)
        assert sorted(results) == list(range(clients))
        for n, got in results.items():
            assert got == [str(n * 1000 + i) for i in range(calls)], (n, got)
        # The server still serves a new client afterwards.
        async with connect(server.url, "legacy") as client:
            await Py(client, sessionless=False).still_works()


async def test_twenty_concurrent_legacy_clients_keep_their_own_state_embedded() -> None:
    await _load("embedded", clients=20, calls=10)


async def test_twenty_concurrent_legacy_clients_keep_their_own_state_subprocess() -> None:
    await _load("subprocess", clients=20, calls=10)


async def test_a_hundred_concurrent_legacy_clients_twenty_calls_each_embedded() -> None:
    """The issue's load: 100 MCP sessions over HTTP, 20 stateful calls each, at once."""
    await _load("embedded", clients=100, calls=20)
