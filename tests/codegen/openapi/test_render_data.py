"""The per-file data the emitters hand to the templates (pure logic, no rendering): what a
template can rely on, so an overriding template gets the same facts as the default one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codegen.openapi.clients import ClientEmitter
from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.load import load
from codegen.openapi.models import ModelEmitter
from codegen.openapi.parse import build_api
from codegen.openapi.plan import Planner
from codegen.openapi.readwrite import split_read_write
from codegen.openapi.stubs import StubEmitter

SPEC = """\
openapi: 3.1.0
info: {title: Data Shapes, version: "2"}
servers: [{url: "https://api.example.test/v2"}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
    basic: {type: http, scheme: basic}
  schemas:
    Item:
      type: object
      required: [id]
      properties:
        id: {type: integer}
        class: {type: string, default: plain}
        tags: {type: array, items: {type: string}, default: []}
paths:
  /items/{item_id}:
    put:
      operationId: putItem
      security: [{key: []}]
      parameters:
        - {name: item_id, in: path, required: true, schema: {type: integer}}
        - {name: verbose, in: query, schema: {type: boolean}}
        - name: filter
          in: query
          content: {application/json: {schema: {type: object}}}
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: "#/components/schemas/Item"}}}
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/Item"}}}
        "404": {description: missing}
"""


def _emitters(tmp_path: Path) -> tuple[ModelEmitter, ClientEmitter, StubEmitter]:
    (tmp_path / "spec.yaml").write_text(SPEC)
    api = split_read_write(build_api(load(tmp_path / "spec.yaml"), Diagnostics()))
    models = ModelEmitter(api, Diagnostics())
    _, exported = models.emit()
    planner = Planner(api, models, set(exported))
    plans = planner.plan_all()
    clients = ClientEmitter(api, "pkg", planner, plans)
    return models, clients, StubEmitter(api, "pkg", planner, plans, clients.name)


def test_model_fields_carry_annotation_default_and_wire_name(tmp_path: Path) -> None:
    models, _, _ = _emitters(tmp_path)
    (item,) = models.module_data()["structs"]
    fields = {f["name"]: f for f in item["fields"]}
    assert item["bases"] == ["msgspec.Struct", "kw_only=True"]
    assert fields["id"] == {"name": "id", "annotation": "int", "value": None, "comment": None}
    # defaults stay documentation (G7): UNSET, with the server's default as a comment
    assert fields["class_"]["value"] == "msgspec.field(default=UNSET, name='class')"
    assert fields["class_"]["comment"] == '# server default: "plain"'
    assert fields["tags"]["value"] == "UNSET"
    assert fields["tags"]["comment"] == "# server default: []"
    assert fields["id"]["comment"] is None
    assert fields["tags"]["annotation"] == "list[str] | UnsetType"


def test_operation_data_orders_arguments_and_settles_serialization(tmp_path: Path) -> None:
    _, clients, _ = _emitters(tmp_path)
    (op,) = clients.group_data(clients.plans)["operations"]
    assert [(a["arg"], a["optional"]) for a in op["args"]] == [
        ("item_id", False),
        ("body", False),
        ("verbose", True),
        ("filter", True),
    ]
    params = {p["name"]: p for p in op["params"]}
    # A content-encoded query parameter is JSON text sent form/explode, whatever its style says.
    assert params["filter"]["value"] == "msgspec.json.encode(filter).decode()"
    assert (params["filter"]["style"], params["filter"]["explode"]) == ("form", True)
    assert (params["item_id"]["style"], params["item_id"]["explode"]) == ("simple", False)
    assert op["locations"] == ["path", "query"] and op["has_headers"] is True
    assert op["statuses"] == ("200", "404") and op["any_2xx"] is True
    assert [r["error_class"] is None for r in op["responses"]] == [True, False]
    assert op["security"] == "((('key', 'apiKey', 'header:X-Key'), ), )"


def test_client_data_is_one_model_for_both_classes(tmp_path: Path) -> None:
    _, clients, _ = _emitters(tmp_path)
    data: dict[str, Any] = clients.client_data()
    assert data["name"] == "DataShapes" and data["absolute"] is True
    assert data["base_url"] == "https://api.example.test/v2"
    assert [(c["arg"], c["kind"]) for c in data["credentials"]] == [
        ("basic", "basic"),
        ("key", "apiKey"),
    ]
    assert [m["name"] + m["suffix"] for m in data["methods"]] == [
        "put_item",
        "put_item_with_response",
    ]
    # Nothing in the data says "async": the template decides that per rendering.
    assert "async" not in repr(data).lower()


def test_stub_route_data(tmp_path: Path) -> None:
    _, _, stubs = _emitters(tmp_path)
    data = stubs.module_data()
    (op,) = data["operations"]
    assert data["prefix"] == "/v2" and data["media_types"] == ("application/json",)
    assert op["default_status"] == 200
    assert op["documented"] == {"200": ("json", "application/json"), "404": ("none", None)}
    assert op["call"] == "item_id=item_id, verbose=verbose, filter=filter, body=body"
    params = {p["name"]: p for p in op["params"]}
    assert params["filter"]["shape"] == "primitive"  # JSON text, one value
    assert params["verbose"]["others"] == ["filter"]
