"""Fifty threads share one blocking client: every request succeeds and the pool's limit holds.

The server counts the client connections it accepted (distinct client addresses in the ASGI
scope), so the limit is checked on what the server observed, not only on the client's own
bookkeeping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Final

import pytest

from flext_api import FlextApiClient, Limits, Success
from tests.servers import app as asgi
from tests.servers.app import HELLO, Receive, Scope, Send
from tests.servers.runners import RunningServer, run_uvicorn

THREADS: Final = 50
REQUESTS_PER_THREAD: Final = 200
MAX_CONNECTIONS: Final = 10


class ConnectionCountingApp:
    """The test app, recording each request's client address (one per TCP connection)."""

    def __init__(self) -> None:
        self.peers: set[tuple[str, int]] = set()
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # One event loop thread runs the app: no lock needed for these updates.
            host, port = scope["client"]
            self.peers.add((host, port))
            self.requests += 1
        await asgi.app(scope, receive, send)


@pytest.fixture
def counting_server() -> Iterator[tuple[RunningServer, ConnectionCountingApp]]:
    """uvicorn with the httptools parser, like the `uvicorn_httptools` fixture, counting."""
    counter = ConnectionCountingApp()
    with run_uvicorn("httptools", app=counter) as server:
        yield server, counter


def test_fifty_threads_share_one_client_within_its_connection_limit(
    counting_server: tuple[RunningServer, ConnectionCountingApp],
) -> None:
    server, counter = counting_server
    url = server.url + "/"
    failures: list[object] = []
    wrong_bodies: list[bytes] = []
    peak_connections: list[int] = []
    start = threading.Barrier(THREADS)

    with FlextApiClient(limits=Limits(max_connections=MAX_CONNECTIONS)) as client:

        def worker() -> None:
            start.wait()
            peak = 0
            for index in range(REQUESTS_PER_THREAD):
                result = client.get(url)
                if not isinstance(result, Success):
                    failures.append(result)
                elif result.value.content != HELLO:
                    wrong_bodies.append(result.value.content)
                if index % 20 == 0:
                    peak = max(peak, client.pool_stats.connections)
            peak_connections.append(peak)

        threads = [
            threading.Thread(target=worker, name=f"client-{n}", daemon=True) for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "a client thread is stuck"

        assert failures == []
        assert wrong_bodies == []
        assert counter.requests == THREADS * REQUESTS_PER_THREAD
        # What the server saw: never more than the limit of connections, and they were reused.
        assert 1 <= len(counter.peers) <= MAX_CONNECTIONS, len(counter.peers)
        assert max(peak_connections) <= MAX_CONNECTIONS
        stats = client.pool_stats
        assert stats.in_use == 0, stats
        assert stats.waiters == 0, stats
        assert stats.connections == stats.idle <= MAX_CONNECTIONS, stats
