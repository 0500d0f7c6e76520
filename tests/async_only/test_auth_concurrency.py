"""Single-flight token refresh: 100 concurrent tasks across a token expiry make exactly one
token call per expiry, on asyncio and trio. The token expires on a fake clock, not by waiting."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from flext_api import AsyncFlextApiClient, FlextApiError, Request, Response
from flext_api._async.middleware import AsyncOAuth2Middleware
from flext_api._result import Failure, Success
from flext_api._sansio.auth import OAuth2Flow
from tests.servers import auth_app
from tests.servers.runners import RunningServer, run_uvicorn

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RunningServer]:
    with run_uvicorn("httptools", app=auth_app.app) as server:
        yield server


async def test_one_token_call_for_100_tasks_per_expiry(auth_server: RunningServer) -> None:
    now = [0.0]
    flow = OAuth2Flow(auth_server.url + "/token", "client-id", "client-secret")
    statuses: list[int] = []
    async with AsyncFlextApiClient() as token_client:

        async def send(request: Request) -> Success[Response] | Failure[FlextApiError]:
            return await token_client.request(
                request.method, request.url, headers=request.headers, content=request.content
            )

        oauth2 = AsyncOAuth2Middleware(flow, send, clock=lambda: now[0])
        async with AsyncFlextApiClient(base_url=auth_server.url, auth=oauth2) as client:

            async def call() -> None:
                statuses.append((await client.get("/bearer")).unwrap().status_code)

            for burst in (1, 2):
                if burst == 2:
                    now[0] += 3600  # the token (expires_in=3600) expires between the bursts
                before = auth_app.state.token_calls
                async with anyio.create_task_group() as tasks:
                    for _ in range(100):
                        tasks.start_soon(call)
                assert auth_app.state.token_calls == before + 1, f"burst {burst}"
    assert statuses == [200] * 200
