"""Output while code runs (progress notifications) and cancelling a running call from
the client."""

from __future__ import annotations

import time

import anyio
import pytest

from conftest import HttpServer, py_on, text

pytestmark = pytest.mark.anyio


async def test_output_arrives_as_progress_before_the_result(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        seen: list[tuple[float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((time.monotonic(), message))

        code = "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')\n'done'"
        with anyio.fail_after(30):
            r = await py.client.call_tool(
                "execute_python", py.args(code=code), progress_callback=on_progress
            )
        returned = time.monotonic()
        assert r.is_error is False and r.structured_content["value"] == "'done'"
        firsts = [t for t, m in seen if m and "first" in m]
        seconds = [t for t, m in seen if m and "second" in m]
        assert firsts, seen
        assert seconds, seen
        # "first" was sent while the code still slept, a second before the result.
        assert firsts[0] <= returned - 0.5, (firsts[0], returned, seen)
        assert firsts[0] < seconds[0] <= returned
        await py.still_works()


async def test_stderr_arrives_as_progress_marked_as_stderr(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        seen: list[str | None] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(message)

        code = "import sys\nprint('oops', file=sys.stderr)"
        with anyio.fail_after(30):
            await py.client.call_tool("execute_python", py.args(code=code), progress_callback=on_progress)
        assert any(m and "oops" in m and "stderr" in m for m in seen), seen
        await py.still_works()


async def test_cancel_interrupts_a_sleep_and_keeps_state(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        # Over HTTP without a connection the session is a handle: make it first.
        await py.run("before_sleep = 'kept'")
        got = anyio.Event()
        finished: list[object] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            got.set()

        code = "import time\nprint('sleeping', flush=True)\ntime.sleep(100)\nafter_sleep = True"
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    finished.append(
                        await py.client.call_tool("execute_python", py.args(code=code), progress_callback=on_progress)
                    )

                tg.start_soon(call)
                await got.wait()
                tg.cancel_scope.cancel()
        assert finished == []  # cancelled, not finished
        started = time.monotonic()
        # The next call in the same session is not queued behind the sleep.
        r = await py.run("before_sleep", within=20)
        assert r.is_error is False, text(r)
        assert r.structured_content["value"] == "'kept'"
        assert time.monotonic() - started < 20
        r = await py.run("'after_sleep' in globals()", within=20)
        assert r.structured_content["value"] == "False"
        await py.still_works()


async def test_cancel_stops_a_busy_loop_and_keeps_state(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        await py.run("counter = 0")
        got = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            got.set()

        code = "print('spinning', flush=True)\nwhile True:\n    counter += 1"
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def call() -> None:
                    await py.client.call_tool("execute_python", py.args(code=code), progress_callback=on_progress)

                tg.start_soon(call)
                await got.wait()
                await anyio.sleep(0.2)
                tg.cancel_scope.cancel()
        first = int(await py.value("counter", within=20))
        assert first > 0
        # The loop is not still running in the background.
        await anyio.sleep(0.3)
        assert int(await py.value("counter", within=20)) == first
        await py.still_works()
