"""Result types that follow each operation's selection set exactly.

* One Struct per selection on an object type: a field per response key (aliases kept), nested
  selections as nested Structs named ``<Parent><Key>``. A field under ``@skip``/``@include`` (in
  every place it is selected) is ``T | UnsetType = UNSET``: the server may leave it out.
* A selection made of one fragment spread on the same type reuses the fragment's type (named
  after the fragment); anything else is flattened, so the type matches the data exactly.
* A selection on an interface or union is a msgspec tagged union on ``__typename`` (the sent
  query always selects it there): one variant per concrete type whose selection differs from
  the common one, plus ``<Name>Other`` for every other type, including types added to the
  schema later. msgspec cannot fall back on an unknown tag, so the client first rewrites an
  unknown ``__typename`` to ``OTHER_TAG`` (keeping the real one in ``ORIGINAL_KEY``), guided by a
  per-operation spec of where the tagged unions are (`Spec`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    SelectionSetNode,
    is_abstract_type,
)

from ..openapi.naming import NameRegistry, pascal, snake
from ..openapi.render import doc
from .schema_types import SchemaTypes, annotate, unwrap

OTHER_TAG = ""  # never a GraphQL type name
ORIGINAL_KEY = "__flext_typename"

# A spec node: (the known tags at this value or None, the spec of its object's keys).
Spec = tuple[tuple[str, ...] | None, dict[str, Any]]


@dataclass(slots=True)
class Collected:
    """One response key: the field nodes selecting it, and whether every one is conditional."""

    nodes: list[FieldNode] = field(default_factory=list)
    conditional: bool = True


def _conditional(node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
    return any(d.name.value in {"skip", "include"} for d in node.directives or ())


@dataclass(slots=True)
class ResultBuilder:
    schema: GraphQLSchema
    types: SchemaTypes
    fragments: dict[str, FragmentDefinitionNode]
    structs: list[dict[str, Any]] = field(default_factory=list)
    unions: list[dict[str, Any]] = field(default_factory=list)
    deprecated: list[str] = field(default_factory=list)  # of the operation being built
    _fragment_types: dict[str, tuple[str, Spec | None]] = field(default_factory=dict)

    # -- collecting ------------------------------------------------------------------------

    def _applies(self, condition: str, runtime: GraphQLNamedType) -> bool:
        if condition == runtime.name:
            return True
        target = self.schema.get_type(condition)
        if isinstance(runtime, GraphQLObjectType) and isinstance(target, GraphQLAbstractType):
            return self.schema.is_sub_type(target, runtime)
        return False

    def collect(
        self, sets: list[SelectionSetNode], runtime: GraphQLNamedType
    ) -> dict[str, Collected]:
        out: dict[str, Collected] = {}
        for selection_set in sets:
            self._collect(selection_set, runtime, False, out, set())
        return out

    def _collect(
        self,
        selection_set: SelectionSetNode,
        runtime: GraphQLNamedType,
        conditional: bool,
        out: dict[str, Collected],
        seen: set[str],
    ) -> None:
        for node in selection_set.selections:
            cond = conditional or _conditional(node)  # type: ignore[arg-type]
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                entry = out.setdefault(key, Collected())
                entry.nodes.append(node)
                entry.conditional = entry.conditional and cond
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                if condition is None or self._applies(condition.name.value, runtime):
                    self._collect(node.selection_set, runtime, cond, out, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments[name]
                if name not in seen and self._applies(fragment.type_condition.name.value, runtime):
                    self._collect(fragment.selection_set, runtime, cond, out, seen | {name})

    # -- building --------------------------------------------------------------------------

    def build(
        self, name: str, kind: GraphQLNamedType, sets: list[SelectionSetNode], description: str
    ) -> tuple[str, Spec | None]:
        """The annotation of a selection on ``kind`` (a Struct or tagged union named ``name``),
        and its tag spec (None when no tagged union is inside)."""
        reused = self._reuse(kind, sets)
        if reused is not None:
            return reused
        if is_abstract_type(kind):
            assert isinstance(kind, GraphQLInterfaceType | GraphQLUnionType)
            return self._abstract(name, kind, sets, description)
        assert isinstance(kind, GraphQLObjectType)
        spec = self._struct(name, kind, self.collect(sets, kind), None, description)
        return name, spec

    def fragment_type(self, fragment: FragmentDefinitionNode) -> tuple[str, Spec | None]:
        name = fragment.name.value
        if name not in self._fragment_types:
            kind = self.schema.get_type(fragment.type_condition.name.value)
            assert kind is not None
            claimed = self.types.names.claim(pascal(name))
            self._fragment_types[name] = (claimed, None)  # a cycle is invalid GraphQL anyway
            self._fragment_types[name] = self.build(
                claimed, kind, [fragment.selection_set], f"The fragment ``{name}``."
            )
        return self._fragment_types[name]

    def _reuse(
        self, kind: GraphQLNamedType, sets: list[SelectionSetNode]
    ) -> tuple[str, Spec | None] | None:
        selections = [s for selection_set in sets for s in selection_set.selections]
        if len(selections) != 1 or not isinstance(selections[0], FragmentSpreadNode):
            return None
        spread = selections[0]
        fragment = self.fragments[spread.name.value]
        if spread.directives or fragment.type_condition.name.value != kind.name:
            return None
        return self.fragment_type(fragment)

    def _abstract(
        self,
        name: str,
        kind: GraphQLInterfaceType | GraphQLUnionType,
        sets: list[SelectionSetNode],
        description: str,
    ) -> tuple[str, Spec | None]:
        common = self.collect(sets, kind)
        common.pop("__typename", None)
        variants: list[tuple[GraphQLObjectType, dict[str, Collected]]] = []
        for concrete in sorted(self.schema.get_possible_types(kind), key=lambda t: t.name):
            own = self.collect(sets, concrete)
            own.pop("__typename", None)
            if _keys(own) != _keys(common):
                variants.append((concrete, own))
        if not variants:
            # Nothing type-specific: one Struct, with the type name as a plain field.
            spec = self._struct(name, kind, common, None, description, typename=True)
            return name, spec
        members: list[str] = []
        children: dict[str, Any] = {}
        for concrete, own in variants:
            variant = self.types.names.claim(name + pascal(concrete.name))
            spec = self._struct(
                variant, concrete, own, concrete.name, f"{description} (a {concrete.name})"
            )
            members.append(variant)
            if spec is not None:
                children.update(spec[1])
        other = self.types.names.claim(name + "Other")
        spec = self._struct(
            other, kind, common, OTHER_TAG, f"{description} (any other type)", typename=True
        )
        if spec is not None:
            children.update(spec[1])
        members.append(other)
        self.unions.append({"name": name, "members": members})
        return name, (tuple(c.name for c, _ in variants), children)

    def _struct(
        self,
        name: str,
        kind: GraphQLNamedType,
        collected: dict[str, Collected],
        tag: str | None,
        description: str,
        *,
        typename: bool = False,
    ) -> Spec | None:
        registry = NameRegistry({"self"})
        fields: list[dict[str, Any]] = []
        children: dict[str, Any] = {}
        entry: dict[str, Any] = {"name": name, "tag": tag, "fields": fields}
        self.structs.append(entry)
        if typename and tag == OTHER_TAG:
            python = registry.claim("typename")
            fields.append(
                {
                    "name": python,
                    "annotation": "str",
                    "value": f"msgspec.field(name={ORIGINAL_KEY!r}, default='')",
                    "note": "The object's ``__typename`` (a type this package does not know).",
                }
            )
        elif typename:
            python = registry.claim("typename")
            fields.append(
                {
                    "name": python,
                    "annotation": "str",
                    "value": "msgspec.field(name='__typename')",
                    "note": "The object's ``__typename``.",
                }
            )
        for key, item in collected.items():
            if key == "__typename" and tag is not None:
                continue  # it is the tag
            node = item.nodes[0]
            python = registry.claim(snake(key))
            if node.name.value == "__typename":
                annotation, note = "str", "The object's ``__typename``."
            else:
                assert isinstance(kind, GraphQLObjectType | GraphQLInterfaceType)
                definition = kind.fields[node.name.value]
                note = " ".join((definition.description or "").split())
                if definition.deprecation_reason:
                    note += f" Deprecated: {definition.deprecation_reason}"
                    self.deprecated.append(
                        f"{kind.name}.{node.name.value}: {definition.deprecation_reason}"
                    )
                named = unwrap(definition.type)
                if node.selection_set is None:
                    annotation = annotate(definition.type, self.types.named)
                else:
                    sets = [n.selection_set for n in item.nodes if n.selection_set is not None]
                    child, spec = self.build(
                        self.types.names.claim(name + pascal(key)),
                        named,
                        sets,
                        f"``{key}`` of {name}.",
                    )
                    annotation = annotate(definition.type, _constant(child))
                    if spec is not None:
                        children[key] = spec
            rename = "" if python == key else f"name={key!r}"
            value: str | None
            if item.conditional:
                annotation += " | UnsetType"
                value = f"msgspec.field(default=UNSET, {rename})" if rename else "UNSET"
            else:
                value = f"msgspec.field({rename})" if rename else None
            fields.append(
                {"name": python, "annotation": annotation, "value": value, "note": note.strip()}
            )
        entry["doc"] = doc(description, "    ")
        return (None, children) if children else None


def _constant(name: str) -> Callable[[GraphQLNamedType], str]:
    return lambda _kind: name


def _keys(collected: dict[str, Collected]) -> list[tuple[str, int]]:
    return [(key, len(item.nodes)) for key, item in collected.items()]
