"""The connection pool against real servers: what its users notice when a server or a budget
limits it.

Written once as async tests; ``tests/_sync/test_pool.py`` is generated from this file, so every
case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Final

import pytest

from flext_api import (
    AsyncFlextApiClient,
    ConnectTimeout,
    Failure,
    FlextApiError,
    Headers,
    Limits,
    PoolTimeout,
    Response,
    Success,
    Timeout,
)
from flext_api._async.pool import AsyncConnectionPool
from flext_api._models import Request
from flext_api._urls import URL
from tests.servers.h2peers import H2Script, ScriptedH2Server, server_tls_context
from tests.servers.raw import RawServerFactory, never_respond
from tests.servers.runners import RunningServer
from tests.servers.tls import TLSCertificates

pytestmark = pytest.mark.anyio  # unasync: remove

HELLO: Final = b"hello, world"


@pytest.fixture
def scripted(tls_certs: TLSCertificates) -> Iterator[Any]:
    """A factory: ``scripted(H2Script(...))`` starts a TLS scripted server (stopped after)."""
    servers: list[ScriptedH2Server] = []

    def start(script: H2Script) -> ScriptedH2Server:
        server = ScriptedH2Server(script, server_tls_context(tls_certs.server)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def ok(result: Success[Response] | Failure[FlextApiError]) -> Response:
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


class FakeClock:
    """The pool's injectable clock: keep-alive expiry is tested by moving it, not by sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def get(url: str) -> Request:
    target = URL(url)
    return Request("GET", target, Headers({"Host": target.host_header.decode()}))


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "h2c"])
@pytest.mark.parametrize(("idle_for", "reused"), [(59.9, True), (60.0, False), (3600.0, False)])
async def test_keepalive_expiry_follows_the_pool_clock(
    http2: bool, idle_for: float, reused: bool, hypercorn_tls: RunningServer
) -> None:
    """An idle connection (HTTP/1.1, or HTTP/2 with no stream open) is reused within
    ``keepalive_expiry`` and replaced, not kept next to the new one, from then on."""
    clock = FakeClock()
    events: list[str] = []
    pool = AsyncConnectionPool(
        limits=Limits(keepalive_expiry=60.0),
        http2="prior-knowledge" if http2 else False,
        clock=clock,
        trace=lambda name, _: events.append(name),
    )
    url = f"{hypercorn_tls.insecure_url}/"
    try:
        first = await pool.round_trip(get(url))
        assert pool.stats.idle == 1
        clock.now += idle_for
        second = await pool.round_trip(get(url))
        stats = pool.stats
    finally:
        await pool.aclose()
    version = "HTTP/2" if http2 else "HTTP/1.1"
    assert first.http_version == second.http_version == version
    assert second.content == HELLO
    assert events.count("connect.start") == (1 if reused else 2)
    assert (stats.connections, stats.idle, stats.in_use) == (1, 1, 0), stats


async def test_server_allowing_no_stream_does_not_exhaust_the_pool(
    scripted: Any, tls_certs: TLSCertificates, uvicorn_h11: RunningServer
) -> None:
    """SETTINGS_MAX_CONCURRENT_STREAMS = 0 after the first request: the connection can serve
    nobody, so it is closed instead of counting as in use for ever (with max_connections=1
    every later request, to any origin, would fail with POOL_TIMEOUT)."""
    server = scripted(H2Script(shrink_to=0))
    async with AsyncFlextApiClient(
        verify=str(tls_certs.ca_pem),
        http2=True,
        limits=Limits(max_connections=1),
        timeout=Timeout(20.0, pool=5.0),
    ) as client:
        first = ok(await client.get(server.url + "/"))
        assert first.http_version == "HTTP/2" and first.content == HELLO
        stats = client.pool_stats
        assert (stats.connections, stats.in_use, stats.opening) == (0, 0, 0), stats
        other = ok(await client.get(uvicorn_h11.url + "/"))
        assert other.status_code == 200
        again = ok(await client.get(server.url + "/"))
        assert again.content == HELLO
        assert client.pool_stats.in_use == 0
    assert server.connections == 2  # the second request to it got a new connection


# Far above the 0.3 s budget and far below the 30 s per-phase limit: a hang guard, not a timing.
@pytest.mark.timeout(15)
async def test_total_budget_bounds_the_wait_for_a_connection(uvicorn_h11: RunningServer) -> None:
    """``Timeout(30, total=0.3)`` with the only connection busy: the waiting request fails
    with POOL_TIMEOUT once its total budget is spent, not after the 30 s pool timeout."""
    pool = AsyncConnectionPool(limits=Limits(max_connections=1))
    url = URL(uvicorn_h11.url + "/drip?chunks=3&delay=0.01")
    headers = Headers({"Host": url.host_header.decode()})
    held, head = await pool.open_stream(Request("GET", url, headers))
    assert head.status_code == 200
    budget = Timeout(30.0, total=0.3)
    waiting = Request(
        "GET", url, headers, timeout=budget, deadline=time.monotonic() + (budget.total or 0)
    )
    try:
        with pytest.raises(PoolTimeout) as caught:
            await pool.round_trip(waiting)
        assert caught.value.code == "POOL_TIMEOUT"
        assert "total budget" in str(caught.value)
        assert (pool.stats.waiters, pool.stats.in_use) == (0, 1)
        assert await held.receive_body() == b"***"  # the busy exchange is unharmed
    finally:
        pool.release(held)
        await pool.aclose()
    assert pool.stats.connections == 0


@pytest.mark.timeout(15)  # a hang guard, as above
async def test_total_budget_bounds_the_connect(
    raw_server: RawServerFactory, tls_certs: TLSCertificates
) -> None:
    """A server that accepts but never answers the TLS handshake, with ``Timeout(30,
    total=0.3)``: the connect fails with CONNECT_TIMEOUT when the budget is spent."""
    server = raw_server(never_respond)
    pool = AsyncConnectionPool(ssl_context=tls_certs.client_context())
    budget = Timeout(30.0, total=0.3)
    target = URL(f"https://127.0.0.1:{server.port}/")
    request = Request(
        "GET",
        target,
        Headers({"Host": target.host_header.decode()}),
        timeout=budget,
        deadline=time.monotonic() + (budget.total or 0),
    )
    try:
        with pytest.raises(ConnectTimeout) as caught:
            await pool.round_trip(request)
    finally:
        await pool.aclose()
    assert caught.value.code == "CONNECT_TIMEOUT"
    assert pool.stats.connections == 0
