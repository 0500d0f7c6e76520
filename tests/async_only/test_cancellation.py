"""Cancellation at every await point of a request leaves the pool clean and the client usable.

A cancelled request must give back exactly what it took: no connection left "in use", no
waiter left in the queue, no half-used connection put back for reuse, the socket closed (the
raw servers here see the client hang up), and the next request works. Each case runs on
asyncio and on trio (the `anyio_backend` fixture); cancellation is what the caller sees, so it
must propagate, never turn into a Result.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Final

import anyio
import pytest

from flext_api import AsyncFlextApiClient, Limits, PoolStats, Success
from tests.servers.app import HELLO
from tests.servers.raw import RawServerFactory
from tests.servers.runners import RunningServer

pytestmark = pytest.mark.anyio

# Cancel after this long: well inside every timeout the request itself has (10 s or more).
CANCEL_AFTER: Final = 0.3
POLL_TIMEOUT: Final = 5.0


def assert_pool_clean(stats: PoolStats, *, in_use: int = 0) -> None:
    """Nothing waiting, only `in_use` connections checked out, counts that add up."""
    assert stats.waiters == 0, stats
    assert stats.in_use == in_use, stats
    assert 0 <= stats.idle <= stats.connections, stats
    assert sum(origin.connections for origin in stats.origins.values()) == stats.connections
    assert sum(origin.idle for origin in stats.origins.values()) == stats.idle


async def assert_still_works(client: AsyncFlextApiClient, healthy: RunningServer) -> None:
    result = await client.get(healthy.url + "/")
    assert isinstance(result, Success), result
    assert result.value.content == HELLO
    assert_pool_clean(client.pool_stats)


async def wait_for(event: threading.Event) -> None:
    """Poll a flag set by a server thread, without blocking the event loop."""
    with anyio.fail_after(POLL_TIMEOUT):
        while not event.is_set():
            await anyio.sleep(0.01)


def read_until_hang_up(conn: socket.socket, hung_up: threading.Event) -> None:
    """Discard what the client sends until it closes the connection (or resets it)."""
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass
    hung_up.set()


async def test_cancel_during_connect(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    # A TLS-less server: the client's TLS handshake waits for an answer that never comes.
    hung_up = threading.Event()
    server = raw_server(lambda conn: read_until_hang_up(conn, hung_up))
    async with AsyncFlextApiClient() as client:
        with anyio.move_on_after(CANCEL_AFTER) as scope:
            await client.get(f"https://127.0.0.1:{server.port}/")
        assert scope.cancelled_caught
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 0
        await wait_for(hung_up)
        assert server.connections == 1
        await assert_still_works(client, uvicorn_h11)


async def test_cancel_while_sending_a_large_body(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    # The server does not read until the test says so: the client's send blocks.
    drain = threading.Event()
    hung_up = threading.Event()

    def read_late(conn: socket.socket) -> None:
        drain.wait(POLL_TIMEOUT)
        read_until_hang_up(conn, hung_up)

    server = raw_server(read_late, recv_buffer=4096)
    body = b"x" * (32 * 1024 * 1024)
    async with AsyncFlextApiClient() as client:
        with anyio.move_on_after(CANCEL_AFTER) as scope:
            await client.post(server.url + "/upload", content=body)
        assert scope.cancelled_caught
        # A half-sent request makes the connection useless: closed, not kept.
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 0
        drain.set()
        await wait_for(hung_up)
        await assert_still_works(client, uvicorn_h11)


async def test_cancel_while_waiting_for_the_response_head(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient() as client:
        with anyio.move_on_after(CANCEL_AFTER) as scope:
            await client.get(uvicorn_h11.url + "/delay/2")
        assert scope.cancelled_caught
        # The late response would answer the next request: that connection must be gone.
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 0
        await assert_still_works(client, uvicorn_h11)
        assert client.pool_stats.connections == 1


async def test_cancel_mid_body_of_a_buffered_response(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient() as client:
        with anyio.move_on_after(CANCEL_AFTER) as scope:
            await client.get(uvicorn_h11.url + "/drip?chunks=40&delay=0.05")
        assert scope.cancelled_caught
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 0
        await assert_still_works(client, uvicorn_h11)


async def test_cancel_mid_body_of_a_streamed_response(uvicorn_h11: RunningServer) -> None:
    received = 0
    async with AsyncFlextApiClient() as client:
        with anyio.CancelScope() as scope:
            async with client.stream("GET", uvicorn_h11.url + "/drip?chunks=40&delay=0.05") as r:
                assert isinstance(r, Success), r
                response = r.value
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    # Delivered at the next await: the read of the following chunk.
                    scope.cancel()
        assert scope.cancelled_caught
        assert 0 < received < 40
        assert response.is_closed
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 0
        await assert_still_works(client, uvicorn_h11)


async def test_cancel_while_waiting_in_the_pool_queue(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient(limits=Limits(max_connections=1)) as client:
        async with client.stream("GET", uvicorn_h11.url + "/stream/3") as held:
            assert isinstance(held, Success), held
            with anyio.move_on_after(CANCEL_AFTER) as scope:
                await client.get(uvicorn_h11.url + "/")
            assert scope.cancelled_caught
            # The cancelled request left the queue; the held connection is untouched.
            assert_pool_clean(client.pool_stats, in_use=1)
            body = await held.value.aread()
            assert isinstance(body, Success), body
            assert len(body.value) == 3 * 1024
        assert_pool_clean(client.pool_stats)
        await assert_still_works(client, uvicorn_h11)
        assert client.pool_stats.connections == 1


async def test_cancel_just_after_the_pool_handed_over_a_connection(
    uvicorn_h11: RunningServer,
) -> None:
    # The waiter is served (the freed connection is handed to it) and cancelled before it
    # runs again: the connection it was given must go back to the pool, not vanish.
    async with AsyncFlextApiClient(limits=Limits(max_connections=1)) as client:
        async with anyio.create_task_group() as group:
            waiter_scope = anyio.CancelScope()

            async def queued_request() -> None:
                with waiter_scope:
                    await client.get(uvicorn_h11.url + "/")

            async with client.stream("GET", uvicorn_h11.url + "/") as held:
                assert isinstance(held, Success), held
                group.start_soon(queued_request)
                with anyio.fail_after(POLL_TIMEOUT):
                    while client.pool_stats.waiters != 1:
                        await anyio.sleep(0.01)
                # Reading the body to its end checks the connection in, which hands it to the
                # waiter and wakes it; cancel the waiter before it runs (no checkpoint between).
                body = await held.value.aread()
                waiter_scope.cancel()
                assert isinstance(body, Success), body
                assert body.value == HELLO
        assert waiter_scope.cancelled_caught
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 1
        await assert_still_works(client, uvicorn_h11)
        assert client.pool_stats.connections == 1


async def test_cancellation_propagates_instead_of_becoming_a_result(
    uvicorn_h11: RunningServer,
) -> None:
    reached_after = False
    async with AsyncFlextApiClient() as client:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.get(uvicorn_h11.url + "/delay/2")
            reached_after = True  # pragma: no cover - the get must raise the cancellation
        assert scope.cancelled_caught
        assert not reached_after
        assert_pool_clean(client.pool_stats)
        await assert_still_works(client, uvicorn_h11)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_task_cancel_is_not_lost_when_the_pool_serves_the_waiter_at_once(
    uvicorn_h11: RunningServer,
) -> None:
    # Plain asyncio: task.cancel() arrives in the same loop iteration as the hand-over. The
    # task must end cancelled (not send its request and return a Success), and the connection
    # it was handed must go back to the pool.
    async with AsyncFlextApiClient(limits=Limits(max_connections=1)) as client:
        async with client.stream("GET", uvicorn_h11.url + "/") as held:
            assert isinstance(held, Success), held
            task = asyncio.create_task(client.get(uvicorn_h11.url + "/"))
            with anyio.fail_after(POLL_TIMEOUT):
                while client.pool_stats.waiters != 1:
                    await anyio.sleep(0.01)
            assert isinstance(await held.value.aread(), Success)
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_pool_clean(client.pool_stats)
        assert client.pool_stats.connections == 1
        await assert_still_works(client, uvicorn_h11)
        assert client.pool_stats.connections == 1
