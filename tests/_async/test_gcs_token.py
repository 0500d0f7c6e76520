"""The GCS service-account token on a real token endpoint (tests/storage_gcs/token_server.py):
concurrent callers share one token request, the token is renewed ahead of its expiry, a 401
renews it once and retries, a refused assertion is a named failure. Generated into
tests/_sync/test_gcs_token.py, where the concurrent callers are threads."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from flext_api import AsyncFlextApiClient
from flext_api._async.middleware import AsyncOAuth2Middleware
from flext_api._result import Failure
from flext_api.storage._gcs_auth import ServiceAccountCredentials, ServiceAccountFlow
from tests.concurrency import agather as gather  # unasync: remove
from tests.storage_gcs import keys
from tests.storage_gcs.token_server import TokenServer, run_token_server

# unasync: sync-only: from tests.concurrency import gather

pytestmark = pytest.mark.anyio  # unasync: remove

CALLERS = 25


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    with run_token_server() as server:
        yield server


def _layer(
    server: TokenServer, client: AsyncFlextApiClient, now: list[float]
) -> AsyncOAuth2Middleware:
    credentials = ServiceAccountCredentials.from_info(keys.key_info(server.url + "/token"))
    flow = ServiceAccountFlow(credentials.unwrap(), clock=time.time)
    return AsyncOAuth2Middleware(flow, client._send, skew=300.0, clock=lambda: now[0])


async def test_concurrent_callers_make_one_token_request(token_server: TokenServer) -> None:
    now = [0.0]
    async with AsyncFlextApiClient(base_url=token_server.url) as client:
        layer = _layer(token_server, client, now)

        async def call() -> int:
            return (await client.get("/b/o/k", middleware=[layer])).unwrap().status_code

        assert await gather([call] * CALLERS) == [200] * CALLERS
        assert token_server.calls == 1
        # Within the token's life (3600 s, renewed 300 s ahead): no new request.
        now[0] = 3200.0
        assert await gather([call] * CALLERS) == [200] * CALLERS
        assert token_server.calls == 1
        # Ahead of expiry (the old token would still work): one renewal for all callers.
        now[0] = 3400.0
        assert await gather([call] * CALLERS) == [200] * CALLERS
        assert token_server.calls == 2
        assert set(token_server.resource_requests[-CALLERS:]) == {"Bearer tok-2"}


async def test_a_401_renews_once_and_retries(token_server: TokenServer) -> None:
    now = [0.0]
    async with AsyncFlextApiClient(base_url=token_server.url) as client:
        layer = _layer(token_server, client, now)

        async def call() -> int:
            return (await client.get("/b/o/k", middleware=[layer])).unwrap().status_code

        assert await call() == 200
        token_server.revoke()  # the server stops honouring tok-1 before its expiry
        assert await gather([call] * 5) == [200] * 5
        assert token_server.calls == 2


async def test_a_refused_assertion_is_a_token_failure(token_server: TokenServer) -> None:
    info = keys.key_info(token_server.url + "/elsewhere")  # the JWT's aud is not this endpoint
    flow = ServiceAccountFlow(
        ServiceAccountCredentials.from_info(info).unwrap(),
        token_url=token_server.url + "/token",
        clock=time.time,
    )
    async with AsyncFlextApiClient(base_url=token_server.url) as client:
        layer = AsyncOAuth2Middleware(flow, client._send)
        result = await client.get("/b/o/k", middleware=[layer])
    assert isinstance(result, Failure)
    assert result.error.code == "TOKEN_REFRESH_FAILED"
    assert "invalid_grant" in result.error.message
    assert token_server.rejections == ["InvalidAudienceError"]
