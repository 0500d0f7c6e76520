"""readOnly / writeOnly (G25): request shapes keep readOnly properties as optional fields, unset
(so never sent) unless the caller sets one, e.g. to send back an object it received; response
models never carry writeOnly ones; schemas without either (and nothing below them) stay as they
are.
The generated text is pinned by the ``read_write_only`` golden; here, what a user notices.
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import yaml

from tests.codegen.openapi.conftest import CORPUS, SPECS, Generated


def test_request_and_response_shapes(make_package: Callable[[Path, str], Generated]) -> None:
    result, models = make_package(SPECS / "read_write_only.yaml", "t")
    client = importlib.import_module(f"{result.package_dir.name}.client")
    # The request shape has readOnly properties as optional fields, the response shape no
    # writeOnly one.
    assert models.UserInput.__struct_encode_fields__ == (
        "kind",
        "id",
        "name",
        "password",
        "createdAt",
    )
    assert models.User.__struct_encode_fields__ == ("kind", "id", "name", "createdAt")
    sent = models.UserInput(kind="user", name="ada", password="s3cret")
    assert msgspec.json.decode(msgspec.json.encode(sent)) == {
        "kind": "user",
        "name": "ada",
        "password": "s3cret",
    }
    # Set explicitly (a PUT of what a GET returned), a readOnly property is sent.
    echoed = models.UserInput(kind="user", id=7, name="ada", password="p")
    assert msgspec.json.decode(msgspec.json.encode(echoed))["id"] == 7
    # A server that echoes the password anyway: tolerated, and not kept in the response model.
    wire = b'{"kind":"user","id":1,"name":"ada","password":"s","createdAt":"2024-01-02T03:04:05Z"}'
    user = msgspec.json.decode(wire, type=models.User)
    assert user.id == 1 and not hasattr(user, "password")
    # Nested and inherited: the request shapes refer to request shapes.
    team = typing.get_type_hints(models.TeamInput)
    assert typing.get_args(team["members"]) == (models.UserInput,)
    assert issubclass(models.AdminInput, models.UserInput)
    assert models.AdminInput(kind="admin", name="r", password="p").audited_at is msgspec.UNSET
    assert "audited_at" in models.Admin.__struct_fields__
    # A tagged union keeps its tag (a readOnly discriminator stays on the wire).
    account = msgspec.json.decode(
        b'{"kind":"admin","name":"root","password":"p","level":9}', type=models.AccountInput
    )
    assert type(account).__name__ == "AccountAdminInput" and account.level == 9
    assert b'"kind":"admin"' in msgspec.json.encode(account)
    # The client takes request shapes and returns response shapes.
    hints = typing.get_type_hints(client.AccountsClient.create_user)
    assert hints["body"] is models.UserInput
    assert typing.get_args(typing.get_args(hints["return"])[0])[0] is models.User
    # Untouched: no readOnly/writeOnly below them, or never sent in a request.
    assert not hasattr(models, "LabelInput")
    assert not hasattr(models, "CreateAccountResponse422Input")
    assert "UserInput" in result.exported and "LabelInput" not in result.exported


def test_xero_request_shapes_keep_read_only_properties_optional(
    make_package: Callable[[Path, str], Generated],
) -> None:
    spec = CORPUS / "xero_accounting.yaml"
    if not spec.exists():
        pytest.skip(f"corpus folder {CORPUS} is absent")
    result, models = make_package(spec, "c")
    schemas = yaml.safe_load(spec.read_text())["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        read_only = {
            wire
            for wire, prop in (schema.get("properties") or {}).items()
            if isinstance(prop, dict) and prop.get("readOnly") is True
        }
        if not read_only or f"{name}Input" not in result.exported:
            continue
        response, request = getattr(models, name), getattr(models, f"{name}Input")
        assert read_only <= set(response.__struct_encode_fields__), name
        assert read_only <= set(request.__struct_encode_fields__), name
        # Optional and unset: a request built without them never sends them.
        defaults = (
            dict(
                zip(
                    request.__struct_fields__[-len(request.__struct_defaults__) :],
                    request.__struct_defaults__,
                    strict=True,
                )
            )
            if request.__struct_defaults__
            else {}
        )
        by_wire = dict(
            zip(request.__struct_encode_fields__, request.__struct_fields__, strict=True)
        )
        assert all(defaults.get(by_wire[w]) is msgspec.UNSET for w in read_only), name
        checked += 1
    assert checked >= 15
