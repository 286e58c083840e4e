"""install_package: pip into the session's own Python, importable at once; options
are not passed to pip. Each test makes a fresh venv, so reruns test the same thing and
the shared test venv is not changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import BIN, PACKAGE, VENV_PY, Py, StdioServerParameters, connect, text

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("backend", ["subprocess", "embedded"])
async def test_install_package_makes_a_package_importable_in_the_same_session(
    fresh_venv: Path, backend: str
) -> None:
    params = StdioServerParameters(command=str(BIN), args=["--python", str(fresh_venv), "--backend", backend])
    async with connect(params, "legacy", within=240) as client:
        py = Py(client, sessionless=False)
        await py.run("state = 'before install'")
        r = await py.run(f"import {PACKAGE}")
        assert r.is_error is True and r.structured_content["error"]["type"] == "ModuleNotFoundError"
        r = await py.tool("install_package", within=200, packages=[PACKAGE])
        assert r.is_error is False, text(r)
        assert "Successfully installed" in text(r) or "already satisfied" in text(r), text(r)
        r = await py.run(f"import {PACKAGE}\n{PACKAGE}.__file__")
        assert r.is_error is False, text(r)
        assert str(fresh_venv.parent.parent) in r.structured_content["value"]
        assert await py.value("state") == "'before install'"
        await py.still_works()


async def test_install_package_refuses_options(fresh_venv: Path) -> None:
    params = StdioServerParameters(command=str(BIN), args=["--python", str(fresh_venv)])
    async with connect(params, "legacy") as client:
        py = Py(client, sessionless=False)
        await py.run("state = 'kept'")
        for packages in (["--index-url", "http://127.0.0.1:9/simple", PACKAGE], ["-r/etc/passwd"], []):
            r = await py.tool("install_package", packages=packages)
            assert r.is_error is True, (packages, text(r))
        r = await py.tool("install_package", packages=["--index-url", "http://127.0.0.1:9/simple", PACKAGE])
        assert "--index-url" in text(r) and "not a package requirement" in text(r), text(r)
        r = await py.run(f"import {PACKAGE}")
        assert r.is_error is True  # nothing was installed
        assert await py.value("state") == "'kept'"
        await py.still_works()


async def test_install_package_of_a_missing_package_is_a_tool_error(fresh_venv: Path) -> None:
    params = StdioServerParameters(command=str(BIN), args=["--python", str(fresh_venv)])
    async with connect(params, "legacy", within=200) as client:
        py = Py(client, sessionless=False)
        r = await py.tool("install_package", within=180, packages=["pysession-no-such-package-0f3a9c"])
        assert r.is_error is True
        assert "No matching distribution" in text(r) or "ERROR" in text(r), text(r)
        await py.still_works()


async def test_embedded_session_prefers_the_venvs_packages_to_the_systems() -> None:
    """With ``--python VENV`` an embedded session must import the venv's packages: the
    venv's site-packages comes before any other site- or dist-packages directory (a
    venv made without system site packages should not see them at all)."""
    venv = Path(VENV_PY).parent.parent
    params = StdioServerParameters(command=str(BIN), args=["--python", str(VENV_PY), "--backend", "embedded"])
    async with connect(params, "legacy") as client:
        py = Py(client, sessionless=False)
        r = await py.run("import sys\nsys.path")
        path = eval(r.structured_content["value"])
        mine = [i for i, p in enumerate(path) if p.startswith(str(venv)) and p.endswith("site-packages")]
        foreign = [
            i for i, p in enumerate(path)
            if not p.startswith(str(venv)) and p.rstrip("/").endswith(("site-packages", "dist-packages"))
        ]
        assert mine, path
        assert not foreign or min(foreign) > mine[0], f"system packages shadow the venv's: {path}"
        await py.still_works()
