"""Single-flight token refresh on the blocking client: 100 threads across a token expiry make
exactly one token call per expiry. The token expires on a fake clock, not by waiting."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from flext_api import FlextApiClient, FlextApiError, Request, Response
from flext_api._result import Failure, Success
from flext_api._sansio.auth import OAuth2Flow
from flext_api._sync.middleware import OAuth2Middleware
from tests.servers import auth_app
from tests.servers.runners import RunningServer, run_uvicorn


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RunningServer]:
    with run_uvicorn("httptools", app=auth_app.app) as server:
        yield server


def test_one_token_call_for_100_threads_per_expiry(auth_server: RunningServer) -> None:
    now = [0.0]
    flow = OAuth2Flow(auth_server.url + "/token", "client-id", "client-secret")
    statuses: list[int] = []
    lock = threading.Lock()
    with FlextApiClient() as token_client:

        def send(request: Request) -> Success[Response] | Failure[FlextApiError]:
            return token_client.request(
                request.method, request.url, headers=request.headers, content=request.content
            )

        oauth2 = OAuth2Middleware(flow, send, clock=lambda: now[0])
        with FlextApiClient(base_url=auth_server.url, auth=oauth2) as client:

            def call(start: threading.Barrier) -> None:
                start.wait()
                status = client.get("/bearer").unwrap().status_code
                with lock:
                    statuses.append(status)

            for burst in (1, 2):
                if burst == 2:
                    now[0] += 3600  # the token (expires_in=3600) expires between the bursts
                before = auth_app.state.token_calls
                start = threading.Barrier(100)
                threads = [threading.Thread(target=call, args=(start,)) for _ in range(100)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(30)
                assert auth_app.state.token_calls == before + 1, f"burst {burst}"
    assert statuses == [200] * 200
