"""create_graphql_router subscriptions over graphql-transport-ws, driven by `websockets`.

The server runs under uvicorn on 127.0.0.1; the client is an independent implementation, so
each test checks the wire protocol a third-party GraphQL client relies on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from flext_api.server import create_fastapi_app
from flext_api.server import graphql as graphql_module
from flext_api.server.graphql import create_graphql_router
from tests.server.test_graphql import RESOLVERS, SDL, graphql_app, serve_ws

pytestmark = pytest.mark.anyio
PROTOCOL: Any = "graphql-transport-ws"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve_ws(graphql_app()) as port:
        yield f"ws://127.0.0.1:{port}/graphql"


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(msgspec.json.encode(message).decode())


async def receive(ws: ClientConnection) -> Any:
    return msgspec.json.decode(await ws.recv())


async def acknowledged(ws: ClientConnection) -> None:
    await send(ws, {"type": "connection_init", "payload": {}})
    assert await receive(ws) == {"type": "connection_ack"}


async def test_subscription_streams_next_then_complete(url: str) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await acknowledged(ws)
        query = "subscription($n: Int!) { ticks(count: $n) }"
        await send(
            ws,
            {"id": "s1", "type": "subscribe", "payload": {"query": query, "variables": {"n": 3}}},
        )
        messages = [await receive(ws) for _ in range(4)]
    assert messages == [
        {"id": "s1", "type": "next", "payload": {"data": {"ticks": 0}}},
        {"id": "s1", "type": "next", "payload": {"data": {"ticks": 1}}},
        {"id": "s1", "type": "next", "payload": {"data": {"ticks": 2}}},
        {"id": "s1", "type": "complete"},
    ]


async def test_ping_is_answered_with_pong(url: str) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        await acknowledged(ws)
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_query_over_websocket_gets_one_next_and_complete(url: str) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        await acknowledged(ws)
        await send(
            ws, {"id": "q", "type": "subscribe", "payload": {"query": '{ echo(value: "w") }'}}
        )
        assert await receive(ws) == {"id": "q", "type": "next", "payload": {"data": {"echo": "w"}}}
        assert await receive(ws) == {"id": "q", "type": "complete"}


async def test_invalid_subscription_gets_an_error_message_and_the_socket_stays_open(
    url: str,
) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        await acknowledged(ws)
        await send(
            ws, {"id": "bad", "type": "subscribe", "payload": {"query": "subscription { nope }"}}
        )
        error = await receive(ws)
        assert (error["id"], error["type"]) == ("bad", "error")
        assert "nope" in error["payload"][0]["message"]
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_client_complete_stops_a_long_subscription(url: str) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        await acknowledged(ws)
        query = "subscription { ticks(count: 1000000) }"
        await send(ws, {"id": "long", "type": "subscribe", "payload": {"query": query}})
        assert (await receive(ws))["payload"] == {"data": {"ticks": 0}}
        await send(ws, {"id": "long", "type": "complete"})
        # Frames already in flight may still arrive; then the stream stops and pings still work.
        await send(ws, {"type": "ping"})
        while (message := await receive(ws)) != {"type": "pong"}:
            assert message["type"] == "next"
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "subscribe", "id": "1", "payload": {"query": '{ echo(value: "x") }'}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        ([{"type": "connection_init"}, {"type": "what"}], 4400),
        (["connection_init"], 4400),
    ],
)
async def test_protocol_violations_close_with_the_spec_codes(
    url: str, messages: list[Any], code: int
) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        for message in messages:
            await ws.send(
                msgspec.json.encode(message).decode() if isinstance(message, dict) else message
            )
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


async def test_duplicate_subscription_id_closes_with_4409(url: str) -> None:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:
        await acknowledged(ws)
        payload = {"query": "subscription { ticks(count: 1000000) }"}
        await send(ws, {"id": "dup", "type": "subscribe", "payload": payload})
        await send(ws, {"id": "dup", "type": "subscribe", "payload": payload})
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4409


async def test_handshake_without_the_subprotocol_is_refused(url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    assert refused.value.response.status_code == 403


async def test_source_stream_failure_ends_the_operation_with_an_error() -> None:
    async def broken(_parent: Any, _info: Any, count: int) -> AsyncIterator[int]:
        yield count
        raise RuntimeError("feed lost: secret detail")

    resolvers = {**RESOLVERS, "Subscription": {"ticks": broken}}
    app = FastAPI()
    app.include_router(create_graphql_router(SDL, resolvers))
    with serve_ws(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL]) as ws:
            await acknowledged(ws)
            await send(
                ws,
                {
                    "id": "b",
                    "type": "subscribe",
                    "payload": {"query": "subscription { ticks(count: 7) }"},
                },
            )
            first = await receive(ws)
            second = await receive(ws)
    assert first == {"id": "b", "type": "next", "payload": {"data": {"ticks": 7}}}
    assert second["type"] == "error"
    assert second["payload"][0]["message"] == "Internal server error"


async def test_subscriptions_work_behind_the_factory_stack() -> None:
    app = create_fastapi_app(access_log=False, metrics=False, cors_origins=("https://a.example",))
    app.include_router(create_graphql_router(SDL, RESOLVERS))
    with serve_ws(app) as port:
        async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL]) as ws:
            await acknowledged(ws)
            query = "subscription { ticks(count: 2) }"
            await send(ws, {"id": "f", "type": "subscribe", "payload": {"query": query}})
            messages = [await receive(ws) for _ in range(3)]
    assert [m["type"] for m in messages] == ["next", "next", "complete"]
    assert messages[1]["payload"] == {"data": {"ticks": 1}}


async def test_no_connection_init_closes_with_4408(monkeypatch: pytest.MonkeyPatch) -> None:
    # The server's wait is shortened so the test does not sit out the real 10 s.
    monkeypatch.setattr(graphql_module, "_INIT_TIMEOUT", 0.2)
    with serve_ws(graphql_app()) as port:
        async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=[PROTOCOL]) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408
