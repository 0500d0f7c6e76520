"""A schema-driven mock executor: graphql-core ``execute`` over the SDL, every field resolved
from its type (nulls where nullable in the ``nulls`` pass, a value everywhere otherwise), each
abstract position cycling through its concrete types so every type appears, lists of two."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import graphql
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    is_abstract_type,
)

from codegen.graphql.schema_types import has_default

SCALARS: dict[str, Any] = {
    "Int": 7,
    "Float": 1.5,
    "Boolean": True,
    "ID": "id-1",
    "String": "text",
    "DateTime": "2024-01-02T03:04:05Z",
    "Date": "2024-01-02",
    "JSON": {"k": [1, "v"]},
}


class _Executor:
    def __init__(self, schema: GraphQLSchema, nulls: bool, pick: int) -> None:
        self.schema = schema
        self.nulls = nulls
        self.pick = pick

    def value(self, kind: Any, path_hint: int = 0) -> Any:
        if isinstance(kind, GraphQLNonNull):
            return self._non_null(kind.of_type, path_hint)
        if self.nulls:
            return None
        return self._non_null(kind, path_hint)

    def _non_null(self, kind: Any, hint: int) -> Any:
        if isinstance(kind, GraphQLList):
            return [self.value(kind.of_type, hint + i) for i in range(2)]
        if isinstance(kind, GraphQLScalarType):
            return SCALARS.get(kind.name, "text")
        if isinstance(kind, GraphQLEnumType):
            return next(iter(kind.values.values())).value
        if is_abstract_type(kind):
            possible = sorted(self.schema.get_possible_types(kind), key=lambda t: t.name)
            return {"__mock_type": possible[(self.pick + hint) % len(possible)].name}
        assert isinstance(kind, GraphQLObjectType)
        return {"__mock_type": kind.name}

    def resolve(self, parent: Any, info: graphql.GraphQLResolveInfo[Any], **_: Any) -> Any:
        return self.value(info.return_type)


def _type_resolver(value: Any, info: graphql.GraphQLResolveInfo[Any], abstract: Any) -> str:
    name: str = value["__mock_type"]
    return name


def input_value(kind: Any) -> Any:
    """A value for a required variable (required input fields filled, the rest left out)."""
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if isinstance(kind, GraphQLList):
        return [input_value(kind.of_type)]
    if isinstance(kind, GraphQLEnumType):
        return next(iter(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        return {
            name: input_value(item.type)
            for name, item in kind.fields.items()
            if isinstance(item.type, GraphQLNonNull) and not has_default(item)
        }
    if isinstance(kind, GraphQLScalarType) and kind.name in {"Int", "Float", "Boolean"}:
        return SCALARS[kind.name]
    return "text"


def variables(schema: GraphQLSchema, operation: OperationDefinitionNode) -> dict[str, Any]:
    out = {}
    for definition in operation.variable_definitions or ():
        kind = graphql.type_from_ast(schema, definition.type)
        if isinstance(kind, GraphQLNonNull) and definition.default_value is None:
            out[definition.variable.name.value] = input_value(kind)
    return out


def max_possible(schema: GraphQLSchema) -> int:
    return max(
        (
            len(schema.get_possible_types(t))
            for t in schema.type_map.values()
            if is_abstract_type(t) and not t.name.startswith("__")
        ),
        default=1,
    )


def mock_data(
    schema: GraphQLSchema, document: str, operation: str, passes: int
) -> Iterator[dict[str, Any]]:
    """The ``data`` of ``operation`` (the query text the client sends) over several passes."""
    parsed = graphql.parse(document)
    op = next(
        d
        for d in parsed.definitions
        if isinstance(d, OperationDefinitionNode) and d.name and d.name.value == operation
    )
    values = variables(schema, op)
    for nulls in (True, False):
        for pick in range(passes if not nulls else 1):
            executor = _Executor(schema, nulls, pick)
            result = graphql.execute(
                schema,
                parsed,
                variable_values=values,
                operation_name=operation,
                field_resolver=executor.resolve,
                type_resolver=_type_resolver,
            )
            if not isinstance(result, graphql.ExecutionResult):
                raise TypeError("a subscription or deferred result: not mocked here")
            assert not result.errors, result.errors
            assert result.data is not None
            yield result.data
