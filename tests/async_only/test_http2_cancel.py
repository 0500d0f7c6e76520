"""Cancelling one HTTP/2 request resets its stream only: the other streams on the connection
finish, the connection stays open and in the pool, and the next request reuses it. A request
cancelled while its write is blocked takes no byte of the connection's frames with it: every
later request still gets its own response (HTTP/1.1: the connection is discarded).

Runs on asyncio and on trio (the ``anyio_backend`` fixture). The scripted server holds every
``/hold`` request until the test releases them, so 50 streams are in flight at once, and it
records which streams the client reset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import anyio
import pytest

from flext_api import AsyncFlextApiClient, Success, Timeout
from tests.servers.h2peers import H2Script, ScriptedH2Server, server_tls_context
from tests.servers.raw import RawServerFactory
from tests.servers.runners import RunningServer
from tests.servers.stall import StallingEcho
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


# -- cancelled writes ------------------------------------------------------------------------

WRITERS: Final = 12
CANCELLED: Final = (0, 3, 6, 9)  # 0 starts first: on HTTP/2 it is the connection's writer
BODY: Final = 4 * 1024 * 1024  # 48 MiB in all: more than every socket buffer on the way
NETWORK_CODES: Final = frozenset({"NETWORK_ERROR", "READ_ERROR", "WRITE_ERROR"})


def _client(mode: str, tls_certs: TLSCertificates) -> AsyncFlextApiClient:
    timeout = Timeout(30.0)
    if mode == "h2c":
        return AsyncFlextApiClient(http2="prior-knowledge", timeout=timeout)
    if mode == "h2-tls":
        return AsyncFlextApiClient(verify=str(tls_certs.ca_pem), http2=True, timeout=timeout)
    return AsyncFlextApiClient(timeout=timeout)


async def _until_writes_block(echo: StallingEcho, connections: int) -> None:
    """Until ``connections`` server sockets hold unread bytes that no longer grow: the client
    filled every buffer on the way and its writes are blocked."""
    previous: list[int] = []
    stable = 0
    with anyio.fail_after(30):
        while stable < 3:
            await anyio.sleep(0.05)
            sizes = echo.unread()
            ready = len(sizes) >= connections and all(sizes)
            stable = stable + 1 if ready and sizes == previous else 0
            previous = sizes


@pytest.mark.parametrize("mode", ["h2c", "h2-tls", "http1"])
async def test_cancelled_blocked_writes_never_deliver_another_requests_response(
    mode: str, anyio_backend: str, raw_server: RawServerFactory, tls_certs: TLSCertificates
) -> None:
    echo = StallingEcho()
    server = raw_server(
        echo.http1 if mode == "http1" else echo.h2,
        ssl_context=server_tls_context(tls_certs.server) if mode == "h2-tls" else None,
        recv_buffer=4096,
    )
    url = server.url + "/echo"
    # trio's SSLStream cannot resume a cancelled send: the connection is closed instead, and
    # the requests that shared it fail cleanly. Everywhere else the connection carries on.
    resumable = not (mode == "h2-tls" and anyio_backend == "trio")
    results: dict[int, Any] = {}
    async with _client(mode, tls_certs) as client:
        warm = await client.get(url, headers={"x-id": "warm-up"})
        assert isinstance(warm, Success) and warm.value.content == b"warm-up"
        echo.reading.clear()
        scopes: dict[int, anyio.CancelScope] = {}

        async def post(index: int) -> None:
            with anyio.CancelScope() as scope:
                scopes[index] = scope
                body = f"{index:06d}".encode() * (BODY // 6)
                headers = {"x-id": f"id-{index}"}
                results[index] = await client.post(url, content=body, headers=headers)

        async with anyio.create_task_group() as group:
            for index in range(WRITERS):
                group.start_soon(post, index)
                await anyio.sleep(0)  # start in order: 0 first
            await _until_writes_block(echo, WRITERS if mode == "http1" else 1)
            for index in CANCELLED:
                scopes[index].cancel()
            await anyio.sleep(0.05)
            echo.reading.set()
        later = [await client.get(url, headers={"x-id": f"later-{n}"}) for n in range(10)]
        stats = client.pool_stats
    assert sorted(results) == [n for n in range(WRITERS) if n not in CANCELLED]
    for index, result in results.items():
        if isinstance(result, Success):
            assert result.value.content == f"id-{index}".encode()
        else:
            assert not resumable, result
            assert result.error_code in NETWORK_CODES, result
    for number, result in enumerate(later):
        assert isinstance(result, Success), result
        assert result.value.content == f"later-{number}".encode()
    assert echo.protocol_errors == []
    cancelled_ids = sorted(f"id-{index}".encode() for index in CANCELLED)
    if mode == "http1":
        # Each cancelled request's connection was discarded (closed mid-body), not reused.
        assert sorted(echo.aborted) == cancelled_ids
    elif resumable:
        # The server decoded every frame after the cancellations, on the one connection that
        # served everything: any reset it saw names a cancelled request's stream.
        assert set(echo.resets) <= set(cancelled_ids), echo.resets
        assert server.connections == 1 and stats.connections == 1
