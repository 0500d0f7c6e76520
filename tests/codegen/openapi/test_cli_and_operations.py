"""The ``generate openapi`` command in-process, and the IR of operations, webhooks, security."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codegen.__main__ import main
from codegen.openapi import ir
from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.parse import parse_path
from tests.codegen.openapi.conftest import SPECS

SPEC = SPECS / "operations_31.yaml"


def test_cli_generates_and_prints_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "openapi", str(SPEC), "--out", str(tmp_path), "--package", "ops"]) == 0
    captured = capsys.readouterr()
    assert "warning: #/paths/~1empty/delete: operation has no responses" in captured.err
    assert "loaded operations_31.yaml" in captured.err
    assert (tmp_path / "ops" / "py.typed").exists()
    assert 'name = "ops"' in (tmp_path / "pyproject.toml").read_text()
    args = ["generate", "openapi", str(SPEC), "--out", str(tmp_path), "--package", "ops"]
    assert main([*args, "--quiet", "--diagnostics", "json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    reasons = {d["reason"] for d in json.loads(captured.out)}
    assert "invalid status '99x'" in reasons
    assert "parameter without a valid name or location" in reasons


def test_cli_usage_and_document_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["generate", "openapi", str(SPEC), "--out", str(tmp_path)]
    assert main([*base, "--package", "not-valid"]) == 2
    assert main([*base, "--package", "a.b"]) == 2
    assert main([*base, "--package", "class"]) == 2
    missing = ["generate", "openapi", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]
    assert main([*missing, "--package", "x"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_operations_servers_security_webhooks_callbacks() -> None:
    diagnostics = Diagnostics()
    api = parse_path(SPEC, diagnostics)
    assert api.servers[0].variables[0] == ir.ServerVariable("region", "eu", ("eu", "us"), "Region.")
    assert api.security == ((("key", ()),), (("basic", ()), ("oauth", ("read",))))
    schemes = {s.name: s for s in api.security_schemes}
    assert schemes["oauth"].flows[0].kind == "clientCredentials"
    assert schemes["oidc"].open_id_connect_url == "https://o"
    get, post, delete = api.operations
    assert get.security == () and post.security is None
    assert get.servers[0].url == "https://items.example.com"
    assert [(p.name, p.location, p.style, p.explode, p.required) for p in get.parameters] == [
        ("id", "path", "simple", False, True),
        ("filter", "query", "deepObject", True, False),
        ("q", "query", "form", True, False),
        ("raw", "cookie", "form", True, False),
    ]
    assert get.parameters[2].content[0].media_type == "application/json"
    assert [r.status for r in get.responses] == ["200", "201", "5XX"]
    assert get.responses[0].headers[0].required
    assert [c.media_type for c in get.responses[0].contents] == ["application/json", "text/plain"]
    assert post.python_name == "post_items_id" and post.body is not None
    multipart = post.body.contents[0]
    assert dict(multipart.encoding)["meta"].content_type == "application/json"
    assert dict(multipart.encoding)["meta"].headers[0].name == "X-Part"
    assert post.callbacks[0][0] == "onDone" and post.callbacks[0][1].method == "POST"
    assert delete.responses == ()
    assert api.webhooks[0].path == "newItem" and api.webhooks[0].body is not None
    names = {d.name for d in api.definitions.values()}
    assert {"PostItemsIdBodyMultipart", "PostItemsIdBodyForm", "GetItemResponse200"} <= names
    reasons = {d.reason for d in diagnostics.sorted()}
    assert "unknown type 'whatever'" in reasons and "schema is not an object" in reasons


def test_degraded_types_still_generate(tmp_path: Path) -> None:
    import importlib
    import sys

    import msgspec

    from codegen.openapi.generate import generate

    result = generate(SPEC, tmp_path, "ops_models")
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.invalidate_caches()
        models = importlib.import_module("ops_models.models")
    finally:
        sys.path.remove(str(tmp_path))
    for name in result.exported:
        msgspec.json.Decoder(getattr(models, name))
    event = msgspec.json.decode(b'{"at":3,"kinds":[["a",1]],"tri":"b"}', type=models.Event)
    assert event.at == 3 and event.kinds == [["a", 1]] and event.tri == "b"
    # G7: documented defaults (valid, invalid, null) are the server's; absent stays UNSET
    defaulted = ["list_default", "map_default", "num_default", "bad_default", "null_default"]
    defaulted += ["bool_default", "lit_default"]
    assert all(getattr(event, name) is msgspec.UNSET for name in defaulted)
    assert msgspec.json.encode(event) == b'{"at":3,"kinds":[["a",1]],"tri":"b"}'
    assert msgspec.json.decode(b"null", type=models.Aliased) is None
