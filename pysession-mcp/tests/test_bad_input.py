"""Bad input, raw: what an SDK client would not send. Each gets an error (JSON-RPC or
tool) and the session keeps working, with its state."""

from __future__ import annotations

import json

import pytest

from conftest import HttpServer
from rawrpc import RawHttp, RawStdio

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def raw() -> RawStdio:
    with RawStdio() as s:
        s.initialize()
        assert s.value("kept = 'state'; kept") == "'state'"
        yield s
        # Nothing the server wrote to stdout was anything but JSON-RPC.
        assert s.junk == []


def _ends_well(s: RawStdio | RawHttp) -> None:
    assert s.value("kept") == "'state'"
    s.still_works()


def test_stdio_server_survives_malformed_json(raw: RawStdio) -> None:
    raw.send_bytes(b'{"jsonrpc": "2.0", "id": 5, "method": \n')
    raw.send_bytes(b"\xff\xfe not even utf-8\n")
    _ends_well(raw)


def test_stdio_malformed_json_gets_a_parse_error(raw: RawStdio) -> None:
    """JSON-RPC 2.0 §5.1: a parse error is answered with code -32700 and id null; a
    client that gets nothing waits for its timeout."""
    raw.send_bytes(b'{"jsonrpc": "2.0", "id": 5, "method": \n')
    msg = raw.next_message(timeout=5)
    assert msg is not None, "no answer to malformed JSON"
    assert msg.get("error", {}).get("code") == -32700 and "id" in msg and msg["id"] is None, msg
    _ends_well(raw)


def test_stdio_invalid_request_gets_an_error_with_a_null_id(raw: RawStdio) -> None:
    raw.send_bytes(b'"just a string"\n')
    msg = raw.next_message(timeout=5)
    assert msg is not None and msg["error"]["code"] == -32600, msg
    # JSON-RPC 2.0 §5: "id ... MUST be Null" when it could not be read; the member is required.
    assert "id" in msg and msg["id"] is None, msg
    _ends_well(raw)


def test_stdio_unknown_method_is_method_not_found(raw: RawStdio) -> None:
    r = raw.request("no/such/method", {})
    assert r["error"]["code"] == -32601, r
    _ends_well(raw)


def test_stdio_unknown_tool_is_an_error(raw: RawStdio) -> None:
    r = raw.request("tools/call", {"name": "no_such_tool", "arguments": {}})
    assert ("error" in r and r["error"]["code"] == -32602) or r["result"]["isError"] is True, r
    _ends_well(raw)


@pytest.mark.parametrize(
    "arguments",
    [{}, {"code": 123}, {"code": None}, {"code": ["print(1)"]}, {"code": "1", "timeout_seconds": "soon"},
     {"code": "1", "max_output_chars": -1}, {"code": "1", "session": 7}],
    ids=["code-missing", "code-int", "code-null", "code-list", "timeout-string", "max-chars-negative", "session-int"],
)
def test_stdio_bad_arguments_are_a_tool_error(raw: RawStdio, arguments: dict) -> None:
    r = raw.request("tools/call", {"name": "execute_python", "arguments": arguments})
    if "error" in r:
        assert r["error"]["code"] == -32602, r
    else:
        assert r["result"]["isError"] is True, r
        assert r["result"]["content"][0]["text"], r
    _ends_well(raw)


def test_stdio_arguments_not_an_object_are_an_error(raw: RawStdio) -> None:
    r = raw.request("tools/call", {"name": "execute_python", "arguments": "print(1)"})
    assert ("error" in r) or r["result"]["isError"] is True, r
    _ends_well(raw)


def test_stdio_ten_megabytes_of_code_get_an_answer(raw: RawStdio) -> None:
    code = "s = '" + "a" * TEN_MB + "'\nlen(s)"
    r = raw.request("tools/call", {"name": "execute_python", "arguments": {"code": code}}, timeout=90)
    # Either it ran (the value is right) or it was refused; it did not kill the server.
    if "result" in r and not r["result"].get("isError"):
        assert r["result"]["structuredContent"]["value"] == str(TEN_MB)
        assert len(json.dumps(r)) < TEN_MB  # the code is not echoed back
    _ends_well(raw)


@pytest.fixture
def raw_http(native_http: HttpServer) -> RawHttp:
    with RawHttp(native_http.url) as s:
        s.initialize()
        assert s.value("kept = 'state'; kept") == "'state'"
        yield s


def test_http_malformed_json_is_a_client_error(raw_http: RawHttp) -> None:
    resp = raw_http.post(b'{"jsonrpc": "2.0", "id": 5, "method": ')
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    _ends_well(raw_http)


def test_http_unknown_method_and_tool_are_errors(raw_http: RawHttp) -> None:
    assert raw_http.request("no/such/method", {})["error"]["code"] == -32601
    r = raw_http.request("tools/call", {"name": "no_such_tool", "arguments": {}})
    assert ("error" in r) or r["result"]["isError"] is True, r
    _ends_well(raw_http)


def test_http_bad_arguments_are_a_tool_error(raw_http: RawHttp) -> None:
    for arguments in ({}, {"code": 123}, {"code": "1", "timeout_seconds": "soon"}):
        r = raw_http.request("tools/call", {"name": "execute_python", "arguments": arguments})
        assert ("error" in r and r["error"]["code"] == -32602) or r["result"]["isError"] is True, r
    _ends_well(raw_http)


def test_http_ten_megabytes_of_code_get_an_answer(raw_http: RawHttp) -> None:
    code = "s = '" + "a" * TEN_MB + "'\nlen(s)"
    resp = raw_http.post({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                          "params": {"name": "execute_python", "arguments": {"code": code}}})
    # Under the default --max-request-bytes (16 MiB) it runs; over it, 413.
    assert resp.status_code in (200, 413), (resp.status_code, resp.text[:300])
    if resp.status_code == 200:
        (msg,) = [m for m in raw_http.messages(resp) if m.get("id") == 9]
        assert msg["result"]["structuredContent"]["value"] == str(TEN_MB)
    _ends_well(raw_http)
