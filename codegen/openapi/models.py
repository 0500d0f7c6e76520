"""Decide the msgspec models module of a generated package from the IR.

Every decision is taken here per type (union compatibility, tags, defaults, renames), typed and
unit-testable; the result is plain data (an enum's members, a Struct's bases and field
annotations) that ``templates/models.py.jinja`` turns into text. The output is formatted by
ruff afterwards, so the template only needs to produce valid, deterministic code.

Strategies (documented here, tested in tests/codegen/openapi):

* Fields: required ``T``; required+nullable ``T | None``; optional ``T | UnsetType = UNSET``;
  optional+nullable ``T | None | UnsetType = UNSET``. A schema ``default`` never replaces
  ``UNSET`` (CODEGEN.md G7): it is the value the server assumes when the field is absent, so
  decoding leaves an absent field UNSET and encoding omits it; the default is rendered as a
  ``# server default: ...`` comment above the field. A required ``const`` keeps its one value
  as default (it is sent anyway).
* Enums tolerate unknown wire values: ``_missing_`` makes a pseudo-member that keeps the value,
  so decoding succeeds and re-encoding writes the same value. It is not cached (a cache keyed by
  the peer's values would grow without bound); the server stubs refuse such values instead.
* Discriminated unions become msgspec tagged unions: the tag property leaves the variant's
  fields and becomes its ``tag_field``/``tag``. A schema tagged differently by two unions (or
  whose tag property is inherited, or which has subclasses) gets a per-union copy named
  ``<Union><Variant>``. Without a discriminator, a tag is inferred when every object variant
  has a required one-value property (``const``) with distinct values; otherwise object variants
  collapse to ``dict[str, Any]`` (a diagnostic says so), which always decodes.
* Other union conflicts msgspec cannot decode (two str-like or int-like members, two arrays)
  collapse to the common base type (``str``, ``int``, ``list[...]``).
* Names: component schema names, PascalCased; inline schemas are named from their path.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from . import ir
from .diagnostics import Diagnostics
from .naming import NameRegistry, words
from .readwrite import INPUT_SUFFIX, is_request_shape
from .render import BANNER, Renderer

__all__ = ["BANNER", "ModelEmitter", "enum_member_names"]
_PRIMITIVE_TYPES: dict[str, str] = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "bytes": "bytes",
    "binary": "bytes",
    "datetime": "_dt.datetime",
    "date": "_dt.date",
    "time": "str",
    "uuid": "_uuid.UUID",
    "decimal": "str",
}
_STR_LIKE = {"str", "bytes", "binary", "datetime", "date", "time", "uuid", "decimal"}


@dataclass(frozen=True, slots=True)
class _Atom:
    """One member of a union after flattening: its msgspec kind and rendered text."""

    kind: str  # object | tagged | map | array | str | int | float | bool | none | any
    text: str
    literal: tuple[str | int | bool, ...] = ()
    tag_field: str | None = None
    item: ir.TypeExpr | None = None
    sid: str | None = None  # an ``object`` atom: the Struct definition it stands for
    members: tuple[_Atom, ...] = ()  # a ``structural`` atom: the atoms of its variants


@dataclass(slots=True)
class _Tag:
    field: str
    value: str | int


@dataclass(slots=True)
class ModelPlan:
    """Decisions taken before rendering: tags, per-union copies, parent unions."""

    tags: dict[str, _Tag] = field(default_factory=dict)
    copies: dict[tuple[str, str], str] = field(default_factory=dict)
    copy_tags: dict[str, _Tag] = field(default_factory=dict)
    union_members: dict[str, list[str]] = field(default_factory=dict)
    parent_unions: dict[str, str] = field(default_factory=dict)
    subclassed: set[str] = field(default_factory=set)


class ModelEmitter:
    """Renders the definitions of one `ir.Api` as a Python module of msgspec types."""

    def __init__(self, api: ir.Api, diagnostics: Diagnostics) -> None:
        self.api = api
        self.defs = api.definitions
        self.diagnostics = diagnostics
        self.plan = ModelPlan()
        self.names = NameRegistry({d.name for d in self.defs.values()})
        self._union_text: dict[str, str] = {}
        self._rendering: set[str] = set()
        # union name -> (its variants as call arguments, nullable): decoded by shape
        self._structural: dict[str, tuple[str, bool]] = {}
        for definition in self.defs.values():
            if isinstance(definition, ir.SchemaModel) and definition.base:
                self.plan.subclassed.add(definition.base)
        self._plan_parent_discriminators()
        self._plan_unions()

    # --- planning ------------------------------------------------------------------------------

    def _struct_id(self, t: ir.TypeExpr) -> str | None:
        seen: set[str] = set()
        while True:
            while isinstance(t, ir.Nullable):
                t = t.inner
            if not isinstance(t, ir.Ref) or t.id in seen:
                return None
            seen.add(t.id)
            definition = self.defs.get(t.id)
            if isinstance(definition, ir.SchemaModel):
                return t.id
            if isinstance(definition, ir.AliasModel):
                t = definition.target
                continue
            return None

    def all_fields(self, def_id: str) -> list[ir.Field]:
        """Fields of a Struct including inherited ones (base first)."""
        definition = self.defs.get(def_id)
        if not isinstance(definition, ir.SchemaModel):
            return []
        inherited = self.all_fields(definition.base) if definition.base else []
        return [*inherited, *definition.fields]

    def _field_of(self, def_id: str, wire: str) -> ir.Field | None:
        for f in self.all_fields(def_id):
            if f.wire_name == wire:
                return f
        return None

    def _plan_parent_discriminators(self) -> None:
        for def_id, definition in self.defs.items():
            if not (isinstance(definition, ir.SchemaModel) and definition.discriminator):
                continue
            disc = definition.discriminator
            members: list[str] = []
            if not disc.mapping or def_id in self.plan.tags:
                continue
            ok = True
            for _, target in disc.mapping:
                target_def = self.defs.get(target)
                if (
                    not isinstance(target_def, ir.SchemaModel)
                    or target in self.plan.tags
                    or target_def.base not in {def_id, None}
                ):
                    ok = False
                    break
            if not ok or self._field_of(def_id, disc.property) is None:
                continue
            if definition.base and self._field_of(definition.base, disc.property):
                continue
            self.plan.tags[def_id] = _Tag(disc.property, definition.source_name or definition.name)
            for value, target in disc.mapping:
                if target == def_id:
                    self.plan.tags[def_id] = _Tag(disc.property, value)
                elif target not in members:
                    self.plan.tags[target] = _Tag(disc.property, value)
                    members.append(target)
            if def_id in dict(disc.mapping).values():
                members.insert(0, def_id)
            union_name = self.names.claim(f"{definition.name}Union")
            self.plan.parent_unions[def_id] = union_name
            self.plan.union_members[union_name] = members

    def _infer_tag(self, struct_ids: list[str]) -> tuple[str, list[str | int]] | None:
        candidates: list[str] | None = None
        for sid in struct_ids:
            names = [
                f.wire_name
                for f in self.all_fields(sid)
                if f.required
                and isinstance(f.type, ir.LiteralOf)
                and len(f.type.values) == 1
                and not isinstance(f.type.values[0], bool)
            ]
            candidates = names if candidates is None else [n for n in candidates if n in names]
        for name in candidates or []:
            values: list[str | int] = []
            for sid in struct_ids:
                f = self._field_of(sid, name)
                assert f is not None and isinstance(f.type, ir.LiteralOf)
                value = f.type.values[0]
                assert not isinstance(value, bool)
                values.append(value)
            if len(set(values)) == len(values) and len({type(v) for v in values}) == 1:
                return name, values
        return None

    def _plan_unions(self) -> None:
        for def_id, definition in self.defs.items():
            if not isinstance(definition, ir.UnionModel):
                continue
            struct_ids: list[str] = []
            for variant in definition.variants:
                sid = self._struct_id(variant)
                if sid is not None and sid not in struct_ids:
                    struct_ids.append(sid)
            if len(struct_ids) < 2:
                continue
            assignments: list[tuple[str, str | int]] = []
            tag_field: str
            disc = definition.discriminator
            if disc is not None:
                tag_field = disc.property
                mapping: dict[str, str] = {}
                for wire_value, target in disc.mapping:
                    mapping.setdefault(target, wire_value)
                for sid in struct_ids:
                    value_text: str | None = (
                        mapping.get(sid) or self.defs[sid].source_name or self.defs[sid].name
                    )
                    assert value_text is not None
                    assignments.append((sid, self._tag_value(sid, tag_field, value_text)))
                if len({type(v) for _, v in assignments}) > 1:
                    assignments = [(s, str(v)) for s, v in assignments]
            else:
                inferred = self._infer_tag(struct_ids)
                if inferred is None:
                    continue
                tag_field = inferred[0]
                assignments = list(zip(struct_ids, inferred[1], strict=True))
            if len({v for _, v in assignments}) != len(assignments):
                self.diagnostics.report(
                    def_id,
                    "discriminator maps two variants to one value",
                    "decoded the object variants as a mapping",
                )
                continue
            for sid, value in assignments:
                wanted = _Tag(tag_field, value)
                current = self.plan.tags.get(sid)
                inherited = any(f.wire_name == tag_field for f in self.all_fields(sid)) and not any(
                    f.wire_name == tag_field for f in self.defs_fields(sid)
                )
                if current == wanted:
                    continue
                if current is None and not inherited and sid not in self.plan.subclassed:
                    self.plan.tags[sid] = wanted
                    continue
                union_name = definition.name
                if is_request_shape(def_id) and is_request_shape(sid):
                    union_name = union_name.removesuffix(INPUT_SUFFIX)  # AccountAdminInput
                copy_name = self.names.claim(f"{union_name}{self.defs[sid].name}")
                self.plan.copies[(def_id, sid)] = copy_name
                self.plan.copy_tags[copy_name] = wanted

    def defs_fields(self, def_id: str) -> tuple[ir.Field, ...]:
        definition = self.defs[def_id]
        return definition.fields if isinstance(definition, ir.SchemaModel) else ()

    def _tag_value(self, sid: str, tag_field: str, value: str) -> str | int:
        f = self._field_of(sid, tag_field)
        kind = f.type if f is not None else None
        while isinstance(kind, ir.Nullable):
            kind = kind.inner
        is_int = (isinstance(kind, ir.Primitive) and kind.kind == "int") or (
            isinstance(kind, ir.LiteralOf) and all(isinstance(v, int) for v in kind.values)
        )
        if is_int and value.lstrip("-").isdigit():
            return int(value)
        return value

    # --- types ---------------------------------------------------------------------------------

    def render(self, t: ir.TypeExpr) -> str:
        """The annotation text of a type expression (msgspec-decodable)."""
        atoms = self.atoms(t)
        return self._join(self._normalize(atoms, None))

    def atoms(self, t: ir.TypeExpr, union_id: str | None = None) -> list[_Atom]:
        if isinstance(t, ir.Nullable):
            return [*self.atoms(t.inner, union_id), _Atom("none", "None")]
        if isinstance(t, ir.NoneType):
            return [_Atom("none", "None")]
        if isinstance(t, ir.AnyType):
            return [_Atom("any", "Any")]
        if isinstance(t, ir.Primitive):
            text = _PRIMITIVE_TYPES[t.kind]
            if t.kind in _STR_LIKE:
                return [_Atom("str", text)]
            return [_Atom(t.kind, text)]
        if isinstance(t, ir.LiteralOf):
            out: list[_Atom] = []
            for value in t.values:
                kind = (
                    "bool"
                    if isinstance(value, bool)
                    else "int"
                    if isinstance(value, int)
                    else "str"
                )
                out.append(_Atom(kind, f"Literal[{value!r}]", literal=(value,)))
            return out
        if isinstance(t, ir.ArrayOf):
            return [_Atom("array", f"list[{self.render(t.item)}]", item=t.item)]
        if isinstance(t, ir.MapOf):
            return [_Atom("map", f"dict[str, {self.render(t.value)}]")]
        if isinstance(t, ir.UnionOf):
            return [a for v in t.variants for a in self.atoms(v, union_id)]
        return self._ref_atoms(t, union_id)

    def _ref_atoms(self, t: ir.Ref, union_id: str | None) -> list[_Atom]:
        definition = self.defs.get(t.id)
        if definition is None:
            return [_Atom("any", "Any")]
        if isinstance(definition, ir.SchemaModel):
            if t.id in self.plan.parent_unions:
                parent_tag = self.plan.tags[t.id]
                name = self.plan.parent_unions[t.id]
                return [_Atom("tagged", name, tag_field=parent_tag.field)]
            copy = self.plan.copies.get((union_id or "", t.id))
            if copy is not None:
                tag_field = self.plan.copy_tags[copy].field
                return [_Atom("tagged", copy, tag_field=tag_field, sid=t.id)]
            tag = self.plan.tags.get(t.id)
            if tag is not None:
                return [_Atom("tagged", definition.name, tag_field=tag.field, sid=t.id)]
            return [_Atom("object", definition.name, sid=t.id)]
        if isinstance(definition, ir.EnumModel):
            kind = "int" if definition.values and isinstance(definition.values[0], int) else "str"
            return [_Atom(kind, definition.name)]
        if t.id in self._rendering:
            # A union or alias reached again while rendering itself: name it, untyped kind.
            return [_Atom("any", definition.name)]
        self._rendering.add(t.id)
        try:
            if isinstance(definition, ir.UnionModel):
                atoms = self._normalize(
                    [a for v in definition.variants for a in self.atoms(v, t.id)], t.id
                )
            else:
                atoms = self.atoms(definition.target)
        finally:
            self._rendering.discard(t.id)
        solid = [a for a in atoms if a.kind != "none"]
        nones = [a for a in atoms if a.kind == "none"][:1]
        if len(solid) == 1 and solid[0].kind in {
            "object",
            "tagged",
            "map",
            "array",
            "any",
            "structural",
        }:
            return [replace(solid[0], text=definition.name), *nones]
        fields = {a.tag_field for a in solid}
        if solid and all(a.kind == "tagged" for a in solid) and len(fields) == 1 and not nones:
            return [replace(solid[0], text=definition.name)]
        return atoms

    def _normalize(self, atoms: list[_Atom], union_id: str | None) -> list[_Atom]:
        """Make a union msgspec can decode (see the module docstring for the rules)."""
        if any(a.kind == "any" and a.text == "Any" for a in atoms):
            return [_Atom("any", "Any")]
        mixed = [a.text for a in atoms if a.kind == "structural"]
        if mixed and len({a.text for a in atoms if a.kind != "none"}) > 1 and union_id:
            # A | (B | C) is A | B | C: the enclosing union is decoded by shape in its turn
            atoms = [m for a in atoms for m in (a.members if a.kind == "structural" else (a,))]
            mixed = [a.text for a in atoms if a.kind == "structural"]
        if mixed and len({a.text for a in atoms if a.kind != "none"}) > 1:
            # a shape-decoded union is a msgspec custom type: it mixes with None only
            if union_id is not None:
                self.diagnostics.report(
                    union_id,
                    f"the untagged union {mixed[0]} is one variant among others here",
                    "decoded that variant as a mapping (dict[str, Any])",
                )
            atoms = [_Atom("map", "dict[str, Any]") if a.kind == "structural" else a for a in atoms]
        unique: list[_Atom] = []
        for atom in atoms:
            if atom.text not in {a.text for a in unique}:
                unique.append(atom)
        by_kind: dict[str, list[_Atom]] = {}
        for atom in unique:
            by_kind.setdefault(atom.kind, []).append(atom)
        out: list[_Atom] = []
        objects = [
            *by_kind.get("object", []),
            *by_kind.get("structural", []),
            *by_kind.get("map", []),
            *by_kind.get("any", []),
        ]
        tagged = by_kind.get("tagged", [])
        if tagged and (objects or len({a.tag_field for a in tagged}) > 1):
            objects = objects + tagged
            tagged = []
        structural = False
        if len(objects) > 1:
            clash = self._indistinct(objects)
            if union_id is not None and clash is None:
                structural = True
                out.extend(objects)
            else:
                if union_id is not None:
                    self.diagnostics.report(
                        union_id,
                        "union of object schemas without a discriminator that cannot be told "
                        f"apart: {clash}",
                        "decoded the object variants as a mapping (dict[str, Any])",
                    )
                out.append(_Atom("map", "dict[str, Any]"))
        else:
            out.extend(objects)
        out.extend(tagged)
        arrays = by_kind.get("array", [])
        if len(arrays) > 1:
            items = [a.item for a in arrays if a.item is not None]
            merged = self._join(
                self._normalize([x for item in items for x in self.atoms(item)], None)
            )
            out.append(_Atom("array", f"list[{merged}]"))
        else:
            out.extend(arrays)
        for kind, base in (("str", "str"), ("int", "int"), ("bool", "bool")):
            members = by_kind.get(kind, [])
            if len(members) <= 1:
                out.extend(members)
            elif all(m.literal for m in members):
                values = tuple(v for m in members for v in m.literal)
                text = "Literal[" + ", ".join(repr(v) for v in values) + "]"
                out.append(_Atom(kind, text, literal=values))
            else:
                out.append(_Atom(kind, base))
        out.extend(by_kind.get("float", []))
        nones = by_kind.get("none", [])[:1]
        if structural:
            # msgspec cannot decode this union: a run-time class decoded by shape (see
            # flext_api.codegen_unions) stands for it; the text lists its variants.
            return [_Atom("structural", self._join(out), members=tuple(out)), *nones]
        return out + nones

    def _fixed(self, sid: str, wire: str) -> bool:
        """Whether the schema itself allows one value only in property ``wire``."""
        f = self._field_of(sid, wire)
        t = f.type if f is not None else None
        while isinstance(t, ir.Nullable):
            t = t.inner
        if isinstance(t, ir.Ref):
            definition = self.defs.get(t.id)
            return isinstance(definition, ir.EnumModel) and len(definition.values) == 1
        return isinstance(t, ir.LiteralOf) and len(t.values) == 1

    def _indistinct(self, objects: list[_Atom]) -> str | None:
        """Why the object variants of an untagged union cannot be told apart by the
        properties each requires (None when they can: every variant is a Struct whose set
        of required properties differs from every other's)."""
        seen: dict[frozenset[str], list[_Atom]] = {}
        maps = [a for a in objects if a.kind == "map"]
        if len(maps) == 1 and len(objects) > 1:
            # one map variant takes the objects no Struct variant takes (decode rule 6)
            objects = [a for a in objects if a.kind != "map"]
        for atom in objects:
            if atom.kind not in ("object", "tagged") or atom.sid is None:
                return f"{atom.text} is not an object schema with properties"
            required = frozenset(f.wire_name for f in self.all_fields(atom.sid) if f.required)
            if atom.tag_field is not None:
                if not self._fixed(atom.sid, atom.tag_field):
                    # tagged by a discriminator elsewhere: the Struct refuses the other
                    # values its own schema allows in that property
                    return f"{atom.text} is tagged on {atom.tag_field!r} by a discriminator"
                required |= {atom.tag_field}  # a tagged Struct always carries its tag
            for other in seen.get(required, []):
                if not self._told_by_values(other, atom, required):
                    names = ", ".join(sorted(required)) or "nothing"
                    return f"{other.text} and {atom.text} both require {names}"
            seen.setdefault(required, []).append(atom)
        return None

    def _known_values(self, atom: _Atom, wire: str) -> frozenset[object] | None:
        """The values a variant allows in property ``wire`` when they form a closed set (a
        literal, an enum's members, the variant's own tag), else None."""
        if atom.sid is None:
            return None
        tag = self.plan.tags.get(atom.sid)
        if atom.tag_field == wire and tag is not None:
            return frozenset({tag.value})
        f = self._field_of(atom.sid, wire)
        t = f.type if f is not None else None
        while isinstance(t, ir.Nullable):
            t = t.inner
        if isinstance(t, ir.LiteralOf):
            return frozenset(t.values)
        if isinstance(t, ir.Ref):
            definition = self.defs.get(t.id)
            if isinstance(definition, ir.EnumModel):
                return frozenset(definition.values)
        return None

    def _told_by_values(self, one: _Atom, other: _Atom, required: frozenset[str]) -> bool:
        """Whether a property both require allows disjoint sets of values in each (discord's
        integrations: `type` is twitch or youtube in one, guild_subscription in the other)."""
        for wire in sorted(required):
            a, b = self._known_values(one, wire), self._known_values(other, wire)
            if a is not None and b is not None and not a & b:
                return True
        return False

    @staticmethod
    def _join(atoms: list[_Atom]) -> str:
        return " | ".join(a.text for a in atoms) if atoms else "Any"

    # --- defaults ------------------------------------------------------------------------------

    def default_expr(self, t: ir.TypeExpr, value: object) -> str | None:
        """Source text of a default valid for ``t`` (None when it is not valid or not simple)."""
        if isinstance(t, ir.Nullable):
            return "None" if value is None else self.default_expr(t.inner, value)
        if isinstance(t, ir.Primitive):
            if t.kind == "str" and isinstance(value, str):
                return repr(value)
            if t.kind == "int" and isinstance(value, int) and not isinstance(value, bool):
                return repr(value)
            if t.kind == "float" and isinstance(value, int | float) and not isinstance(value, bool):
                return repr(float(value))
            if t.kind == "bool" and isinstance(value, bool):
                return repr(value)
            return None
        if isinstance(t, ir.LiteralOf):
            return (
                repr(value)
                if value in t.values and type(value) in {type(v) for v in t.values}
                else None
            )
        if isinstance(t, ir.ArrayOf) and value == []:
            return "msgspec.field(default_factory=list)"
        if isinstance(t, ir.MapOf) and value == {}:
            return "msgspec.field(default_factory=dict)"
        if isinstance(t, ir.Ref):
            definition = self.defs.get(t.id)
            if (
                isinstance(definition, ir.EnumModel)
                and value in definition.values
                and type(value) is type(definition.values[0])
            ):
                return f"{definition.name}.{enum_member_names(definition.values)[value]}"
            if isinstance(definition, ir.AliasModel) and definition.id not in self._rendering:
                self._rendering.add(definition.id)
                try:
                    return self.default_expr(definition.target, value)
                finally:
                    self._rendering.discard(definition.id)
        return None

    # --- emission ------------------------------------------------------------------------------

    def class_order(self) -> list[str]:
        """Struct definition ids, bases before subclasses, otherwise by name."""
        structs = {i: d for i, d in self.defs.items() if isinstance(d, ir.SchemaModel)}
        done: set[str] = set()
        order: list[str] = []

        def visit(def_id: str) -> None:
            if def_id in done:
                return
            done.add(def_id)
            base = structs[def_id].base
            if base in structs:
                visit(base)
            order.append(def_id)

        for def_id in sorted(structs, key=lambda i: (structs[i].name, i)):
            visit(def_id)
        return order

    def emit(self, renderer: Renderer | None = None) -> tuple[str, list[str]]:
        """The module source and the exported names (sorted)."""
        data = self.module_data()
        exported = [d["name"] for key in ("enums", "structs", "aliases") for d in data[key]]
        return (renderer or Renderer()).render("models.py.jinja", data), sorted(exported)

    def module_data(self) -> dict[str, Any]:
        """What ``models.py.jinja`` renders: enums, then Structs (bases first), then aliases
        (each after the aliases it names)."""
        struct_items: list[dict[str, Any]] = []
        enums = sorted(
            (d for d in self.defs.values() if isinstance(d, ir.EnumModel)), key=lambda d: d.name
        )
        enum_items = [self._enum(enum_def) for enum_def in enums]
        for def_id in self.class_order():
            definition = self.defs[def_id]
            assert isinstance(definition, ir.SchemaModel)
            struct_items.append(
                self._struct(definition, definition.name, self.plan.tags.get(def_id), def_id)
            )
        for (union_id, sid), copy_name in sorted(self.plan.copies.items(), key=lambda x: x[1]):
            definition = self.defs[sid]
            assert isinstance(definition, ir.SchemaModel)
            flat = replace(definition, fields=tuple(self.all_fields(sid)), base=None)
            struct_items.append(
                self._struct(
                    flat,
                    copy_name,
                    self.plan.copy_tags[copy_name],
                    sid,
                    doc=f"`{definition.name}` as a variant of `{self.defs[union_id].name}`.",
                )
            )
        alias_lines: dict[str, dict[str, Any]] = {}
        alias_deps: dict[str, set[str]] = {}
        alias_names = {
            d.name for d in self.defs.values() if isinstance(d, ir.AliasModel | ir.UnionModel)
        }
        alias_names |= set(self.plan.union_members)
        for definition in self.defs.values():
            if isinstance(definition, ir.AliasModel | ir.UnionModel):
                text = self._alias_text(definition)
                alias_lines[definition.name] = self._alias(
                    definition.name, text, definition.description
                )
                if definition.name in self._structural:
                    variants, nullable = self._structural[definition.name]
                    alias_lines[definition.name]["structural"] = variants
                    alias_lines[definition.name]["nullable"] = nullable
                alias_deps[definition.name] = {n for n in _identifiers(text) if n in alias_names}
        for union_name, members in self.plan.union_members.items():
            text = " | ".join(self.defs[m].name for m in members)
            alias_lines[union_name] = self._alias(
                union_name, text, "Every variant of the discriminated schema, by its tag."
            )
            alias_deps[union_name] = set()
        aliases = [alias_lines[name] for name in _topological(alias_deps)]
        return {
            "enums": enum_items,
            "structs": struct_items,
            "aliases": aliases,
            "structural": any(a["structural"] for a in aliases),
        }

    def _alias_text(self, definition: ir.AliasModel | ir.UnionModel) -> str:
        if isinstance(definition, ir.UnionModel):
            self._rendering.add(definition.id)
            try:
                atoms = self._normalize(
                    [a for v in definition.variants for a in self.atoms(v, definition.id)],
                    definition.id,
                )
            finally:
                self._rendering.discard(definition.id)
            if atoms and atoms[0].kind == "structural":
                # ``A | B`` for type checkers, a class decoded by shape at run time
                variants = ", ".join(_split_top(atoms[0].text))
                recursive = definition.name in _identifiers(variants)
                if recursive:
                    # names itself (`dict[str, ErrorDetails]`): resolved on first use at run
                    # time, a quoted forward reference for type checkers
                    variants = f"lambda: ({variants},)"
                self._structural[definition.name] = (variants, len(atoms) > 1)
                if recursive:
                    name = re.escape(definition.name)
                    return re.sub(rf"\b{name}\b", f'"{definition.name}"', self._join(atoms))
            return self._join(atoms)
        self._rendering.add(definition.id)
        try:
            return self.render(definition.target)
        finally:
            self._rendering.discard(definition.id)

    def _enum(self, definition: ir.EnumModel) -> dict[str, Any]:
        members = enum_member_names(definition.values)
        return {
            "name": definition.name,
            "is_int": bool(definition.values) and isinstance(definition.values[0], int),
            "doc": _docstring(
                definition.description or f"``{definition.source_name}``.",
                deprecated=definition.deprecated,
            ),
            "members": [(members[value], value) for value in definition.values],
        }

    def _struct(
        self,
        definition: ir.SchemaModel,
        name: str,
        tag: _Tag | None,
        def_id: str,
        doc: str | None = None,
    ) -> dict[str, Any]:
        base_tag = self.plan.tags.get(definition.base) if definition.base else None
        bases = [self.defs[definition.base].name if definition.base else "msgspec.Struct"]
        bases.append("kw_only=True")
        if tag is not None:
            if base_tag is None or base_tag.field != tag.field:
                bases.append(f"tag_field={tag.field!r}")
            bases.append(f"tag={tag.value!r}")
        fields = [f for f in definition.fields if tag is None or f.wire_name != tag.field]
        described: list[tuple[str, str | None]] = [
            (f.python_name, f.description) for f in fields if f.description
        ]
        text = doc or definition.description or f"``{definition.source_name}``."
        return {
            "name": name,
            "bases": bases,
            "doc": _docstring(text, described, definition.deprecated),
            "fields": [self._field(f) for f in fields],
        }

    def _field(self, f: ir.Field) -> dict[str, str | None]:
        """A field's name, annotation and the text after ``=`` (None: no default)."""
        annotation = self.render(f.type)
        args: list[str] = []
        comment: str | None = None
        if not f.required:
            # G7: absent on the wire stays UNSET, whatever the schema's ``default`` says. The
            # default is what the *server* assumes when the field is missing; filling it in on
            # decode would make a re-encoded document gain fields the peer never sent, and
            # sending it would pin a value the server may change. It is kept as a comment.
            annotation += " | UnsetType"
            args.append("default=UNSET")
            if f.default is not ir.MISSING:
                comment = _default_comment(f.default)
        elif (
            f.default is not ir.MISSING
            and isinstance(f.type, ir.LiteralOf)
            and len(f.type.values) == 1
            and (default := self.default_expr(f.type, f.default)) is not None
        ):
            # required const: construct without it, still sent (one value is possible)
            args.append(f"default={default}")
        if f.python_name != f.wire_name:
            args.append(f"name={f.wire_name!r}")
        value: str | None = None
        if len(args) == 1 and args[0].startswith("default="):
            value = args[0][len("default=") :]
        elif args:
            value = f"msgspec.field({', '.join(args)})"
        return {"name": f.python_name, "annotation": annotation, "value": value, "comment": comment}

    def _alias(self, name: str, text: str, description: str | None) -> dict[str, Any]:
        doc = _docstring(description, indent="") if description else None
        return {"name": name, "text": text, "doc": doc, "structural": None, "nullable": False}


def _default_comment(value: object) -> str | None:
    """``# server default: <json>`` for a documented default short enough for one line."""
    try:
        text = json.dumps(value, ensure_ascii=True, sort_keys=True)
    except (TypeError, ValueError):
        return None
    return f"# server default: {text}" if len(text) <= 60 else None


def enum_member_names(values: Iterable[str | int]) -> dict[str | int, str]:
    """Member names for enum values: UPPER_SNAKE, unique, never empty or digit-first."""
    registry = NameRegistry({"UNKNOWN"})
    out: dict[str | int, str] = {}
    for value in values:
        if isinstance(value, int):
            base = f"VALUE_{value}" if value >= 0 else f"VALUE_MINUS_{-value}"
        else:
            base = "_".join(w.upper() for w in words(value)) or "EMPTY"
            if base[0].isdigit():
                base = "V_" + base
        out[value] = registry.claim(base)
    return out


def _split_top(text: str) -> list[str]:
    """The members of a ``A | list[B | C] | D`` annotation text, at the top level."""
    out: list[str] = []
    depth, current = 0, ""
    for char in text:
        depth += char in "[("
        depth -= char in "])"
        if char == "|" and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += char
    out.append(current.strip())
    return out


def _identifiers(text: str) -> set[str]:
    out: set[str] = set()
    token = ""
    for char in text + " ":
        if char.isalnum() or char == "_":
            token += char
        else:
            if token:
                out.add(token)
            token = ""
    return out


def _topological(deps: dict[str, set[str]]) -> list[str]:
    order: list[str] = []
    done: set[str] = set()
    active: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in active:
            return
        active.add(name)
        for dep in sorted(deps.get(name, ())):
            visit(dep)
        active.discard(name)
        done.add(name)
        order.append(name)

    for name in sorted(deps):
        visit(name)
    return order


def _escape_doc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _docstring(
    text: str,
    fields: list[tuple[str, str | None]] | None = None,
    deprecated: bool = False,
    indent: str = "    ",
) -> str:
    """A docstring literal, paragraphs wrapped, with an ``Attributes:`` section for ``fields``."""
    paragraphs = [p.strip() for p in text.strip().splitlines() if p.strip()] or ["."]
    body: list[str] = []
    for paragraph in paragraphs:
        body.extend(textwrap.wrap(_escape_doc(paragraph), 92) or [""])
    if deprecated:
        body += ["", "Deprecated."]
    if fields:
        body += ["", "Attributes:"]
        for name, description in fields:
            first, *rest = textwrap.wrap(_escape_doc(" ".join((description or "").split())), 84)
            body.append(f"    {name}: {first}")
            body.extend(f"        {line}" for line in rest)
    if body[-1].endswith('"'):
        body[-1] += " "
    if len(body) == 1:
        return f'{indent}"""{body[0]}"""'
    return "\n".join(
        [
            f'{indent}"""{body[0]}',
            *(f"{indent}{line}" if line else "" for line in body[1:]),
            f'{indent}"""',
        ]
    )
