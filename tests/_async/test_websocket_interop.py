"""WebSocket interop matrix: every peer x runtime x compression, on 127.0.0.1.

Peers: the `websockets` library's server, uvicorn with its `websockets` (sans-I/O) and
`wsproto` implementations, hypercorn, a `trio-websocket` server and Node's `ws` (see
tests/servers/ws_peers.py). Each cell echoes text, binary and 1 MiB messages and closes both
ways. Compression is what the client offers; the peer may decline it (trio-websocket always
does), and the test asserts what was negotiated, so the matrix in docs/websocket.md is what
runs here.

Written once as async tests; ``tests/_sync/test_websocket_interop.py`` is generated from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack

import pytest

from flext_api import AsyncFlextApiClient, Failure
from flext_api.protocols.websocket import WebSocketOptions
from tests.servers.websocket import EchoServer
from tests.servers.ws_peers import (
    run_hypercorn_ws,
    run_node_ws,
    run_trio_websocket,
    run_uvicorn_ws,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]  # unasync: remove
# unasync: sync-only: pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024


def _websockets(compression: bool) -> AbstractContextManager[str]:
    class Url(AbstractContextManager[str]):
        def __enter__(self) -> str:
            self.server = EchoServer(compression=compression).__enter__()
            return self.server.url

        def __exit__(self, *exc: object) -> None:
            self.server.__exit__(None, None, None)

    return Url()


PEERS: dict[str, Callable[[bool], AbstractContextManager[str]]] = {
    "websockets": _websockets,
    "uvicorn-websockets": lambda _: run_uvicorn_ws("websockets-sansio"),
    "uvicorn-wsproto": lambda _: run_uvicorn_ws("wsproto"),
    "hypercorn": lambda _: run_hypercorn_ws(),
    "trio-websocket": lambda _: run_trio_websocket(),
    "node-ws": lambda compression: run_node_ws(compression=compression),
}
# What each peer negotiates when the client offers permessage-deflate.
DEFLATES = {
    "websockets": True,
    "uvicorn-websockets": True,
    "uvicorn-wsproto": True,
    "hypercorn": True,
    "trio-websocket": False,
    "node-ws": True,
}


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[tuple[str, bool], str]]:
    """Every peer, with and without server-side compression, started once for the module."""
    with ExitStack() as stack:
        urls: dict[tuple[str, bool], str] = {}
        for name, start in PEERS.items():
            urls[name, True] = stack.enter_context(start(True))
            urls[name, False] = (
                stack.enter_context(start(False))
                if name in ("websockets", "node-ws")
                else urls[name, True]
            )
        yield urls


@pytest.mark.parametrize("compression", [True, False], ids=["deflate", "plain"])
@pytest.mark.parametrize("peer", list(PEERS))
async def test_echo_and_client_close(
    peers: dict[tuple[str, bool], str], peer: str, compression: bool
) -> None:
    options = WebSocketOptions(compression=compression, max_message_size=2 * MIB)
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(peers[peer, compression], options=options) as opened,
    ):
        ws = opened.unwrap()
        negotiated = "permessage-deflate" in ws.extensions
        assert negotiated is (compression and DEFLATES[peer])
        big_text = "é" * (MIB // 2)  # 1 MiB of UTF-8
        big_binary = bytes(range(256)) * (MIB // 256)
        for message in ("hello", b"\x00\xff", big_text, big_binary):
            assert (await ws.send(message)).is_success
            assert (await ws.receive()).unwrap() == message
        assert (await ws.aclose(1000)).is_success
        assert ws.close_code == 1000


@pytest.mark.parametrize("peer", list(PEERS))
async def test_close_started_by_the_server(peers: dict[tuple[str, bool], str], peer: str) -> None:
    """Every echo peer closes with the code asked for in a "close:<code>" message: iteration
    ends without an error on 1001 and the client answers the close."""
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(peers[peer, True]) as opened,
    ):
        ws = opened.unwrap()
        await ws.send("before")
        await ws.send("close:1001")
        assert [message async for message in ws] == ["before"]
        assert ws.close_code == 1001
        late = await ws.send("x")
        assert isinstance(late, Failure)
        assert late.error.code == "WEBSOCKET_CLOSED"
