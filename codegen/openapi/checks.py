"""Plan the input checks of the server stubs: one check-table entry per definition that
refuses something beyond its type (see :mod:`flext_api.codegen_validation` for the format).

A definition needs an entry when it is an enum (the stub is strict, clients stay tolerant),
a closed object (``additionalProperties: false``), carries constraints, or reaches such a
definition. Everything else gets no entry, so a spec without constraints costs nothing at
request time. Emits Python literal text only; it never decides a type (plan.py does).
"""

from __future__ import annotations

from . import ir
from .models import ModelEmitter

_CONSTRAINT_KEYS = (
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("exclusive_minimum", "exclusive_minimum"),
    ("exclusive_maximum", "exclusive_maximum"),
    ("min_length", "min_length"),
    ("max_length", "max_length"),
    ("pattern", "pattern"),
    ("pattern_source", "pattern_source"),
    ("min_items", "min_items"),
    ("max_items", "max_items"),
)


class CheckPlanner:
    """Decides which definitions need a check and renders check nodes as source text."""

    def __init__(self, api: ir.Api, models: ModelEmitter) -> None:
        self.api = api
        self.models = models
        self.needed = self._needed()

    def _refs(self, t: ir.TypeExpr) -> list[str]:
        if isinstance(t, ir.Ref):
            return [t.id]
        if isinstance(t, ir.Nullable):
            return self._refs(t.inner)
        if isinstance(t, ir.ArrayOf):
            return self._refs(t.item)
        if isinstance(t, ir.MapOf):
            return self._refs(t.value)
        if isinstance(t, ir.UnionOf):
            return [r for v in t.variants for r in self._refs(v)]
        return []

    def _direct(self, t: ir.TypeExpr) -> bool:
        if isinstance(t, ir.Nullable):
            return self._direct(t.inner)
        if isinstance(t, ir.Primitive):
            return t.constraints is not None
        if isinstance(t, ir.ArrayOf):
            return t.constraints is not None or self._direct(t.item)
        if isinstance(t, ir.MapOf):
            return self._direct(t.value)
        if isinstance(t, ir.UnionOf):
            return any(self._direct(v) for v in t.variants)
        return False

    def _members(self, definition: ir.Definition) -> list[ir.TypeExpr]:
        if isinstance(definition, ir.SchemaModel):
            return [f.type for f in self.models.all_fields(definition.id)]
        if isinstance(definition, ir.UnionModel):
            return list(definition.variants)
        if isinstance(definition, ir.AliasModel):
            return [definition.target]
        return []

    def _needed(self) -> set[str]:
        """Fixpoint: direct needs, then every definition that reaches a needed one."""
        needed: set[str] = set()
        edges: dict[str, set[str]] = {}
        for def_id, definition in self.api.definitions.items():
            members = self._members(definition)
            if (
                isinstance(definition, ir.EnumModel)
                or (isinstance(definition, ir.SchemaModel) and definition.closed)
                or any(self._direct(t) for t in members)
            ):
                needed.add(def_id)
            edges[def_id] = {r for t in members for r in self._refs(t)}
        changed = True
        while changed:
            changed = False
            for def_id, targets in edges.items():
                if def_id not in needed and targets & needed:
                    needed.add(def_id)
                    changed = True
        return needed

    def node(self, t: ir.TypeExpr | None) -> str | None:
        """The check node of a type expression as source text; None when it refuses nothing."""
        if t is None:
            return None
        if isinstance(t, ir.Nullable):
            return self.node(t.inner)
        if isinstance(t, ir.Ref):
            definition = self.api.definitions.get(t.id)
            if t.id not in self.needed or definition is None:
                return None
            return f"{{'ref': {definition.name!r}}}"
        if isinstance(t, ir.Primitive):
            return _limits(t.constraints, [])
        if isinstance(t, ir.ArrayOf):
            item = self.node(t.item)
            return _limits(t.constraints, [f"'items': {item}"] if item else [])
        if isinstance(t, ir.MapOf):
            value = self.node(t.value)
            return f"{{'values': {value}}}" if value else None
        if isinstance(t, ir.UnionOf):
            return self._any_of([self.node(v) for v in t.variants])
        return None

    def body_type(self, op: ir.Operation, media_type: str) -> ir.TypeExpr | None:
        """The schema of the body content the stub parses (``media_type`` without parameters)."""
        for content in op.body.contents if op.body is not None else ():
            if content.media_type.split(";")[0].strip() == media_type:
                return content.type
        return None

    @staticmethod
    def _any_of(variants: list[str | None]) -> str | None:
        # A variant that refuses nothing accepts every value: then so does the union.
        if not variants or any(v is None for v in variants):
            return None
        return "{'any_of': (" + ", ".join(v for v in variants if v) + ",)}"

    def table(self) -> list[tuple[str, str]]:
        """``(definition name, node text)`` for every needed definition, by name."""
        out: list[tuple[str, str]] = []
        for def_id in self.needed:
            definition = self.api.definitions[def_id]
            text = self._definition(definition)
            out.append((definition.name, text or "{}"))
        return sorted(out)

    def _definition(self, definition: ir.Definition) -> str | None:
        if isinstance(definition, ir.EnumModel):
            return "{'enum': frozenset(" + repr(sorted(definition.values, key=str)) + ")}"
        if isinstance(definition, ir.SchemaModel):
            fields = self.models.all_fields(definition.id)
            parts: list[str] = []
            props = [(f.wire_name, self.node(f.type)) for f in fields]
            checked = [f"{wire!r}: {node}" for wire, node in props if node]
            if checked:
                parts.append("'props': {" + ", ".join(checked) + "}")
            if definition.closed:
                names = sorted(f.wire_name for f in fields)
                parts.append(f"'closed': frozenset({names!r})")
            return "{" + ", ".join(parts) + "}" if parts else None
        if isinstance(definition, ir.UnionModel):
            return self._any_of([self.node(v) for v in definition.variants])
        return self.node(definition.target)


def _limits(constraints: ir.Constraints | None, parts: list[str]) -> str | None:
    if constraints is not None:
        for attribute, key in _CONSTRAINT_KEYS:
            value = getattr(constraints, attribute)
            if value is not None:
                parts.append(f"{key!r}: {value!r}")
    return "{" + ", ".join(parts) + "}" if parts else None
