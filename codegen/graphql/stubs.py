"""Template data of ``stubs.py``: a resolver Protocol per root type, each root field a method
with its arguments typed (input Structs, enums, scalars), and the table `make_router` uses to
convert the server's plain argument values into those types."""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema

from ..openapi.naming import NameRegistry, snake
from ..openapi.render import doc
from .schema_types import SchemaTypes, has_default

_UPLOAD = re.compile(r"\bFormFile\b")


def root_data(schema: GraphQLSchema, types: SchemaTypes) -> list[dict[str, Any]]:
    roots = []
    for label, kind in (
        ("Query", schema.query_type),
        ("Mutation", schema.mutation_type),
        ("Subscription", schema.subscription_type),
    ):
        if kind is None:
            continue
        roots.append(_root(label, kind, types))
    return roots


def _root(label: str, kind: GraphQLObjectType, types: SchemaTypes) -> dict[str, Any]:
    methods = NameRegistry({"self", "info"})
    fields = []
    for wire, definition in kind.fields.items():
        registry = NameRegistry({"self", "info", "parent"})
        arguments = []
        for name, argument in definition.args.items():
            # The server hands an upload over as starlette's UploadFile, not the client's
            # FormFile (at run time both names are Any, so the value passes through).
            annotation = _UPLOAD.sub("UploadFile", types.input_annotation(argument.type))
            required = isinstance(argument.type, GraphQLNonNull) and not has_default(argument)
            arguments.append(
                {
                    "python": registry.claim(snake(name)),
                    "wire": name,
                    "annotation": annotation if required else annotation + " | UnsetType",
                    "runtime": annotation,
                    "required": required,
                }
            )
        text = definition.description or f"Resolve ``{kind.name}.{wire}``."
        if definition.deprecation_reason:
            text += f"\n\nDeprecated: {definition.deprecation_reason}"
        fields.append(
            {
                "wire": wire,
                "method": methods.claim(snake(wire)),
                "arguments": sorted(arguments, key=lambda a: not a["required"]),
                "doc": doc(text, "        "),
            }
        )
    return {
        "label": label,
        "type": kind.name,
        "protocol": f"{label}Resolvers",
        "attribute": snake(label),
        "subscription": label == "Subscription",
        "fields": fields,
    }
