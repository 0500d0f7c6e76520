"""The testing kit's pytest plugin as a user's test suite meets it: a project of its own, run
in a subprocess, with sync tests, anyio tests (asyncio and trio) and pytest-trio tests using
``flext_mock`` and ``flext_loopback``; a request no route matches fails the test that sent it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

USER_TESTS = """
import pytest
import trio

from flext_api.testing import MockResponse, mock_async_client, mock_client


def test_sync(flext_mock):
    flext_mock.get("/pets", MockResponse(json=["rex"]))
    with mock_client(flext_mock) as client:
        assert client.get("/pets").unwrap().json().unwrap() == ["rex"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_anyio(flext_mock, anyio_backend):
    flext_mock.post("/pets", lambda request: MockResponse(201, json=request.json()))
    async with mock_async_client(flext_mock) as client:
        reply = (await client.post("/pets", json={"name": "rex"})).unwrap()
    assert reply.status_code == 201
    flext_mock.assert_called("POST", "/pets", times=1)


@pytest.mark.trio
async def test_pytest_trio(flext_mock, flext_loopback):
    flext_mock.get("/ping", MockResponse(text="pong"))
    async with mock_async_client(flext_mock, base_url=flext_loopback.url) as client:
        assert (await client.get("/ping")).unwrap().text == "pong"
    await trio.sleep(0)


def test_unmatched_request_fails(flext_mock):
    with mock_client(flext_mock) as client:
        assert client.get("/typo").unwrap().status_code == 404
"""


def test_the_fixtures_work_in_a_users_suite_under_anyio_and_pytest_trio(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_TESTS)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"]
    registered = {ep.value for ep in entry_points(group="pytest11")}
    if "flext_api.testing.pytest_plugin" not in registered:
        # A checkout whose venv predates the entry point: load the plugin by name.
        args[3:3] = ["-p", "flext_api.testing.pytest_plugin"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    summary = done.stdout.strip().splitlines()[-1]
    # sync, anyio on asyncio and trio, pytest-trio, and the typo test itself; its teardown errs.
    assert summary.startswith("5 passed, 1 error"), done.stdout
    assert "requests no route matched: GET /typo" in done.stdout
