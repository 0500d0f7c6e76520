"""HTTP/1.1 framing attacks the transport already survives: each ends in REMOTE_PROTOCOL_ERROR
(or READ_ERROR for a reset), nothing is left in use, and the same client then gets a normal
answer from the same origin on a fresh connection.

Written once as async code; ``tests/hostile/_sync/test_h1_framing.py`` is generated from it, so
every case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import socket
import threading

import pytest

from flext_api import AsyncFlextApiClient, Failure, Timeout
from tests.servers import hostile_h1 as h1
from tests.servers.raw import RawServerFactory, RequestReader, idle_until_closed, wait_stopped

from .checks import HELLO_H1, MIB, assert_recovers, failed, traced_peak

# The hang guard: a client that falls for an attack fails here instead of stalling the run.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]  # unasync: remove
# unasync: sync-only: pytestmark = pytest.mark.timeout(60)

TIMEOUT = Timeout(10)
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

BROKEN = {
    "/conflicting-content-length": h1.send(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    ),
    "/content-length-list": h1.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!"),
    "/chunk-size-not-hex": h1.send(CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n"),
    "/chunk-size-negative": h1.send(CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n"),
    "/chunk-size-overflow": h1.send(CHUNKED + b"f" * 40 + b"\r\nhello\r\n0\r\n\r\n"),
    "/chunk-data-missing-crlf": h1.send(CHUNKED + b"5\r\nhelloXX0\r\n\r\n"),
    "/chunk-extension-endless": h1.send(CHUNKED + b"5;ext=" + b"e" * (1 * MIB)),
    "/body-shorter-than-content-length": h1.send(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    ),
    "/body-longer-than-content-length": h1.send(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, world"
    ),
    "/closes-mid-chunk": h1.send(CHUNKED + b"a\r\nhello"),
    "/status-line-garbage": h1.send(b"HELLO\r\n\r\n"),
    "/status-code-four-digits": h1.send(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
    "/status-code-letters": h1.send(b"HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"),
    "/header-without-colon": h1.send(b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n"),
    "/header-space-before-colon": h1.send(b"HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n"),
}


@pytest.mark.parametrize("path", sorted(BROKEN))
async def test_broken_framing_fails_with_remote_protocol_error_and_the_client_recovers(
    raw_server: RawServerFactory, path: str
) -> None:
    server = raw_server(h1.serve(BROKEN))
    async with AsyncFlextApiClient(timeout=TIMEOUT) as client:
        result = failed(await client.get(server.url + path))
        assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
        assert "127.0.0.1" in str(result.error)
        # The broken connection is gone, not parked for the next request.
        assert client.pool_stats.connections == 0
        await assert_recovers(client, server.url + "/ok", HELLO_H1)


async def test_reset_in_the_middle_of_the_head_fails_with_read_error(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(h1.serve({"/reset": h1.send_then_reset(b"HTTP/1.1 200 OK\r\nContent-Le")}))
    async with AsyncFlextApiClient(timeout=TIMEOUT) as client:
        result = failed(await client.get(server.url + "/reset"))
        assert result.error_code == "READ_ERROR", result.error
        assert "127.0.0.1" in str(result.error)
        assert client.pool_stats.connections == 0
        await assert_recovers(client, server.url + "/ok", HELLO_H1)


@pytest.mark.parametrize(
    "attack",
    [h1.oversized_head(16 * MIB), h1.one_header_line(16 * MIB)],
    ids=["16MiB-of-header-lines", "one-16MiB-header-line"],
)
async def test_megabytes_of_headers_fail_without_buffering_them(
    raw_server: RawServerFactory, attack: h1.Attack
) -> None:
    server = raw_server(h1.serve({"/big-head": attack}))
    async with AsyncFlextApiClient(timeout=TIMEOUT) as client:
        with traced_peak() as memory:
            result = failed(await client.get(server.url + "/big-head"))
        assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
        # The client gives up near its 64 KiB head limit instead of reading 16 MiB.
        assert memory.peak < 4 * MIB, memory.peak
        await assert_recovers(client, server.url + "/ok", HELLO_H1)


async def test_unsolicited_bytes_after_a_complete_response_never_answer_the_next_request(
    raw_server: RawServerFactory,
) -> None:
    injected = threading.Event()

    def answer_then_inject(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        head = reader.next_request()
        if head is None:
            return
        if h1.request_path(head) == "/ok":
            # Later connections: well-behaved.
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n")
            while reader.next_request() is not None:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nhello, world\n")
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        # A complete keep-alive response, then, while the connection is idle, a second
        # response nobody asked for: reused, the connection would hand it to the next request.
        if wait_stopped(0.2):
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nINJECTED!!!!\n")
        injected.set()
        idle_until_closed(conn)

    server = raw_server(answer_then_inject)
    async with AsyncFlextApiClient(timeout=TIMEOUT) as client:
        first = await client.get(server.url + "/first")
        # On a busy machine the client may read both responses at once; then the first call
        # itself fails (bytes beyond the framing). Either way, the next call must be clean.
        if isinstance(first, Failure):
            assert first.error_code == "REMOTE_PROTOCOL_ERROR", first.error
        else:
            assert first.value.content == b"first"
        assert injected.wait(10)
        await assert_recovers(client, server.url + "/ok", HELLO_H1)
        # The second request went out on a new connection, never on the poisoned one.
        assert server.connections == 2
