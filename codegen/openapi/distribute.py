"""``allOf`` over a union: ``allOf: [Base, oneOf: [A, B]]`` is ``oneOf: [Base & A, Base & B]``.

A schema that combines a shared part with a choice (lob's creative: the resource fields, then
one of a postcard, a letter or a self mailer creative) says the same as a union whose every
variant carries the shared part. Merged as one object, the properties only the variants declare
were untyped fields that kept whatever the server sent; distributed, each variant is a typed
model and a payload decodes into the one it matches.

This module only rewrites JSON nodes; the parser types the result as any other union. The
rewrite applies when exactly one part of the ``allOf`` is a ``oneOf``/``anyOf`` without
properties of its own and every variant is an object schema. With a ``discriminator``, each
variant also gets its tag value as a one-value ``enum`` on the tag property (from the mapping,
or the variant's schema name, as OpenAPI defines the implicit mapping), because the variants it
names by reference are no longer the ones in the union.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JSONObject = dict[str, Any]
Deref = Callable[[JSONObject], JSONObject | None]

MAX_VARIANTS = 32
_SHAPE_KEYS = {"properties", "allOf", "additionalProperties"}


def distributed_union(
    parts: list[JSONObject], deref: Deref, *, scalars_pass: bool = False
) -> tuple[int, str, JSONObject] | None:
    """The index of the union part, its keyword and the equivalent union node, or None.

    ``scalars_pass``: the shared parts only constrain objects (properties beside a ``oneOf``),
    so a variant that is not an object (``type: boolean``) stays in the union as it is."""
    unions: list[tuple[int, str, JSONObject]] = []
    for index, part in enumerate(parts):
        resolved = deref(part) if "$ref" in part else part
        if resolved is None:
            return None
        for key in ("oneOf", "anyOf"):
            variants = resolved.get(key)
            if isinstance(variants, list) and variants and not resolved.get("properties"):
                unions.append((index, key, resolved))
    if len(unions) != 1:
        return None
    index, key, union = unions[0]
    variants = union[key]
    if len(variants) > MAX_VARIANTS or not all(isinstance(v, dict) for v in variants):
        return None
    objects = [_is_object(v, deref) for v in variants]
    if not all(objects) and not (scalars_pass and any(objects)):
        return None
    tags = _tags(union, variants)
    if tags is None:
        return None
    shared = [p for i, p in enumerate(parts) if i != index]
    out_variants: list[JSONObject] = []
    for i, variant in enumerate(variants):
        if not objects[i]:
            out_variants.append(variant)
            continue
        members = [*shared, variant]
        if tags:
            prop, value = tags[i]
            members.append({"properties": {prop: {"type": "string", "enum": [value]}}})
        node: JSONObject = {"allOf": members}
        title = _title(variant, deref)
        if title:
            node["title"] = title
        out_variants.append(node)
    out: JSONObject = {key: out_variants}
    if tags:
        out["discriminator"] = {"propertyName": tags[0][0]}
    return index, key, out


def mapping_ref(target: object) -> str:
    """A discriminator mapping value as a reference: a bare name is a schema's name."""
    ref = str(target)
    return ref if "#" in ref or "/" in ref else f"#/components/schemas/{ref}"


def _is_object(variant: JSONObject, deref: Deref) -> bool:
    resolved = deref(variant) if "$ref" in variant else variant
    if resolved is None:
        return False
    if resolved.get("type") == "object":
        return True
    # `oneOf: [{required: [before]}, {required: [after]}]` constrains which properties are
    # present, it adds no shape: the merged object stays the better model.
    return "type" not in resolved and bool(_SHAPE_KEYS & set(resolved))


def _title(variant: JSONObject, deref: Deref) -> str | None:
    if isinstance(variant.get("title"), str):
        return str(variant["title"])
    for member in variant.get("allOf") or []:
        if isinstance(member, dict) and isinstance(member.get("title"), str):
            return str(member["title"])
    ref = variant.get("$ref")
    if isinstance(ref, str):
        resolved = deref(variant)
        if resolved is not None and isinstance(resolved.get("title"), str):
            return str(resolved["title"])
        return ref.rsplit("/", 1)[-1]
    return None


def _tags(union: JSONObject, variants: list[JSONObject]) -> list[tuple[str, str]] | None:
    """Per variant, the tag property and value; [] without a discriminator; None when a
    variant's tag cannot be known (an inline variant under a discriminator)."""
    disc = union.get("discriminator")
    if not isinstance(disc, dict):
        return []
    prop = disc.get("propertyName")
    if not isinstance(prop, str):
        return []
    mapping = disc.get("mapping")
    by_target: dict[str, str] = {}
    for value, target in mapping.items() if isinstance(mapping, dict) else []:
        by_target.setdefault(mapping_ref(target), str(value))
    tags: list[tuple[str, str]] = []
    for variant in variants:
        target = variant.get("$ref")
        if not isinstance(target, str):
            return None
        tags.append((prop, by_target.get(target, target.rsplit("/", 1)[-1])))
    return tags
