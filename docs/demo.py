"""`make demo`: start a local server, call it with the sync, asyncio and trio clients, print
the Results (successes and the failures a user meets: 404 as data, a read timeout, a refused
connection, a malformed URL). Then generate a typed SDK from the petstore OpenAPI document, serve
its generated FastAPI stub with an in-memory implementation, and call it with the generated sync
client and the async one on asyncio and trio: typed models in Successes, typed status errors in
Failures. Last, the same for GraphQL: generate the swapi package, serve its stub
(``stubs.make_router``) with in-memory resolvers, and call one query with the generated sync
client and the async one on asyncio and trio."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import trio
import uvicorn

from codegen.graphql.generate import generate_graphql
from codegen.openapi.generate import generate
from flext_api import (
    AsyncFlextApiClient,
    Failure,
    FlextApiClient,
    FlextApiConfig,
    Success,
    Timeout,
)

Scope = dict[str, Any]


async def app(scope: Scope, receive: Any, send: Any) -> None:
    """A tiny API: /pets/{id} as JSON, /slow sleeps, anything else is 404."""
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    status: int = 404
    body: dict[str, Any] = {"error": "not found", "path": path}
    if path.startswith("/pets/"):
        status, body = 200, {"id": int(path.rsplit("/", 1)[1]), "name": "rex", "tag": "dog"}
    elif path == "/slow":
        await asyncio.sleep(1.0)
        status, body = 200, {"slow": True}
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def show(label: str, result: Success[Any] | Failure[Any]) -> None:
    match result:
        case Success(response):
            print(f"  {label:<28} Success  {response.status_code} {response.content.decode()}")
        case Failure(error):
            print(f"  {label:<28} Failure  {error.code}: {error}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://127.0.0.1:{port}"
    print(f"demo server on {base}\n")
    try:
        print("sync (FlextApiClient):")
        with FlextApiClient(base_url=base) as client:
            show("GET /pets/1", client.get("/pets/1"))
            show("GET /missing (404 is data)", client.get("/missing"))
            show(
                "raise_for_status on 404",
                client.get("/missing").flat_map(lambda r: r.raise_for_status()),
            )
            show("GET /slow, read timeout 0.2s", client.get("/slow", timeout=Timeout(0.2)))
            show("GET /pets/2 after timeout", client.get("/pets/2"))
            show("malformed URL", client.get("http://exa mple.com/"))
            print(f"  pool: {client.pool_stats}")
        with FlextApiClient() as client:
            show("refused connection", client.get(f"http://127.0.0.1:{free_port()}/"))

        async def calls(label: str) -> None:
            print(f"\nasync on {label} (AsyncFlextApiClient):")
            async with AsyncFlextApiClient(base_url=base) as client:
                show("GET /pets/3", await client.get("/pets/3"))
                show("POST json to /pets/4", await client.post("/pets/4", json={"name": "rex"}))
                show("GET /slow, read timeout 0.2s", await client.get("/slow", timeout=0.2))
                print(f"  pool: {client.pool_stats}")

        asyncio.run(calls("asyncio"))
        trio.run(calls, "trio")
    finally:
        server.should_exit = True
        thread.join(5)
    generated_sdk()
    generated_graphql()


REPO = Path(__file__).resolve().parents[1]
PETSTORE_SPECS = (
    REPO.parent / "shared" / "corpus" / "openapi" / "swaggerapi_petstore.yaml",
    REPO / "tests" / "codegen" / "specs" / "petstore.yaml",
)


@contextlib.contextmanager
def serving(asgi_app: Any) -> Iterator[str]:
    """Serve ``asgi_app`` with uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


class InMemoryPetstore:
    """The stub's handler Protocol, implemented over a dict: what a user writes for a test
    double or a first server. A missing pet answers the documented 404."""

    def __init__(self, models: Any) -> None:
        self.models = models
        self.pets: dict[int, Any] = {}

    async def add_pet(self, *, body: Any) -> Any:
        pet = msgspec.structs.replace(body, id=len(self.pets) + 1)
        self.pets[pet.id] = pet
        return pet

    async def get_pet_by_id(self, *, pet_id: int) -> Any:
        return self.pets.get(pet_id) or (404, None)

    async def find_pets_by_status(self, *, status: Any) -> Any:
        return [pet for pet in self.pets.values() if pet.status == (status or "available")]


def brief(value: object) -> str:
    """A model as its set fields (UNSET ones left out), enum members by name."""
    if isinstance(value, list):
        return "[" + ", ".join(brief(item) for item in value) + "]"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, msgspec.Struct):
        fields = (
            f"{name}={brief(getattr(value, name))}"
            for name in value.__struct_fields__
            if getattr(value, name) is not msgspec.UNSET
        )
        return f"{type(value).__name__}({', '.join(fields)})"
    return repr(value)


def show_typed(label: str, result: Success[Any] | Failure[Any]) -> None:
    match result:
        case Success(value):
            print(f"  {label:<38} Success  {brief(value)}")
        case Failure(error):
            status = getattr(error, "status_code", "-")
            print(f"  {label:<38} Failure  {type(error).__name__}: status {status}, {error.code}")


def generated_sdk() -> None:
    spec = next(path for path in PETSTORE_SPECS if path.exists())
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = generate(spec, Path(tmp), "petstore_sdk")
        elapsed = time.perf_counter() - started
        files = sorted(p.name for p in result.package_dir.glob("*.py"))
        print(f"\ngenerated SDK from {spec.name} in {elapsed:.1f}s: petstore_sdk/ {files}")
        sys.path.insert(0, tmp)
        try:
            sdk = importlib.import_module("petstore_sdk")
            stubs = importlib.import_module("petstore_sdk.stubs")
            call_generated_sdk(sdk, stubs, result.api_name)
        finally:
            sys.path.remove(tmp)
            for name in [m for m in sys.modules if m.split(".")[0] == "petstore_sdk"]:
                del sys.modules[name]


def call_generated_sdk(sdk: Any, stubs: Any, api_name: str) -> None:
    handlers = InMemoryPetstore(sdk)
    credentials = {"api_key": "demo-key", "petstore_auth": "demo-token"}
    # The stub runs behind the factory's guards; its JSON access lines would bury the demo's output.
    quiet = FlextApiConfig(access_log=False)
    with serving(stubs.make_app(handlers, config=quiet)) as root:
        base = root + stubs.SERVER_PREFIX
        print(f"generated stub (make_app) on {base}\n")
        print(f"sync ({api_name}Client):")
        with getattr(sdk, f"{api_name}Client")(base_url=base, **credentials) as api:
            rex = sdk.Pet(name="rex", photo_urls=[], status=sdk.PetStatus.AVAILABLE)
            show_typed("add_pet(body=Pet(name='rex'))", api.add_pet(body=rex))
            show_typed("get_pet_by_id(pet_id=1)", api.get_pet_by_id(pet_id=1))
            show_typed("get_pet_by_id(pet_id=99) (missing)", api.get_pet_by_id(pet_id=99))
            answer = api.get_pet_by_id_with_response(pet_id=1).unwrap()
            print(
                f"  {'get_pet_by_id_with_response(pet_id=1)':<38} status {answer.status_code}, "
                f"content-type {answer.headers.get('content-type')}, body {brief(answer.body)}"
            )

        async def calls(label: str) -> None:
            print(f"\nasync on {label} (Async{api_name}Client):")
            cls = getattr(sdk, f"Async{api_name}Client")
            async with cls(base_url=base, **credentials) as api:
                tom = sdk.Pet(name=f"tom-{label}", photo_urls=[], status=sdk.PetStatus.AVAILABLE)
                show_typed(f"add_pet(body=Pet(name='tom-{label}'))", await api.add_pet(body=tom))
                available = sdk.FindPetsByStatusStatus.AVAILABLE
                show_typed(
                    "find_pets_by_status(status=AVAILABLE)",
                    await api.find_pets_by_status(status=available),
                )
                show_typed("get_pet_by_id(pet_id=404)", await api.get_pet_by_id(pet_id=404))

        asyncio.run(calls("asyncio"))
        trio.run(calls, "trio")


# The shared corpus sits next to the checkout (or next to the worktrees' directory).
SWAPI = next(
    (
        root / "shared" / "corpus" / "graphql"
        for root in (REPO.parent, REPO.parent.parent)
        if (root / "shared" / "corpus" / "graphql").is_dir()
    ),
    REPO.parent / "shared" / "corpus" / "graphql",
)


class InMemorySwapi:
    """The stub's ``QueryResolvers`` Protocol for the one field the demo calls: a film and its
    cast as plain dicts (graphql-core reads nested fields from dict keys)."""

    TATOOINE: ClassVar[dict[str, Any]] = {
        "id": "p1",
        "name": "Tatooine",
        "population": 200000.0,
        "climates": ["arid"],
    }
    CAST: ClassVar[list[dict[str, Any]]] = [
        {"id": "c1", "name": "Luke Skywalker", "birthYear": "19BBY", "height": 172,
         "mass": 77.0, "homeworld": TATOOINE},
        {"id": "c2", "name": "C-3PO", "birthYear": "112BBY", "height": 167, "mass": 75.0,
         "homeworld": TATOOINE},
    ]  # fmt: skip

    def film(self, info: Any, *, id: Any = None, film_id: Any = None) -> Any:
        if film_id != "1":
            return None
        return {
            "id": "f1",
            "title": "A New Hope",
            "episodeID": 4,
            "releaseDate": "1977-05-25",
            "openingCrawl": "It is a period of civil war...",
            "characterConnection": {
                "totalCount": len(self.CAST),
                "pageInfo": {"hasNextPage": False, "endCursor": None},
                "characters": self.CAST,
            },
        }


def generated_graphql() -> None:
    schema = SWAPI / "swapi_starwars.graphql"
    operations = SWAPI / "operations" / "swapi_operations.graphql"
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = generate_graphql(schema, [operations], Path(tmp), "swapi_gql")
        elapsed = time.perf_counter() - started
        files = sorted(p.name for p in result.package_dir.glob("*.py"))
        print(
            f"\ngenerated GraphQL package from {schema.name} in {elapsed:.1f}s: swapi_gql/ {files}"
        )
        sys.path.insert(0, tmp)
        try:
            client = importlib.import_module("swapi_gql.client")
            stubs = importlib.import_module("swapi_gql.stubs")
            call_generated_graphql(client, stubs)
        finally:
            sys.path.remove(tmp)
            for name in [m for m in sys.modules if m.split(".")[0] == "swapi_gql"]:
                del sys.modules[name]


def show_graphql(label: str, result: Success[Any] | Failure[Any]) -> None:
    match result:
        case Success(response):
            film = response.data.film
            cast = film and [person.name for person in film.character_connection.characters]
            summary = film and f"{film.title!r} (episode {film.episode_id}), cast {cast}"
            print(f"  {label:<44} Success  {summary or 'film: null'}")
        case Failure(error):
            print(f"  {label:<44} Failure  {type(error).__name__}: {error.code}")


def call_generated_graphql(client: Any, stubs: Any) -> None:
    from fastapi import FastAPI

    app = FastAPI()
    app.include_router(stubs.make_router(stubs.Resolvers(query=InMemorySwapi())))
    with serving(app) as root:
        url = root + "/graphql"
        print(f"generated GraphQL stub (make_router) on {url}\n")
        print("sync (SwapiGqlClient):")
        with client.SwapiGqlClient(url) as api:
            show_graphql("film_with_cast(film_id='1')", api.film_with_cast(film_id="1"))
            show_graphql("film_with_cast(film_id='9') (missing)", api.film_with_cast(film_id="9"))

        async def calls(label: str) -> None:
            print(f"\nasync on {label} (AsyncSwapiGqlClient):")
            async with client.AsyncSwapiGqlClient(url) as api:
                show_graphql("film_with_cast(film_id='1')", await api.film_with_cast(film_id="1"))

        asyncio.run(calls("asyncio"))
        trio.run(calls, "trio")
    with client.SwapiGqlClient(f"http://127.0.0.1:{free_port()}/graphql") as api:
        print()
        show_graphql("refused connection", api.film_with_cast(film_id="1"))


if __name__ == "__main__":
    main()
