"""HTTP/1.1 wire truth against scripted servers: waits that end, framing that is honoured,
decompression bombs refused cheaply, and messages that say what the server did.

Written once as async code; ``tests/_sync/test_http11_wire.py`` is generated from it, so every
test runs on the blocking client, on asyncio and on trio. The scripts run in server threads and
pace themselves with ``wait_stopped(delay)``; no test asserts a duration.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from flext_api import AsyncFlextApiClient, Failure, FlextApiError, Response, Success, Timeout
from tests.servers.raw import (
    HELLO_RESPONSE,
    RawServerFactory,
    RequestReader,
    close_mid_body,
    read_request,
    respond_ok,
    wait_stopped,
)

pytestmark = pytest.mark.anyio  # unasync: remove

RAW_HELLO = b"hello, world\n"
# Words of h11's own errors, which name its state machine rather than what the server did.
H11_WORDS = ("role=", "state=", "event type", "ConnectionClosed", "NEED_DATA")


def failed(result: Success[Any] | Failure[FlextApiError]) -> Failure[FlextApiError]:
    assert isinstance(result, Failure), f"expected a Failure, got {result!r}"
    return result


def succeeded(result: Success[Response] | Failure[FlextApiError]) -> Response:
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


def assert_plain_words(error: FlextApiError) -> None:
    for word in H11_WORDS:
        assert word not in str(error), error


def read_head(conn: socket.socket) -> bool:
    """Read a request head only (not its body): True once it arrived."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    return True


# --- waits that end ---------------------------------------------------------------------------


def drip_head(conn: socket.socket) -> None:
    """A status line, then header bytes one at a time, each well inside the read timeout."""
    if read_request(conn) is None:
        return
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while not wait_stopped(0.02):
        conn.sendall(b"x")


def drip_informational(conn: socket.socket) -> None:
    """A 102 Processing now and then, each well inside the read timeout, never a final one."""
    if read_request(conn) is None:
        return
    while not wait_stopped(0.02):
        conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n")


@pytest.mark.parametrize("script", [drip_head, drip_informational], ids=["headers", "1xx"])
async def test_a_dripped_response_head_ends_in_read_timeout(
    raw_server: RawServerFactory, script: Callable[[socket.socket], None]
) -> None:
    # Every gap is shorter than the read timeout; the head as a whole is not.
    server = raw_server(script)
    async with AsyncFlextApiClient(timeout=Timeout(10, read=0.3)) as client:
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "READ_TIMEOUT"
        assert "response head" in str(result.error)
        assert "0.3 s" in str(result.error)
        assert client.pool_stats.connections == 0
        async with client.stream("GET", server.url + "/") as streamed:
            assert failed(streamed).error_code == "READ_TIMEOUT"


def endless_informational(conn: socket.socket) -> None:
    """102 Processing responses as fast as the client reads them, never a final one."""
    if read_request(conn) is None:
        return
    burst = b"HTTP/1.1 102 Processing\r\n\r\n" * 64
    while not wait_stopped(0):
        conn.sendall(burst)


def bulky_informational(conn: socket.socket) -> None:
    """Twenty 1xx responses of 4 KiB of headers each (80 KiB in all), then a final one."""
    if read_request(conn) is None:
        return
    informational = b"HTTP/1.1 103 Early Hints\r\nLink: <" + b"a" * 4096 + b">\r\n\r\n"
    conn.sendall(informational * 20 + HELLO_RESPONSE)


@pytest.mark.parametrize(
    ("script", "words"),
    [(endless_informational, "more than 50 informational"), (bulky_informational, "bytes of")],
    ids=["count", "bytes"],
)
async def test_informational_responses_are_bounded(
    raw_server: RawServerFactory, script: Callable[[socket.socket], None], words: str
) -> None:
    server = raw_server(script)
    async with AsyncFlextApiClient(timeout=Timeout(10)) as client:
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "REMOTE_PROTOCOL_ERROR"
        assert words in str(result.error)
        assert "127.0.0.1" in str(result.error)
        assert client.pool_stats.connections == 0


def a_few_informational(conn: socket.socket) -> None:
    reader = RequestReader(conn)
    while reader.next_request() is not None:
        conn.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" * 3 + HELLO_RESPONSE)


async def test_a_few_informational_responses_are_skipped(raw_server: RawServerFactory) -> None:
    server = raw_server(a_few_informational)
    async with AsyncFlextApiClient() as client:
        for _ in range(2):
            response = succeeded(await client.get(server.url + "/"))
            assert response.status_code == 200
            assert response.content == RAW_HELLO
        assert server.connections == 1


def slow_body(conn: socket.socket) -> None:
    """The head at once, then eight body chunks 0.1 s apart (0.8 s for the whole body)."""
    reader = RequestReader(conn)
    while reader.next_request() is not None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
        for _ in range(8):
            if wait_stopped(0.1):
                return
            conn.sendall(b"x")


async def test_the_read_timeout_bounds_each_gap_in_the_body_not_the_whole_body(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(slow_body)
    async with AsyncFlextApiClient(timeout=Timeout(10, read=0.5)) as client:
        assert succeeded(await client.get(server.url + "/")).content == b"x" * 8


class TotalBudget:
    """Gives each call a total budget of ``seconds`` through ``Request.deadline`` (what
    ``Timeout(total=...)`` amounts to), so the connection's side is tested on its own."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def handle(self, request: Any, call_next: Any) -> Any:
        request.deadline = time.monotonic() + self.seconds
        return await call_next(request)


async def test_a_total_budget_bounds_a_buffered_body_but_a_stream_only_to_its_head(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(slow_body)
    async with AsyncFlextApiClient(middleware=[TotalBudget(0.3)]) as client:
        # Each gap (0.1 s) is within the read timeout; the body (0.8 s) is not within 0.3 s.
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "READ_TIMEOUT"
        async with client.stream("GET", server.url + "/") as streamed:
            response = streamed.unwrap()
            body = await response.aread()
            assert body.unwrap() == b"x" * 8


# --- the server closes, and the message says so -----------------------------------------------


def close_after_head(conn: socket.socket) -> None:
    """Read the request head, then close without a word (the body, if any, stays unread)."""
    read_head(conn)


def close_at_once(conn: socket.socket) -> None:
    """Close right after accepting."""


def half_a_head(conn: socket.socket) -> None:
    if read_head(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-")


def body_chunks(count: int) -> Any:
    for _ in range(count):
        yield b"x" * 65536


UPLOADS: dict[str, dict[str, Any]] = {
    "get": {},
    "buffered-8MiB": {"content": b"x" * (8 * 1024 * 1024)},
    "streamed-8MiB": {"content": "stream"},
    "streamed-small": {"content": "small"},
}


def upload(name: str) -> tuple[str, dict[str, Any]]:
    options = dict(UPLOADS[name])
    if options.get("content") == "stream":
        options["content"] = body_chunks(128)
    elif options.get("content") == "small":
        options["content"] = body_chunks(1)
    return ("GET" if name == "get" else "POST"), options


@pytest.mark.parametrize("request_kind", sorted(UPLOADS))
@pytest.mark.parametrize(
    ("script", "said"),
    [
        (close_after_head, "closed the connection"),
        (close_at_once, "without sending a response"),
        (half_a_head, "closed the connection in the middle of the response head"),
        (close_mid_body, "closed the connection before the end of the response body"),
    ],
    ids=["after-the-request-head", "at-once", "mid-head", "mid-body"],
)
async def test_a_server_that_closes_is_reported_in_plain_words(
    raw_server: RawServerFactory, request_kind: str, script: Any, said: str
) -> None:
    server = raw_server(script)
    method, options = upload(request_kind)
    async with AsyncFlextApiClient(timeout=Timeout(10)) as client:
        result = failed(await client.request(method, server.url + "/", **options))
        assert "127.0.0.1" in str(result.error)
        unread = request_kind != "get" or script is close_at_once
        if unread and result.error_code == "READ_ERROR":
            # Closing with request bytes unread makes the kernel send a reset, which may reach
            # the client before the rest: then the reset is what it reports, and says so.
            assert "reset" in str(result.error)
        else:
            assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
            assert said in str(result.error)
        if script is close_after_head and result.error_code == "REMOTE_PROTOCOL_ERROR":
            assert "without sending a response" in str(result.error)
        assert_plain_words(result.error)
        assert client.pool_stats.connections == 0


def refuse_upload_early(conn: socket.socket) -> None:
    """Answer 413 as soon as the request head is in, close without reading the body."""
    if read_head(conn):
        conn.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n\r\ntoo big\n")


@pytest.mark.parametrize("request_kind", ["buffered-8MiB", "streamed-8MiB"])
async def test_an_answer_sent_before_the_upload_ended_is_returned(
    raw_server: RawServerFactory, request_kind: str
) -> None:
    server = raw_server(refuse_upload_early)
    method, options = upload(request_kind)
    async with AsyncFlextApiClient(timeout=Timeout(10)) as client:
        response = succeeded(await client.request(method, server.url + "/", **options))
        assert response.status_code == 413
        assert response.content == b"too big\n"
        # The upload was cut short: the connection is not reused.
        assert client.pool_stats.connections == 0


# --- framing ----------------------------------------------------------------------------------


def framed_two_ways(conn: socket.socket) -> None:
    """Content-Length and chunked on one response; the chunked framing is the true one."""
    reader = RequestReader(conn)
    while reader.next_request() is not None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
        )


async def test_content_length_with_chunked_reads_chunked_and_closes_the_connection(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(framed_two_ways)
    async with AsyncFlextApiClient() as client:
        assert succeeded(await client.get(server.url + "/")).content == b"hello, world"
        assert client.pool_stats.connections == 0
        assert succeeded(await client.get(server.url + "/")).content == b"hello, world"
        # The second request opened a new connection: the first was not reused.
        assert server.connections == 2
        async with client.stream("GET", server.url + "/") as streamed:
            assert (await streamed.unwrap().aread()).unwrap() == b"hello, world"
        assert client.pool_stats.connections == 0
        assert server.connections == 3


# --- decompression bombs ----------------------------------------------------------------------

PEAK_BUDGET = 32 * 1024 * 1024


def gzip_of_zeros(mebibytes: int) -> bytes:
    """``mebibytes`` MiB of zeros as gzip, from one repeated full-flush block (cheap to build)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mebibytes - 2) + compressor.flush()


def deflate_of_zeros(mebibytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mebibytes - 2) + compressor.flush()


def stacked_gzip() -> bytes:
    inner = gzip_of_zeros(2048)  # 2 GiB of zeros in about 2 MB
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(inner) + compressor.flush()  # about 5 KB


BOMBS: dict[str, tuple[str, Callable[[], bytes]]] = {
    "gzip-1MB": ("gzip", lambda: gzip_of_zeros(1024)),
    "deflate-1MB": ("deflate", lambda: deflate_of_zeros(1024)),
    "gzip,gzip-5KB": ("gzip, gzip", stacked_gzip),
}


def serve_body(encoding: str, body: bytes) -> Callable[[socket.socket], None]:
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (
        encoding.encode(),
        len(body),
    )

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        while reader.next_request() is not None:
            conn.sendall(head + body)

    return script


@pytest.mark.parametrize("bomb", sorted(BOMBS))
@pytest.mark.parametrize("mode", ["buffered", "streamed"])
async def test_a_decompression_bomb_is_refused_within_32_mib(
    raw_server: RawServerFactory, bomb: str, mode: str
) -> None:
    encoding, build = BOMBS[bomb]
    server = raw_server(serve_body(encoding, build()))
    async with AsyncFlextApiClient(timeout=Timeout(30)) as client:
        tracemalloc.start()
        try:
            if mode == "buffered":
                error = failed(await client.get(server.url + "/")).error
            else:
                async with client.stream("GET", server.url + "/") as streamed:
                    error = failed(await streamed.unwrap().aread()).error
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert error.code == "DECOMPRESSION_LIMIT"
        assert "decompression bomb" in str(error)
        # Refused after about the 8 MiB ratio floor, not the gigabytes the body holds.
        assert peak < PEAK_BUDGET, f"{peak / 2**20:.0f} MiB"
        assert client.pool_stats.in_use == 0


async def test_an_ordinary_gzip_body_still_decodes(raw_server: RawServerFactory) -> None:
    text = b"".join(b"line %d of an ordinary body\n" % i for i in range(50_000))
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    server = raw_server(serve_body("gzip", compressor.compress(text) + compressor.flush()))
    async with AsyncFlextApiClient() as client:
        assert succeeded(await client.get(server.url + "/")).content == text
        async with client.stream("GET", server.url + "/") as streamed:
            assert (await streamed.unwrap().aread()).unwrap() == text


async def test_respond_ok_script_is_reused_between_requests(raw_server: RawServerFactory) -> None:
    # The control for the connection counts above: a well-framed response keeps its connection.
    server = raw_server(respond_ok)
    async with AsyncFlextApiClient() as client:
        for _ in range(3):
            assert succeeded(await client.get(server.url + "/")).content == RAW_HELLO
        assert server.connections == 1


@pytest.mark.parametrize("parser", ["h11", "httptools", "auto"])
async def test_every_http1_parser_reads_and_reuses_alike(
    raw_server: RawServerFactory, parser: Any
) -> None:
    server = raw_server(respond_ok)
    async with AsyncFlextApiClient(http1_parser=parser) as client:
        for _ in range(3):
            assert succeeded(await client.get(server.url + "/")).content == RAW_HELLO
        async with client.stream("GET", server.url + "/") as streamed:
            assert (await streamed.unwrap().aread()).unwrap() == RAW_HELLO
        assert server.connections == 1


async def test_an_unknown_http1_parser_is_refused_with_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="http1_parser='llhttp': use 'h11'"):
        AsyncFlextApiClient(http1_parser="llhttp")  # type: ignore[arg-type]
    monkeypatch.setenv("FLEXT_HTTP1_PARSER", "fast")
    with pytest.raises(ValueError, match="FLEXT_HTTP1_PARSER='fast'"):
        AsyncFlextApiClient()


# --- secrets stay out of what is shown --------------------------------------------------------


async def test_a_url_password_is_hidden_in_errors_reprs_and_trace_events(
    raw_server: RawServerFactory,
) -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    def trace(event: str, info: Any) -> None:
        events.append((event, dict(info)))

    failing = raw_server(close_after_head)
    working = raw_server(respond_ok)
    async with AsyncFlextApiClient(trace=trace) as client:
        result = failed(await client.get(f"http://alice:s3cret-pw@127.0.0.1:{failing.port}/x"))
        error = result.error
        assert error.url == f"http://alice:[secure]@127.0.0.1:{failing.port}/x"
        for shown in (str(error), repr(error), str(result), repr(result)):
            assert "s3cret-pw" not in shown
        response = succeeded(await client.get(f"http://alice:s3cret-pw@127.0.0.1:{working.port}/"))
        assert "s3cret-pw" not in repr(response.request)
        assert "alice:[secure]@" in repr(response.request)
        # The request still carries the URL as given: the password is only hidden from view.
        assert response.request.url.password == "s3cret-pw"
    sent = [info for name, info in events if name == "request.sent"]
    assert len(sent) == 2
    for info in sent:
        assert "s3cret-pw" not in str(info["url"])
        assert "alice:[secure]@" in str(info["url"])
