"""Single-flight token refresh: 100 concurrent tasks across a token expiry make exactly one
token call per expiry, on asyncio and trio."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from flext_api import AsyncFlextApiClient
from flext_api._sansio.auth import OAuth2Flow
from tests.servers import auth_app
from tests.servers.runners import RunningServer, run_uvicorn

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RunningServer]:
    with run_uvicorn("httptools", app=auth_app.app) as server:
        yield server


async def test_one_token_call_for_100_tasks_per_expiry(auth_server: RunningServer) -> None:
    auth_app.state.expires_in = 31  # valid for 1 s past the 30 s refresh skew
    flow = OAuth2Flow(auth_server.url + "/token", "client-id", "client-secret")
    statuses: list[int] = []
    try:
        async with AsyncFlextApiClient(base_url=auth_server.url, auth=flow) as client:

            async def call() -> None:
                statuses.append((await client.get("/bearer")).unwrap().status_code)

            for burst in (1, 2):
                if burst == 2:
                    await anyio.sleep(1.1)  # the token expires between the bursts
                before = auth_app.state.token_calls
                async with anyio.create_task_group() as tasks:
                    for _ in range(100):
                        tasks.start_soon(call)
                assert auth_app.state.token_calls == before + 1, f"burst {burst}"
    finally:
        auth_app.state.expires_in = 3600
    assert statuses == [200] * 200
