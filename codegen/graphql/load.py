"""Load a GraphQL schema and operation documents, and validate each operation on its own.

A document that does not parse, or an operation that does not validate against the schema, is a
diagnostic naming the file, the line and the cause (graphql-core names the field), and is
skipped; the run goes on with the rest (CODEGEN.md G2). Only a schema that cannot be used at all
raises `LoadError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import graphql
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    OperationDefinitionNode,
    visit,
)
from graphql.language import Visitor
from graphql.validation.validate import validate_sdl

from ..openapi.diagnostics import Diagnostics


class LoadError(Exception):
    """The schema cannot be used (exit status 1)."""


@dataclass(slots=True)
class Operations:
    """The valid operations (name -> definition) and every fragment they may use."""

    operations: dict[str, OperationDefinitionNode] = field(default_factory=dict)
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # operation -> "file:line"


def load_schema(path: Path, diagnostics: Diagnostics) -> GraphQLSchema:
    """The schema from SDL text or introspection JSON (``{"data": {"__schema": ...}}`` or the
    inner object). SDL that breaks a rule graphql-core can build past (a field defined twice,
    as in GitHub's published schema) is built anyway, with a diagnostic per broken rule."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot read the schema {path}: {exc}") from None
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
            data = data.get("data", data) if isinstance(data, dict) else data
            schema = graphql.build_client_schema(data)
        else:
            document = graphql.parse(text)
            errors = validate_sdl(document)
            for error in errors:
                line = error.locations[0].line if error.locations else 0
                diagnostics.report(
                    f"{path.name}:{line}", error.message, "built anyway: the last definition wins"
                )
            schema = graphql.build_ast_schema(document, assume_valid_sdl=True)
    except (ValueError, TypeError, graphql.GraphQLError) as exc:
        message = " ".join(str(exc).split())
        raise LoadError(
            f"{path} is not a usable GraphQL schema (SDL or introspection JSON): {message}"
        ) from None
    for error in graphql.validate_schema(schema):
        line = error.locations[0].line if error.locations else 0
        diagnostics.report(f"{path.name}:{line}", error.message, "generated anyway")
    if schema.query_type is None:
        raise LoadError(f"{path}: the schema has no query type; it cannot be served or queried")
    # graphql-core refuses to validate operations against a schema with errors; the ones seen
    # in published schemas (GitHub: deprecation mismatches) do not change any operation's
    # shape, so mark the schema checked (its documented cache of validation errors).
    schema._validation_errors = []
    return schema


def operation_files(paths: list[Path]) -> list[Path]:
    """The ``.graphql``/``.gql`` files named or inside the folders named, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in path.rglob("*") if p.suffix in {".graphql", ".gql"})
        else:
            found.append(path)
    return sorted(set(found))


def _where(file: str, node: graphql.Node | None) -> str:
    loc = node.loc if node is not None else None
    if loc is None:
        return file
    position = graphql.get_location(loc.source, loc.start)
    return f"{file}:{position.line}:{position.column}"


def _spreads(node: graphql.Node) -> set[str]:
    names: set[str] = set()

    class Collect(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            names.add(spread.name.value)

    visit(node, Collect())
    return names


def load_operations(
    schema: GraphQLSchema, files: list[Path], diagnostics: Diagnostics
) -> Operations:
    """Parse every file and keep the operations that validate (each with the fragments it
    uses, transitively); every other one is a diagnostic."""
    result = Operations()
    owners: dict[str, str] = {}  # definition -> file label
    operations: list[tuple[str, OperationDefinitionNode]] = []
    for path in files:
        label = path.name
        try:
            document = graphql.parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            diagnostics.report(label, f"cannot read the file: {exc}", "file skipped")
            continue
        except graphql.GraphQLError as exc:
            line = exc.locations[0].line if exc.locations else 0
            diagnostics.report(f"{label}:{line}", exc.message, "file skipped")
            continue
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if name in result.fragments:
                    diagnostics.report(
                        _where(label, definition),
                        f"fragment {name} is defined again (first in {owners[name]})",
                        "the first definition is used",
                    )
                    continue
                result.fragments[name] = definition
                owners[name] = label
            elif isinstance(definition, OperationDefinitionNode):
                operations.append((label, definition))
    for label, operation in operations:
        where = _where(label, operation)
        if operation.name is None:
            diagnostics.report(where, "an anonymous operation has no method name", "skipped")
            continue
        name = operation.name.value
        if name in result.operations:
            diagnostics.report(where, f"operation {name} is defined again", "skipped")
            continue
        used = _used_fragments(operation, result.fragments)
        missing = sorted(used - result.fragments.keys())
        if missing:
            diagnostics.report(where, f"{name}: unknown fragment {missing[0]}", "skipped")
            continue
        document = DocumentNode(
            definitions=(operation, *(result.fragments[f] for f in sorted(used)))
        )
        errors = graphql.validate(schema, document)
        if errors:
            for error in errors:
                line = error.locations[0].line if error.locations else 0
                file = owners.get(_fragment_of(error, result.fragments), label)
                diagnostics.report(
                    f"{file}:{line}", f"{name}: {error.message}", "operation skipped"
                )
            continue
        result.operations[name] = operation
        result.sources[name] = where
    return result


def _used_fragments(node: graphql.Node, fragments: dict[str, FragmentDefinitionNode]) -> set[str]:
    seen: set[str] = set()
    todo = _spreads(node)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in fragments:
            todo |= _spreads(fragments[name])
    return seen


def _fragment_of(error: graphql.GraphQLError, fragments: dict[str, FragmentDefinitionNode]) -> str:
    """The fragment an error points into (its file is then the fragment's), else ``""``."""
    for node in error.nodes or ():
        loc = node.loc
        for name, fragment in fragments.items():
            floc = fragment.loc
            if loc and floc and loc.source is floc.source and floc.start <= loc.start < floc.end:
                return name
    return ""
