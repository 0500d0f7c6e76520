"""Authentication against a server that checks credentials itself (tests/servers/auth_app.py).
Generated into tests/_sync/test_auth.py for the blocking client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flext_api import AsyncFlextApiClient
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Flow
from flext_api._sansio.digest import DigestAuth
from tests.servers import auth_app
from tests.servers.runners import RunningServer, run_uvicorn

pytestmark = pytest.mark.anyio  # unasync: remove


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RunningServer]:
    with run_uvicorn("httptools", app=auth_app.app) as server:
        yield server


async def test_basic_auth_tuple_and_object(auth_server: RunningServer) -> None:
    for auth in (("alice", "s3cret"), BasicAuth("alice", "s3cret")):
        async with AsyncFlextApiClient(base_url=auth_server.url, auth=auth) as client:
            assert (await client.get("/basic")).unwrap().status_code == 200
    async with AsyncFlextApiClient(base_url=auth_server.url, auth=("alice", "wrong")) as client:
        assert (await client.get("/basic")).unwrap().status_code == 401
        # a call that brings its own Authorization keeps it
        own = await client.get("/basic", headers={"Authorization": "Basic bm9wZTpub3Bl"})
        assert own.unwrap().status_code == 401


async def test_bearer_static_and_callback(auth_server: RunningServer) -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return "static-token"

    for auth in (BearerAuth("static-token"), BearerAuth(token)):
        async with AsyncFlextApiClient(base_url=auth_server.url, auth=auth) as client:
            assert (await client.get("/bearer")).unwrap().status_code == 200
            assert (await client.get("/bearer")).unwrap().status_code == 200
    assert len(calls) == 2  # the callback is asked on every request


async def test_bad_token_from_a_callback_is_a_failure(auth_server: RunningServer) -> None:
    async with AsyncFlextApiClient(
        base_url=auth_server.url, auth=BearerAuth(lambda: "line\nbreak")
    ) as client:
        result = await client.get("/bearer")
    assert result.is_failure and result.error_code == "AUTH_ERROR"
    assert "line\nbreak" not in str(result.error)


@pytest.mark.parametrize("where", ["header", "query", "cookie"])
async def test_api_key_in_each_location(auth_server: RunningServer, where: str) -> None:
    auth = ApiKeyAuth("api_key" if where != "header" else "X-API-Key", "k3y", where)  # type: ignore[arg-type]
    async with AsyncFlextApiClient(base_url=auth_server.url, auth=auth) as client:
        response = (await client.get("/apikey")).unwrap()
    assert response.status_code == 200, response.text
    assert "k3y" not in repr(auth)


async def test_digest_answers_the_challenge_once(auth_server: RunningServer) -> None:
    async with AsyncFlextApiClient(
        base_url=auth_server.url, auth=DigestAuth("alice", "s3cret")
    ) as client:
        first = (await client.get("/digest", params={"q": "1"})).unwrap()
        second = (await client.get("/digest")).unwrap()  # nonce reused, nc counts up
        assert client.pool_stats.in_use == 0
    assert (first.status_code, second.status_code) == (200, 200)
    async with AsyncFlextApiClient(
        base_url=auth_server.url, auth=DigestAuth("alice", "wrong")
    ) as client:
        refused = (await client.get("/digest")).unwrap()
    assert refused.status_code == 401  # one retry, then the 401 comes back


async def test_oauth2_client_credentials_and_401_refresh(auth_server: RunningServer) -> None:
    flow = OAuth2Flow(auth_server.url + "/token", "client-id", "client-secret")
    before = auth_app.state.token_calls
    async with AsyncFlextApiClient(base_url=auth_server.url, auth=flow) as client:
        assert (await client.get("/bearer")).unwrap().status_code == 200
        assert (await client.get("/bearer")).unwrap().status_code == 200
        assert auth_app.state.token_calls == before + 1
        # the server revokes the token: the next call refreshes once and retries
        auth_app.state.current_token = "revoked"
        assert (await client.get("/bearer")).unwrap().status_code == 200
        assert auth_app.state.token_calls == before + 2
        assert auth_app.state.refresh_calls >= 1  # the refresh token was used


async def test_oauth2_wrong_client_secret_is_a_token_failure(auth_server: RunningServer) -> None:
    flow = OAuth2Flow(auth_server.url + "/token", "client-id", "nope")
    async with AsyncFlextApiClient(base_url=auth_server.url, auth=flow) as client:
        result = await client.get("/bearer")
    assert result.is_failure and result.error_code == "TOKEN_REFRESH_FAILED"
    assert "nope" not in str(result.error)


async def test_oauth2_unreachable_token_endpoint(auth_server: RunningServer) -> None:
    flow = OAuth2Flow("http://127.0.0.1:1/token", "client-id", "client-secret")
    async with AsyncFlextApiClient(base_url=auth_server.url, auth=flow) as client:
        result = await client.get("/bearer")
    assert result.is_failure and result.error_code == "TOKEN_REFRESH_FAILED"
    assert "token endpoint" in str(result.error)


async def test_auth_of_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="auth= takes"):
        AsyncFlextApiClient(auth="alice:s3cret")  # type: ignore[arg-type]
