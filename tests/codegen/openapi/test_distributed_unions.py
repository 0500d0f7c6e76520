"""allOf over a oneOf, properties beside a oneOf and a union inside a union
(tests/codegen/specs/distributed_unions.yaml), checked on the wire.

The payloads are validated against the document by jsonschema-rs (an independent validator)
before the generated client sees them, and what the client sends is validated the same way: a
shape the client and the document disagree on fails here, whatever the generator believes.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema_rs
import msgspec
import pytest
import yaml

from codegen.openapi.distribute import MAX_VARIANTS, distributed_union
from flext_api import DecodingError, Failure
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.codegen.openapi.test_wire_truth import Oracle
from tests.servers.runners import run_uvicorn

SPEC = SPECS / "distributed_unions.yaml"
DOCUMENT = yaml.safe_load(SPEC.read_text())


def validator(name: str) -> Any:
    """A jsonschema-rs validator for one component schema of the document (3.0 nullable aside,
    these schemas are plain JSON Schema)."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]}
    return jsonschema_rs.Draft7Validator(schema)


class Sdk(msgspec.Struct):
    package: ModuleType
    models: ModuleType
    oracle: Oracle
    url: str
    diagnostics: list[str]


@pytest.fixture(scope="module")
def sdk(make_package: Callable[[Path, str], Generated]) -> Iterator[Sdk]:
    result, models = make_package(SPEC, "t")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    reasons = [d.reason for d in result.diagnostics.sorted()]
    with run_uvicorn("h11", app=oracle) as server:
        yield Sdk(package, models, oracle, server.url, reasons)


def served(sdk: Sdk, schema: str, payload: list[Any]) -> bytes:
    checker = validator(schema)
    for item in payload:
        assert checker.is_valid(item), item  # the test's payloads are ones the document allows
    body = json.dumps(payload).encode()
    sdk.oracle.reply = (200, "application/json", body)
    return body


def test_all_of_over_one_of_decodes_each_kind_with_the_shared_fields_typed(sdk: Sdk) -> None:
    m = sdk.models
    payload: list[dict[str, Any]] = [
        {"id": "c1", "created": "2026-01-02T03:04:05Z", "kind": "postcard", "size": "4x6"},
        {"id": "c2", "created": "2026-01-02T03:04:05Z", "kind": "letter", "pages": 3, "x": 1},
    ]
    served(sdk, "Creative", payload)
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        postcard, letter = api.list_creatives().unwrap()
    assert type(postcard) is m.CreativePostcard and postcard.size == "4x6"
    assert type(letter) is m.CreativeLetter and letter.pages == 3
    assert postcard.created.year == 2026 and letter.id == "c2"
    # re-encoded: the wire shape, tag included, the key no variant declares dropped
    del payload[1]["x"]
    assert json.loads(msgspec.json.encode([postcard, letter])) == payload


def test_a_kind_the_document_does_not_list_is_a_decode_failure(sdk: Sdk) -> None:
    served(sdk, "Resource", [{"id": "c3", "created": "2026-01-02T03:04:05Z", "kind": "video"}])
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        result = api.list_creatives()
    assert isinstance(result, Failure) and isinstance(result.error, DecodingError)
    assert "video" in str(result.error)


def test_the_client_sends_a_body_the_document_accepts(sdk: Sdk) -> None:
    m = sdk.models
    sdk.oracle.reply = (
        201,
        "application/json",
        b'{"id": "c4", "created": "2026-01-02T03:04:05Z", "kind": "letter", "pages": 1}',
    )
    body = m.CreativeLetter(id="c4", created=msgspec.convert("2026-01-02T03:04:05Z", Any), pages=1)
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        created = api.create_creative(body=body).unwrap()
    sent = json.loads(sdk.oracle.last().body)
    assert sent["kind"] == "letter"
    assert validator("Creative").is_valid(sent), sent
    assert created == m.CreativeLetter(id="c4", created=created.created, pages=1)


def test_a_discriminator_on_the_inner_union_tags_the_distributed_variants(sdk: Sdk) -> None:
    m = sdk.models
    payload = [
        {"name": "Tom", "species": "cat", "meows": True},
        {"name": "Rex", "species": "Dog", "barks": False},  # the implicit mapping: schema name
    ]
    served(sdk, "Animal", payload)
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        cat, dog = api.list_animals().unwrap()
    assert cat == m.AnimalCat(name="Tom", meows=True)
    assert dog == m.AnimalDog(name="Rex", barks=False)
    assert json.loads(msgspec.json.encode([cat, dog])) == payload


def test_properties_beside_a_one_of_apply_to_its_object_variant(sdk: Sdk) -> None:
    m = sdk.models
    served(sdk, "Envelope", [False, {"id": "e1", "url": "https://example.test/e1"}])
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        none, envelope = api.list_envelopes().unwrap()
    assert none is False
    assert envelope == m.EnvelopeOption2(id="e1", url="https://example.test/e1")


def test_a_union_inside_a_union_is_decoded_by_shape(sdk: Sdk) -> None:
    m = sdk.models
    payload = [
        "adr_1",
        {"street": "1 Main St", "zip": "94107", "extra": True},
        {"street": "10 Downing St", "country": "GB"},
    ]
    served(sdk, "Sender", payload)
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        ident, us, intl = api.list_senders(page=m.Window(after="adr_0")).unwrap()
    assert ident == "adr_1"
    assert us == m.UsAddress(street="1 Main St", zip="94107")
    assert intl == m.IntlAddress(street="10 Downing St", country="GB")
    # a constraint-only oneOf (one of before/after) keeps one object: form-exploded as usual
    assert sdk.oracle.last().target.endswith("/senders?after=adr_0")


def test_a_union_of_a_map_and_an_object_that_names_itself_is_decoded_by_shape(sdk: Sdk) -> None:
    m = sdk.models
    payload = {
        "user": {"name": {"_errors": [{"code": 1, "message": "too long", "hint": "cut"}]}},
        "_errors": [{"code": 2, "message": "invalid"}],
    }
    assert validator("Problems").is_valid(payload["user"])
    sdk.oracle.reply = (200, "application/json", json.dumps(payload["user"]).encode())
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        problems = api.get_problems().unwrap()
    problem = m.Problem(code=1, message="too long")
    assert problems == {"name": m.FieldProblems(errors=[problem])}
    # the key the object declares goes to the object, only when it is the only key
    sdk.oracle.reply = (200, "application/json", json.dumps(payload).encode())
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        refused = api.get_problems()
    assert not validator("Problems").is_valid(payload)  # `_errors` is no map value
    assert isinstance(refused, Failure) and isinstance(refused.error, DecodingError)
    assert "fits no variant of Problems" in str(refused.error)
    assert "FieldProblems requires ['_errors']" in str(refused.error)


def test_variants_requiring_the_same_properties_are_told_apart_by_their_values(sdk: Sdk) -> None:
    m = sdk.models
    payload = [
        {"id": "1", "type": "youtube", "channel": "c"},
        {"id": "2", "type": "guild_subscription"},
        {"id": "3", "type": "twitch", "extra": True},
    ]
    served(sdk, "Integration", payload)
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        youtube, subscription, twitch = api.list_integrations().unwrap()
    assert youtube == m.Stream(id="1", type=m.StreamType.YOUTUBE, channel="c")
    assert subscription == m.Subscription(id="2", type="guild_subscription")
    assert type(twitch) is m.Stream and twitch.type == "twitch"


@pytest.mark.parametrize("depth", [400, 20_000])
def test_a_body_nested_too_deep_is_a_decode_failure_and_the_client_goes_on(
    sdk: Sdk, depth: int
) -> None:
    m = sdk.models
    bomb = b'{"a":' * depth + b'{"_errors":[]}' + b"}" * depth
    sdk.oracle.reply = (200, "application/json", bomb)
    with sdk.package.DistributedClient(base_url=sdk.url) as api:
        result = api.get_problems()
        assert isinstance(result, Failure) and isinstance(result.error, DecodingError)
        assert "recursion" in str(result.error)
        sdk.oracle.reply = (200, "application/json", b'{"_errors": []}')
        assert api.get_problems().unwrap() == m.FieldProblems(errors=[])


def test_none_of_the_shapes_falls_back_to_an_untyped_mapping(sdk: Sdk) -> None:
    assert not [r for r in sdk.diagnostics if "union" in r or "beside" in r or "next to" in r]


# --- the rewrite alone ------------------------------------------------------------------------


def no_refs(part: dict[str, Any]) -> dict[str, Any] | None:
    return None


def test_two_unions_in_one_all_of_are_left_merged() -> None:
    obj: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    parts = [{"oneOf": [obj, obj]}, {"anyOf": [obj, obj]}]
    assert distributed_union(parts, no_refs) is None


def test_an_inline_variant_under_a_discriminator_has_no_known_tag() -> None:
    obj: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    parts = [obj, {"oneOf": [obj, obj], "discriminator": {"propertyName": "a"}}]
    assert distributed_union(parts, no_refs) is None


def test_too_many_variants_are_left_merged() -> None:
    obj: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert distributed_union([obj, {"oneOf": [obj] * (MAX_VARIANTS + 1)}], no_refs) is None
    assert distributed_union([obj, {"oneOf": [obj] * MAX_VARIANTS}], no_refs) is not None


def test_an_unresolvable_part_leaves_the_all_of_merged() -> None:
    obj: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert distributed_union([{"$ref": "#/nowhere"}, {"oneOf": [obj, obj]}], no_refs) is None
    assert distributed_union([obj, {"oneOf": [obj, {"$ref": "#/nowhere"}]}], no_refs) is None


def test_a_scalar_variant_passes_only_beside_properties() -> None:
    own: dict[str, Any] = {"properties": {"id": {"type": "string"}}}
    choice: dict[str, Any] = {"oneOf": [{"type": "boolean"}, {"type": "object"}]}
    assert distributed_union([own, choice], no_refs) is None
    found = distributed_union([own, choice], no_refs, scalars_pass=True)
    assert found is not None
    assert found[2]["oneOf"][0] == {"type": "boolean"}
    assert found[2]["oneOf"][1] == {"allOf": [own, {"type": "object"}]}
