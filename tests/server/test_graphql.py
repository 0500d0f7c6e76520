"""create_graphql_router over uvicorn on 127.0.0.1, driven by FlextApiClient and raw HTTP.

Covers execution (sync and async resolvers, default resolvers, unions), GET and POST, batching,
multipart uploads, error mapping, the depth and complexity limits, custom scalars, and the
factory's guards in front of the router. Hostile input must get a 4xx with GraphQL errors (or
the factory's error shape), never a 500.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.datastructures import UploadFile

from flext_api import FlextApiClient, FormFile
from flext_api.server import NotFound, create_fastapi_app
from flext_api.server.graphql import create_graphql_router
from tests.server.helpers import Reply, http_call

SDL = """
scalar DateTime
scalar Upload

enum Episode { NEWHOPE EMPIRE JEDI }

interface Character { id: ID! name: String! friends: [Character!]! }
type Human implements Character { id: ID! name: String! friends: [Character!]! homePlanet: String }
type Droid implements Character {
  id: ID! name: String! friends: [Character!]! primaryFunction: String
}
union SearchResult = Human | Droid

input ReviewInput { stars: Int! commentary: String }
type Review { episode: Episode! stars: Int! commentary: String }

type Query {
  hero(episode: Episode): Character
  search(text: String!): [SearchResult!]!
  echo(value: String!): String!
  slowEcho(value: String!): String!
  boom: String
  boomNonNull: String!
  now: DateTime!
  shift(at: DateTime!): DateTime!
}
type Mutation {
  createReview(episode: Episode!, review: ReviewInput!): Review!
  upload(file: Upload!): String!
  uploadMany(files: [Upload!]!): [String!]!
}
type Subscription { ticks(count: Int!): Int! }
"""

LUKE: dict[str, Any] = {
    "__typename": "Human",
    "id": "1000",
    "name": "Luke",
    "homePlanet": "Tatooine",
}
R2: dict[str, Any] = {
    "__typename": "Droid",
    "id": "2001",
    "name": "R2-D2",
    "primaryFunction": "Astromech",
}
LUKE["friends"] = [R2]
R2["friends"] = [LUKE]
FIXED_NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class SecretError(Exception):
    """A resolver failure whose text must not reach the client."""


def hero(_parent: Any, _info: Any, episode: str | None = None) -> dict[str, Any]:
    return R2 if episode in (None, "NEWHOPE") else LUKE


async def slow_echo(_parent: Any, _info: Any, value: str) -> str:
    return value.upper()


def boom(_parent: Any, _info: Any) -> str:
    raise SecretError("database password is hunter2")


def create_review(_parent: Any, _info: Any, episode: str, review: dict[str, Any]) -> Any:
    return {"episode": episode, **review}


async def upload(_parent: Any, _info: Any, file: UploadFile) -> str:
    await file.seek(0)  # the same file may fill several variables
    content = await file.read()
    return f"{file.filename}:{len(content)}:{content[:5].decode()}"


async def upload_many(_parent: Any, _info: Any, files: list[UploadFile]) -> list[str]:
    return [f"{f.filename}:{len(await f.read())}" for f in files]


async def ticks(_parent: Any, _info: Any, count: int) -> AsyncIterator[int]:
    for number in range(count):
        yield number


class DateTimeCodec:
    def serialize(self, value: Any) -> str:
        return str(value.isoformat())

    def parse_value(self, value: Any) -> dt.datetime:
        if not isinstance(value, str):
            raise TypeError("DateTime must be an ISO 8601 string")
        return dt.datetime.fromisoformat(value)


RESOLVERS: dict[str, dict[str, Any]] = {
    "Query": {
        "hero": hero,
        "search": lambda _p, _i, text: [c for c in (LUKE, R2) if text.lower() in c["name"].lower()],
        "echo": lambda _p, _i, value: value,
        "slowEcho": slow_echo,
        "boom": boom,
        "boomNonNull": boom,
        "now": lambda _p, _i: FIXED_NOW,
        "shift": lambda _p, _i, at: at + dt.timedelta(days=1),
    },
    "Mutation": {"createReview": create_review, "upload": upload, "uploadMany": upload_many},
    "Subscription": {"ticks": ticks},
}


def graphql_app(**options: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(
        create_graphql_router(SDL, RESOLVERS, scalars={"DateTime": DateTimeCodec()}, **options)
    )
    return app


@contextmanager
def serve_ws(app: FastAPI) -> Iterator[int]:
    """uvicorn with WebSocket support (the websockets implementation) in a thread."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, ws="websockets-sansio", log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-graphql", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.005)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(5.0)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serve_ws(graphql_app()) as bound:
        yield bound


@pytest.fixture(scope="module")
def client(port: int) -> Iterator[FlextApiClient]:
    with FlextApiClient(base_url=f"http://127.0.0.1:{port}") as api:
        yield api


def post(client: FlextApiClient, body: Any) -> tuple[int, Any]:
    response = client.post("/graphql", json=body).unwrap()
    return response.status_code, response.json().unwrap()


def raw_post(port: int, body: bytes, content_type: str = "application/json") -> Reply:
    return http_call(port, "POST", "/graphql", headers={"Content-Type": content_type}, body=body)


# ------------------------------------------------------------------------------ execution


def test_query_runs_sync_and_async_resolvers_and_default_field_resolution(
    client: FlextApiClient,
) -> None:
    query = """query($e: Episode) {
      hero(episode: $e) { __typename id name friends { name ... on Human { homePlanet } } }
      slowEcho(value: "hi")
    }"""
    status, body = post(client, {"query": query, "variables": {"e": "EMPIRE"}})
    assert status == 200
    assert body == {
        "data": {
            "hero": {
                "__typename": "Human",
                "id": "1000",
                "name": "Luke",
                "friends": [{"name": "R2-D2"}],
            },
            "slowEcho": "HI",
        }
    }


def test_union_members_are_resolved_by_typename(client: FlextApiClient) -> None:
    query = (
        '{ search(text: "") { __typename ... on Human { homePlanet }'
        " ... on Droid { primaryFunction } } }"
    )
    status, body = post(client, {"query": query})
    assert status == 200
    assert body["data"]["search"] == [
        {"__typename": "Human", "homePlanet": "Tatooine"},
        {"__typename": "Droid", "primaryFunction": "Astromech"},
    ]


def test_mutation_receives_enum_and_input_object_as_plain_values(client: FlextApiClient) -> None:
    query = """mutation($r: ReviewInput!) {
      createReview(episode: JEDI, review: $r) { episode stars commentary }
    }"""
    status, body = post(client, {"query": query, "variables": {"r": {"stars": 5}}})
    assert status == 200
    assert body == {"data": {"createReview": {"episode": "JEDI", "stars": 5, "commentary": None}}}


def test_get_runs_queries_and_refuses_mutations(port: int) -> None:
    params = urlencode(
        {"query": "query($v: String!) { echo(value: $v) }", "variables": '{"v": "x"}'}
    )
    reply = http_call(port, "GET", f"/graphql?{params}")
    assert (reply.status, reply.json()) == (200, {"data": {"echo": "x"}})
    mutation = urlencode(
        {"query": "mutation { createReview(episode: JEDI, review: {stars: 1}) { stars } }"}
    )
    refused = http_call(port, "GET", f"/graphql?{mutation}")
    assert refused.status == 405
    assert "POST" in refused.json()["errors"][0]["message"]


def test_custom_scalar_codec_serializes_and_parses(client: FlextApiClient) -> None:
    query = (
        'query($at: DateTime!) { now shift(at: $at) lit: shift(at: "2026-03-01T00:00:00+00:00") }'
    )
    status, body = post(client, {"query": query, "variables": {"at": "2026-01-01T10:00:00+00:00"}})
    assert status == 200
    assert body["data"] == {
        "now": "2026-01-02T03:04:05+00:00",
        "shift": "2026-01-02T10:00:00+00:00",
        "lit": "2026-03-02T00:00:00+00:00",
    }
    status, body = post(client, {"query": query, "variables": {"at": 12}})
    assert status == 400
    assert "data" not in body
    assert "$at" in body["errors"][0]["message"]


def test_batch_returns_one_response_per_operation_in_order(client: FlextApiClient) -> None:
    status, body = post(
        client,
        [
            {"query": '{ echo(value: "a") }'},
            {"query": "{ nope }"},
            {"query": 'query Two { echo(value: "b") }', "operationName": "Two"},
        ],
    )
    assert status == 200
    assert body[0] == {"data": {"echo": "a"}}
    assert "nope" in body[1]["errors"][0]["message"]
    assert body[2] == {"data": {"echo": "b"}}


# ------------------------------------------------------------------------------ errors


def test_resolver_exception_is_an_error_with_path_and_hidden_details(
    client: FlextApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="flext_api.server.graphql"):
        status, body = post(client, {"query": '{ echo(value: "ok") boom }'})
    assert status == 200
    assert body["data"] == {"echo": "ok", "boom": None}
    [error] = body["errors"]
    assert error["path"] == ["boom"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "hunter2" not in msgspec.json.encode(body).decode()
    # The details go to the server log instead.
    assert any("hunter2" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


def test_non_null_failure_nulls_data_but_is_still_an_executed_200(client: FlextApiClient) -> None:
    status, body = post(client, {"query": "{ boomNonNull }"})
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["boomNonNull"]


def test_debug_shows_the_resolver_message() -> None:
    with (
        serve_ws(graphql_app(debug=True)) as bound,
        FlextApiClient(base_url=f"http://127.0.0.1:{bound}") as api,
    ):
        status, body = post(api, {"query": "{ boom }"})
    assert status == 200
    assert body["errors"][0]["message"] == "database password is hunter2"
    assert body["errors"][0]["extensions"]["exception"] == "SecretError"


def test_validation_error_is_400_with_locations(client: FlextApiClient) -> None:
    status, body = post(client, {"query": "{ hero { nope } }"})
    assert status == 400
    assert "data" not in body
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 10}]
    assert "nope" in body["errors"][0]["message"]


def test_subscription_over_http_is_refused_with_a_pointer_to_websocket(
    client: FlextApiClient,
) -> None:
    status, body = post(client, {"query": "subscription { ticks(count: 1) }"})
    assert status == 400
    assert "WebSocket" in body["errors"][0]["message"]


# ------------------------------------------------------------------------------ limits


def test_deep_query_is_refused_before_execution(client: FlextApiClient) -> None:
    deep = "{ hero { " + "friends { " * 20 + "name" + " }" * 20 + " } }"
    status, body = post(client, {"query": deep})
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert "limit is 15" in body["errors"][0]["message"]


def test_deep_query_through_fragments_is_refused(client: FlextApiClient) -> None:
    fragments = "".join(
        f"fragment F{i} on Character {{ friends {{ ...F{i + 1} }} }}\n" for i in range(20)
    )
    query = "{ hero { ...F0 } }\n" + fragments + "fragment F20 on Character { name }"
    status, body = post(client, {"query": query})
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"


def test_huge_alias_fan_out_is_refused_as_too_complex() -> None:
    aliases = " ".join(f"a{i}: hero {{ name friends {{ name }} }}" for i in range(400))
    with (
        serve_ws(graphql_app(max_complexity=500)) as bound,
        FlextApiClient(base_url=f"http://127.0.0.1:{bound}") as api,
    ):
        status, body = post(api, {"query": "{ " + aliases + " }"})
    assert status == 400
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "limit is 500" in body["errors"][0]["message"]


def test_a_document_of_too_many_tokens_is_refused_as_a_syntax_error(port: int) -> None:
    query = "{ " + " ".join(f'a{i}: echo(value: "x")' for i in range(6000)) + " }"
    reply = raw_post(port, msgspec.json.encode({"query": query}))
    assert reply.status == 400
    assert "token" in reply.json()["errors"][0]["message"].lower()


# ------------------------------------------------------------------------------ hostile bodies


def test_json_nested_past_the_decoder_limit_is_a_400_not_a_500(port: int) -> None:
    body = b'{"query": "{ echo(value: \\"x\\") }", "variables": {"a": '
    reply = raw_post(port, body + b"[" * 100_000 + b"]" * 100_000 + b"}}")
    assert reply.status == 400
    assert "nested too deeply" in reply.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        "{ hero { " + "friends { " * 3000 + "name" + " }" * 3000 + " } }",
        "{ echo(value: " + "[" * 3000 + '"x"' + "]" * 3000 + ") }",
    ],
    ids=["selections", "list-literal"],
)
def test_a_document_nested_thousands_deep_is_a_400(port: int, query: str) -> None:
    reply = raw_post(port, msgspec.json.encode({"query": query}))
    assert reply.status == 400
    assert "nested too deeply" in reply.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "empty"),
        (b'"just a string"', "JSON object"),
        (b'{"query": 5}', "'query' string"),
        (b'{"query": "{ echo(value: \\"x\\") }", "variables": [1]}', "'variables'"),
        (
            b'{"query": "query A { echo(value: \\"a\\") } query B { echo(value: \\"b\\") }"}',
            "operationName",
        ),
        (b'{"query": "{ echo(value: "}', "Syntax Error"),
    ],
)
def test_malformed_requests_are_400_with_graphql_errors(
    port: int, body: bytes, needle: str
) -> None:
    reply = raw_post(port, body)
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json"
    assert needle in reply.json()["errors"][0]["message"]


def test_wrong_content_type_is_415_with_a_graphql_error(port: int) -> None:
    reply = raw_post(port, b'{ echo(value: "x") }', "text/plain")
    assert reply.status == 415
    assert reply.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_oversized_batch_is_refused(port: int) -> None:
    body = msgspec.json.encode([{"query": '{ echo(value: "x") }'}] * 101)
    reply = raw_post(port, body)
    assert reply.status == 400
    assert "limit is 100" in reply.json()["errors"][0]["message"]


# ------------------------------------------------------------------------------ uploads


UPLOAD_ONE = "mutation($file: Upload!) { upload(file: $file) }"
UPLOAD_MANY = "mutation($files: [Upload!]!) { uploadMany(files: $files) }"


def test_multipart_upload_reaches_the_resolver(client: FlextApiClient) -> None:
    response = client.post(
        "/graphql",
        data={
            "operations": msgspec.json.encode(
                {"query": UPLOAD_ONE, "variables": {"file": None}}
            ).decode(),
            "map": '{"0": ["variables.file"]}',
        },
        files={"0": FormFile(b"hello world", filename="hello.txt", content_type="text/plain")},
    ).unwrap()
    assert response.status_code == 200
    assert response.json().unwrap() == {"data": {"upload": "hello.txt:11:hello"}}


def test_multipart_upload_of_a_list_inside_a_batch(client: FlextApiClient) -> None:
    operations = [
        {"query": UPLOAD_MANY, "variables": {"files": [None, None]}},
        {"query": UPLOAD_ONE, "variables": {"file": None}},
    ]
    response = client.post(
        "/graphql",
        data={
            "operations": msgspec.json.encode(operations).decode(),
            "map": msgspec.json.encode(
                {"a": ["0.variables.files.0"], "b": ["0.variables.files.1", "1.variables.file"]}
            ).decode(),
        },
        files={
            "a": FormFile(b"xyz", filename="a.bin", content_type="application/octet-stream"),
            "b": FormFile(b"12345", filename="b.bin", content_type="application/octet-stream"),
        },
    ).unwrap()
    assert response.status_code == 200
    assert response.json().unwrap() == [
        {"data": {"uploadMany": ["a.bin:3", "b.bin:5"]}},
        {"data": {"upload": "b.bin:5:12345"}},
    ]


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"operations": "{}"}, "'operations' and 'map'"),
        ({"operations": "{bad", "map": "{}"}, "'operations' field is not valid JSON"),
        (
            {
                "operations": '{"query": "x", "variables": {"file": null}}',
                "map": '{"9": ["variables.file"]}',
            },
            "lacks",
        ),
        (
            {
                "operations": '{"query": "x", "variables": {}}',
                "map": '{"0": ["variables.elsewhere.deep"]}',
            },
            "does not point",
        ),
        ({"operations": '{"query": "x"}', "map": "[1]"}, "must be an object"),
    ],
)
def test_malformed_multipart_is_400(
    client: FlextApiClient, fields: dict[str, str], needle: str
) -> None:
    response = client.post(
        "/graphql",
        data=fields,
        files={"0": FormFile(b"data", filename="f.txt", content_type="text/plain")},
    ).unwrap()
    assert response.status_code == 400
    assert needle in response.json().unwrap()["errors"][0]["message"]


# ------------------------------------------------------------------------------ behind the factory


def test_router_behind_the_factory_guards_body_size_and_content_type() -> None:
    app = create_fastapi_app(access_log=False, metrics=False, max_body_bytes=2048)
    app.include_router(create_graphql_router(SDL, RESOLVERS))
    with serve_ws(app) as bound:
        ok = raw_post(bound, msgspec.json.encode({"query": '{ echo(value: "x") }'}))
        too_big = raw_post(
            bound, msgspec.json.encode({"query": '{ echo(value: "' + "x" * 4096 + '") }'})
        )
        wrong_type = raw_post(bound, b"{}", "text/plain")
    assert (ok.status, ok.json()) == (200, {"data": {"echo": "x"}})
    assert too_big.status == 413
    assert too_big.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert wrong_type.status == 415
    assert wrong_type.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"


# ------------------------------------------------------------------------------ build time


def test_resolver_for_a_missing_field_fails_at_build_time() -> None:
    with pytest.raises(ValueError, match=r"Query\.missing"):
        create_graphql_router(SDL, {"Query": {"missing": lambda _p, _i: 1}})


def test_resolvers_for_an_unknown_type_fail_at_build_time() -> None:
    with pytest.raises(ValueError, match="Nope"):
        create_graphql_router(SDL, {"Nope": {}})


def test_invalid_sdl_fails_at_build_time() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        create_graphql_router("type Query {", {})


# ------------------------------------------------------------------------------ context, types


def test_context_factory_abstract_resolve_type_and_deliberate_errors() -> None:
    sdl = """
    interface Pet { name: String! }
    type Cat implements Pet { name: String! lives: Int! }
    type Dog implements Pet { name: String! }
    type Query { pet(kind: String!): Pet  whoami: String!  missing: String }
    """

    def pet(_parent: Any, _info: Any, kind: str) -> tuple[str, str]:
        # Plain tuples, no __typename: "__resolve_type" decides the concrete type.
        return (kind, "Tom" if kind == "cat" else "Rex")

    def missing(_parent: Any, _info: Any) -> str:
        raise NotFound("no such thing: ask for an existing one")

    resolvers: dict[str, dict[str, Any]] = {
        "Query": {
            "pet": pet,
            "whoami": lambda _p, info: info.context["user"],
            "missing": missing,
        },
        "Pet": {"__resolve_type": lambda value, *_: "Cat" if value[0] == "cat" else "Dog"},
        "Cat": {"name": lambda parent, _i: parent[1], "lives": lambda _p, _i: 9},
        "Dog": {"name": lambda parent, _i: parent[1]},
    }
    app = FastAPI()
    app.include_router(
        create_graphql_router(
            sdl, resolvers, context_factory=lambda request: {"user": request.headers["x-user"]}
        )
    )
    query = '{ whoami cat: pet(kind: "cat") { __typename name ... on Cat { lives } }'
    query += ' dog: pet(kind: "dog") { __typename name } missing }'
    with serve_ws(app) as bound, FlextApiClient(base_url=f"http://127.0.0.1:{bound}") as api:
        response = api.post("/graphql", json={"query": query}, headers={"X-User": "ada"}).unwrap()
    body = response.json().unwrap()
    assert response.status_code == 200
    assert body["data"] == {
        "whoami": "ada",
        "cat": {"__typename": "Cat", "name": "Tom", "lives": 9},
        "dog": {"__typename": "Dog", "name": "Rex"},
        "missing": None,
    }
    [error] = body["errors"]
    assert error["message"] == "no such thing: ask for an existing one"
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert error["path"] == ["missing"]


def test_a_schema_that_breaks_type_system_rules_fails_at_build_time() -> None:
    """graphql-core would refuse every request to it with a TypeError (a 500): refuse it once,
    where the mistake is made, naming the rule it breaks."""
    sdl = (
        "interface Node { id: ID! }\n"
        'type Card implements Node { id: ID! @deprecated(reason: "old") }\n'
        "type Query { card: Card }\n"
    )
    with pytest.raises(ValueError, match=r"schema is invalid \(1\): Interface field Node\.id"):
        create_graphql_router(sdl, {})
