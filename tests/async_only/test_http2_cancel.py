"""Cancelling one HTTP/2 request resets its stream only: the other streams on the connection
finish, the connection stays open and in the pool, and the next request reuses it.

Runs on asyncio and on trio (the ``anyio_backend`` fixture). The scripted server holds every
``/hold`` request until the test releases them, so 50 streams are in flight at once, and it
records which streams the client reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import anyio
import pytest

from flext_api import AsyncFlextApiClient, Success, Timeout
from tests.servers.h2peers import H2Script, ScriptedH2Server, server_tls_context
from tests.servers.runners import RunningServer
from tests.servers.tls import TLSCertificates

pytestmark = pytest.mark.anyio

STREAMS: Final = 50
HELLO: Final = b"hello, world"


@pytest.fixture
def held_server(tls_certs: TLSCertificates) -> Iterator[ScriptedH2Server]:
    server = ScriptedH2Server(H2Script(), server_tls_context(tls_certs.server)).start()
    try:
        yield server
    finally:
        server.stop()


async def test_cancelling_one_of_50_streams_resets_only_that_stream(
    held_server: ScriptedH2Server, tls_certs: TLSCertificates
) -> None:
    url = held_server.url + "/hold"
    results: dict[int, object] = {}
    async with AsyncFlextApiClient(
        verify=str(tls_certs.ca_pem), http2=True, timeout=Timeout(10.0)
    ) as client:
        scopes: dict[int, anyio.CancelScope] = {}

        async def request(index: int) -> None:
            with anyio.CancelScope() as scope:
                scopes[index] = scope
                results[index] = await client.get(url)

        async with anyio.create_task_group() as group:
            for index in range(STREAMS):
                group.start_soon(request, index)
            with anyio.fail_after(5):
                while len(held_server.streams_seen) < STREAMS:
                    await anyio.sleep(0.01)
            scopes[7].cancel()
            await anyio.sleep(0.05)
            # The RST_STREAM is queued synchronously (a cancelled task cannot await) and
            # leaves with the connection's next frames: this request's HEADERS.
            after = await client.get(held_server.url + "/")
            assert client.pool_stats.connections == 1
            assert len(held_server.resets) == 1, held_server.resets
            held_server.script.release_hold.set()
        final = client.pool_stats
    assert 7 not in results
    assert len(results) == STREAMS - 1
    for result in results.values():
        assert isinstance(result, Success), result
        assert result.value.content == HELLO
    assert isinstance(after, Success) and after.value.content == HELLO
    assert held_server.connections == 1
    assert final.connections == 1 and final.in_use == 0 and final.waiters == 0


async def test_cancelled_stream_on_a_real_server_leaves_the_connection_usable(
    hypercorn_tls: RunningServer,
) -> None:
    async with AsyncFlextApiClient(verify=str(hypercorn_tls.ca_pem), http2=True) as client:
        done: list[object] = []

        async def slow() -> None:
            done.append(await client.get(hypercorn_tls.url + "/delay/0.5"))

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(slow)
            with anyio.CancelScope() as doomed:
                group.start_soon(lambda: _cancel_later(doomed))
                await client.get(hypercorn_tls.url + "/delay/5")
        again = await client.get(hypercorn_tls.url + "/")
        assert client.pool_stats.connections == 1
    assert len(done) == 10 and all(isinstance(result, Success) for result in done)
    assert isinstance(again, Success) and again.value.http_version == "HTTP/2"


async def _cancel_later(scope: anyio.CancelScope) -> None:
    await anyio.sleep(0.2)
    scope.cancel()
