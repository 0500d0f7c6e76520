"""Schema-level types for the generated ``types.py``: the scalar map, tolerant enums and input
objects (recursive ones too), and Python annotations of GraphQL type references.

Only what the package needs is emitted: the enums and inputs reachable from the operations'
variables and results and from the root fields' arguments (the stubs' typed arguments), so a
large schema (github) does not turn into thousands of unused classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.pyutils import Undefined

from ..openapi.models import enum_member_names
from ..openapi.naming import RESERVED_CLASS_NAMES, NameRegistry, pascal, snake
from ..openapi.render import doc

BUILTIN_SCALARS = {"String": "str", "Int": "int", "Float": "float", "Boolean": "bool", "ID": "str"}
DEFAULT_SCALARS = {
    "DateTime": "_dt.datetime",
    "Date": "_dt.date",
    "JSON": "Any",
    "Upload": "FormFile",
}
# Names the generated modules use themselves: a schema type of that name is renamed.
TAKEN = {*RESERVED_CLASS_NAMES, "FormFile", "Struct", "GraphQLResponse", "ClassVar", "Spec"}


class ScalarError(ValueError):
    """A ``--scalar`` entry that is not ``Name=module:Type`` (exit status 2)."""


def parse_scalars(entries: list[str]) -> dict[str, tuple[str, str]]:
    """``Name=module:Type`` entries as ``{Name: (module, Type)}``."""
    out: dict[str, tuple[str, str]] = {}
    for entry in entries:
        name, _, target = entry.partition("=")
        module, _, attribute = target.partition(":")
        if not (name.isidentifier() and attribute.isidentifier()) or not all(
            part.isidentifier() for part in module.split(".")
        ):
            raise ScalarError(
                f"--scalar {entry!r} is not Name=module:Type (e.g. Money=decimal:Decimal)"
            )
        out[name] = (module, attribute)
    return out


def has_default(item: GraphQLArgument | GraphQLInputField) -> bool:
    """Whether an argument or input field has a default (graphql-core 3.3 keeps an SDL default
    in ``default``, 3.2 and introspection in ``default_value``)."""
    return getattr(item, "default", None) is not None or item.default_value is not Undefined


def unwrap(kind: GraphQLInputType | GraphQLOutputType) -> GraphQLNamedType:
    """The named type inside lists and non-nulls."""
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    assert isinstance(kind, GraphQLNamedType)
    return kind


def annotate(kind: object, named: Callable[[GraphQLNamedType], str]) -> str:
    """The annotation of a type reference: ``T | None`` where nullable, ``list[...]`` for lists."""
    if isinstance(kind, GraphQLNonNull):
        return _annotate_non_null(kind.of_type, named)
    inner = _annotate_non_null(kind, named)
    return inner if inner == "Any" else f"{inner} | None"


def _annotate_non_null(kind: object, named: Callable[[GraphQLNamedType], str]) -> str:
    if isinstance(kind, GraphQLList):
        return f"list[{annotate(kind.of_type, named)}]"
    assert isinstance(kind, GraphQLNamedType)
    return named(kind)


@dataclass(slots=True)
class SchemaTypes:
    """Names and emitted definitions of the schema's scalars, enums and inputs."""

    schema: GraphQLSchema
    custom: Mapping[str, tuple[str, str]]
    names: NameRegistry = field(default_factory=lambda: NameRegistry(set(TAKEN)))
    class_names: dict[str, str] = field(default_factory=dict)
    enums: dict[str, dict[str, object]] = field(default_factory=dict)
    inputs: dict[str, dict[str, object]] = field(default_factory=dict)
    imports: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Every schema enum and input keeps its name whether or not this package emits it, so
        # adding an operation renames nothing (G24).
        for name in sorted(self.schema.type_map):
            kind = self.schema.type_map[name]
            if isinstance(kind, GraphQLEnumType | GraphQLInputObjectType) and not name.startswith(
                "__"
            ):
                self.class_names[name] = self.names.claim(pascal(name))

    def scalar(self, kind: GraphQLScalarType) -> str:
        if kind.name in self.custom:
            module, attribute = self.custom[kind.name]
            alias = "_s_" + module.replace(".", "_")
            self.imports.add(f"import {module} as {alias}")
            return f"{alias}.{attribute}"
        if kind.name in BUILTIN_SCALARS:
            return BUILTIN_SCALARS[kind.name]
        return DEFAULT_SCALARS.get(kind.name, "str")

    def named(self, kind: GraphQLNamedType) -> str:
        """The annotation of a scalar, enum or input type (emitting the class when needed)."""
        if isinstance(kind, GraphQLScalarType):
            return self.scalar(kind)
        if isinstance(kind, GraphQLEnumType):
            self._enum(kind)
        elif isinstance(kind, GraphQLInputObjectType):
            self._input(kind)
        else:
            raise TypeError(f"{kind.name} is not a leaf or input type")
        return self.class_names[kind.name]

    def input_annotation(self, kind: GraphQLInputType) -> str:
        return annotate(kind, self.named)

    def _enum(self, kind: GraphQLEnumType) -> None:
        if kind.name in self.enums:
            return
        members = enum_member_names(list(kind.values))
        notes = [
            f"``{value}`` is deprecated: {item.deprecation_reason}"
            for value, item in kind.values.items()
            if item.deprecation_reason
        ]
        text = kind.description or f"The GraphQL enum ``{kind.name}``."
        text += "\n\nAn unknown value decodes as a pseudo-member named ``UNKNOWN``."
        if notes:
            text += "\n\n" + "\n".join(notes)
        self.enums[kind.name] = {
            "name": self.class_names[kind.name],
            "doc": doc(text, "    "),
            "members": [(members[value], value) for value in kind.values],
        }

    def _input(self, kind: GraphQLInputObjectType) -> None:
        if kind.name in self.inputs:
            return
        entry: dict[str, object] = {"name": self.class_names[kind.name]}
        self.inputs[kind.name] = entry  # before the fields: recursive inputs terminate
        registry = NameRegistry({"self"})
        fields = []
        for wire, item in kind.fields.items():
            python = registry.claim(snake(wire))
            annotation = self.input_annotation(item.type)
            required = isinstance(item.type, GraphQLNonNull) and not has_default(item)
            if not required:
                # Absent (UNSET) differs from null: absent lets the server apply its default.
                annotation += " | UnsetType"
            rename = "" if python == wire else f"name={wire!r}"
            if required:
                value = f"msgspec.field({rename})" if rename else None
            else:
                value = f"msgspec.field(default=UNSET, {rename})" if rename else "UNSET"
            note = item.description or ""
            if item.deprecation_reason:
                note += f" Deprecated: {item.deprecation_reason}"
            fields.append(
                {"name": python, "annotation": annotation, "value": value, "note": note.strip()}
            )
        entry["fields"] = fields
        entry["doc"] = doc(kind.description or f"The GraphQL input ``{kind.name}``.", "    ")
