"""The generated client against the generated stubs, over uvicorn on 127.0.0.1: typed variables
in, typed arguments at the resolver, typed results out (union variants, the Other fallback for
a type the client does not know, an unknown enum value), an upload, a subscription, and data
that does not fit the result type as a GRAPHQL_DECODE_ERROR failure.

This needs the GraphQL client (flext_api.protocols.graphql) and server runtime
(flext_api.server.graphql) built on the sibling branches: it runs once they are merged."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI

from codegen.graphql.generate import generate_graphql
from flext_api import FormFile, Headers, ok
from tests.servers.runners import run_uvicorn

DATA = Path(__file__).with_name("data")


class Recorder:
    """The resolvers; each records the arguments it was given."""

    def __init__(self, types: ModuleType) -> None:
        self.types = types
        self.calls: list[tuple[str, dict[str, Any]]] = []

    # Query
    def search(self, info: Any, **arguments: Any) -> list[dict[str, Any]]:
        self.calls.append(("search", arguments))
        return [
            {"__typename": "Item", "id": "1", "name": "a", "color": "RED", "price": "2.5",
             "createdAt": "2024-01-02T03:04:05Z", "day": "2024-01-02", "extra": {"k": 1}},
            {"__typename": "Shop", "id": "2", "title": "s"},
        ]  # fmt: skip

    def node(self, info: Any, **arguments: Any) -> dict[str, Any]:
        self.calls.append(("node", arguments))
        if arguments["id"] == "person":
            return {"__typename": "Person", "id": "person", "nick": "n"}
        return {"__typename": "Item", "id": arguments["id"], "name": "a", "legacyCode": None,
                "parts": [{"id": "p", "name": "b", "color": "GREEN"}]}  # fmt: skip

    # Mutation
    def upload(self, info: Any, **arguments: Any) -> dict[str, Any]:
        content = arguments["file"].file.read()  # starlette's UploadFile
        self.calls.append(("upload", {"content": content, "note": arguments.get("note")}))
        return {"id": "u1", "name": "x", "createdAt": "2024-01-02T03:04:05Z"}

    # Subscription
    async def item_added(self, info: Any, **arguments: Any) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(("item_added", arguments))
        for index in range(2):
            yield {"id": f"i{index}"}  # each event is the field's value


def _resolve_type(value: dict[str, Any], *_: Any) -> str:
    name: str = value["__typename"]
    return name


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, ...]]:
    root = tmp_path_factory.mktemp("e2e")
    generate_graphql(
        DATA / "shop.graphql",
        [DATA / "shop_operations.graphql"],
        root,
        "gql_e2e",
        scalars={"Money": ("decimal", "Decimal")},
    )
    sys.path.insert(0, str(root))
    try:
        yield tuple(importlib.import_module(f"gql_e2e.{m}") for m in ("types", "client", "stubs"))
    finally:
        sys.path.remove(str(root))


@pytest.fixture(scope="module")
def served(shop: tuple[ModuleType, ...]) -> Iterator[tuple[str, Recorder]]:
    types, _, stubs = shop
    recorder = Recorder(types)
    app = FastAPI()
    router = stubs.make_router(
        stubs.Resolvers(query=recorder, mutation=recorder, subscription=recorder)
    )
    app.include_router(router)
    with run_uvicorn("h11", app=app) as server:
        yield server.url + "/graphql", recorder


def test_sync_query_typed_both_ways(shop: tuple[ModuleType, ...], served: Any) -> None:
    types, client_module, _ = shop
    url, recorder = served
    with client_module.GqlE2EClient(url) as client:
        result = client.search(text="t", filter=types.ItemFilter(color=types.Color.RED))
    response = result.unwrap()
    assert response.errors == ()
    item, shop_hit = response.data.search
    assert isinstance(item, types.SearchResultSearchItem) and item.color is types.Color.RED
    assert isinstance(shop_hit, types.SearchResultSearchShop) and shop_hit.shop_title == "s"
    name, arguments = recorder.calls[-1]
    # The stub received the input as the generated Struct, the default applied by the server.
    assert name == "search"
    assert arguments == {
        "text": "t",
        "filter": types.ItemFilter(color=types.Color.RED, limit=10),
        "first": 5,
    }


def test_async_query_interface_other_and_skipped_field(
    shop: tuple[ModuleType, ...], served: Any
) -> None:
    types, client_module, _ = shop
    url, _ = served

    async def run() -> tuple[Any, Any]:
        async with client_module.AsyncGqlE2EClient(url) as client:
            with pytest.warns(DeprecationWarning, match="legacyCode"):
                item = await client.node_by_id(id="7", with_name=True)
            with pytest.warns(DeprecationWarning):
                person = await client.node_by_id(id="person")
            return item.unwrap().data.node, person.unwrap().data.node

    item, person = asyncio.run(run())
    assert isinstance(item, types.NodeByIdResultNodeItem) and item.name == "a"
    assert type(item.parts[0]) is types.ItemBits
    assert isinstance(person, types.NodeByIdResultNodeOther) and person.typename == "Person"


def test_upload_and_subscription(shop: tuple[ModuleType, ...], served: Any) -> None:
    types, client_module, _ = shop
    url, recorder = served
    with client_module.GqlE2EClient(url) as client:
        result = client.upload(file=FormFile(b"payload", filename="a.txt"), note="hi")
        assert result.unwrap().data.upload.id == "u1"
        assert recorder.calls[-1] == ("upload", {"content": b"payload", "note": "hi"})
        with client.item_added(color=types.Color.GREEN) as opened:
            events = [event.data.item_added.id for event in opened.unwrap()]
    assert events == ["i0", "i1"]
    assert recorder.calls[-1] == ("item_added", {"color": types.Color.GREEN})


def test_data_that_does_not_fit_is_a_decode_failure(shop: tuple[ModuleType, ...]) -> None:
    types, client_module, _ = shop
    wrong = {"search": [{"__typename": "Item", "id": 5}]}
    with pytest.raises(msgspec.ValidationError):
        types.decode(wrong, types.SearchResult, types.SPEC_SEARCH)
    # What the transport hands over when the server answers such data (the decode step).
    response = client_module.GraphQLResponse(
        data=wrong, errors=(), extensions=None, status_code=200, headers=Headers()
    )
    result = client_module._typed(ok(response), types.SearchResult, types.SPEC_SEARCH)
    assert result.is_failure and result.error.code == "GRAPHQL_DECODE_ERROR"
    assert "SearchResult" in result.error.message and result.error.status_code == 200
