"""Build the IR (`codegen.openapi.ir.Api`) from a loaded document.

Every defect degrades one construct and records a diagnostic; this module must never raise for a
defect in the document (G2). Schemas are visited lazily through references, so recursion ends at
the first revisit of a definition id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from . import ir
from .constraints import constraints_of
from .diagnostics import Diagnostics, Severity, join_pointer
from .distribute import distributed_union, mapping_ref
from .load import Document, Location, RefResolver
from .naming import NameRegistry, pascal, snake

JSONObject = dict[str, Any]
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_STRING_FORMATS: dict[str, ir.PrimitiveKind] = {
    "date-time": "datetime",
    "date": "date",
    "uuid": "uuid",
    "byte": "bytes",
    "binary": "binary",
}
_PRIMITIVES: dict[str, ir.PrimitiveKind] = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
}
_SIMPLE_MEDIA_SUFFIX = {
    "multipart/form-data": "Multipart",
    "application/x-www-form-urlencoded": "Form",
}


# JSON Schema keywords the generator does not model: a schema using one gets a diagnostic naming
# it (the value is typed by the rest of the schema, and the keyword is neither typed nor checked).
_UNMODELED_KEYWORDS = (
    "$dynamicRef",
    "$recursiveRef",
    "if",
    "then",
    "else",
    "not",
    "patternProperties",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
    "prefixItems",
    "contains",
    "propertyNames",
)
# Header parameters the specification says to ignore (the client sets them itself).
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})


def _is_int_or_string(node: JSONObject) -> bool:
    """Kubernetes' ``int-or-string`` (as a format or as its vendor extension)."""
    return node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string") is True


def _is_json_media(media: str) -> bool:
    base = media.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "*/*"


class _Parser:
    def __init__(self, document: Document, diagnostics: Diagnostics) -> None:
        self.document = document
        self.diagnostics = diagnostics
        self.resolver = RefResolver(document, diagnostics)
        self.root_location = Location(document.path, "#")
        self.defs: dict[str, ir.Definition] = {}
        self.in_progress: set[str] = set()
        self.nullable_defs: dict[str, bool] = {}
        self.names = NameRegistry()
        self.def_names: dict[str, str] = {}
        # allOf parent id -> ids of the definitions that extend it
        self.children: dict[str, list[str]] = {}
        self._reserve_component_names()

    # --- names ---------------------------------------------------------------------------------

    def _reserve_component_names(self) -> None:
        schemas = (self.document.root.get("components") or {}).get("schemas") or {}
        if not isinstance(schemas, dict):
            return
        for key in sorted(schemas):
            pointer = join_pointer("#/components/schemas", key)
            self.def_names[pointer] = self.names.claim(pascal(key))

    def _def_name(self, def_id: str, hint: str) -> str:
        if def_id not in self.def_names:
            self.def_names[def_id] = self.names.claim(pascal(hint))
        return self.def_names[def_id]

    def report(
        self, location: Location, reason: str, action: str, severity: Severity = "warning"
    ) -> None:
        self.diagnostics.report(self._key(location), reason, action, severity)

    def _key(self, location: Location) -> str:
        return location.ref(self.document.path)

    # --- schemas -------------------------------------------------------------------------------

    def split_null(self, node: JSONObject) -> tuple[bool, JSONObject]:
        """Whether ``node`` admits null, and the node without its null part (one notion)."""
        nullable = node.get("nullable") is True
        out = node
        kind = node.get("type")
        if isinstance(kind, list) and "null" in kind:
            nullable = True
            rest = [k for k in kind if k != "null"]
            out = {**out, "type": rest[0] if len(rest) == 1 else rest}
            if not rest:
                out = {**out, "type": "null"}
        enum = out.get("enum")
        if isinstance(enum, list) and None in enum:
            nullable = True
            out = {**out, "enum": [v for v in enum if v is not None]}
        for key in ("oneOf", "anyOf"):
            variants = out.get(key)
            if isinstance(variants, list):
                kept = [
                    v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")
                ]
                if len(kept) != len(variants):
                    nullable = True
                    out = {**out, key: kept}
        if "const" in out and out["const"] is None:
            return True, {"type": "null"}
        return nullable, out

    def type_of(self, node: object, location: Location, hint: str) -> ir.TypeExpr:
        """The type expression of a schema node (defining named models as needed)."""
        if node is True or node == {}:
            return ir.AnyType()
        if not isinstance(node, dict):
            self.report(location, "schema is not an object", "used an untyped value")
            return ir.AnyType()
        node = self._open_enum(node)
        if isinstance(node.get("$ref"), str):
            target = self.ref_type(node["$ref"], location)
            if node.get("nullable") is True and not isinstance(target, ir.Nullable | ir.AnyType):
                return ir.Nullable(target)
            return target
        self._unmodeled(node, location)
        nullable, rest = self.split_null(self._drop_empty_enum(node, location))
        if self.needs_definition(rest):
            inner: ir.TypeExpr = self.define(rest, location, hint)
        else:
            inner = self.structural(rest, location, hint)
        if nullable and not isinstance(inner, ir.Nullable | ir.AnyType | ir.NoneType):
            return ir.Nullable(inner)
        return inner

    def _open_enum(self, node: JSONObject) -> JSONObject:
        """An open enum (``anyOf``/``oneOf`` of a string enum and a plain string: "these values,
        or others later") is the enum itself: generated enums already keep unknown values (a
        member named ``UNKNOWN``), so the known values stay typed members."""
        for key in ("anyOf", "oneOf"):
            variants = node.get(key)
            if not (isinstance(variants, list) and len(variants) == 2):
                continue
            plain = [v for v in variants if v == {"type": "string"}]
            enums = [v for v in variants if isinstance(v, dict) and self._is_string_enum(v)]
            if len(plain) == 1 and len(enums) == 1 and "discriminator" not in node:
                rest = {k: v for k, v in node.items() if k not in {key, "type"}}
                return {**enums[0], **rest}
        return node

    def _is_string_enum(self, node: JSONObject) -> bool:
        if isinstance(node.get("$ref"), str):
            resolved = self.resolver.deref(node, self.root_location)
            if resolved is None or not isinstance(resolved[0], dict):
                return False
            node = cast(JSONObject, resolved[0])
        enum = node.get("enum")
        return (
            isinstance(enum, list)
            and len(enum) > 1
            and all(isinstance(v, str) for v in enum)
            and node.get("type") in (None, "string")
        )

    def _unmodeled(self, node: JSONObject, location: Location) -> None:
        for keyword in _UNMODELED_KEYWORDS:
            if keyword in node:
                self.report(
                    _at(location, keyword),
                    f"schema keyword {keyword!r} is not modeled",
                    "typed the value by the rest of its schema; this keyword is neither typed "
                    "nor checked",
                )

    def _drop_empty_enum(self, node: JSONObject, location: Location) -> JSONObject:
        if node.get("enum") == []:
            self.report(location, "empty enum", "ignored the enum (typed as its base type)")
            node = {k: v for k, v in node.items() if k != "enum"}
        kind = node.get("type")
        enum = node.get("enum")
        # ``type: string`` with ``enum: [true, false]`` (YAML reads them as booleans): the wire
        # values are the strings, so they stay strings.
        if (kind == "string" or (isinstance(kind, list) and "string" in kind)) and (
            isinstance(enum, list) and any(isinstance(v, bool) for v in enum)
        ):
            node = {**node, "enum": [_bool_text(v) for v in enum]}
        if kind == "string" and isinstance(node.get("const"), bool):
            node = {**node, "const": _bool_text(node["const"])}
        return node

    @staticmethod
    def _is_literal(node: JSONObject) -> bool:
        enum = node.get("enum")
        return "const" in node or (isinstance(enum, list) and len(enum) == 1)

    def needs_definition(self, node: JSONObject) -> bool:
        if self._is_literal(node):
            return False
        enum = node.get("enum")
        if isinstance(enum, list) and len(enum) > 1 and "const" not in node:
            return True
        if isinstance(node.get("allOf"), list):
            return True
        for key in ("oneOf", "anyOf"):
            variants = node.get(key)
            if isinstance(variants, list) and variants:
                return not all(
                    isinstance(v, dict) and "$ref" not in v and not self.needs_definition(v)
                    for v in variants
                ) or isinstance(node.get("discriminator"), dict)
        props = node.get("properties")
        return isinstance(props, dict) and bool(props)

    def ref_type(self, ref: str, location: Location) -> ir.TypeExpr:
        resolved = self.resolver.resolve(ref, location)
        if resolved is None:
            return ir.AnyType()
        target, target_location = resolved
        if "/components/mediaTypes/" in target_location.pointer:
            self.report(
                location, "reference to a media type used as a schema", "used an untyped value"
            )
            return ir.AnyType()
        def_id = self._key(target_location)
        if def_id not in self.defs and def_id not in self.in_progress:
            self.define_at(target, target_location, target_location.pointer.rsplit("/", 1)[-1])
        if self.nullable_defs.get(def_id):
            return ir.Nullable(ir.Ref(def_id))
        if def_id in self.defs or def_id in self.in_progress:
            return ir.Ref(def_id)
        return ir.AnyType()

    def define(self, node: JSONObject, location: Location, hint: str) -> ir.TypeExpr:
        def_id = self._key(location)
        if def_id not in self.defs and def_id not in self.in_progress:
            self._build(def_id, node, location, hint)
        return ir.Ref(def_id)

    def define_at(self, node: object, location: Location, hint: str) -> None:
        """Define the schema at a reference target (named after its last pointer token)."""
        def_id = self._key(location)
        if isinstance(node, dict):
            node = self._open_enum(node)
        if isinstance(node, dict) and isinstance(node.get("$ref"), str):
            # An alias of another reference: keep the name, point at the target.
            self.in_progress.add(def_id)
            name = self._def_name(def_id, hint)
            target = self.type_of(node, location, hint)
            self.in_progress.discard(def_id)
            self.defs[def_id] = ir.AliasModel(def_id, name, target, source_name=hint)
            return
        if not isinstance(node, dict) and node is not True:
            self.report(location, "schema is not an object", "used an untyped value")
            node = {}
        schema: JSONObject = {} if node is True else cast(JSONObject, node)
        self._unmodeled(schema, location)
        nullable, rest = self.split_null(self._drop_empty_enum(schema, location))
        self.nullable_defs[def_id] = nullable
        self._build(def_id, rest, location, hint)

    def _build(self, def_id: str, node: JSONObject, location: Location, hint: str) -> None:
        self.in_progress.add(def_id)
        name = self._def_name(def_id, hint)
        try:
            definition = self._definition(def_id, name, node, location, hint)
        finally:
            self.in_progress.discard(def_id)
        self.defs[def_id] = definition

    def _definition(
        self, def_id: str, name: str, node: JSONObject, location: Location, hint: str
    ) -> ir.Definition:
        description = _text(node.get("description")) or _text(node.get("title"))
        deprecated = node.get("deprecated") is True
        enum = node.get("enum")
        if self._is_literal(node):
            return ir.AliasModel(
                def_id, name, self.structural(node, location, name), description, deprecated, hint
            )
        if isinstance(enum, list) and len(enum) > 1:
            values = tuple(enum)
            if all(isinstance(v, str) for v in values):
                return ir.EnumModel(
                    def_id,
                    name,
                    cast(tuple[str, ...], _unique(values)),
                    description,
                    deprecated,
                    hint,
                )
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return ir.EnumModel(
                    def_id,
                    name,
                    cast(tuple[int, ...], _unique(values)),
                    description,
                    deprecated,
                    hint,
                )
            self.report(location, "enum mixes value types", "typed as a literal of its values")
        for key in ("oneOf", "anyOf"):
            variants = node.get(key)
            if isinstance(variants, list) and variants:
                return self._union(def_id, name, node, key, location, description, hint)
        if isinstance(node.get("allOf"), list):
            return self._all_of(def_id, name, node, location, description, hint)
        props = node.get("properties")
        if isinstance(props, dict) and props:
            fields = self._fields(props, node, location, name, set())
            return ir.SchemaModel(
                def_id,
                name,
                tuple(fields),
                None,
                description,
                deprecated,
                self._discriminator(node, location),
                hint,
                closed=node.get("additionalProperties") is False,
            )
        target = self.structural(node, location, name)
        return ir.AliasModel(def_id, name, target, description, deprecated, hint)

    def structural(self, node: JSONObject, location: Location, hint: str) -> ir.TypeExpr:
        """Types that need no named definition: primitives, arrays, maps, literals."""
        if _is_int_or_string(node):
            return ir.UnionOf((ir.Primitive("int"), ir.Primitive("str")))
        if "const" in node:
            return _literal((node["const"],), location, self)
        enum = node.get("enum")
        if isinstance(enum, list) and enum:
            return _literal(tuple(enum), location, self)
        kind = node.get("type")
        if isinstance(kind, list):
            variants = [self.structural({**node, "type": k}, location, hint) for k in kind]
            return ir.UnionOf(tuple(variants)) if len(variants) > 1 else variants[0]
        for key in ("oneOf", "anyOf"):
            variants_node = node.get(key)
            if isinstance(variants_node, list) and variants_node:
                parts = [
                    self.type_of(v, _at(location, key, i), f"{hint}Option{i + 1}")
                    for i, v in enumerate(variants_node)
                ]
                return ir.UnionOf(tuple(parts)) if len(parts) > 1 else parts[0]
        if kind == "null":
            return ir.NoneType()
        if kind == "array" or (kind is None and "items" in node):
            items = node.get("items", True)
            item = self.type_of(items, _at(location, "items"), f"{hint}Item")
            return ir.ArrayOf(
                item, node.get("uniqueItems") is True, self.constraints(node, location)
            )
        if kind == "object" or (
            kind is None and ("properties" in node or "additionalProperties" in node)
        ):
            extra = node.get("additionalProperties", True)
            if isinstance(extra, dict) and extra:
                return ir.MapOf(
                    self.type_of(extra, _at(location, "additionalProperties"), f"{hint}Value")
                )
            return ir.MapOf(ir.AnyType())
        if isinstance(kind, str) and kind in _PRIMITIVES:
            base = _PRIMITIVES[kind]
            fmt = node.get("format")
            fmt_text = str(fmt) if fmt is not None else None
            limits = self.constraints(node, location)
            if base == "str" and fmt_text in _STRING_FORMATS:
                return ir.Primitive(_STRING_FORMATS[fmt_text], fmt_text, limits)
            if base == "float" and fmt_text in {"int32", "int64"}:
                return ir.Primitive("int", fmt_text, limits)
            return ir.Primitive(base, fmt_text, limits)
        if kind is not None and kind != "object":
            self.report(location, f"unknown type {kind!r}", "used an untyped value")
        return ir.AnyType()

    def constraints(self, node: JSONObject, location: Location) -> ir.Constraints | None:
        found, problem = constraints_of(node)
        if problem is not None:
            self.report(
                _at(location, "pattern"),
                f"pattern not expressible in Python ({problem})",
                "the server stub does not check this pattern",
            )
        return found

    def _fields(
        self,
        props: JSONObject,
        node: JSONObject,
        location: Location,
        owner: str,
        taken: set[str],
    ) -> list[ir.Field]:
        required = node.get("required")
        required_names = {str(r) for r in required} if isinstance(required, list) else set()
        names = NameRegistry(taken)
        fields: list[ir.Field] = []
        for wire, schema in props.items():
            field_location = _at(location, "properties", wire)
            fields.append(
                self._field(str(wire), schema, field_location, owner, wire in required_names, names)
            )
        # A required name ``properties`` does not declare (xero's Folder requires ``name`` and
        # declares ``Name``) is still required: JSON Schema's ``required`` is about presence,
        # and a property without a schema takes any value. Without a field for it, no body the
        # document accepts could be built (the client sent ``{}``).
        fields.extend(
            ir.Field(wire, names.claim(snake(wire)), ir.AnyType(), required=True)
            for wire in sorted(required_names - {str(k) for k in props})
        )
        return fields

    def _field(  # noqa: PLR0917 - internal, called positionally
        self,
        wire: str,
        schema: object,
        location: Location,
        owner: str,
        required: bool,
        names: NameRegistry,
    ) -> ir.Field:
        field_type = self.type_of(schema, location, owner + pascal(wire))
        info: JSONObject = schema if isinstance(schema, dict) else {}
        if isinstance(info.get("$ref"), str):
            resolved = self.resolver.deref(info, location)
            if resolved is not None and isinstance(resolved[0], dict):
                info = {**resolved[0], **info}
        default: object = info.get("default", ir.MISSING) if "default" in info else ir.MISSING
        if default is ir.MISSING and info.get("const") is not None:
            # A const property has one possible value: constructing the object without it
            # must still send it.
            const = info["const"]
            default = _bool_text(const) if info.get("type") == "string" else const
        return ir.Field(
            wire_name=wire,
            python_name=names.claim(snake(wire)),
            type=field_type,
            required=required,
            default=default,
            read_only=info.get("readOnly") is True,
            write_only=info.get("writeOnly") is True,
            deprecated=info.get("deprecated") is True,
            description=_text(info.get("description")),
        )

    def _discriminator(self, node: JSONObject, location: Location) -> ir.Discriminator | None:
        disc = node.get("discriminator")
        if not isinstance(disc, dict):
            return None
        prop = disc.get("propertyName")
        if not isinstance(prop, str):
            self.report(
                _at(location, "discriminator"),
                "discriminator without propertyName",
                "ignored the discriminator",
            )
            return None
        mapping: list[tuple[str, str]] = []
        raw = disc.get("mapping")
        for value, target in raw.items() if isinstance(raw, dict) else []:
            ref = mapping_ref(target)
            resolved = self.ref_type(ref, _at(location, "discriminator", "mapping", value))
            while isinstance(resolved, ir.Nullable):
                resolved = resolved.inner
            if isinstance(resolved, ir.Ref):
                mapping.append((str(value), resolved.id))
        return ir.Discriminator(prop, tuple(mapping))

    def _tag_of(self, variant: object, location: Location, prop: str) -> object:
        """The one value a variant allows for its tag property (``const`` or a one-value
        ``enum``, own or from an allOf part), or None: that value is the tag on the wire."""
        if not isinstance(variant, dict):
            return None
        for part, _ in self._flatten_all_of(variant, location):
            schema = (part.get("properties") or {}).get(prop)
            if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
                resolved = self.resolver.deref(schema, location)
                schema = resolved[0] if resolved is not None else None
            if not isinstance(schema, dict):
                continue
            if isinstance(schema.get("const"), str | int) and not isinstance(schema["const"], bool):
                return schema["const"]
            enum = schema.get("enum")
            if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str | int):
                return None if isinstance(enum[0], bool) else enum[0]
        return None

    def _union(  # noqa: PLR0917 - internal, called positionally
        self,
        def_id: str,
        name: str,
        node: JSONObject,
        key: str,
        location: Location,
        description: str | None,
        hint: str,
    ) -> ir.UnionModel:
        if isinstance(node.get("properties"), dict) and node["properties"]:
            # Properties beside the choice are shared by every variant: allOf over the union.
            own: JSONObject = {k: node[k] for k in ("type", "properties", "required") if k in node}
            choice: JSONObject = {k: node[k] for k in (key, "discriminator") if k in node}
            distributed = distributed_union(
                [own, choice],
                lambda part: self._deref_node(part, location),
                scalars_pass="type" not in own,
            )
            if distributed is not None:
                return self._union(def_id, name, distributed[2], key, location, description, hint)
            self.report(
                location,
                f"properties next to {key} are ignored",
                "typed as the union of the variants",
            )
        variants: list[ir.TypeExpr] = []
        tag_values: dict[str, object] = {}
        variant_ids: set[str] = set()
        disc = self._discriminator(node, location)
        for i, variant in enumerate(node[key]):
            title = variant.get("title") if isinstance(variant, dict) else None
            vhint = f"{name}{pascal(title)}" if isinstance(title, str) else f"{name}Option{i + 1}"
            variant_type = self.type_of(variant, _at(location, key, i), vhint)
            variants.append(variant_type)
            while isinstance(variant_type, ir.Nullable):
                variant_type = variant_type.inner
            if isinstance(variant_type, ir.Ref):
                variant_ids.add(variant_type.id)
            if disc is not None and isinstance(variant_type, ir.Ref):
                value = self._tag_of(variant, _at(location, key, i), disc.property)
                if value is not None:
                    tag_values.setdefault(variant_type.id, value)
        return ir.UnionModel(
            def_id,
            name,
            tuple(variants),
            _with_tags(disc, tag_values, variant_ids),
            description,
            node.get("deprecated") is True,
            hint,
        )

    def _all_of(  # noqa: PLR0917 - internal, called positionally
        self,
        def_id: str,
        name: str,
        node: JSONObject,
        location: Location,
        description: str | None,
        hint: str,
    ) -> ir.Definition:
        parts = [p for p in node["allOf"] if isinstance(p, dict)]
        own = {k: v for k, v in node.items() if k in {"properties", "required"}}
        if own:
            parts = [*parts, own]
        distributed = distributed_union(parts, lambda part: self._deref_node(part, location))
        if distributed is not None:
            index, key, union = distributed
            return self._union(
                def_id, name, union, key, _at(location, "allOf", index), description, hint
            )
        refs = [p for p in parts if isinstance(p.get("$ref"), str)]
        inline = [p for p in parts if not isinstance(p.get("$ref"), str)]
        disc = self._discriminator(node, location)
        parent_ids: list[str] = []
        for part in refs:
            target = self.ref_type(part["$ref"], location)
            while isinstance(target, ir.Nullable):
                target = target.inner
            if isinstance(target, ir.Ref):
                parent_ids.append(target.id)
                self.children.setdefault(target.id, []).append(def_id)
        simple_inline = all(
            set(p) <= {"type", "properties", "required", "description", "title"} for p in inline
        )
        inline_props = [(w, s) for p in inline for w, s in (p.get("properties") or {}).items()]
        if not inline_props and len(parts) == 1 and len(parent_ids) == 1:
            return ir.AliasModel(def_id, name, ir.Ref(parent_ids[0]), description, False, hint)
        if len(refs) == 1 and len(parent_ids) == 1 and simple_inline:
            base = self.defs.get(parent_ids[0])
            base_fields = self._all_fields(parent_ids[0])
            base_names = {f.wire_name for f in base_fields}
            required_extra = {str(r) for p in inline for r in (p.get("required") or [])}
            if (
                isinstance(base, ir.SchemaModel)
                and not (base_names & {w for w, _ in inline_props})
                and not (required_extra & base_names)
            ):
                merged_props: JSONObject = dict(inline_props)
                merged_node = {"properties": merged_props, "required": sorted(required_extra)}
                fields = self._fields(
                    merged_props,
                    merged_node,
                    location,
                    name,
                    {f.python_name for f in base_fields},
                )
                return ir.SchemaModel(
                    def_id,
                    name,
                    tuple(fields),
                    parent_ids[0],
                    description,
                    node.get("deprecated") is True,
                    disc,
                    hint,
                )
        # Merge: properties in part order, a later definition of a property replaces an earlier
        # one (the later part is the more specific refinement); required is the union.
        props: JSONObject = {}
        required: set[str] = set()
        first_other: ir.TypeExpr | None = None
        for index, part in enumerate(parts):
            for sub, sub_location in self._flatten_all_of(part, _at(location, "allOf", index)):
                for wire, schema in (sub.get("properties") or {}).items():
                    props[wire] = (schema, sub_location)
                required.update(str(r) for r in (sub.get("required") or []))
                if disc is None:
                    disc = self._discriminator(sub, sub_location) if sub is node else None
                if (
                    first_other is None
                    and not sub.get("properties")
                    and ("type" in sub or "enum" in sub or "oneOf" in sub or "anyOf" in sub)
                    and sub.get("type") != "object"
                ):
                    first_other = self.type_of(sub, sub_location, name)
        if not props:
            if first_other is not None:
                return ir.AliasModel(def_id, name, first_other, description, False, hint)
            return ir.AliasModel(def_id, name, ir.MapOf(ir.AnyType()), description, False, hint)
        names = NameRegistry()
        fields = [
            self._field(
                wire, schema, _at(sub_location, "properties", wire), name, wire in required, names
            )
            for wire, (schema, sub_location) in props.items()
        ]
        # as in _fields: a required name no part declares is still a (required, any) field
        fields.extend(
            ir.Field(wire, names.claim(snake(wire)), ir.AnyType(), required=True)
            for wire in sorted(required - set(props))
        )
        return ir.SchemaModel(
            def_id,
            name,
            tuple(fields),
            None,
            description,
            node.get("deprecated") is True,
            disc,
            hint,
        )

    def _deref_node(self, part: JSONObject, location: Location) -> JSONObject | None:
        resolved = self.deref(part, location)
        return None if resolved is None else resolved[0]

    def _flatten_all_of(
        self, part: JSONObject, location: Location, depth: int = 0
    ) -> Iterator[tuple[JSONObject, Location]]:
        if depth > 32:
            self.report(location, "allOf nested too deeply", "ignored the deeper parts")
            return
        if isinstance(part.get("$ref"), str):
            resolved = self.resolver.deref(part, location)
            if resolved is None or not isinstance(resolved[0], dict):
                return
            part, location = cast(JSONObject, resolved[0]), resolved[1]
        nested = part.get("allOf")
        if isinstance(nested, list):
            for index, sub in enumerate(nested):
                if isinstance(sub, dict):
                    yield from self._flatten_all_of(sub, _at(location, "allOf", index), depth + 1)
        yield part, location

    def _all_fields(self, def_id: str) -> list[ir.Field]:
        definition = self.defs.get(def_id)
        if not isinstance(definition, ir.SchemaModel):
            return []
        inherited = self._all_fields(definition.base) if definition.base else []
        return [*inherited, *definition.fields]

    # --- operations ----------------------------------------------------------------------------

    def deref(self, node: object, location: Location) -> tuple[JSONObject, Location] | None:
        resolved = self.resolver.deref(node, location)
        if resolved is None or not isinstance(resolved[0], dict):
            return None
        return cast(JSONObject, resolved[0]), resolved[1]

    def operations(
        self, paths: object, base: Location, op_names: NameRegistry, webhook: bool = False
    ) -> list[ir.Operation]:
        out: list[ir.Operation] = []
        if not isinstance(paths, dict):
            return out
        for path, raw_item in paths.items():
            item_location = _at(base, path)
            resolved = self.deref(raw_item, item_location)
            if resolved is None:
                continue
            item, item_location = resolved
            common = item.get("parameters")
            servers = self.servers(item.get("servers"))
            for method in _METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    out.append(
                        self.operation(
                            str(path),
                            method,
                            op,
                            _at(item_location, method),
                            common,
                            servers,
                            op_names,
                            webhook,
                        )
                    )
        return out

    def operation(  # noqa: PLR0917 - internal, called positionally
        self,
        path: str,
        method: str,
        op: JSONObject,
        location: Location,
        common: object,
        path_servers: tuple[ir.Server, ...],
        op_names: NameRegistry,
        webhook: bool,
    ) -> ir.Operation:
        raw_id = op.get("operationId")
        operation_id = str(raw_id) if isinstance(raw_id, str) and raw_id else f"{method} {path}"
        hint = pascal(operation_id)
        params: dict[tuple[str, str], ir.Parameter] = {}
        for index, raw in enumerate(common if isinstance(common, list) else []):
            param = self.parameter(
                raw,
                _at(
                    location.__class__(location.file, location.pointer.rsplit("/", 1)[0]),
                    "parameters",
                    index,
                ),
                hint,
            )
            if param is not None:
                params[(param.location, param.name)] = param
        for index, raw in enumerate(op.get("parameters") or []):
            param = self.parameter(raw, _at(location, "parameters", index), hint)
            if param is not None:
                params[(param.location, param.name)] = param
        body = self.body(op.get("requestBody"), _at(location, "requestBody"), hint)
        responses = self.responses(op.get("responses"), location, hint, webhook)
        security = op.get("security")
        callbacks: list[tuple[str, ir.Operation]] = []
        for name, cb in (op.get("callbacks") or {}).items():
            cb_resolved = self.deref(cb, _at(location, "callbacks", name))
            if cb_resolved is None:
                continue
            found = self.operations(cb_resolved[0], cb_resolved[1], NameRegistry(), True)
            callbacks.extend((str(name), cb_op) for cb_op in found)
        python_name = op_names.claim(snake(operation_id))
        if not webhook:
            self._report_event_streams(responses, location, python_name)
        return ir.Operation(
            operation_id=operation_id,
            python_name=python_name,
            method=method.upper(),
            path=path,
            pointer=self._key(location),
            summary=_text(op.get("summary")),
            description=_text(op.get("description")),
            tags=tuple(str(t) for t in op.get("tags") or ()),
            deprecated=op.get("deprecated") is True,
            parameters=tuple(params.values()),
            body=body,
            responses=tuple(responses),
            security=self.security(security) if isinstance(security, list) else None,
            servers=self.servers(op.get("servers")) or path_servers,
            callbacks=tuple(callbacks),
            extensions={k: v for k, v in op.items() if k.startswith("x-")},
        )

    def _report_event_streams(
        self, responses: list[ir.Response], location: Location, python_name: str
    ) -> None:
        for response in responses:
            for content in response.contents:
                media = content.media_type.split(";", 1)[0].strip().lower()
                if media == "text/event-stream" and response.status.startswith("2"):
                    self.report(
                        _at(location, "responses", response.status, "content", content.media_type),
                        "text/event-stream response: an event stream, not one body",
                        f"{python_name}_events() yields its events (ServerSentEvent, reconnecting "
                        f"with Last-Event-ID); {python_name}() reads the raw body as bytes",
                        "info",
                    )

    def parameter(self, raw: object, location: Location, hint: str) -> ir.Parameter | None:
        resolved = self.deref(raw, location)
        if resolved is None:
            return None
        param, location = resolved
        name = param.get("name")
        where = param.get("in")
        if not isinstance(name, str) or where not in {"path", "query", "header", "cookie"}:
            self.report(location, "parameter without a valid name or location", "skipped it")
            return None
        if where == "header" and name.lower() in _IGNORED_HEADERS:
            self.report(
                location,
                f"header parameter {name!r} is ignored (OpenAPI: Accept, Content-Type and "
                "Authorization parameters SHALL be ignored)",
                "the client sets it from the media types and security schemes",
                "info",
            )
            return None
        style = param.get("style")
        default_style = "form" if where in {"query", "cookie"} else "simple"
        style_text = str(style) if isinstance(style, str) else default_style
        explode = param.get("explode")
        content = self.contents(param.get("content"), location, hint + pascal(name))
        if "schema" in param:
            param_type = self.type_of(param["schema"], _at(location, "schema"), hint + pascal(name))
        elif content:
            param_type = content[0].type or ir.AnyType()
        else:
            param_type = ir.AnyType()
        return ir.Parameter(
            name=name,
            python_name=snake(name),
            location=where,
            required=where == "path" or param.get("required") is True,
            style=style_text,
            explode=explode if isinstance(explode, bool) else style_text == "form",
            type=param_type,
            allow_reserved=param.get("allowReserved") is True,
            allow_empty_value=param.get("allowEmptyValue") is True,
            content=tuple(content),
            deprecated=param.get("deprecated") is True,
            description=_text(param.get("description")),
            pointer=self._key(location),
        )

    def contents(self, raw: object, location: Location, hint: str) -> list[ir.MediaContent]:
        if raw is None:
            return []
        content_location = _at(location, "content")
        if isinstance(raw, dict) and isinstance(raw.get("$ref"), str):
            self.report(
                content_location,
                "non-standard reference in content "
                f"({raw['$ref']}; components.mediaTypes exists only from OpenAPI 3.2)",
                "resolved it as a content map",
            )
        resolved = self.deref(raw, content_location)
        if resolved is None:
            return []
        content, content_location = resolved
        out: list[ir.MediaContent] = []
        multiple = len(content) > 1
        for media, raw_media in content.items():
            media_resolved = self.deref(raw_media, _at(content_location, media))
            if media_resolved is None:
                continue
            media_obj, media_location = media_resolved
            suffix = ""
            if multiple and not _is_json_media(str(media)):
                suffix = _SIMPLE_MEDIA_SUFFIX.get(str(media), pascal(str(media).rsplit("/")[-1]))
            schema = media_obj.get("schema")
            media_type = (
                self.type_of(schema, _at(media_location, "schema"), hint + suffix)
                if schema is not None
                else None
            )
            encoding: list[tuple[str, ir.Encoding]] = []
            for prop, enc in (media_obj.get("encoding") or {}).items():
                if isinstance(enc, dict):
                    explode = enc.get("explode")
                    encoding.append(
                        (
                            str(prop),
                            ir.Encoding(
                                content_type=_text(enc.get("contentType")),
                                style=_text(enc.get("style")),
                                explode=explode if isinstance(explode, bool) else None,
                                allow_reserved=enc.get("allowReserved") is True,
                                headers=self.headers(enc.get("headers"), media_location, hint),
                            ),
                        )
                    )
            out.append(ir.MediaContent(str(media), media_type, tuple(encoding)))
        return out

    def headers(self, raw: object, location: Location, hint: str) -> tuple[ir.Header, ...]:
        out: list[ir.Header] = []
        for name, header in raw.items() if isinstance(raw, dict) else []:
            resolved = self.deref(header, _at(location, "headers", name))
            if resolved is None:
                continue
            node, node_location = resolved
            header_type = self.type_of(
                node.get("schema", True), _at(node_location, "schema"), hint + pascal(str(name))
            )
            out.append(
                ir.Header(
                    str(name),
                    header_type,
                    node.get("required") is True,
                    _text(node.get("description")),
                )
            )
        return tuple(out)

    def body(self, raw: object, location: Location, hint: str) -> ir.Body | None:
        if raw is None:
            return None
        resolved = self.deref(raw, location)
        if resolved is None:
            return None
        body, location = resolved
        contents = self.contents(body.get("content"), location, hint + "Body")
        return ir.Body(
            body.get("required") is True, tuple(contents), _text(body.get("description"))
        )

    def responses(
        self, raw: object, location: Location, hint: str, webhook: bool
    ) -> list[ir.Response]:
        if not isinstance(raw, dict) or not raw:
            if not webhook:
                self.report(
                    location,
                    "operation has no responses",
                    "generated it with no documented response",
                )
            return []
        out: list[ir.Response] = []
        statuses = [str(s) for s in raw]
        several = len([s for s in statuses if s.startswith("2")]) > 1
        for status_key, raw_response in raw.items():
            status = str(status_key).upper() if str(status_key) != "default" else "default"
            response_location = _at(location, "responses", status_key)
            if not (
                status == "default"
                or (
                    len(status) == 3
                    and status[0] in "12345"
                    and (status[1:].isdigit() or status[1:] == "XX")
                )
            ):
                self.report(response_location, f"invalid status {status_key!r}", "skipped it")
                continue
            resolved = self.deref(raw_response, response_location)
            if resolved is None:
                continue
            response, response_location = resolved
            suffix = status if (several or not status.startswith("2")) else ""
            rhint = f"{hint}Response{suffix}" if suffix else f"{hint}Response"
            out.append(
                ir.Response(
                    status=status,
                    description=str(response.get("description") or ""),
                    contents=tuple(
                        self.contents(response.get("content"), response_location, rhint)
                    ),
                    headers=self.headers(response.get("headers"), response_location, rhint),
                )
            )
        return out

    def security(self, raw: list[object]) -> tuple[ir.SecurityRequirement, ...]:
        return tuple(
            tuple((str(name), tuple(str(s) for s in scopes or ())) for name, scopes in req.items())
            for req in raw
            if isinstance(req, dict)
        )

    def security_schemes(self, raw: object) -> tuple[ir.SecurityScheme, ...]:
        out: list[ir.SecurityScheme] = []
        for name, raw_scheme in raw.items() if isinstance(raw, dict) else []:
            resolved = self.deref(
                raw_scheme, _at(self.root_location, "components", "securitySchemes", name)
            )
            if resolved is None:
                continue
            scheme = resolved[0]
            flows: list[ir.OAuthFlow] = []
            for kind, flow in (scheme.get("flows") or {}).items():
                if isinstance(flow, dict):
                    flows.append(
                        ir.OAuthFlow(
                            str(kind),
                            _text(flow.get("authorizationUrl")),
                            _text(flow.get("tokenUrl")),
                            _text(flow.get("refreshUrl")),
                            tuple(str(s) for s in (flow.get("scopes") or {})),
                        )
                    )
            out.append(
                ir.SecurityScheme(
                    name=str(name),
                    type=str(scheme.get("type")),
                    location=_text(scheme.get("in")),
                    parameter_name=_text(scheme.get("name")),
                    scheme=_text(scheme.get("scheme")),
                    bearer_format=_text(scheme.get("bearerFormat")),
                    flows=tuple(flows),
                    open_id_connect_url=_text(scheme.get("openIdConnectUrl")),
                    description=_text(scheme.get("description")),
                )
            )
        return tuple(out)

    def servers(self, raw: object) -> tuple[ir.Server, ...]:
        out: list[ir.Server] = []
        for server in raw if isinstance(raw, list) else []:
            if not isinstance(server, dict) or not isinstance(server.get("url"), str):
                continue
            variables = tuple(
                ir.ServerVariable(
                    str(name),
                    str(var.get("default", "")),
                    tuple(str(e) for e in var.get("enum") or ()),
                    _text(var.get("description")),
                )
                for name, var in (server.get("variables") or {}).items()
                if isinstance(var, dict)
            )
            out.append(ir.Server(server["url"], _text(server.get("description")), variables))
        return tuple(out)


def _at(location: Location, *tokens: str | int) -> Location:
    return Location(location.file, join_pointer(location.pointer, *tokens))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _with_tags(
    disc: ir.Discriminator | None, tag_values: dict[str, object], variant_ids: set[str]
) -> ir.Discriminator | None:
    """``disc`` with a mapping entry for each variant the mapping leaves out but whose tag
    property allows one value (without it the emitter would fall back to the schema name).
    A value the mapping gives to a schema that is not one of the variants (lob maps ``letter``
    to a copy of its inline variant) does not stop the variant from carrying it."""
    if disc is None:
        return None
    mapped = {target for _, target in disc.mapping}
    known = {value for value, target in disc.mapping if target in variant_ids}
    extra = [
        (str(value), def_id)
        for def_id, value in tag_values.items()
        if def_id not in mapped and str(value) not in known
    ]
    return disc if not extra else ir.Discriminator(disc.property, (*disc.mapping, *extra))


def _bool_text(value: object) -> object:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _unique(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))


def _literal(values: tuple[object, ...], location: Location, parser: _Parser) -> ir.TypeExpr:
    kept = tuple(v for v in values if isinstance(v, str | int | bool))
    if len(kept) != len(values) or not kept:
        parser.report(location, "literal value of an unsupported type", "used an untyped value")
        return ir.AnyType()
    return ir.LiteralOf(cast(tuple[str | int | bool, ...], _unique(kept)))


def build_api(document: Document, diagnostics: Diagnostics) -> ir.Api:
    """The IR of a whole document: every component schema, operation, webhook and callback."""
    parser = _Parser(document, diagnostics)
    root = document.root
    components = root.get("components") if isinstance(root.get("components"), dict) else {}
    assert isinstance(components, dict)
    schemas = components.get("schemas")
    if isinstance(schemas, dict):
        for key, schema in schemas.items():
            location = Location(document.path, join_pointer("#/components/schemas", key))
            def_id = parser._key(location)
            if def_id not in parser.defs and def_id not in parser.in_progress:
                parser.define_at(schema, location, str(key))
    op_names = NameRegistry()
    operations = parser.operations(root.get("paths"), _at(parser.root_location, "paths"), op_names)
    webhooks = parser.operations(
        root.get("webhooks"), _at(parser.root_location, "webhooks"), NameRegistry(), webhook=True
    )
    info = root.get("info") if isinstance(root.get("info"), dict) else {}
    assert isinstance(info, dict)
    security = root.get("security")
    return ir.Api(
        title=str(info.get("title") or "API"),
        version=str(info.get("version") or ""),
        spec_version=document.version,
        servers=parser.servers(root.get("servers")),
        security_schemes=parser.security_schemes(components.get("securitySchemes")),
        security=parser.security(security) if isinstance(security, list) else (),
        operations=tuple(operations),
        webhooks=tuple(webhooks),
        definitions=_with_children(parser),
        description=_text(info.get("description")),
    )


def _literal_tag(parser: _Parser, def_id: str, prop: str) -> str | None:
    for f in parser._all_fields(def_id):
        kind = f.type
        if f.wire_name == prop and isinstance(kind, ir.LiteralOf) and len(kind.values) == 1:
            value = kind.values[0]
            return None if isinstance(value, bool) else str(value)
    return None


def _with_children(parser: _Parser) -> dict[str, ir.Definition]:
    """Definitions, with the implicit discriminator mapping of allOf parents filled in."""
    defs = dict(parser.defs)
    for parent_id, child_ids in parser.children.items():
        parent = defs.get(parent_id)
        if not isinstance(parent, ir.SchemaModel) or parent.discriminator is None:
            continue
        explicit = dict(parent.discriminator.mapping)
        mapped = set(explicit.values())
        mapping = list(parent.discriminator.mapping)
        for child_id in sorted(set(child_ids)):
            child = defs[child_id]
            if child_id not in mapped and child.source_name:
                # The child's own one-value tag property is the wire value, not its name.
                tag = _literal_tag(parser, child_id, parent.discriminator.property)
                mapping.append((child.source_name if tag is None else tag, child_id))
        defs[parent_id] = ir.SchemaModel(
            parent.id,
            parent.name,
            parent.fields,
            parent.base,
            parent.description,
            parent.deprecated,
            ir.Discriminator(parent.discriminator.property, tuple(mapping), implicit=True),
            parent.source_name,
            parent.closed,
        )
    return dict(sorted(defs.items()))


def parse_path(path: Path, diagnostics: Diagnostics) -> ir.Api:
    """Load and parse a document file (convenience for callers and tests)."""
    from .load import load

    return build_api(load(path), diagnostics)
