"""The server side of Server-Sent Events: ``EventSource`` over uvicorn, read by our client."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from fastapi import FastAPI

from flext_api import FlextApiClient
from flext_api.protocols.sse import ServerSentEvent
from flext_api.server import EventSource
from tests.servers.runners import RunningServer, run_uvicorn

CLOSED = threading.Event()
SOURCES: list[EventSource] = []


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ticks")
    async def ticks() -> EventSource:
        async def events() -> AsyncIterator[ServerSentEvent | str]:
            yield ServerSentEvent("a\nb", event="update", id="1")
            yield "plain"

        return EventSource(events(), retry=500)

    @app.get("/slow")
    async def slow() -> EventSource:
        async def events() -> AsyncIterator[str]:
            yield "first"
            await anyio.sleep(0.5)
            yield "second"

        return EventSource(events(), keepalive=0.05)

    @app.get("/forever")
    async def forever() -> EventSource:
        async def events() -> AsyncIterator[str]:
            try:
                while True:
                    yield "tick"
                    await anyio.sleep(0.01)
            finally:
                CLOSED.set()

        source = EventSource(events())
        SOURCES.append(source)
        return source

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_uvicorn("h11", app=make_app()) as running:
        yield running


def test_events_reach_the_client_as_sent(server: RunningServer) -> None:
    with (
        FlextApiClient(base_url=server.url) as client,
        client.sse("GET", "/ticks", reconnect=False) as result,
    ):
        stream = result.unwrap()
        events = list(stream)
    assert events == [
        ServerSentEvent("a\nb", event="update", id="1"),
        ServerSentEvent("plain", id="1"),
    ]
    assert stream.retry == 500


def test_headers_say_event_stream_and_no_caching(server: RunningServer) -> None:
    with FlextApiClient(base_url=server.url) as client, client.stream("GET", "/ticks") as result:
        response = result.unwrap()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"


def test_silence_is_filled_with_keep_alive_comments(server: RunningServer) -> None:
    with FlextApiClient(base_url=server.url) as client:
        with client.stream("GET", "/slow") as result:
            lines = list(result.unwrap().iter_lines())
        assert lines[:2] == ["data: first", ""]
        assert lines[-2:] == ["data: second", ""]
        between = lines[2:-2]
        assert between and set(between) == {": keep-alive", ""}
        # The client's parser treats them as comments: only the two events come out.
        with client.sse("GET", "/slow", reconnect=False) as events:
            assert [event.data for event in events.unwrap()] == ["first", "second"]


def test_a_client_that_leaves_stops_the_producer(server: RunningServer) -> None:
    CLOSED.clear()
    SOURCES.clear()
    with (
        FlextApiClient(base_url=server.url) as client,
        client.sse("GET", "/forever", reconnect=False) as result,
    ):
        stream = result.unwrap()
        assert [next(stream).data, next(stream).data] == ["tick", "tick"]
    # Leaving the block closed the connection: the server noticed and closed the generator.
    assert CLOSED.wait(10)
    assert SOURCES[0].disconnected


def test_keepalive_must_be_positive() -> None:
    async def nothing() -> AsyncIterator[str]:
        return
        yield

    with pytest.raises(ValueError, match="keepalive"):
        EventSource(nothing(), keepalive=0)
