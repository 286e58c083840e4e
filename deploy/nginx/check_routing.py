"""Checks that a proxy in front of several pysession-mcp servers routes every session to
the server that holds it, and that a session whose server died ends with a clear error.

    python check_routing.py http://127.0.0.1:8800/mcp --pid a=1234 --pid b=1235 --pid c=1236

Opens client sessions with the official MCP Python SDK, half of them 2025-11-25 sessions
(an `Mcp-Session-Id` the proxy prefixes with the server's name) and half 2026-07-28
session handles (`ps-NAME-...`, mirrored into `Mcp-Param-Session`). Each keeps a counter
of its own over several calls, all sessions at once. Given the servers' process ids, it
then kills (SIGKILL) the server that holds the most sessions and checks that its
sessions get the proxy's error while every other session keeps its state, and that new
sessions still start. A bearer token for the servers is taken from
PYSESSION_MCP_AUTH_TOKEN. Prints one line per check and `N passed, N failed`; the exit
status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import anyio
import httpx2
import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

GONE_CODE = -32001
GONE_WORDS = "the pysession-mcp server that held this session is gone"
CALL_SECONDS = 10.0


@dataclass
class Probe:
    """One client session and what happened to it."""

    number: int
    legacy: bool
    instance: str = "?"
    session_ids: list[str] = field(default_factory=list)
    handle: str | None = None
    values: list[str] = field(default_factory=list)
    error: str | None = None
    after: tuple[str, object] | None = None
    delete_statuses: list[int] = field(default_factory=list)
    ready: anyio.Event = field(default_factory=anyio.Event)

    @property
    def kind(self) -> str:
        return "legacy" if self.legacy else "handle"

    @property
    def base(self) -> int:
        return 1000 * self.number

    def expected(self, calls: int) -> list[str]:
        return [str(self.base + i) for i in range(calls)]


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str) -> bool:
        if ok:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {what}", flush=True)
        return ok


def value_of(result) -> str | None:
    structured = result.structured_content or {}
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise RuntimeError(f"the call failed: {text[:300]}")
    return structured.get("value")


async def call(client: mcp.Client, probe: Probe, code: str) -> str | None:
    args: dict[str, object] = {"code": code}
    if probe.handle is not None:
        args["session"] = probe.handle
    result = await client.call_tool("execute_python", args)
    if not probe.legacy and probe.handle is None:
        probe.handle = (result.structured_content or {}).get("session")
    return value_of(result)


def auth_headers() -> dict[str, str]:
    """The servers' bearer token, when PYSESSION_MCP_AUTH_TOKEN is set."""
    token = os.environ.get("PYSESSION_MCP_AUTH_TOKEN")
    return {"authorization": f"Bearer {token}"} if token else {}


def http_client(probe: Probe) -> httpx2.AsyncClient:
    async def on_response(response: httpx2.Response) -> None:
        if sid := response.headers.get("mcp-session-id"):
            probe.session_ids.append(sid)
        if response.request.method == "DELETE":
            probe.delete_statuses.append(response.status_code)

    return httpx2.AsyncClient(
        headers=auth_headers(),
        timeout=httpx2.Timeout(CALL_SECONDS, read=120.0),
        event_hooks={"response": [on_response]},
    )


async def run_probe(url: str, probe: Probe, calls: int, killed: anyio.Event | None) -> None:
    """Phase 1: `calls` calls on one counter. Then, once `killed` is set, one more."""
    try:
        async with http_client(probe) as http:
            transport = streamable_http_client(url, http_client=http)
            mode = "legacy" if probe.legacy else "auto"
            async with mcp.Client(transport, mode=mode, read_timeout_seconds=CALL_SECONDS) as client:
                probe.values.append(await call(client, probe, f"counter = {probe.base}\ncounter"))
                for _ in range(calls - 1):
                    probe.values.append(await call(client, probe, "counter += 1\ncounter"))
                probe.instance = instance_of(probe)
                probe.ready.set()
                if killed is None:
                    return
                await killed.wait()
                try:
                    probe.after = ("value", await call(client, probe, "counter += 1\ncounter"))
                except MCPError as e:
                    probe.after = ("mcp error", (e.error.code, e.error.message))
                except Exception as e:  # what the client raised is the finding
                    probe.after = ("exception", repr(e))
    except Exception as e:
        probe.error = probe.error or describe(e)
    finally:
        probe.ready.set()


def describe(e: BaseException) -> str:
    """The first error at the bottom of nested task groups."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return f"{type(e).__name__}: {e}"


def instance_of(probe: Probe) -> str:
    """The server that holds the session, as the client sees it."""
    if probe.legacy:
        sid = probe.session_ids[0] if probe.session_ids else ""
        return sid.split(".", 1)[0] if "." in sid else "?"
    handle = probe.handle or ""
    parts = handle.split("-")
    return parts[1] if len(parts) == 3 and parts[0] == "ps" else "?"


async def wait_dead(pid: int) -> None:
    """Waits until `pid` is gone or a zombie (its sockets are then closed)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        await anyio.sleep(0.02)
    raise RuntimeError(f"process {pid} did not die within 10 s of SIGKILL")


async def raw_gone_check(url: str, report: Report, probe: Probe) -> None:
    """What the proxy answers on the wire for a session whose server is gone."""
    headers = {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
    }
    if probe.legacy:
        headers["mcp-session-id"] = probe.session_ids[0] if probe.session_ids else ""
        headers["mcp-protocol-version"] = "2025-11-25"
    else:
        headers["mcp-param-session"] = probe.handle or ""
        headers["mcp-protocol-version"] = "2026-07-28"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    async with httpx2.AsyncClient(headers=auth_headers(), timeout=CALL_SECONDS) as http:
        response = await http.post(url, headers=headers, json=body)
    try:
        error = response.json().get("error", {})
    except (json.JSONDecodeError, AttributeError):
        error = {}
    report.check(
        response.status_code == 404
        and response.headers.get("content-type", "").startswith("application/json")
        and error.get("code") == GONE_CODE
        and GONE_WORDS in error.get("message", ""),
        f"{probe.kind} session {probe.number} on the dead server: a plain POST gets "
        f"{response.status_code} {response.headers.get('content-type')} {response.text.strip()[:200]}",
    )


def short(what: object) -> str:
    text = str(what)
    return text if len(text) <= 90 else text[:87] + "..."


def check_phase1(report: Report, probes: list[Probe], calls: int) -> None:
    for p in probes:
        report.check(
            p.error is None and p.values == p.expected(calls) and p.instance != "?",
            f"{p.kind} session {p.number} on {p.instance}: {calls} calls kept its counter"
            + (f" (got {p.values}, {p.error})" if p.values != p.expected(calls) or p.error else "")
            + (f" (no server name in Mcp-Session-Id {p.session_ids} or handle {p.handle!r})"
               if p.instance == "?" else ""),
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the proxy's MCP endpoint, e.g. http://127.0.0.1:8800/mcp")
    parser.add_argument("--pid", action="append", default=[], metavar="NAME=PID",
                        help="a server's instance name and process id (enables the kill test)")
    parser.add_argument("--sessions", type=int, default=30, help="client sessions (half legacy)")
    parser.add_argument("--calls", type=int, default=10, help="calls per session")
    parser.add_argument("--summary", help="also write 'PASSED FAILED' to this file")
    args = parser.parse_args()
    pids = dict(item.split("=", 1) for item in args.pid)
    logging.getLogger("mcp.client.streamable_http").setLevel(logging.ERROR)

    report = Report()
    try:
        with anyio.fail_after(50):
            await scenario(args.url, args.sessions, args.calls, pids, report)
    except TimeoutError:
        report.check(False, "the checks finished within 50 s")
    print(f"{report.passed} passed, {report.failed} failed", flush=True)
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(f"{report.passed} {report.failed}\n")
    return 1 if report.failed else 0


async def scenario(url: str, sessions: int, calls: int, pids: dict[str, str], report: Report) -> None:
    probes = [Probe(number=n + 1, legacy=n % 2 == 0) for n in range(sessions)]
    killed = anyio.Event() if pids else None
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for p in probes:
            tg.start_soon(run_probe, url, p, calls, killed)
        for p in probes:
            await p.ready.wait()
        print(f"# {len(probes)} sessions x {calls} calls, all at once: "
              f"{time.monotonic() - started:.2f} s", flush=True)
        check_phase1(report, probes, calls)
        spread = Counter(p.instance for p in probes if p.instance != "?")
        report.check(len(spread) >= 2, f"sessions spread over servers: {dict(sorted(spread.items()))}")
        if killed is None or not spread:
            return
        victim = spread.most_common(1)[0][0]
        if not report.check(victim in pids, f"the process of server {victim} is known"):
            killed.set()
            return
        os.kill(int(pids[victim]), signal.SIGKILL)
        await wait_dead(int(pids[victim]))
        print(f"# killed server {victim} (pid {pids[victim]}), which held {spread[victim]} sessions",
              flush=True)
        killed.set()

    on_victim = [p for p in probes if p.instance == victim]
    others = [p for p in probes if p.instance not in (victim, "?")]
    for p in on_victim:
        kind, what = p.after or ("nothing", p.error)
        ok = kind == "mcp error" and what[0] == GONE_CODE and GONE_WORDS in what[1]
        report.check(ok, f"{p.kind} session {p.number} on dead {victim}: the client gets {kind} {short(what)}")
    for p in others:
        expected = str(p.base + calls)
        report.check(
            p.after == ("value", expected),
            f"{p.kind} session {p.number} on {p.instance}: state intact after {victim} died "
            f"(counter {p.after[1] if p.after else p.error}, expected {expected})",
        )
    for p in others:
        if p.legacy:
            report.check(
                bool(p.delete_statuses) and all(s in (200, 202, 204) for s in p.delete_statuses),
                f"legacy session {p.number}: its DELETE reached {p.instance} ({p.delete_statuses})",
            )
    for kind in (True, False):
        if sample := next((p for p in on_victim if p.legacy == kind), None):
            await raw_gone_check(url, report, sample)

    # New sessions: the pool must pass over the dead server.
    fresh = [Probe(number=sessions + 1 + n, legacy=n % 2 == 0) for n in range(6)]
    async with anyio.create_task_group() as tg:
        for p in fresh:
            tg.start_soon(run_probe, url, p, 3, None)
    for p in fresh:
        report.check(
            p.error is None and p.values == p.expected(3) and p.instance not in ("?", victim),
            f"new {p.kind} session {p.number} after {victim} died: on {p.instance}, 3 calls kept its counter"
            + (f" (got {p.values}, {p.error})" if p.error or p.values != p.expected(3) else ""),
        )


if __name__ == "__main__":
    sys.exit(anyio.run(main))
