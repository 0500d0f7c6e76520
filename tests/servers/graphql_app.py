"""GraphQL peers for the client tests and docs: ariadne under uvicorn, plus hostile endpoints.

- ``/graphql``: ariadne over HTTP (POST, GET queries, multipart uploads) and subscriptions over
  ``graphql-transport-ws``; ``/graphql-ws``: the same schema with the legacy ``graphql-ws``.
- ``/batch``: accepts a JSON array of operations and answers an array (ariadne runs each).
- ``/apq``: automatic persisted queries: an unknown hash is answered ``PersistedQueryNotFound``;
  ``APQ_SEEN`` records, per request, whether the full query was sent.
- Hostile: ``/html502`` (an HTML 502 page), ``/text`` (200 text/plain), ``/wrong-shape``
  (200 JSON without data or errors), ``/bad-data`` (data of the wrong shape for the schema's
  types), ``/ws-garbage`` (acks, then sends non-JSON), ``/ws-silent`` (acks, then says
  nothing), ``/ws-refuse`` (answers ``connection_init`` with an error), ``/ws-no-ack`` (never
  acks), ``/ws-scripted`` (pings first, then reports what the client sent).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncGenerator
from typing import Any

from ariadne import (
    MutationType,
    ObjectType,
    QueryType,
    SubscriptionType,
    graphql,
    make_executable_schema,
    upload_scalar,
)
from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLTransportWSHandler, GraphQLWSHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

SDL = """
scalar Upload
enum Kind { DOG CAT }
input PetInput { name: String!, kind: Kind! = DOG, tags: [String!]! = [] }
type Pet { id: Int!, name: String!, kind: Kind!, tags: [String!]! }
type Partial { ok: String, bad: String }
type UploadInfo { filename: String!, size: Int!, contentType: String, text: String! }
type Query {
  hello(name: String = "world"): String!
  pet(id: Int!): Pet
  partial: Partial
}
type Mutation {
  addPet(input: PetInput!): Pet!
  upload(file: Upload!, note: String): UploadInfo!
  uploadMany(files: [Upload!]!): [UploadInfo!]!
}
type Subscription {
  count(to: Int!): Int!
  failing: Int!
}
"""

query = QueryType()
mutation = MutationType()
subscription = SubscriptionType()
partial = ObjectType("Partial")
PETS: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "Rex", "kind": "DOG", "tags": ["good"]}}


@query.field("hello")
def resolve_hello(_: Any, __: Any, name: str) -> str:
    return f"Hello, {name}!"


@query.field("pet")
def resolve_pet(_: Any, __: Any, id: int) -> dict[str, Any] | None:
    return PETS.get(id)


@query.field("partial")
def resolve_partial(*_: Any) -> dict[str, Any]:
    return {}


@partial.field("ok")
def resolve_ok(*_: Any) -> str:
    return "fine"


@partial.field("bad")
def resolve_bad(*_: Any) -> str:
    raise ValueError("bad field failed")


@mutation.field("addPet")
def resolve_add_pet(_: Any, __: Any, input: dict[str, Any]) -> dict[str, Any]:
    pet = {"id": len(PETS) + 1, **input}
    PETS[pet["id"]] = pet
    return pet


async def _describe(file: Any) -> dict[str, Any]:
    content = await file.read()
    await file.close()  # the server's spooled temporary file would warn when collected
    return {
        "filename": file.filename,
        "size": len(content),
        "contentType": file.content_type,
        "text": content.decode("utf-8", "replace"),
    }


@mutation.field("upload")
async def resolve_upload(_: Any, __: Any, file: Any, note: str | None = None) -> dict[str, Any]:
    described = await _describe(file)
    if note:
        described["text"] = f"{note}: {described['text']}"
    return described


@mutation.field("uploadMany")
async def resolve_upload_many(_: Any, __: Any, files: list[Any]) -> list[dict[str, Any]]:
    return [await _describe(file) for file in files]


@subscription.source("count")
async def count_source(_: Any, __: Any, to: int) -> AsyncGenerator[int, None]:
    for number in range(1, to + 1):
        yield number


@subscription.field("count")
def count_field(number: int, *_: Any, **__: Any) -> int:
    return number


@subscription.source("failing")
async def failing_source(*_: Any, **__: Any) -> AsyncGenerator[int, None]:
    yield 1
    raise ValueError("the source broke")


@subscription.field("failing")
def failing_field(number: int, *_: Any, **__: Any) -> int:
    return number


schema = make_executable_schema(SDL, query, mutation, subscription, partial, upload_scalar)
graphql_transport_ws = GraphQL(
    schema, execute_get_queries=True, websocket_handler=GraphQLTransportWSHandler()
)
graphql_ws = GraphQL(schema, websocket_handler=GraphQLWSHandler())

APQ_CACHE: dict[str, str] = {}
APQ_SEEN: list[bool] = []


async def batch(request: Request) -> Response:
    operations = await request.json()
    if not isinstance(operations, list):
        operations = [operations]
    results = [(await graphql(schema, operation))[1] for operation in operations]
    return JSONResponse(results)


async def apq(request: Request) -> Response:
    if request.method == "GET":
        params = request.query_params
        data: dict[str, Any] = {
            key: json.loads(params[key]) for key in ("variables", "extensions") if key in params
        }
        if "query" in params:
            data["query"] = params["query"]
    else:
        data = await request.json()
    digest = data.get("extensions", {}).get("persistedQuery", {}).get("sha256Hash")
    APQ_SEEN.append("query" in data)
    if "query" in data:
        if digest != hashlib.sha256(data["query"].encode()).hexdigest():
            return JSONResponse({"errors": [{"message": "provided sha does not match query"}]})
        APQ_CACHE[digest] = data["query"]
    elif digest in APQ_CACHE:
        data["query"] = APQ_CACHE[digest]
    else:
        return JSONResponse(
            {
                "errors": [
                    {
                        "message": "PersistedQueryNotFound",
                        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
                    }
                ]
            }
        )
    data.pop("extensions", None)
    return JSONResponse((await graphql(schema, data))[1])


async def html502(_: Request) -> Response:
    return HTMLResponse("<html><body><h1>502 Bad Gateway</h1></body></html>", status_code=502)


async def text(_: Request) -> Response:
    return PlainTextResponse("this is not JSON")


async def wrong_shape(_: Request) -> Response:
    return JSONResponse({"result": {"hello": "hi"}})


async def bad_data(_: Request) -> Response:
    return JSONResponse({"data": {"pet": {"id": "not a number", "name": 3}}})


async def _ack(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-transport-ws")
    await websocket.receive_text()  # connection_init
    await websocket.send_text('{"type": "connection_ack"}')
    await websocket.receive_text()  # subscribe


async def ws_garbage(websocket: WebSocket) -> None:
    await _ack(websocket)
    await websocket.send_text("<<not json>>")
    await _wait_for_close(websocket)


async def ws_silent(websocket: WebSocket) -> None:
    await _ack(websocket)
    await _wait_for_close(websocket)


async def ws_refuse(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-transport-ws")
    await websocket.receive_text()
    await websocket.send_text(
        '{"type": "connection_error", "payload": {"message": "bad credentials"}}'
    )
    await _wait_for_close(websocket)


async def ws_scripted(websocket: WebSocket) -> None:
    """Pings before acking, then answers one event that reports what the client sent: the
    ``connection_init`` payload, whether it answered the ping, the handshake's ``x-token``
    header and the operation it subscribed to."""
    await websocket.accept(subprotocol="graphql-transport-ws")
    init = json.loads(await websocket.receive_text())
    await websocket.send_text('{"type": "ping"}')
    pong = json.loads(await websocket.receive_text())
    await websocket.send_text('{"type": "connection_ack"}')
    subscribe = json.loads(await websocket.receive_text())
    seen = {
        "init": init.get("payload"),
        "answeredPing": pong == {"type": "pong"},
        "token": websocket.headers.get("x-token"),
        "operation": subscribe["payload"].get("operationName"),
        "variables": subscribe["payload"].get("variables"),
    }
    await websocket.send_text('{"type": "pong"}')  # unsolicited pongs are allowed: ignored
    await websocket.send_text(
        json.dumps({"type": "next", "id": subscribe["id"], "payload": {"data": seen}})
    )
    await websocket.send_text(json.dumps({"type": "complete", "id": subscribe["id"]}))
    await _wait_for_close(websocket)


async def ws_no_ack(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-transport-ws")
    await _wait_for_close(websocket)


async def _wait_for_close(websocket: WebSocket) -> None:
    # Read until the client leaves (bounded so that a server shutdown never waits on it).
    try:
        async with asyncio.timeout(30):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
    except TimeoutError:
        await websocket.close()


app = Starlette(
    routes=[
        Route("/batch", batch, methods=["POST"]),
        Route("/apq", apq, methods=["GET", "POST"]),
        Route("/html502", html502, methods=["GET", "POST"]),
        Route("/text", text, methods=["GET", "POST"]),
        Route("/wrong-shape", wrong_shape, methods=["GET", "POST"]),
        Route("/bad-data", bad_data, methods=["GET", "POST"]),
        WebSocketRoute("/ws-garbage", ws_garbage),
        WebSocketRoute("/ws-silent", ws_silent),
        WebSocketRoute("/ws-refuse", ws_refuse),
        WebSocketRoute("/ws-no-ack", ws_no_ack),
        WebSocketRoute("/ws-scripted", ws_scripted),
        Route("/graphql", graphql_transport_ws, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_transport_ws),
        Route("/graphql-ws", graphql_ws, methods=["GET", "POST"]),
        WebSocketRoute("/graphql-ws", graphql_ws),
    ]
)
