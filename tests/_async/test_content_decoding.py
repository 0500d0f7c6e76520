"""Content-Encoding against a real keep-alive server: what a body that will not decode costs.

The server answers every request on a connection until the client closes it, so a client that
gave back a connection whose body failed to decode would send its next request on it without
noticing; ``RawServer.connections`` says whether it did. A body is decoded as it is read, in
the exchange, so a failure there ends the exchange like a network error: the connection is
closed and the next request opens a new one.

Written once as async tests; ``tests/_sync/test_content_decoding.py`` is generated from this
file, so every case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from typing import Any, Final

import pytest

from flext_api import AsyncFlextApiClient, Failure, Response, Success, Timeout
from tests.servers.hostile_h2 import HostileH2Server
from tests.servers.raw import HELLO_RESPONSE, RawServer, RawServerFactory, RequestReader

pytestmark = pytest.mark.anyio  # unasync: remove

TEXT: Final = b"The quick brown fox jumps over the lazy dog. " * 2000
GZIPPED: Final = gzip.compress(TEXT)
BODIES: Final = {
    "/gzip": GZIPPED,
    # Not gzip at all: refused at its first bytes, before the end of the body is read.
    "/corrupt": b"not a gzip stream, whatever the header says",
    # A valid gzip stream without its last bytes: refused only once the whole body is read
    # (the HTTP framing is intact, the compressed stream is not).
    "/truncated": GZIPPED[: len(GZIPPED) // 2],
}
TIMEOUT: Final = Timeout(10)
# Twice the client's HTTP/2 stream window: the server cannot finish this body unless the client
# reads (and acknowledges) it, so a client that stops at the first bytes leaves the stream open.
NOT_GZIP_8MIB: Final = bytes(8 * 1024 * 1024)


def keep_alive_origin(conn: socket.socket) -> None:
    """Answer every request on the connection: `/ok` hello, the paths of BODIES as gzip (a
    HEAD gets the head a GET would, without the body)."""
    reader = RequestReader(conn)
    while (head := reader.next_request()) is not None:
        method, target = head.split(b"\r\n", 1)[0].split(b" ")[:2]
        path = target.decode("ascii")
        if path == "/ok":
            conn.sendall(HELLO_RESPONSE)
            continue
        body = BODIES[path]
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode("ascii")
            + (b"" if method == b"HEAD" else body)
        )


def ok(result: Success[Response] | Failure[Any]) -> Response:
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


async def read_streamed(
    client: AsyncFlextApiClient, method: str, url: str
) -> Success[bytes] | Failure[Any]:
    async with client.stream(method, url) as result:
        assert isinstance(result, Success), f"expected a Success, got {result!r}"
        return await result.value.aread()


async def test_gzip_body_is_decoded_and_its_connection_reused(
    raw_server: RawServerFactory,
) -> None:
    server: RawServer = raw_server(keep_alive_origin)
    async with AsyncFlextApiClient(base_url=server.url, timeout=TIMEOUT) as client:
        first = ok(await client.get("/gzip"))
        second = ok(await client.get("/gzip"))
        streamed = await read_streamed(client, "GET", "/gzip")
    assert first.content == TEXT and second.content == TEXT
    assert first.headers["content-encoding"] == "gzip"  # the header says what the wire carried
    assert streamed == Success(TEXT)
    assert server.connections == 1


@pytest.mark.parametrize("path", ["/corrupt", "/truncated"])
@pytest.mark.parametrize("streamed", [False, True], ids=["buffered", "streamed"])
async def test_body_that_fails_to_decode_discards_its_connection(
    raw_server: RawServerFactory, path: str, streamed: bool
) -> None:
    server: RawServer = raw_server(keep_alive_origin)
    async with AsyncFlextApiClient(base_url=server.url, timeout=TIMEOUT) as client:
        if streamed:
            result: Any = await read_streamed(client, "GET", path)
        else:
            result = await client.get(path)
        assert isinstance(result, Failure), result
        assert result.error_code == "DECODE_ERROR", result.error
        assert "gzip" in str(result.error)
        assert client.pool_stats.in_use == 0
        after = ok(await client.get("/ok"))
    assert after.content == b"hello, world\n"
    # The failed exchange's connection was closed, not handed to the next request.
    assert server.connections == 2


async def test_empty_body_labelled_gzip_is_not_decoded(raw_server: RawServerFactory) -> None:
    # A HEAD answer carries the Content-Encoding of the body it does not send: there is no gzip
    # stream to check, and an empty body is what the caller gets.
    server: RawServer = raw_server(keep_alive_origin)
    async with AsyncFlextApiClient(base_url=server.url, timeout=TIMEOUT) as client:
        buffered = ok(await client.head("/gzip"))
        streamed = await read_streamed(client, "HEAD", "/gzip")
        after = ok(await client.get("/gzip"))
    assert buffered.content == b"" and buffered.headers["content-encoding"] == "gzip"
    assert streamed == Success(b"")
    assert after.content == TEXT
    assert server.connections == 1


@pytest.fixture
def h2_origin() -> Iterator[HostileH2Server]:
    server = HostileH2Server(
        bodies={"/gzip": (GZIPPED, "gzip"), "/corrupt": (NOT_GZIP_8MIB, "gzip")}
    ).start()
    yield server
    server.stop()


async def test_http2_body_that_fails_to_decode_resets_only_its_stream(
    h2_origin: HostileH2Server,
) -> None:
    async with AsyncFlextApiClient(timeout=TIMEOUT, http2="prior-knowledge") as client:
        result = await client.get(h2_origin.url + "/corrupt")
        assert isinstance(result, Failure), result
        assert result.error_code == "DECODE_ERROR", result.error
        assert client.pool_stats.in_use == 0
        after = ok(await client.get(h2_origin.url + "/gzip"))
    assert after.content == TEXT
    # Decoding stopped at the first bytes: the client reset the stream it would not read to
    # the end (RST_STREAM reached the server before the next request), and kept the connection.
    assert h2_origin.resets == 1
    assert h2_origin.connections == 1
