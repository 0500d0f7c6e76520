"""Response payloads from an independent generator: the documented response schema, turned into
plain JSON Schema by schemathesis' OpenAPI converter, drawn by schemathesis' own JSON Schema
engine (``schemathesis.generation.jsonschema``, which also follows recursive references).

hypothesis-jsonschema 0.23.1 was the first choice; with the pinned hypothesis 6.170 every draw
fails inside it (``AttributeError: 'many' object has no attribute 'more'``: it calls a
Hypothesis internal that changed), so it cannot be the judge here.

Also what the generated client is expected to give back once it decoded and re-encoded such a
payload: the payload without the fields its schema does not declare (:func:`declared`).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from hypothesis import given
from hypothesis import strategies as st
from schemathesis.generation.jsonschema.builder import build
from schemathesis.specs.openapi.converter import to_json_schema
from schemathesis.specs.openapi.formats import get_default_format_strategies

from tests.codegen.oracle.conftest import HYPOTHESIS

DRAFT7 = jsonschema_rs.Draft7
FORMATS = {
    **get_default_format_strategies(),
    "uuid": st.uuids().map(str),
    # A JSON body carries text: `format: binary` inside one (docker's logs) is a string.
    "binary": st.text(max_size=24),
    "byte": st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode()),
}


def _pointer_get(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for raw in pointer.lstrip("#/").split("/"):
        if raw:
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


class SchemaSource:
    """Response schemas of one document as self-contained JSON Schemas."""

    def __init__(self, document: dict[str, Any], *, requests: bool = False) -> None:
        # YAML reads unquoted dates in examples and defaults as datetime objects: as JSON text.
        self.document = json.loads(json.dumps(document, default=str))
        self.requests = requests  # request shapes drop readOnly, response shapes writeOnly
        self._schemas: dict[str, dict[str, Any]] = {}
        self.swagger2 = str(document.get("swagger", "")).startswith("2")
        self.nullable = "x-nullable" if self.swagger2 else "nullable"

    def response_pointer(self, op_pointer: str, status: str, media_type: str | None) -> str | None:
        """Where the schema of one documented response sits (following ``$ref``s to shared
        responses and, as lob does, to media type objects); None when it has no schema."""
        escaped = (media_type or "").replace("~", "~0").replace("/", "~1")
        steps = ["responses", status] + ([] if self.swagger2 else ["content", escaped])
        pointer = op_pointer
        for step in [*steps, "schema"]:
            node = _pointer_get(self.document, pointer)
            while isinstance(node, dict) and isinstance(node.get("$ref"), str):
                pointer = node["$ref"]
                node = _pointer_get(self.document, pointer)
            if not isinstance(node, dict) or step.replace("~1", "/").replace("~0", "~") not in node:
                return None
            pointer = f"{pointer}/{step}"
        return pointer

    def request_body_pointer(self, op_pointer: str, media_type: str) -> str | None:
        """Where the JSON body schema of an operation sits (2.0: its ``in: body`` parameter)."""
        operation = _pointer_get(self.document, op_pointer)
        if self.swagger2:
            for index, listed in enumerate(operation.get("parameters") or []):
                pointer = f"{op_pointer}/parameters/{index}"
                parameter = listed
                while isinstance(parameter, dict) and "$ref" in parameter:
                    pointer = parameter["$ref"]
                    parameter = _pointer_get(self.document, pointer)
                if parameter.get("in") == "body" and "schema" in parameter:
                    return f"{pointer}/schema"
            return None
        escaped = media_type.replace("~", "~0").replace("/", "~1")
        pointer = f"{op_pointer}/requestBody"
        for step in ("content", escaped, "schema"):
            node = _pointer_get(self.document, pointer)
            while isinstance(node, dict) and isinstance(node.get("$ref"), str):
                pointer = node["$ref"]
                node = _pointer_get(self.document, pointer)
            if not isinstance(node, dict) or step.replace("~1", "/").replace("~0", "~") not in node:
                return None
            pointer = f"{pointer}/{step}"
        return pointer

    def json_schema(self, pointer: str) -> dict[str, Any]:
        """The schema at ``pointer`` with every definition it reaches grafted at its own pointer,
        each converted from the OpenAPI dialect (nullable, 3.0 exclusive bounds, writeOnly
        dropped from responses, ...)."""
        if pointer in self._schemas:
            return self._schemas[pointer]
        root: dict[str, Any] = self._convert(_pointer_get(self.document, pointer))
        seen: set[str] = set()
        pending = list(_refs(root))
        while pending:
            ref = pending.pop()
            if ref in seen:
                continue
            seen.add(ref)
            converted = self._convert(_pointer_get(self.document, ref))
            _graft(root, ref, converted)
            pending.extend(_refs(converted))
        self._schemas[pointer] = root
        return root

    def _convert(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return schema
        return _implied_types(
            to_json_schema(
                _tags_required(copy.deepcopy(schema)),
                nullable_keyword=self.nullable,
                is_response_schema=not self.requests,
                upgrade_legacy_exclusive_bounds=True,
            )
        )


def _tags_required(node: Any) -> Any:
    """The other reading the oracle adds: a ``discriminator``'s property is required in each
    oneOf/anyOf branch. OpenAPI says the property MUST be present in the payload (3.0.3 and
    3.1, "Discriminator Object"); JSON Schema cannot say it, so a variant that forgets to list
    it in ``required`` (adyen's SGLocalAccountIdentification) would otherwise be drawn without
    the tag no discriminated decoder can route."""
    if isinstance(node, list):
        return [_tags_required(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _tags_required(v) for k, v in node.items()}
    disc = node.get("discriminator")
    prop = disc.get("propertyName") if isinstance(disc, dict) else None
    if isinstance(prop, str):
        for key in ("oneOf", "anyOf"):
            if isinstance(out.get(key), list):
                out[key] = [
                    b if b == {"type": "null"} else {"allOf": [b, {"required": [prop]}]}
                    for b in out[key]
                ]
    return out


_OBJECT_WORDS = ("properties", "additionalProperties", "required")


def _implied_types(node: Any) -> Any:
    """The one reading the oracle adds to JSON Schema: a schema with ``properties`` (or
    ``additionalProperties``/``required``) and no ``type`` describes an object, one with
    ``items`` an array, as every OpenAPI tool reads them (xero's CISOrgSetting, lob's
    deletion bodies). Strictly, such a schema also admits null, numbers or arrays; a payload
    like that is no test of a client."""
    if not isinstance(node, dict):
        return node
    if "type" not in node and not any(k in node for k in ("$ref", "allOf", "oneOf", "anyOf")):
        if any(k in node for k in _OBJECT_WORDS):
            node["type"] = "object"
        elif "items" in node:
            node["type"] = "array"
    for key in ("properties", "patternProperties"):
        for value in (node.get(key) or {}).values():
            _implied_types(value)
    for key in ("additionalProperties", "items", "not"):
        _implied_types(node.get(key))
    for key in ("allOf", "oneOf", "anyOf", "prefixItems"):
        for value in node.get(key) or []:
            _implied_types(value)
    return node


def _graft(root: dict[str, Any], pointer: str, schema: Any) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("#/").split("/")]
    node = root
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = schema


# Keyed by id, holding the schema itself: an id is only unique while its object lives, and a
# finished spec's schemas are freed (a later spec's schema could then reuse the id and be
# served the earlier spec's draws).
_DRAWN: dict[int, tuple[dict[str, Any], list[Any]]] = {}


def examples(schema: dict[str, Any], count: int) -> list[Any]:
    """``count`` (at most) distinct instances of ``schema``.

    Raises what the engine raises for a schema it cannot handle (unsupported keywords, an
    unsatisfiable combination): the caller checks the exclusion list.
    """
    cached = _DRAWN.get(id(schema))
    if cached is not None and cached[0] is schema:  # cached per pointer: shared ones draw once
        return cached[1]
    drawn: list[Any] = []
    strategy = build(schema, draft=DRAFT7, formats=FORMATS)
    if strategy.is_empty:
        raise ValueError("the engine found no value satisfying this schema")

    @HYPOTHESIS
    @given(strategy)
    def collect(value: Any) -> None:
        if value not in drawn:
            drawn.append(value)

    collect()
    _DRAWN[id(schema)] = (schema, drawn[:count])
    return drawn[:count]


def declared(value: Any, schemas: list[Any], root: dict[str, Any]) -> Any:
    """``value`` without the object keys none of ``schemas`` declares (a generated model drops
    undeclared fields); a key is declared by ``properties`` or ``required`` (any part of an
    allOf, and the oneOf/anyOf branches ``value`` is valid against), and every key of a
    free-form or ``additionalProperties`` map is kept. A part that declares no properties is no
    map when another part does (lob's ``allOf [..., {required: [description]}]``)."""
    if any(not isinstance(s, dict) for s in schemas):
        return value  # `true` or an unknown shape: anything goes, all of it is kept
    flat = _flatten(schemas, root, value)
    if isinstance(value, dict):
        maps = [s for s in flat if _is_map(s)]
        if any(s.get("properties") for s in flat):
            maps = [m for m in maps if m.get("additionalProperties", False) is not False]
        out: dict[str, Any] = {}
        for key, item in value.items():
            subs = [s["properties"][key] for s in flat if key in (s.get("properties") or {})]
            if subs:
                out[key] = declared(item, subs, root)
            elif any(key in (s.get("required") or []) for s in flat):
                # a name in ``required`` is part of the schema even when ``properties`` does
                # not describe it (xero's Folder requires ``name``): any value, kept whole
                out[key] = item
            elif maps:
                extra = [m.get("additionalProperties", True) for m in maps]
                out[key] = declared(item, [e if isinstance(e, dict) else True for e in extra], root)
        return out
    if isinstance(value, list):
        items = [s.get("items", True) for s in flat if "items" in s]
        return [declared(v, items or [True], root) for v in value]
    return value


# Not JSON Schema keywords of the root: where the definitions it reaches were grafted.
_GRAFTS = ("components", "definitions", "paths", "parameters", "responses")
_VALIDATORS: dict[int, tuple[Any, Any]] = {}


def _valid(value: Any, branch: dict[str, Any], root: dict[str, Any]) -> bool:
    cached = _VALIDATORS.get(id(branch))
    if cached is None or cached[0] is not branch:
        schema = {"allOf": [branch], **{k: root[k] for k in _GRAFTS if k in root}}
        cached = (branch, jsonschema_rs.Draft7Validator(schema, validate_formats=False))
        _VALIDATORS[id(branch)] = cached
    return bool(cached[1].is_valid(value))


def _is_map(schema: dict[str, Any]) -> bool:
    kind = schema.get("type", "object")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        return False
    if schema.get("properties") or "$ref" in schema:
        return False
    if any(k in schema for k in ("allOf", "oneOf", "anyOf")):
        return False
    return schema.get("additionalProperties", True) is not False


def _flatten(schemas: list[Any], root: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = list(schemas)
    seen: set[int] = set()
    while stack:
        schema = stack.pop()
        if not isinstance(schema, dict) or id(schema) in seen:
            continue
        seen.add(id(schema))
        if "$ref" in schema:
            stack.append(_pointer_get(root, schema["$ref"]))
        out.append(schema)
        stack.extend(schema.get("allOf", []))
        for key in ("oneOf", "anyOf"):
            branches = [b for b in schema.get(key, []) if isinstance(b, dict)]
            fitting = [b for b in branches if _valid(value, b, root)]
            stack.extend(fitting or branches)
    return out
