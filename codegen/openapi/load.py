"""Read OpenAPI documents: JSON or YAML files, lazy ``$ref`` resolution, version detection, and the
Swagger 2.0 -> OpenAPI 3.0 shape conversion.

References are never inlined: a ``$ref`` stays a reference (so recursive schemas stay finite) and is
resolved on demand through `RefResolver`, across files when the reference is relative. This module
must never fetch anything over the network: only ``file`` references relative to the document.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import yaml

from .diagnostics import Diagnostics, join_pointer

Family = Literal["2.0", "3.0", "3.1"]
JSONObject = dict[str, Any]


class LoadError(Exception):
    """The document as a whole cannot be used (unreadable, not a mapping, unknown version)."""


class _YAMLLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """A safe loader with YAML 1.2 core-schema scalars: only ``true``/``false`` are booleans
    (``on``/``yes`` stay strings, they are often keys), timestamps stay strings (a ``date``
    example must not become a `datetime.date`), and mapping keys are always strings (``200:``)."""


_YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    for _DROPPED in [{"tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"}]
}
_YAMLLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> JSONObject:
    loader.flatten_mapping(node)
    result: JSONObject = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key if isinstance(key, str) else _key_text(key)] = loader.construct_object(
            value_node, deep=True
        )
    return result


def _key_text(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


_YAMLLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_text(text: str, name: str) -> object:
    """Parse JSON or YAML text (JSON first when it looks like JSON: much faster)."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    try:
        return yaml.load(text, Loader=_YAMLLoader)
    except yaml.YAMLError as exc:
        raise LoadError(f"{name}: not valid JSON or YAML: {exc}") from exc


def read_file(path: Path) -> object:
    """Read and parse one file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LoadError(f"cannot read {path}: {exc}") from exc
    return parse_text(text, str(path))


def detect_version(root: JSONObject) -> tuple[str, Family]:
    """The declared version string and its family (2.0, 3.0 or 3.1; any 3.x patch)."""
    swagger = root.get("swagger")
    if swagger is not None:
        if str(swagger).startswith("2."):
            return str(swagger), "2.0"
        raise LoadError(f"unsupported swagger version {swagger!r}")
    openapi = root.get("openapi")
    if openapi is None:
        raise LoadError("not an OpenAPI document: no 'openapi' or 'swagger' field")
    text = str(openapi)
    if re.match(r"^3\.0(\.|$)", text):
        return text, "3.0"
    if re.match(r"^3\.[1-9]\d*(\.|$)", text):
        return text, "3.1"
    raise LoadError(f"unsupported openapi version {text!r}")


@dataclass(slots=True)
class Document:
    """A loaded root document in the OpenAPI 3.x shape (2.0 documents converted)."""

    path: Path
    version: str
    family: Family
    root: JSONObject
    files: dict[Path, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a node lives: the file and the JSON pointer inside it (``#/components/...``)."""

    file: Path
    pointer: str

    def ref(self, root_file: Path) -> str:
        """A stable textual key: the pointer, prefixed by the file name when not the root."""
        if self.file == root_file:
            return self.pointer
        return f"{self.file.name}{self.pointer}"


def _unescape(token: str) -> str:
    return unquote(token).replace("~1", "/").replace("~0", "~")


class RefResolver:
    """Resolves ``$ref`` strings lazily, within the root document and relative files."""

    def __init__(self, document: Document, diagnostics: Diagnostics) -> None:
        self.document = document
        self.diagnostics = diagnostics
        document.files.setdefault(document.path, document.root)

    def _file(self, path: Path) -> object | None:
        files = self.document.files
        if path not in files:
            try:
                data = read_file(path)
            except LoadError:
                files[path] = None
                return None
            if self.document.family == "2.0" and isinstance(data, dict):
                data = convert_swagger2_fragment(data)
            files[path] = data
        return files[path]

    def resolve(self, ref: str, base: Location) -> tuple[object, Location] | None:
        """The node a reference points at and its location, or None (and a diagnostic)."""
        file_part, _, fragment = ref.partition("#")
        if file_part:
            if "://" in file_part:
                self.diagnostics.report(
                    base.pointer,
                    f"remote reference {ref!r} is not fetched",
                    "used an untyped value",
                )
                return None
            target_file = (base.file.parent / unquote(file_part)).resolve()
        else:
            target_file = base.file
        node = self._file(target_file)
        if node is None:
            self.diagnostics.report(
                base.pointer, f"reference {ref!r}: file not readable", "used an untyped value"
            )
            return None
        pointer = "#" + fragment if fragment else "#"
        tokens = [_unescape(t) for t in fragment.split("/")[1:]] if fragment else []
        for token in tokens:
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                self.diagnostics.report(
                    base.pointer, f"reference {ref!r} does not resolve", "used an untyped value"
                )
                return None
        return node, Location(target_file, pointer)

    def deref(self, node: object, location: Location) -> tuple[object, Location] | None:
        """Follow a chain of ``$ref``s until a non-reference node (cycles give None)."""
        seen: set[tuple[Path, str]] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            key = (location.file, location.pointer)
            if key in seen:
                self.diagnostics.report(
                    location.pointer, "reference cycle without a schema", "used an untyped value"
                )
                return None
            seen.add(key)
            resolved = self.resolve(node["$ref"], location)
            if resolved is None:
                return None
            node, location = resolved
        return node, location


def load(path: Path) -> Document:
    """Load a root document, detect its version, and convert Swagger 2.0 to the 3.0 shape."""
    path = path.resolve()
    data = read_file(path)
    if not isinstance(data, dict):
        raise LoadError(f"{path}: the document is not a mapping")
    version, family = detect_version(data)
    if family == "2.0":
        data = convert_swagger2(data)
    return Document(path=path, version=version, family=family, root=data)


# --- Swagger 2.0 -> OpenAPI 3.0 ---------------------------------------------------------------

_REF_PREFIXES = (
    ("#/definitions/", "#/components/schemas/"),
    ("#/parameters/", "#/components/parameters/"),
    ("#/responses/", "#/components/responses/"),
)
_COLLECTION_FORMATS: dict[str, tuple[str, bool]] = {
    "csv": ("form", False),
    "ssv": ("spaceDelimited", False),
    "pipes": ("pipeDelimited", False),
    "tsv": ("tabDelimited", False),
    "multi": ("form", True),
}
_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "items",
        "enum",
        "default",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "uniqueItems",
        "multipleOf",
        "x-nullable",
    }
)


def _rewrite_ref(ref: str) -> str:
    file_part, _, fragment = ref.partition("#")
    for old, new in _REF_PREFIXES:
        if ("#" + fragment).startswith(old):
            return file_part + new + fragment[len(old) - 1 :]
    return ref


def convert_schema(node: object) -> object:
    """A 2.0 schema in the 3.0 shape: ``x-nullable`` -> ``nullable``, ``type: file`` -> binary,
    definitions references rewritten. Returns a new structure (the input is left untouched)."""
    if isinstance(node, list):
        return [convert_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: JSONObject = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _rewrite_ref(value)
        elif key == "x-nullable":
            out["nullable"] = value
        elif key == "type" and value == "file":
            out["type"] = "string"
            out["format"] = "binary"
        elif key in {"properties", "definitions"} and isinstance(value, dict):
            out[key] = {name: convert_schema(sub) for name, sub in value.items()}
        elif key in {"example", "x-example", "examples", "default", "enum"}:
            out[key] = value
        else:
            out[key] = convert_schema(value)
    return out


def convert_swagger2_fragment(data: JSONObject) -> JSONObject:
    """A file referenced from a 2.0 document: same schema conversion, definitions moved."""
    converted = convert_schema(data)
    assert isinstance(converted, dict)
    if "definitions" in converted and "swagger" in converted:
        converted = convert_swagger2(data)
    return converted


def _param_schema(param: JSONObject) -> JSONObject:
    schema = {k: v for k, v in param.items() if k in _SCHEMA_KEYS}
    if param.get("allowEmptyValue") is not None:
        schema.pop("allowEmptyValue", None)
    converted = convert_schema(schema)
    assert isinstance(converted, dict)
    converted.pop("collectionFormat", None)
    return converted


def _convert_parameter(param: JSONObject) -> JSONObject:
    out: JSONObject = {
        k: v
        for k, v in param.items()
        if k in {"name", "in", "description", "required", "deprecated", "allowEmptyValue"}
        or k.startswith("x-")
    }
    out["schema"] = _param_schema(param)
    if param.get("type") == "array":
        collection = str(param.get("collectionFormat", "csv"))
        style, explode = _COLLECTION_FORMATS.get(collection, ("form", False))
        if param.get("in") in {"path", "header"} and style == "form":
            style = "simple"
        out["style"] = style
        out["explode"] = explode
    return out


def _content(schema: object, media_types: list[str]) -> JSONObject:
    return {media: {"schema": copy.deepcopy(schema)} for media in media_types}


def _convert_response(response: object, produces: list[str]) -> object:
    if not isinstance(response, dict):
        return response
    if "$ref" in response:
        return {"$ref": _rewrite_ref(str(response["$ref"]))}
    out: JSONObject = {"description": response.get("description", "")}
    if "schema" in response:
        out["content"] = _content(convert_schema(response["schema"]), produces)
    headers = response.get("headers")
    if isinstance(headers, dict):
        out["headers"] = {
            name: {
                "description": h.get("description", ""),
                "schema": _param_schema(h),
            }
            for name, h in headers.items()
            if isinstance(h, dict)
        }
    out.update({k: v for k, v in response.items() if k.startswith("x-")})
    return out


def _media_list(value: object, fallback: list[str]) -> list[str]:
    if isinstance(value, list) and value:
        return [str(v) for v in value]
    return fallback


def _convert_operation(
    op: JSONObject,
    path_params: list[object],
    root: JSONObject,
    consumes: list[str],
    produces: list[str],
) -> JSONObject:
    op_consumes = _media_list(op.get("consumes"), consumes)
    op_produces = _media_list(op.get("produces"), produces)
    out: JSONObject = {
        k: v
        for k, v in op.items()
        if k
        in {
            "tags",
            "summary",
            "description",
            "externalDocs",
            "operationId",
            "deprecated",
            "security",
        }
        or k.startswith("x-")
    }
    merged: dict[tuple[str, str], object] = {}
    for raw in [*path_params, *(op.get("parameters") or [])]:
        param = raw
        if isinstance(raw, dict) and isinstance(raw.get("$ref"), str):
            name = str(raw["$ref"]).rsplit("/", 1)[-1]
            param = (root.get("parameters") or {}).get(unquote(name), raw)
        if isinstance(param, dict):
            merged[(str(param.get("in")), str(param.get("name")))] = (
                raw
                if isinstance(raw, dict)
                and "$ref" in raw
                and param.get("in") not in {"body", "formData"}
                else param
            )
    parameters: list[object] = []
    form_props: JSONObject = {}
    form_required: list[str] = []
    has_file = False
    for (where, name), param in merged.items():
        if not isinstance(param, dict) or "$ref" in param:
            if isinstance(param, dict):
                parameters.append({"$ref": _rewrite_ref(str(param["$ref"]))})
            continue
        if where == "body":
            body: JSONObject = {
                "content": _content(convert_schema(param.get("schema", {})), op_consumes)
            }
            if "description" in param:
                body["description"] = param["description"]
            if param.get("required"):
                body["required"] = True
            if "x-codegen-request-body-name" not in body:
                body["x-body-name"] = name
            out["requestBody"] = body
        elif where == "formData":
            prop = _param_schema(param)
            if "description" in param:
                prop["description"] = param["description"]
            has_file = has_file or param.get("type") == "file"
            form_props[name] = prop
            if param.get("required"):
                form_required.append(name)
        else:
            parameters.append(_convert_parameter(param))
    if form_props:
        form_media = [m for m in op_consumes if m.startswith(("multipart/", "application/x-www"))]
        if not form_media:
            form_media = [
                "multipart/form-data" if has_file else "application/x-www-form-urlencoded"
            ]
        form_schema: JSONObject = {"type": "object", "properties": form_props}
        if form_required:
            form_schema["required"] = form_required
        out["requestBody"] = {"content": _content(form_schema, form_media)}
        if form_required:
            out["requestBody"]["required"] = True
    if parameters:
        out["parameters"] = parameters
    responses = op.get("responses")
    if isinstance(responses, dict):
        out["responses"] = {
            str(code): _convert_response(resp, op_produces) for code, resp in responses.items()
        }
    return out


_SECURITY_FLOWS = {
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}


def _convert_security_scheme(scheme: object) -> object:
    if not isinstance(scheme, dict):
        return scheme
    kind = scheme.get("type")
    extras = {k: v for k, v in scheme.items() if k == "description" or k.startswith("x-")}
    if kind == "basic":
        return {"type": "http", "scheme": "basic", **extras}
    if kind == "oauth2":
        flow = _SECURITY_FLOWS.get(str(scheme.get("flow")), "implicit")
        body: JSONObject = {"scopes": scheme.get("scopes") or {}}
        for key in ("authorizationUrl", "tokenUrl"):
            if key in scheme:
                body[key] = scheme[key]
        return {"type": "oauth2", "flows": {flow: body}, **extras}
    return scheme


_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def convert_swagger2(data: JSONObject) -> JSONObject:
    """A whole Swagger 2.0 document in the OpenAPI 3.0 shape (new structure)."""
    consumes = _media_list(data.get("consumes"), ["application/json"])
    produces = _media_list(data.get("produces"), ["application/json"])
    out: JSONObject = {"openapi": "3.0.3", "x-converted-from": str(data.get("swagger"))}
    for key in ("info", "tags", "externalDocs", "security"):
        if key in data:
            out[key] = data[key]
    out.update({k: v for k, v in data.items() if k.startswith("x-")})
    host = data.get("host")
    base_path = str(data.get("basePath") or "")
    if host:
        schemes = _media_list(data.get("schemes"), ["https"])
        out["servers"] = [{"url": f"{scheme}://{host}{base_path}"} for scheme in schemes]
    elif base_path:
        out["servers"] = [{"url": base_path}]
    components: JSONObject = {}
    definitions = data.get("definitions")
    if isinstance(definitions, dict):
        components["schemas"] = {
            name: convert_schema(schema) for name, schema in definitions.items()
        }
    params = data.get("parameters")
    if isinstance(params, dict):
        components["parameters"] = {
            name: _convert_parameter(p)
            for name, p in params.items()
            if isinstance(p, dict) and p.get("in") not in {"body", "formData"}
        }
    responses = data.get("responses")
    if isinstance(responses, dict):
        components["responses"] = {
            name: _convert_response(r, produces) for name, r in responses.items()
        }
    security = data.get("securityDefinitions")
    if isinstance(security, dict):
        components["securitySchemes"] = {
            name: _convert_security_scheme(s) for name, s in security.items()
        }
    if components:
        out["components"] = components
    paths: JSONObject = {}
    for path, item in (data.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        path_params = list(item.get("parameters") or [])
        new_item: JSONObject = {k: v for k, v in item.items() if k.startswith("x-")}
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                new_item[method] = _convert_operation(op, path_params, data, consumes, produces)
        paths[str(path)] = new_item
    out["paths"] = paths
    return out


def original_pointer(pointer: str, family: Family) -> str:
    """Map a pointer in the converted 3.0 shape back to the 2.0 source where it is 1:1."""
    if family == "2.0":
        for old, new in _REF_PREFIXES:
            if pointer.startswith(new):
                return old + pointer[len(new) :]
    return pointer


__all__ = [
    "Document",
    "Family",
    "LoadError",
    "Location",
    "RefResolver",
    "convert_swagger2",
    "detect_version",
    "join_pointer",
    "load",
    "original_pointer",
    "parse_text",
    "read_file",
]
