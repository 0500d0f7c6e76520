"""Generated models for the hand-written edge-case specs: what a user decodes and encodes."""

from __future__ import annotations

import datetime
import enum
import typing
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import msgspec
import pytest

from codegen.openapi import ir
from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.parse import parse_path
from tests.codegen.openapi.conftest import SPECS, Generated

Models = Callable[[str], ModuleType]


def fields_of(cls: type) -> dict[str, tuple[object, object]]:
    hints = typing.get_type_hints(cls)
    info = {f.name: f for f in msgspec.structs.fields(cls)}
    return {name: (hints[name], info[name].default) for name in info}


def test_required_nullable_optional_matrix(spec_models: Models) -> None:
    m = spec_models("nullable_matrix.yaml")
    f = fields_of(m.Matrix)
    assert f["req"] == (str, msgspec.NODEFAULT)
    assert f["req_null"] == (str | None, msgspec.NODEFAULT)
    assert f["req_null_30"] == (str | None, msgspec.NODEFAULT)
    assert f["opt"] == (int | msgspec.UnsetType, msgspec.UNSET)
    assert f["opt_null"] == (int | None | msgspec.UnsetType, msgspec.UNSET)
    # G7: a documented default is the server's assumption, not a value decoding invents
    assert f["opt_default"] == (int | msgspec.UnsetType, msgspec.UNSET)
    decoded = msgspec.json.decode(b'{"req":"a","req_null":null,"req_null30":"b"}', type=m.Matrix)
    assert decoded.opt is msgspec.UNSET and decoded.req_null is None
    assert decoded.opt_default is msgspec.UNSET
    # re-encoding gives back exactly the fields that travelled
    assert msgspec.json.encode(decoded) == b'{"req":"a","req_null":null,"req_null30":"b"}'
    sent = msgspec.json.decode(
        b'{"req":"a","req_null":null,"req_null30":"b","opt_default":7}', type=m.Matrix
    )
    assert sent.opt_default == 7
    assert msgspec.json.encode(sent).endswith(b',"opt_default":7}')
    with pytest.raises(msgspec.ValidationError, match="req_null"):
        msgspec.json.decode(b'{"req":"a","req_null30":null}', type=m.Matrix)
    # an enum with a null value is a nullable enum
    assert (
        msgspec.json.decode(
            b'{"req":"a","req_null":null,"req_null30":null,"opt_enum_null":null}', type=m.Matrix
        ).opt_enum_null
        is None
    )


def test_discriminated_unions_decode_each_variant(spec_models: Models) -> None:
    m = spec_models("discriminators.yaml")
    owner = msgspec.json.decode(
        b'{"explicit":{"kind":"dog","bark":"woof"},"implicit":{"kind":"Cat","meow":true},'
        b'"pet":{"petType":"Snake","name":"s","length":2.5},"inferred":{"t":2,"b":"x"},'
        b'"untagged":{"kind":"x"},"scalar":"2024-01-01"}',
        type=m.Owner,
    )
    assert type(owner.explicit).__name__ == "Dog"
    assert type(owner.implicit).__name__ == "ImplicitCat"  # Cat is tagged "cat" by Explicit
    assert isinstance(owner.pet, m.Snake) and owner.pet.length == 2.5
    assert isinstance(owner.inferred, m.B)
    assert owner.untagged == {"kind": "x"}  # no discriminator: kept as a mapping
    assert owner.scalar == "2024-01-01"
    assert msgspec.json.decode(msgspec.json.encode(owner), type=m.Owner) == owner
    assert msgspec.json.encode(m.Dog(bark="b")) == b'{"kind":"dog","bark":"b"}'
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'bird'"):
        msgspec.json.decode(b'{"kind":"bird"}', type=m.Explicit)


def test_untagged_object_union_reports_a_diagnostic(
    make_package: Callable[[Path, str], Generated],
) -> None:
    result, _ = make_package(SPECS / "discriminators.yaml", "t")
    assert [d.pointer for d in result.diagnostics.sorted()] == ["#/components/schemas/Untagged"]


def test_allof_subclass_merge_and_recursion(spec_models: Models) -> None:
    m = spec_models("allof_recursion.yaml")
    assert m.Extended.__mro__[1] is m.Base
    assert "subclass" in (m.Extended.__doc__ or "")
    assert m.Merged.__mro__[1] is msgspec.Struct
    merged = fields_of(m.Merged)
    assert merged["note"][0] == int | msgspec.UnsetType  # the later part wins
    assert merged["other"][0] is bool  # required from the inline part
    deep: dict[str, object] = {}
    for _ in range(50):
        deep = {"children": [deep], "parent": {}}
    node = msgspec.json.decode(msgspec.json.encode(deep), type=m.Node)
    assert msgspec.json.decode(msgspec.json.encode(node), type=m.Node) == node
    contact = msgspec.json.decode(b'{"groups":[{"contacts":[{"groups":[]}]}]}', type=m.Contact)
    assert contact.groups[0].contacts[0].groups == []


def test_enums_tolerate_unknown_values_and_keep_them(spec_models: Models) -> None:
    m = spec_models("enums_names_formats.yaml")
    thing = msgspec.json.decode(b'{"color":"purple","level":9}', type=m.Thing)
    assert thing.color.value == "purple" and thing.color.name == "UNKNOWN"
    assert isinstance(thing.color, m.Color) and thing.level == 9
    # ``kind`` is an optional const property: absent from the payload, it stays absent (G7);
    # only a required const is filled in (it has one possible value and must be sent).
    assert msgspec.json.encode(thing) == b'{"color":"purple","level":9}'
    assert m.Color("red") is m.Color.RED and m.Color.V_3_D.value == "3d"
    # Equal, not cached: a value map keyed by what peers send would grow without bound.
    assert m.Color("purple") == thing.color and m.Color("purple").name == "UNKNOWN"
    assert "purple" not in m.Color._value2member_map_
    with pytest.raises(ValueError, match="is not a valid"):
        m.Color(3)
    # an enum default stays documentation: absent on the wire is UNSET, not GREEN
    assert fields_of(m.Thing)["color_default"][1] is msgspec.UNSET
    assert thing.color_default is msgspec.UNSET
    assert issubclass(m.Level, enum.IntEnum)


def test_names_formats_and_const(spec_models: Models) -> None:
    m = spec_models("enums_names_formats.yaml")
    f = fields_of(m.Thing)
    wire = {x.name: x.encode_name for x in msgspec.structs.fields(m.Thing)}
    assert wire["class_"] == "class" and wire["n2_fa"] == "2fa"
    assert wire["content_type"] == "content-type" and wire["camel_case"] == "camelCase"
    assert f["created"][0] == datetime.datetime | msgspec.UnsetType
    assert f["day"][0] == datetime.date | msgspec.UnsetType
    assert f["uid"][0] == uuid.UUID | msgspec.UnsetType
    assert f["raw"][0] == bytes | msgspec.UnsetType
    assert f["file"][0] == bytes | msgspec.UnsetType
    assert f["big"][0] == int | msgspec.UnsetType
    assert f["odd"][0] == str | msgspec.UnsetType
    assert f["kind"][0] == typing.Literal["thing"] | msgspec.UnsetType
    assert f["meta"][0] == dict[str, int] | msgspec.UnsetType
    assert f["anything"][0] == typing.Any | msgspec.UnsetType
    assert f["tags"][0] == list[m.ThingTagsItem] | msgspec.UnsetType  # type: ignore[name-defined]
    thing = msgspec.json.decode(
        b'{"class":"c","2fa":true,"raw":"AAE=","created":"2024-01-02T03:04:05Z"}', type=m.Thing
    )
    assert thing.class_ == "c" and thing.n2_fa is True and thing.raw == b"\x00\x01"
    assert msgspec.json.encode(thing).startswith(b'{"class":"c","2fa":true')


def test_swagger2_models_and_operations(spec_models: Models) -> None:
    m = spec_models("swagger2.yaml")
    assert fields_of(m.Item)["maybe"][0] == str | None | msgspec.UnsetType
    api = parse_path(SPECS / "swagger2.yaml", Diagnostics())
    create = next(op for op in api.operations if op.operation_id == "createItem")
    assert [(p.name, p.location, p.style, p.explode) for p in create.parameters] == [
        ("ids", "query", "pipeDelimited", False)
    ]
    assert create.body is not None and create.body.required
    assert {s.name: s.type for s in api.security_schemes} == {
        "basic": "http",
        "key": "apiKey",
        "oauth": "oauth2",
    }
    upload = next(op for op in api.operations if op.operation_id == "upload")
    assert upload.body is not None
    assert upload.body.contents[0].media_type == "multipart/form-data"
    assert [p.location for p in upload.parameters] == ["header"]
    assert [r.status for r in upload.responses] == ["default"]


def test_ir_carries_operations_for_the_client_half() -> None:
    api = parse_path(SPECS / "enums_names_formats.yaml", Diagnostics())
    (op,) = api.operations
    assert (op.operation_id, op.python_name, op.method, op.path) == (
        "getThing",
        "get_thing",
        "GET",
        "/things/{id}",
    )
    assert [r.status for r in op.responses] == ["200", "4XX", "default"]
    assert op.parameters[0].type == ir.Primitive("uuid", "uuid")
    assert op.parameters[1].style == "form" and op.parameters[1].explode is False
    assert isinstance(op.parameters[1].type, ir.ArrayOf)
    read = next(
        f
        for f in api.definitions["#/components/schemas/Thing"].fields  # type: ignore[union-attr]
        if f.wire_name == "read"
    )
    assert read.read_only and not read.write_only
