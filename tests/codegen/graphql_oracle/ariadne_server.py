# mypy: ignore-errors
# (Runs under the oracle's own interpreter, with graphql-core 3.2 and ariadne, which the
# project's venv lacks; the project's mypy cannot check it against them.)
"""The oracle server: an ariadne schema from a corpus SDL, every field answered by a seeded RNG.

Run by the oracle's own interpreter (requirements.txt beside this file), never imported by the
project: ``python ariadne_server.py SDL_PATH PORT [SEED]`` serves ``/graphql`` on 127.0.0.1 (HTTP,
and graphql-transport-ws for subscriptions) until killed.

Each value is drawn from an RNG seeded by (seed, operation name, response path, variables), so
the same operation with the same variables gets the same answer from any client in any order:
that is what lets two clients' decoded data be compared. Nullable fields are sometimes null and
sometimes fail with a field error; abstract fields cycle through every concrete type.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from ariadne import make_executable_schema
from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLTransportWSHandler
from graphql import (
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
)

NULL_RATE = 0.15
ERROR_RATE = 0.05
SEED = "0"


class SeededFieldError(Exception):
    """A field error the oracle mixes in on purpose (nullable fields only)."""


def _rng(info: GraphQLResolveInfo) -> random.Random:
    path = ".".join(str(key) for key in info.path.as_list())
    operation = info.operation.name.value if info.operation.name else ""
    variables = json.dumps(info.variable_values, sort_keys=True, default=str)
    return random.Random(f"{SEED}|{operation}|{path}|{variables}")


def _scalar(name: str, rng: random.Random) -> Any:
    n = rng.randrange(1, 10_000)
    builtin = {
        "Int": n,
        "Float": n / 8,
        "Boolean": bool(n % 2),
        "String": f"s{n}",
        "ID": f"id{n}",
    }
    if name in builtin:
        return builtin[name]
    lowered = name.lower()
    if "datetime" in lowered or lowered in {"timestamp", "gittimestamp"}:
        return f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}T{n % 24:02d}:{n % 60:02d}:00+00:00"
    if "date" in lowered:
        return f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}"
    if lowered == "jsonstring":  # Saleor's: JSON carried inside a string
        return json.dumps({"k": n})
    if "json" in lowered or lowered == "metadata":
        return {"k": n, "nested": [n, f"v{n}"]}
    if lowered == "uuid":
        return f"00000000-0000-4000-8000-{n:012d}"
    if "decimal" in lowered or lowered in {"weightscalar"}:
        return n / 4
    if lowered in {"positiveint", "hour", "minute"}:
        return n % 24
    if "uri" in lowered or "url" in lowered or "html" in lowered:
        return f"https://example.invalid/{n}"
    return f"{name}-{n}"


def _value(graphql_type: Any, rng: random.Random, schema: GraphQLSchema, nullable: bool) -> Any:
    if isinstance(graphql_type, GraphQLNonNull):
        return _value(graphql_type.of_type, rng, schema, False)
    if nullable:
        draw = rng.random()
        if draw < NULL_RATE:
            return None
        if draw < NULL_RATE + ERROR_RATE:
            raise SeededFieldError("oracle: a seeded field error")
    if isinstance(graphql_type, GraphQLList):
        item = graphql_type.of_type
        inner = item.of_type if isinstance(item, GraphQLNonNull) else item
        if isinstance(inner, GraphQLAbstractType):
            # One item per concrete type, from a random start: every type shows up.
            types = schema.get_possible_types(inner)
            start = rng.randrange(len(types))
            return [{"__typename": types[(start + i) % len(types)].name} for i in range(len(types))]
        return [
            _value(item, random.Random(rng.random()), schema, True)
            for _ in range(rng.randint(0, 3))
        ]
    if isinstance(graphql_type, GraphQLObjectType):
        return {"__typename": graphql_type.name}
    if isinstance(graphql_type, GraphQLInterfaceType | GraphQLUnionType):
        return {"__typename": rng.choice(schema.get_possible_types(graphql_type)).name}
    if isinstance(graphql_type, GraphQLEnumType):
        return rng.choice(sorted(graphql_type.values))
    if isinstance(graphql_type, GraphQLScalarType):
        return _scalar(graphql_type.name, rng)
    raise TypeError(f"no value for {graphql_type}")


def resolve(parent: Any, info: GraphQLResolveInfo, **_arguments: Any) -> Any:
    # Root fields are never null: a null root would hide the whole operation from comparison.
    return _value(info.return_type, _rng(info), info.schema, len(info.path.as_list()) > 1)


def resolve_type(value: Any, *_args: Any) -> Any:
    return value["__typename"]


async def subscribe(
    _parent: Any, _info: GraphQLResolveInfo, **_arguments: Any
) -> AsyncIterator[Any]:
    for number in range(3):
        yield number


def build(sdl: str) -> GraphQLSchema:
    try:
        schema = make_executable_schema(sdl)
    except TypeError as error:
        # The GitHub SDL defines some fields twice, which graphql-core 3.2 refuses; serve it as
        # given (the last definition wins), since the clients under test are built from it.
        print(f"oracle: serving an SDL that does not validate: {error}", file=sys.stderr)
        schema = build_schema(sdl, assume_valid_sdl=True)
    for graphql_type in schema.type_map.values():
        if graphql_type.name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLObjectType):
            for field in graphql_type.fields.values():
                field.resolve = resolve
                if graphql_type is schema.subscription_type:
                    field.subscribe = subscribe
        elif isinstance(graphql_type, GraphQLInterfaceType | GraphQLUnionType):
            graphql_type.resolve_type = resolve_type
        elif isinstance(graphql_type, GraphQLScalarType) and graphql_type.name not in {
            "Int",
            "Float",
            "Boolean",
            "String",
            "ID",
        }:
            # Custom scalars pass JSON values through unchanged.
            graphql_type.serialize = lambda value: value
    return schema


def main() -> None:
    global SEED  # set once, before serving
    sdl_path, port = sys.argv[1], int(sys.argv[2])
    SEED = sys.argv[3] if len(sys.argv) > 3 else "0"
    with open(sdl_path, encoding="utf-8") as handle:
        schema = build(handle.read())
    app = GraphQL(schema, websocket_handler=GraphQLTransportWSHandler())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
