"""Per-operation data for the client: the query text sent (``__typename`` added where a tagged
union needs it), the method's keyword arguments from the variables, its result type and spec,
and deprecation notes."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import graphql
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLInputType,
    GraphQLNonNull,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    is_abstract_type,
    visit,
)

from ..openapi.naming import NameRegistry, pascal, snake
from ..openapi.render import doc
from .load import _used_fragments
from .schema_types import unwrap
from .selection import ResultBuilder

_N = TypeVar("_N", OperationDefinitionNode, FragmentDefinitionNode)
_TYPENAME = FieldNode(name=NameNode(value="__typename"), directives=(), arguments=())
# Method keyword names the generated method itself uses.
_METHOD_NAMES = {"self", "headers"}


class _AddTypename(Visitor):
    """Select ``__typename`` in every selection set on an interface or union."""

    def __init__(self, info: TypeInfo) -> None:
        super().__init__()
        self.info = info

    def enter_selection_set(self, node: SelectionSetNode, *_: object) -> SelectionSetNode | None:
        parent = self.info.get_parent_type()
        if parent is None or not is_abstract_type(parent):
            return None
        for selection in node.selections:
            if (
                isinstance(selection, FieldNode)
                and selection.name.value == "__typename"
                and selection.alias is None
                and not selection.directives
            ):
                return None
        return SelectionSetNode(selections=(_TYPENAME, *node.selections))


def with_typename(schema: graphql.GraphQLSchema, node: _N) -> _N:
    """``node`` (an operation or fragment) with ``__typename`` selected on every interface and
    union: the result types are built from this, the very selection the server answers."""
    info = TypeInfo(schema)
    rewritten: _N = visit(node, TypeInfoVisitor(info, _AddTypename(info)))
    return rewritten


def query_text(
    schema: graphql.GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> str:
    """The document sent for ``operation``: it and the fragments it uses (both already through
    `with_typename`)."""
    used = sorted(_used_fragments(operation, fragments))
    document = graphql.DocumentNode(definitions=(operation, *(fragments[f] for f in used)))
    return graphql.print_ast(document)


def operation_data(
    builder: ResultBuilder,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    methods: NameRegistry,
    source: str,
) -> dict[str, Any]:
    """The template data of one operation's client method."""
    schema = builder.schema
    assert operation.name is not None
    wire = operation.name.value
    root = schema.get_root_type(operation.operation)
    assert root is not None
    builder.deprecated = []
    result_name = builder.types.names.claim(pascal(wire) + "Result")
    _, spec = builder.build(
        result_name, root, [operation.selection_set], f"The data of ``{wire}``."
    )
    registry = NameRegistry(set(_METHOD_NAMES))
    variables = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        # Validation guaranteed the variable's type exists and is an input type.
        kind = cast(GraphQLInputType, graphql.type_from_ast(schema, definition.type))
        annotation = builder.types.input_annotation(kind)
        required = isinstance(kind, GraphQLNonNull) and definition.default_value is None
        default = (
            "" if definition.default_value is None else graphql.print_ast(definition.default_value)
        )
        variables.append(
            {
                "python": registry.claim(snake(name)),
                "wire": name,
                "annotation": annotation if required else annotation + " | UnsetType",
                "required": required,
                "upload": unwrap(kind).name == "Upload" and "list[" not in annotation,
                "default": default,
            }
        )
    text = f"The ``{operation.operation.value} {wire}`` operation ({source})."
    defaults = [
        f"``{v['python']}`` defaults to ``{v['default']}``." for v in variables if v["default"]
    ]
    if defaults:
        text += "\n\n" + " ".join(defaults)
    deprecated = sorted(set(builder.deprecated))
    if deprecated:
        text += "\n\nDeprecated: it selects deprecated fields (" + "; ".join(deprecated) + ")."
    return {
        "name": wire,
        "method": methods.claim(snake(wire)),
        "kind": operation.operation.value,
        "result": result_name,
        "spec": repr(spec if spec is not None else (None, {})),
        "spec_name": "SPEC_" + snake(wire).upper(),
        "document_name": "DOCUMENT_" + snake(wire).upper(),
        "document": query_text(schema, operation, fragments),
        "variables": sorted(variables, key=lambda v: not v["required"]),
        "uploads": [v for v in variables if v["upload"]],
        "doc": doc(text, "        "),
        "deprecation": "; ".join(deprecated),
    }
