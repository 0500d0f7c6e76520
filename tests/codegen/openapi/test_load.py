"""Loader: YAML 1.1 quirks, versions, references, Swagger 2.0 conversion."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.openapi.diagnostics import Diagnostics, join_pointer
from codegen.openapi.load import (
    Document,
    LoadError,
    Location,
    RefResolver,
    detect_version,
    load,
    original_pointer,
    parse_text,
)
from tests.codegen.openapi.conftest import SPECS


def test_yaml_keys_are_strings_and_yaml11_words_are_not_booleans() -> None:
    data = parse_text("on: yes\n200: {date: 2024-01-02, off: no}\ntrue: 1\n", "x")
    assert data == {"on": "yes", "200": {"date": "2024-01-02", "off": "no"}, "true": 1}


def test_json_is_parsed_and_garbage_is_a_load_error() -> None:
    assert parse_text('{"a": [1]}', "x") == {"a": [1]}
    assert parse_text("{a: 1}", "x") == {"a": 1}  # not JSON, valid YAML flow mapping
    with pytest.raises(LoadError, match="not valid JSON or YAML"):
        parse_text("a: [1", "bad.yaml")


@pytest.mark.parametrize(
    ("root", "family"),
    [
        ({"swagger": "2.0"}, "2.0"),
        ({"openapi": "3.0.0"}, "3.0"),
        ({"openapi": "3.0"}, "3.0"),
        ({"openapi": "3.1.7"}, "3.1"),
        ({"openapi": "3.2.0"}, "3.1"),
    ],
)
def test_version_detection(root: dict[str, str], family: str) -> None:
    assert detect_version(root)[1] == family


@pytest.mark.parametrize("root", [{"swagger": "1.2"}, {"openapi": "4.0"}, {"info": {}}])
def test_unknown_versions_are_rejected(root: dict[str, str]) -> None:
    with pytest.raises(LoadError):
        detect_version(root)


def test_load_rejects_unreadable_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(LoadError, match="not a mapping"):
        load(tmp_path / "list.yaml")


def test_relative_file_refs_resolve_lazily_and_failures_are_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "root.yaml").write_text("openapi: 3.0.0\ninfo: {title: t, version: '1'}\n")
    (tmp_path / "other.yaml").write_text("Pet: {type: object, properties: {a~b: {type: string}}}\n")
    document = load(tmp_path / "root.yaml")
    diagnostics = Diagnostics()
    resolver = RefResolver(document, diagnostics)
    base = Location(document.path, "#/x")
    found = resolver.resolve("other.yaml#/Pet/properties/a~0b", base)
    assert found is not None and found[0] == {"type": "string"}
    assert found[1].ref(document.path) == "other.yaml#/Pet/properties/a~0b"
    assert resolver.resolve("other.yaml#/Nope", base) is None
    assert resolver.resolve("missing.yaml#/X", base) is None
    assert resolver.resolve("https://example.com/x.yaml#/X", base) is None
    assert resolver.resolve("#/info/title", base) == ("t", Location(document.path, "#/info/title"))
    reasons = [d.reason for d in diagnostics.sorted()]
    assert any("does not resolve" in r for r in reasons)
    assert any("not readable" in r for r in reasons)
    assert any("remote reference" in r for r in reasons)


def test_reference_cycles_without_schema_are_reported(tmp_path: Path) -> None:
    doc = Document(
        tmp_path / "x.yaml", "3.0.0", "3.0", {"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}}
    )
    diagnostics = Diagnostics()
    resolver = RefResolver(doc, diagnostics)
    assert resolver.deref({"$ref": "#/a"}, Location(doc.path, "#")) is None
    assert resolver.resolve("#/a/0", Location(doc.path, "#")) is None
    assert any("reference cycle" in d.reason for d in diagnostics.sorted())


def test_swagger2_is_converted_to_the_30_shape() -> None:
    document = load(SPECS / "swagger2.yaml")
    root = document.root
    assert document.family == "2.0"
    assert root["servers"] == [{"url": "https://api.example.com/v1"}]
    assert root["components"]["schemas"]["Item"]["properties"]["maybe"]["nullable"] is True
    schemes = root["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic"}
    assert schemes["oauth"]["flows"]["authorizationCode"]["tokenUrl"] == "https://t"
    create = root["paths"]["/items"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Item"
    }
    assert create["parameters"][0]["style"] == "pipeDelimited"
    assert create["responses"]["200"]["headers"]["X-Rate"]["schema"] == {"type": "integer"}
    upload = root["paths"]["/upload"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"] == {"type": "string", "format": "binary"}
    assert form["required"] == ["file"]
    assert upload["parameters"] == [{"$ref": "#/components/parameters/Trace"}]
    assert upload["responses"]["default"] == {"$ref": "#/components/responses/Error"}


def test_pointers_map_back_to_20_sources() -> None:
    assert original_pointer("#/components/schemas/A", "2.0") == "#/definitions/A"
    assert original_pointer("#/components/schemas/A", "3.0") == "#/components/schemas/A"
    assert join_pointer("#/paths", "/a/{b}", "get") == "#/paths/~1a~1{b}/get"
