"""Raw JSON-RPC over a stdio pipe: for what an SDK client will not send, and to check
every byte the server writes to stdout is protocol."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from conftest import BIN, LEGACY, die_with_parent, server_args


class _Calls:
    """What both raw clients offer on top of their `execute`."""

    def value(self, code: str) -> str | None:
        result = self.execute(code)
        assert result.get("isError") is False, result
        return result["structuredContent"]["value"]

    def still_works(self) -> None:
        assert self.value("1 + 1") == "2"


class RawStdio(_Calls):
    """A server process spoken to line by line. Every stdout line must be JSON-RPC:
    `lines` keeps them all, `junk` the ones that are not."""

    def __init__(self, *extra: str) -> None:
        fd, self._log_path = tempfile.mkstemp(prefix="pysession-mcp-raw-", suffix=".log")
        self._log = os.fdopen(fd, "w+b")
        self.proc = subprocess.Popen(
            [str(BIN), *server_args(*extra)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            preexec_fn=die_with_parent,
        )
        self.lines: list[bytes] = []
        self.junk: list[bytes] = []
        self._messages: "queue.Queue[dict]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 100

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            try:
                msg = json.loads(line)
            except ValueError:
                self.junk.append(line)
                continue
            if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
                self.junk.append(line)
                continue
            self._messages.put(msg)

    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, msg: dict) -> None:
        self.send_bytes(json.dumps(msg).encode() + b"\n")

    def request(self, method: str, params: dict | None = None, *, timeout: float = 30) -> dict:
        """Sends a request and returns its response (result or error)."""
        self._next_id += 1
        rid = self._next_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        return self.response(rid, timeout=timeout)

    def response(self, rid: Any, *, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no response to {rid!r} within {timeout} s; stderr: {self.stderr()[-2000:]}")
            try:
                msg = self._messages.get(timeout=left)
            except queue.Empty:
                continue
            if msg.get("id") == rid and ("result" in msg or "error" in msg):
                return msg

    def next_message(self, timeout: float) -> dict | None:
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def initialize(self) -> dict:
        r = self.request(
            "initialize",
            {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        )
        assert "result" in r, r
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return r["result"]

    def execute(self, code: str, timeout: float = 60, **args: Any) -> dict:
        """The result of an execute_python call (fails on a JSON-RPC error)."""
        r = self.request("tools/call", {"name": "execute_python", "arguments": {"code": code, **args}}, timeout=timeout)
        assert "result" in r, r
        return r["result"]

    def stderr(self) -> str:
        self._log.flush()
        return Path(self._log_path).read_text(errors="replace")

    def close(self) -> None:
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self._log.close()
        os.unlink(self._log_path)

    def __enter__(self) -> "RawStdio":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RawHttp(_Calls):
    """A legacy (2025-11-25) MCP session over streamable HTTP, spoken to with plain
    httpx2 requests: SSE or JSON responses are both read."""

    HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        import httpx2

        self.url = url
        self.http = httpx2.Client(timeout=httpx2.Timeout(10.0, read=120.0), headers=headers or {})
        self.session_id: str | None = None
        self._next_id = 100

    def headers(self) -> dict[str, str]:
        h = dict(self.HEADERS)
        if self.session_id:
            h["mcp-session-id"] = self.session_id
            h["mcp-protocol-version"] = LEGACY
        return h

    def post(self, body: bytes | dict, **kw: Any):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(self.url, headers={**self.headers(), **kw.pop("headers", {})}, content=content, **kw)

    @staticmethod
    def messages(resp) -> list[dict]:
        """The JSON-RPC messages of a response, SSE or JSON."""
        if resp.headers.get("content-type", "").startswith("application/json"):
            msg = resp.json()
            return msg if isinstance(msg, list) else [msg]
        out = []
        for line in resp.text.splitlines():
            if line.startswith("data:") and line[5:].strip():
                out.append(json.loads(line[5:]))
        return out

    def request(self, method: str, params: dict | None = None) -> dict:
        self._next_id += 1
        rid = self._next_id
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        resp = self.post(msg)
        assert resp.status_code == 200, (resp.status_code, resp.text)
        found = [m for m in self.messages(resp) if m.get("id") == rid]
        assert found, resp.text
        return found[0]

    def initialize(self) -> dict:
        self._next_id += 1
        resp = self.post(
            {
                "jsonrpc": "2.0",
                "id": self._next_id,
                "method": "initialize",
                "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
            }
        )
        assert resp.status_code == 200, (resp.status_code, resp.text)
        self.session_id = resp.headers["mcp-session-id"]
        assert self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code in (200, 202)
        return self.messages(resp)[0]["result"]

    def execute(self, code: str, **args: Any) -> dict:
        r = self.request("tools/call", {"name": "execute_python", "arguments": {"code": code, **args}})
        assert "result" in r, r
        return r["result"]

    def delete(self):
        return self.http.delete(self.url, headers=self.headers())

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "RawHttp":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
