"""Single-flight token refresh on the blocking client: 100 threads across a token expiry make
exactly one token call per expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from flext_api import FlextApiClient
from flext_api._sansio.auth import OAuth2Flow
from tests.servers import auth_app
from tests.servers.runners import RunningServer, run_uvicorn


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RunningServer]:
    with run_uvicorn("httptools", app=auth_app.app) as server:
        yield server


def test_one_token_call_for_100_threads_per_expiry(auth_server: RunningServer) -> None:
    auth_app.state.expires_in = 31  # valid for 1 s past the 30 s refresh skew
    flow = OAuth2Flow(auth_server.url + "/token", "client-id", "client-secret")
    statuses: list[int] = []
    lock = threading.Lock()
    try:
        with FlextApiClient(base_url=auth_server.url, auth=flow) as client:

            def call(start: threading.Barrier) -> None:
                start.wait()
                status = client.get("/bearer").unwrap().status_code
                with lock:
                    statuses.append(status)

            for burst in (1, 2):
                if burst == 2:
                    time.sleep(1.1)  # the token expires between the bursts
                before = auth_app.state.token_calls
                start = threading.Barrier(100)
                threads = [threading.Thread(target=call, args=(start,)) for _ in range(100)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(30)
                assert auth_app.state.token_calls == before + 1, f"burst {burst}"
    finally:
        auth_app.state.expires_in = 3600
    assert statuses == [200] * 200
