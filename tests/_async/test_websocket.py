"""The WebSocket client against real peers: a `websockets` server (plain, TLS, through a
CONNECT proxy) and a hostile raw-socket server for the cases no polite server produces.

Written once as async tests; ``tests/_sync/test_websocket.py`` is generated from this file, so
every case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, Protocol

import pytest

from flext_api import URL, AsyncFlextApiClient, BasicAuth, Failure, Success
from flext_api._synchronization import async_sleep
from flext_api.protocols.websocket import (
    Backoff,
    WebSocketClosed,
    WebSocketHandshakeError,
    WebSocketOptions,
)
from tests.servers.proxy import ForwardProxy
from tests.servers.raw import Handler, RawServerFactory, read_request
from tests.servers.tls import TLSCertificates
from tests.servers.websocket import (
    BINARY,
    TEXT,
    ClientLog,
    EchoServer,
    close_frame,
    drop,
    frame,
    hostile,
    send,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]  # unasync: remove
# unasync: sync-only: pytestmark = pytest.mark.timeout(60)


async def finished(log: ClientLog) -> bool:
    """Wait (without blocking an event loop: the client's socket closes on its next turn)
    until the server saw the client hang up, or 10 s passed."""
    for _ in range(1000):
        if log.done.is_set():
            return True
        await async_sleep(0.01)
    return False


MIB = 1024 * 1024


class EchoFactory(Protocol):
    def __call__(self, **settings: Any) -> EchoServer: ...


@pytest.fixture
def make_echo() -> Iterator[EchoFactory]:
    """Echo servers with the settings a test needs, stopped after the test (not inside its
    body: an asyncio client's last socket closes on the loop's next turn)."""
    with ExitStack() as stack:
        yield lambda **settings: stack.enter_context(EchoServer(**settings))


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="module")
def plain_echo() -> Iterator[EchoServer]:
    """No permessage-deflate on the server side."""
    with EchoServer(compression=False) as server:
        yield server


@pytest.mark.parametrize("compression", [True, False])
async def test_echo_text_binary_and_a_mebibyte(
    echo: EchoServer, plain_echo: EchoServer, compression: bool
) -> None:
    server = echo if compression else plain_echo
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(server.url) as opened,
    ):
        ws = opened.unwrap()
        assert ws.response.status_code == 101
        assert ("permessage-deflate" in ws.extensions) is compression
        big = bytes(range(256)) * (MIB // 256)
        for message in ("héllo", b"\x00\x01binary", big, "x" * MIB, ""):
            assert (await ws.send(message)).is_success
            assert (await ws.receive()).unwrap() == message


async def test_iteration_ends_when_the_server_closes_normally(echo: EchoServer) -> None:
    async with AsyncFlextApiClient() as client, client.websocket(echo.url) as opened:
        ws = opened.unwrap()
        for text in ("one", "two", "close:1000"):
            await ws.send(text)
        received = [message async for message in ws]
        assert received == ["one", "two"]
        assert ws.closed
        assert ws.close_code == 1000
        again = await ws.send("late")
        assert isinstance(again, Failure)
        assert again.error.code == "WEBSOCKET_CLOSED"


async def test_an_abnormal_server_close_code_is_raised_by_iteration(echo: EchoServer) -> None:
    async with AsyncFlextApiClient() as client, client.websocket(echo.url) as opened:
        ws = opened.unwrap()
        await ws.send("close:4001")
        with pytest.raises(WebSocketClosed) as raised:
            async for _ in ws:
                pass
        assert raised.value.close_code == 4001
        assert raised.value.close_reason == "asked to"


async def test_the_handshake_carries_auth_cookies_subprotocols_and_headers(
    make_echo: EchoFactory,
) -> None:
    server = make_echo(subprotocols=["chat.v2"], require_authorization=b"Basic dXNlcjpwdw==")
    async with AsyncFlextApiClient(auth=BasicAuth("user", "pw")) as client:
        assert client.cookies is not None
        client.cookies.extract(
            URL(f"http://127.0.0.1:{server.port}/"), ["session=abc"], time.time()
        )
        async with client.websocket(
            server.url,
            subprotocols=["chat.v1", "chat.v2"],
            headers={"X-Trace": "t-1"},
        ) as opened:
            ws = opened.unwrap()
            assert ws.subprotocol == "chat.v2"
            await ws.send("headers")
            seen = json.loads((await ws.receive()).unwrap())
    assert seen["Authorization"] == "Basic dXNlcjpwdw=="
    assert seen["X-Trace"] == "t-1"
    assert "session=abc" in seen["Cookie"]
    assert seen["Sec-WebSocket-Protocol"] == "chat.v1, chat.v2"


@pytest.mark.parametrize(
    ("status", "code"), [(401, "WEBSOCKET_UNAUTHORIZED"), (404, "WEBSOCKET_HANDSHAKE_REJECTED")]
)
async def test_a_refused_handshake_is_a_failure_with_the_response(
    make_echo: EchoFactory, status: int, code: str
) -> None:
    server = make_echo(reject=(status, b"go away\n"))
    async with AsyncFlextApiClient() as client, client.websocket(server.url) as opened:
        assert isinstance(opened, Failure)
        error = opened.error
        assert error.code == code
        assert isinstance(error, WebSocketHandshakeError)
        assert error.status_code == status
        assert error.response is not None
        assert error.response.content == b"go away\n"
        assert "go away" in str(error)


async def test_a_wrong_accept_token_is_refused(raw_server: RawServerFactory) -> None:
    log = ClientLog()
    server = raw_server(hostile(send(), log, accept=b"bm90IHRoZSByaWdodCBrZXk="))
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/") as opened,
    ):
        assert isinstance(opened, Failure)
        assert opened.error.code == "WEBSOCKET_HANDSHAKE_INVALID"
        assert "Sec-WebSocket-Accept" in str(opened.error)


async def test_wss_with_the_client_tls_settings(
    make_echo: EchoFactory, tls_certs: TLSCertificates
) -> None:
    server = make_echo(ssl_context=tls_certs.server.server_context())
    async with (
        AsyncFlextApiClient(verify=str(tls_certs.ca_pem)) as client,
        client.websocket(server.url.replace("127.0.0.1", "localhost")) as opened,
    ):
        ws = opened.unwrap()
        await ws.send("secure")
        assert (await ws.receive()).unwrap() == "secure"
    async with AsyncFlextApiClient() as untrusting, untrusting.websocket(server.url) as bad:
        assert isinstance(bad, Failure)
        assert bad.error.code == "TLS_VERIFY_FAILED"


async def test_ws_through_a_connect_proxy(echo: EchoServer) -> None:
    with ForwardProxy() as proxy:
        async with (
            AsyncFlextApiClient(proxy=proxy.url) as client,
            client.websocket(echo.url) as opened,
        ):
            ws = opened.unwrap()
            await ws.send("tunnelled")
            assert (await ws.receive()).unwrap() == "tunnelled"
        assert proxy.log.tunnels == [f"127.0.0.1:{echo.port}".encode()]


async def test_receive_timeout_leaves_the_connection_open(echo: EchoServer) -> None:
    async with AsyncFlextApiClient() as client, client.websocket(echo.url) as opened:
        ws = opened.unwrap()
        timed_out = await ws.receive(timeout=0.05)
        assert isinstance(timed_out, Failure)
        assert timed_out.error.code == "READ_TIMEOUT"
        await ws.send("still here")
        assert (await ws.receive()).unwrap() == "still here"


async def test_fragments_are_reassembled(raw_server: RawServerFactory) -> None:
    log = ClientLog()
    script = send(
        frame(TEXT, b"frag", fin=False),
        frame(0x0, "mé".encode()[:2], fin=False),  # a UTF-8 sequence split across frames
        frame(0x9, b"in-between"),  # a ping between fragments is answered and skipped
        frame(0x0, "mé".encode()[2:] + b"nted"),
        frame(BINARY, b"\x01", fin=False),
        frame(0x0, b"\x02"),
        close_frame(1000),
    )
    server = raw_server(hostile(script, log))
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/") as opened,
    ):
        ws = opened.unwrap()
        assert [message async for message in ws] == ["fragménted", b"\x01\x02"]
    assert await finished(log)
    assert log.hung_up
    assert log.close_codes == [1000]


async def test_too_big_is_refused_with_1009(raw_server: RawServerFactory) -> None:
    log = ClientLog()
    server = raw_server(hostile(send(frame(BINARY, b"x" * 2048)), log))
    options = WebSocketOptions(max_message_size=1024)
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/", options=options) as opened,
    ):
        received = await opened.unwrap().receive()
        assert isinstance(received, Failure)
        assert received.error.code == "WEBSOCKET_MESSAGE_TOO_BIG"
    assert await finished(log)
    assert log.hung_up
    assert log.close_codes == [1009]


async def test_a_silent_peer_gets_a_pong_timeout(raw_server: RawServerFactory) -> None:
    """The hostile server never answers pings: the heartbeat fails the connection with 1011."""
    log = ClientLog()
    server = raw_server(hostile(send(), log))
    options = WebSocketOptions(ping_interval=0.05, ping_timeout=0.1)
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/", options=options) as opened,
    ):
        received = await opened.unwrap().receive(timeout=30)
        assert isinstance(received, Failure)
        assert received.error.code == "WEBSOCKET_PONG_TIMEOUT"
    assert await finished(log)
    assert log.hung_up
    assert log.close_codes == [1011]


async def test_heartbeat_keeps_an_answering_peer(echo: EchoServer) -> None:
    options = WebSocketOptions(ping_interval=0.02, ping_timeout=5)
    async with AsyncFlextApiClient() as client, client.websocket(echo.url, options=options) as o:
        ws = o.unwrap()
        timed_out = await ws.receive(timeout=0.3)  # several pings answered meanwhile
        assert isinstance(timed_out, Failure)
        assert timed_out.error.code == "READ_TIMEOUT"
        await ws.send("alive")
        assert (await ws.receive()).unwrap() == "alive"


async def test_closing_a_peer_that_never_answers_ends_at_the_deadline(
    raw_server: RawServerFactory,
) -> None:
    log = ClientLog()
    server = raw_server(hostile(send(), log, answer_close=False))
    options = WebSocketOptions(close_timeout=0.2)
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/", options=options) as opened,
    ):
        ws = opened.unwrap()
        closed = await ws.aclose(4000, "bye")
        assert isinstance(closed, Success)
        assert ws.closed
    assert await finished(log)
    assert log.hung_up
    assert log.close_codes == [4000]


async def test_close_initiated_by_the_client_is_answered(echo: EchoServer) -> None:
    async with AsyncFlextApiClient() as client, client.websocket(echo.url) as opened:
        ws = opened.unwrap()
        assert (await ws.aclose()).is_success
        assert ws.close_code == 1000
        after = await ws.receive()
        assert isinstance(after, Failure)
        assert after.error.code == "WEBSOCKET_CLOSED"


def _connections(*handlers: Handler) -> tuple[Handler, list[int]]:
    """A raw_server handler running ``handlers[i]`` for the i-th connection (the last one for
    every connection after), and the list that counts connections."""
    seen: list[int] = []

    def handler(conn: socket.socket) -> None:
        seen.append(len(seen))
        handlers[min(len(seen) - 1, len(handlers) - 1)](conn)

    return handler, seen


def _refuse(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nlater")


async def test_reconnects_after_the_connection_drops(raw_server: RawServerFactory) -> None:
    handler, seen = _connections(
        hostile(drop, ClientLog()),
        hostile(send(frame(TEXT, b"welcome back"), close_frame(1000)), ClientLog()),
    )
    server = raw_server(handler)
    options = WebSocketOptions(reconnect=Backoff(initial=0.01, jitter=0, max_attempts=3))
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/", options=options) as opened,
    ):
        ws = opened.unwrap()
        assert (await ws.receive()).unwrap() == "welcome back"
        assert ws.reconnects == 1
        assert [message async for message in ws] == []  # the normal close is not reconnected
    assert len(seen) == 2


async def test_reconnection_gives_up_after_max_attempts(raw_server: RawServerFactory) -> None:
    handler, seen = _connections(hostile(drop, ClientLog()), _refuse)
    server = raw_server(handler)
    options = WebSocketOptions(reconnect=Backoff(initial=0.01, jitter=0, max_attempts=2))
    async with (
        AsyncFlextApiClient() as client,
        client.websocket(f"ws://127.0.0.1:{server.address[1]}/", options=options) as opened,
    ):
        ws = opened.unwrap()
        received = await ws.receive()
        assert isinstance(received, Failure)
        assert received.error.code == "WEBSOCKET_HANDSHAKE_REJECTED"
        assert isinstance(received.error.__cause__, WebSocketClosed)
        assert ws.reconnects == 0
    assert len(seen) == 3  # the first connection and two attempts
