"""Server-Sent Events end to end: sse-starlette under uvicorn, and hostile raw servers.

Written once as async tests; ``tests/_sync/test_sse.py`` is generated from this file, so every
case runs on the blocking client, on asyncio and on trio.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from flext_api import AsyncFlextApiClient, FlextApiError
from flext_api.protocols.sse import ServerSentEvent
from tests.servers import sse_app
from tests.servers.raw import RawServerFactory, read_request, wait_stopped
from tests.servers.runners import RunningServer, run_uvicorn

pytestmark = pytest.mark.anyio  # unasync: remove

EVENT_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
)


@pytest.fixture(scope="module")
def sse_server() -> Iterator[RunningServer]:
    with run_uvicorn("h11", app=sse_app.app) as server:
        yield server


async def no_wait(seconds: float) -> None:
    """Reconnection delay stand-in: the tests check what is waited, not the waiting."""
    waits.append(seconds)


waits: list[float] = []


async def test_events_are_typed_and_reconnection_resumes_from_last_event_id(
    sse_server: RunningServer, request: pytest.FixtureRequest
) -> None:
    stream_name = request.node.name
    async with (
        AsyncFlextApiClient(base_url=sse_server.url) as client,
        client.sse("GET", f"/events/{stream_name}") as result,
    ):
        assert result.is_success, result
        stream = result.value
        received = [event async for event in stream]
    assert [event.id for event in received] == ["1", "2", "3", "4", "5", "6"]
    assert {event.event for event in received} == {"tick"}
    assert received[0].data == "tick 1\nsecond line"
    assert received[0].retry == 10
    # The second connection said where to resume; the third got 204 and ended the stream.
    assert sse_app.LAST_EVENT_IDS[stream_name] == [None, "3", "6"]
    assert stream.reconnects == 1
    assert stream.last_event_id == "6"
    assert stream.retry == 10


async def test_reconnection_waits_the_servers_retry(
    sse_server: RunningServer, request: pytest.FixtureRequest
) -> None:
    waits.clear()
    async with (
        AsyncFlextApiClient(base_url=sse_server.url) as client,
        client.sse("GET", f"/events/{request.node.name}", sleep=no_wait) as result,
    ):
        ids = [event.id async for event in result.unwrap()]
    assert ids == ["1", "2", "3", "4", "5", "6"]
    assert waits == [0.01, 0.01]  # retry: 10 ms, before each of the two reconnections


async def test_last_event_id_given_by_the_caller_is_sent_first(
    sse_server: RunningServer, request: pytest.FixtureRequest
) -> None:
    stream_name = request.node.name
    async with (
        AsyncFlextApiClient(base_url=sse_server.url) as client,
        client.sse("GET", f"/events/{stream_name}", last_event_id="4", reconnect=False) as result,
    ):
        ids = [event.id async for event in result.unwrap()]
    assert ids == ["5", "6", "7"]
    assert sse_app.LAST_EVENT_IDS[stream_name] == ["4"]


async def test_without_reconnect_the_stream_ends_with_the_connection(
    sse_server: RunningServer, request: pytest.FixtureRequest
) -> None:
    async with (
        AsyncFlextApiClient(base_url=sse_server.url) as client,
        client.sse("GET", f"/events/{request.node.name}", reconnect=False) as result,
    ):
        ids = [event.id async for event in result.unwrap()]
    assert ids == ["1", "2", "3"]


async def test_a_non_event_stream_answer_fails_with_its_body(sse_server: RunningServer) -> None:
    async with AsyncFlextApiClient(base_url=sse_server.url) as client:
        async with client.sse("GET", "/html") as result:
            assert result.is_failure
            error = result.error
            assert error.code == "SSE_NOT_EVENT_STREAM"
            assert "text/html" in str(error)
            assert getattr(error, "body", None) == b"<h1>not events</h1>"
        async with client.sse("GET", "/missing") as result:
            assert result.is_failure and result.error_code == "SSE_NOT_EVENT_STREAM"
            assert getattr(result.error, "status_code", None) == 404
            assert b"no such stream" in getattr(result.error, "body", b"")
        # The client still works after both refusals.
        assert (await client.get("/html")).unwrap().status_code == 200


async def test_a_first_answer_204_is_an_empty_stream(
    sse_server: RunningServer, request: pytest.FixtureRequest
) -> None:
    async with (
        AsyncFlextApiClient(base_url=sse_server.url) as client,
        client.sse("GET", f"/events/{request.node.name}", last_event_id="6") as result,
    ):
        assert [event async for event in result.unwrap()] == []


async def test_connection_refused_is_a_failure_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with (
        AsyncFlextApiClient() as client,
        client.sse("GET", f"http://127.0.0.1:{port}/events") as result,
    ):
        assert result.is_failure and result.error_code == "CONNECT_ERROR"


# -- hostile servers ------------------------------------------------------------------------


def drip(conn: socket.socket, payload: bytes) -> None:
    """Send one byte at a time, so the client sees splits inside lines, CRLF pairs and UTF-8
    sequences (the pauses only make the splits likely; nothing asserts a timing)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(payload)):
        conn.sendall(payload[i : i + 1])
        time.sleep(0.0005)


async def test_drip_fed_bytes_split_anywhere_parse_the_same(
    raw_server: RawServerFactory,
) -> None:
    body = (
        "\ufeffretry: 5\r\n: keep-alive\r\nid: \u00e9\u2603\r\nevent: caf\u00e9\r\n"
        "data: \U0001f600 one\r\ndata: two\r\r"
        "data: last\n\n"
        "data: cut off by the end"
    ).encode()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(EVENT_STREAM_HEAD)
        drip(conn, body)

    server = raw_server(handler)
    async with (
        AsyncFlextApiClient() as client,
        client.sse("GET", server.url + "/", reconnect=False) as result,
    ):
        events = [event async for event in result.unwrap()]
    assert events == [
        ServerSentEvent(data="\U0001f600 one\ntwo", event="caf\u00e9", id="\u00e9\u2603", retry=5),
        ServerSentEvent(data="last", id="\u00e9\u2603"),
    ]


async def test_an_endless_line_fails_with_a_stable_code(raw_server: RawServerFactory) -> None:
    sent = [0]

    def endless(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(EVENT_STREAM_HEAD + b"data: ")
        block = b"x" * 65536
        while sent[0] < 256 * 1024 * 1024:  # far past any limit; the client hangs up first
            conn.sendall(block)
            sent[0] += len(block)

    server = raw_server(endless)
    async with (
        AsyncFlextApiClient() as client,
        client.sse("GET", server.url + "/", max_event_size=256 * 1024) as result,
    ):
        stream = result.unwrap()
        with pytest.raises(FlextApiError) as caught:
            async for _ in stream:
                pass
    assert getattr(caught.value, "code", None) == "SSE_EVENT_TOO_LARGE"
    # The client stopped reading soon after the limit instead of buffering the flood.
    assert sent[0] < 64 * 1024 * 1024


async def test_reconnection_gives_up_after_max_reconnects(raw_server: RawServerFactory) -> None:
    connections = [0]

    def one_event_then_nothing(conn: socket.socket) -> None:
        read_request(conn)
        connections[0] += 1
        if connections[0] == 1:
            conn.sendall(EVENT_STREAM_HEAD + b"retry: 1\ndata: only\n\n")
        else:
            conn.sendall(EVENT_STREAM_HEAD)

    server = raw_server(one_event_then_nothing)
    received: list[str] = []
    async with (
        AsyncFlextApiClient() as client,
        client.sse("GET", server.url + "/", max_reconnects=2, sleep=no_wait) as result,
    ):
        with pytest.raises(FlextApiError) as caught:
            async for event in result.unwrap():
                received.append(event.data)  # noqa: PERF401 (kept up to the failure)
    assert received == ["only"]
    assert getattr(caught.value, "code", None) == "SSE_RECONNECT_FAILED"
    assert "2 reconnection attempt(s)" in str(caught.value)
    assert connections[0] == 3


async def test_a_reconnection_answered_with_html_stops_with_that_error(
    raw_server: RawServerFactory,
) -> None:
    connections = [0]

    def then_html(conn: socket.socket) -> None:
        read_request(conn)
        connections[0] += 1
        if connections[0] == 1:
            conn.sendall(EVENT_STREAM_HEAD + b"id: 1\ndata: a\n\n")
        else:
            conn.sendall(
                b"HTTP/1.1 503 Unavailable\r\nContent-Type: text/html\r\n"
                b"Content-Length: 9\r\n\r\n<p>down</p>"[:-2]
            )
            wait_stopped(1)

    server = raw_server(then_html)
    async with (
        AsyncFlextApiClient() as client,
        client.sse("GET", server.url + "/", sleep=no_wait) as result,
    ):
        stream = result.unwrap()
        with pytest.raises(FlextApiError) as caught:
            async for _ in stream:
                pass
    assert getattr(caught.value, "code", None) == "SSE_NOT_EVENT_STREAM"
    assert getattr(caught.value, "status_code", None) == 503
    assert connections[0] == 2
