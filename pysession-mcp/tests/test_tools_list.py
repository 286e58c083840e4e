"""tools/list of the native tool set, on every transport and protocol era."""

from __future__ import annotations

import anyio

import pytest

from conftest import HttpServer, py_on, NATIVE_TOOLS, Py

pytestmark = pytest.mark.anyio


def _types(prop: dict) -> set[str]:
    t = prop.get("type")
    return set(t) if isinstance(t, list) else {t}


async def test_tools_list_names_the_native_tools_with_execute_pythons_schemas(target_name: str, native_http: HttpServer) -> None:
    async with py_on(target_name, native_http) as py:
        with anyio.fail_after(30):
            tools = {t.name: t for t in (await py.client.list_tools()).tools}
        assert set(tools) == NATIVE_TOOLS

        schema = tools["execute_python"].input_schema
        assert schema["type"] == "object"
        assert schema.get("required") == ["code"]
        props = schema["properties"]
        assert set(props) == {"code", "timeout_seconds", "max_output_chars", "session"}
        assert _types(props["code"]) == {"string"}
        assert "number" in _types(props["timeout_seconds"])
        assert "integer" in _types(props["max_output_chars"])
        assert "string" in _types(props["session"])
        assert tools["execute_python"].description

        out = tools["execute_python"].output_schema
        assert out is not None and out["type"] == "object"
        assert set(out["required"]) >= {"status", "success", "stdout", "stderr"}
        assert set(out["properties"]["status"]["enum"]) == {"ok", "error", "timeout", "interrupted", "restarted"}
        for key in ("value", "error", "session", "display"):
            assert key in out["properties"], key

        # The session tools take an optional session name and nothing required.
        for name in ("restart_session", "list_variables", "close_session"):
            s = tools[name].input_schema
            assert not s.get("required"), (name, s)
            assert "session" in s.get("properties", {}), name
        assert tools["install_package"].input_schema["required"] == ["packages"]
        await py.still_works()


async def test_server_names_itself_pysession_mcp(target_name: str, native_http: HttpServer) -> None:
    """serverInfo is the server's own name and version, not the SDK's (rmcp 3.11.0)."""
    async with py_on(target_name, native_http) as py:
        info = py.client.server_info
        assert info is not None
        assert (info.name, info.version) == ("pysession-mcp", "0.1.0"), info
        await py.still_works()
