"""Cancelling WebSocket calls: a cancelled receive leaves the connection usable; cancelling the
block that holds the connection, or the handshake itself, closes the socket at once (the
server sees the hang-up) and leaves no task behind. Runs on asyncio and on trio.

Cancellation must propagate to the caller, never turn into a Result.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import anyio
import pytest

from flext_api import AsyncFlextApiClient
from flext_api.protocols.websocket import WebSocketOptions
from tests.servers.raw import RawServerFactory, read_request
from tests.servers.websocket import ClientLog, EchoServer, hostile, send

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _tasks(anyio_backend: str) -> int:
    # The client starts no task of its own; on asyncio that is checkable from outside.
    return len(asyncio.all_tasks()) if anyio_backend == "asyncio" else 0


async def _wait(event: threading.Event) -> bool:
    with anyio.move_on_after(10):
        while not event.is_set():
            await anyio.sleep(0.01)
    return event.is_set()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


async def test_a_cancelled_receive_leaves_the_connection_usable(echo: EchoServer) -> None:
    async with AsyncFlextApiClient() as client, client.websocket(echo.url) as opened:
        ws = opened.unwrap()
        with anyio.move_on_after(0.1) as scope:
            await ws.receive(timeout=30)
        assert scope.cancelled_caught
        await ws.send("after the cancel")
        assert (await ws.receive()).unwrap() == "after the cancel"


async def test_cancelling_the_block_closes_the_socket_and_leaves_no_task(
    raw_server: RawServerFactory, anyio_backend: str
) -> None:
    log = ClientLog()
    # The server never answers the close: only a socket closed under cancellation ends it.
    server = raw_server(hostile(send(), log, answer_close=False))
    before = _tasks(anyio_backend)
    options = WebSocketOptions(close_timeout=30)
    async with AsyncFlextApiClient() as client:
        with anyio.move_on_after(0.2) as scope:
            url = f"ws://127.0.0.1:{server.address[1]}/"
            async with client.websocket(url, options=options) as opened:
                await opened.unwrap().receive(timeout=30)
        assert scope.cancelled_caught
    assert await _wait(log.done)
    assert log.hung_up
    assert _tasks(anyio_backend) == before


async def test_cancelling_the_handshake_closes_the_socket(raw_server: RawServerFactory) -> None:
    hung_up = threading.Event()

    def never_upgrade(conn: socket.socket) -> None:
        read_request(conn)
        conn.settimeout(10)
        try:
            while conn.recv(1024):
                pass
        except OSError:
            pass
        hung_up.set()

    server = raw_server(never_upgrade)
    async with AsyncFlextApiClient() as client:
        with anyio.move_on_after(0.2) as scope:
            async with client.websocket(f"ws://127.0.0.1:{server.address[1]}/"):
                pytest.fail("the handshake cannot succeed")  # pragma: no cover
        assert scope.cancelled_caught
    assert await _wait(hung_up)
