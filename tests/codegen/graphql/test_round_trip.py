"""Every corpus operation through the generated client and the generated stubs over uvicorn on
127.0.0.1: the stubs' resolvers return values built from the schema by the mock executor's
value builder (nulls where nullable in one pass, then passes cycling each union/interface
through its concrete types), and what the client decodes, encoded back to wire data with the
generated ``types.encode``, equals what graphql-core computes for the same resolvers locally."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import typing
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any

import graphql
import msgspec
import pytest
from fastapi import FastAPI
from graphql import GraphQLObjectType, GraphQLSchema, OperationDefinitionNode, OperationType

from codegen.graphql.generate import GraphQLGenerationResult
from codegen.graphql.load import load_schema
from codegen.openapi.diagnostics import Diagnostics
from flext_api import FormFile
from tests.codegen.graphql.conftest import CASES, CORPUS
from tests.codegen.graphql.mock import _Executor, input_value, max_possible, mock_data
from tests.servers.runners import run_uvicorn

Make = Callable[[str], GraphQLGenerationResult]


class _MockObject(dict[str, Any]):
    """An object of the schema whose fields are built when graphql-core reads them (its default
    resolver calls ``get``), so cyclic schemas are only built as deep as the query selects."""

    def __init__(self, executor: _Executor, kind: GraphQLObjectType) -> None:
        # The server's router names a dict's concrete type by its ``__typename``.
        super().__init__({"__typename": kind.name})
        self._executor = executor
        self._kind = kind

    def get(self, key: str, default: Any = None) -> Any:
        field = self._kind.fields.get(key)
        if field is None:
            return super().get(key, default)
        return _wrap(self._executor, self._executor.value(field.type))


def _wrap(executor: _Executor, value: Any) -> Any:
    if isinstance(value, list):
        return [_wrap(executor, item) for item in value]
    if isinstance(value, dict) and "__mock_type" in value:
        kind = executor.schema.get_type(value["__mock_type"])
        assert isinstance(kind, GraphQLObjectType)
        return _MockObject(executor, kind)
    return value


class _Root:
    """Every root field's resolver (the stub looks methods up by name): the mock value of the
    field's type under the current pass's executor."""

    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.executor: _Executor | None = None

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def resolve(info: Any, **_: Any) -> Any:
            assert self.executor is not None
            return _wrap(self.executor, self.executor.value(info.return_type))

        async def events(info: Any, **_: Any) -> AsyncIterator[Any]:
            for _index in range(2):
                yield resolve(info)

        return events if self.stream else resolve


def _normal(name: str) -> str:
    return name.replace("_", "").lower()


def _arguments(
    method: Callable[..., Any], schema: GraphQLSchema, op: OperationDefinitionNode
) -> dict[str, Any]:
    """The required keywords of a generated client method, typed from the mock input values."""
    hints = typing.get_type_hints(method)
    wire = {
        _normal(d.variable.name.value): graphql.type_from_ast(schema, d.type)
        for d in op.variable_definitions or ()
    }
    out = {}
    for name, parameter in inspect.signature(method).parameters.items():
        if parameter.default is not inspect.Parameter.empty or name == "self":
            continue
        if hints[name] is FormFile:
            out[name] = FormFile(b"\x89PNG", filename="a.png")
        else:
            out[name] = msgspec.convert(input_value(wire[_normal(name)]), hints[name])
    return out


# GitHub's published SDL defines two fields twice and breaks 12 interface rules of the GraphQL
# type system (a deprecated implementation of a non-deprecated interface field...): the
# generated client decodes its data
# (test_corpus.py, and the ariadne comparison), but create_graphql_router refuses an invalid
# schema when it is built, so there is no stub of it to round-trip against.
SERVED = sorted(set(CASES) - {"github"})


def test_the_github_schema_is_refused_by_the_server_with_the_rule_it_breaks() -> None:
    from flext_api.server.graphql import create_graphql_router

    sdl = (CORPUS / "github_api.graphql").read_text()
    with pytest.raises(ValueError, match="the GraphQL schema does not parse: Field 'Enterprise"):
        create_graphql_router(sdl, {})


@pytest.fixture(scope="module", params=SERVED)
def served(
    request: pytest.FixtureRequest, make_gql: Make
) -> Iterator[tuple[GraphQLGenerationResult, dict[str, ModuleType], _Root, _Root, str]]:
    result = make_gql(request.param)
    name = result.package_dir.name
    modules = {m: importlib.import_module(f"{name}.{m}") for m in ("types", "client", "stubs")}
    stubs = modules["stubs"]
    roots, stream = _Root(False), _Root(True)
    fields = {f.name for f in dataclasses.fields(stubs.Resolvers)}
    resolvers = stubs.Resolvers(**{f: stream if f == "subscription" else roots for f in fields})
    app = FastAPI()
    app.include_router(stubs.make_router(resolvers))
    with run_uvicorn("h11", app=app) as server:
        yield result, modules, roots, stream, server.url + "/graphql"


def _client_class(client: ModuleType, prefix: str) -> type[Any]:
    names = [n for n in dir(client) if n.endswith("Client") and n.startswith(prefix + "Gql")]
    assert len(names) == 1, names
    kind: type[Any] = getattr(client, names[0])
    return kind


def test_every_operation_round_trips(served: Any) -> None:
    # Operations selecting deprecated fields warn at each call (test_end_to_end.py checks that).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _round_trip(*served)


def _round_trip(
    result: GraphQLGenerationResult,
    modules: dict[str, ModuleType],
    roots: _Root,
    stream: _Root,
    url: str,
) -> None:
    types, client_module = modules["types"], modules["client"]
    schema = load_schema(result.package_dir / "schema.graphql", Diagnostics())
    passes = max_possible(schema)
    checked = subscriptions = 0
    with _client_class(client_module, "")(url) as client:
        for operation in result.operations:
            document_name, _ = result.constants[operation]
            document = getattr(types, document_name)
            op = next(
                d
                for d in graphql.parse(document).definitions
                if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == operation
            )
            method = getattr(client, _method_name(client, operation))
            arguments = _arguments(method, schema, op)
            expected = list(mock_data(schema, document, operation, passes))
            executors = [_Executor(schema, True, 0)] + [
                _Executor(schema, False, pick) for pick in range(passes)
            ]
            if op.operation is OperationType.SUBSCRIPTION:
                # One pass: each event is the same mock value of the subscribed field.
                stream.executor = executors[-1]
                with method(**arguments) as opened:
                    events = [types.encode(event.data) for event in opened.unwrap()]
                assert events == [expected[-1]] * 2
                subscriptions += 1
                continue
            for executor, data in zip(executors, expected, strict=True):
                roots.executor = executor
                response = method(**arguments).unwrap()
                assert response.errors == (), (operation, response.errors)
                assert types.encode(response.data) == data, operation
                checked += 1
    assert checked + subscriptions >= len(result.operations)
    assert subscriptions == sum(
        1
        for o in result.operations
        if getattr(types, result.constants[o][0]).lstrip().startswith("subscription")
    )

    # The async client on asyncio: the first operation, full pass.
    operation = result.operations[0]
    document = getattr(types, result.constants[operation][0])
    expected_full = list(mock_data(schema, document, operation, 1))[-1]
    roots.executor = _Executor(schema, False, 0)

    async def run() -> Any:
        async with _client_class(client_module, "Async")(url) as client:
            method = getattr(client, _method_name(client, operation))
            op = next(
                d
                for d in graphql.parse(document).definitions
                if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == operation
            )
            return (await method(**_arguments(method, schema, op))).unwrap()

    response = asyncio.run(run())
    assert response.errors == ()
    assert types.encode(response.data) == expected_full


def _method_name(client: Any, operation: str) -> str:
    names = [n for n in dir(client) if _normal(n) == operation.lower()]
    assert len(names) == 1, (operation, names)
    return names[0]
