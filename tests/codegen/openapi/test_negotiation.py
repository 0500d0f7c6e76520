"""Untagged object unions, request and response media types, stub refusals: on the wire.

tests/codegen/specs/negotiation.yaml. Each behaviour is checked twice: the generated client
against a recorder that keeps the exact bytes sent and answers bytes the test chose (so the
wire is asserted against the specification), and the generated client against the generated
stub under uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import msgspec
import pytest
import trio

from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.generate import generate
from flext_api import DecodingError, Failure, FlextApiClient
from flext_api.codegen_runtime import BodyMediaMismatch, RawBody, body_mismatch, raw_body
from flext_api.codegen_unions import decode_hook, structural_union, variants_of
from tests.codegen.openapi.conftest import CORPUS, SPECS, Generated
from tests.codegen.openapi.test_wire_truth import Oracle
from tests.servers.runners import run_uvicorn

SPEC = SPECS / "negotiation.yaml"


class Shop:
    """The stub's handlers: record what arrived, answer what the test queued."""

    def __init__(self, models: ModuleType) -> None:
        self.models = models
        self.received: list[tuple[str, Any]] = []
        self.pet: Any = None
        self.fail = False

    async def create_pet(self, **kwargs: Any) -> object:
        self.received.append(("create_pet", kwargs))
        if self.fail:
            raise RuntimeError("the handler broke")
        body = kwargs["body"]
        if isinstance(body, self.models.Cat | self.models.Dog | self.models.Puppy):
            return (201, body)
        return (201, self.models.Dog(name=f"{type(body).__name__}:{body!r}", barks=False))

    async def get_pet(self, *, id: int) -> object:
        self.received.append(("get_pet", id))
        return self.pet

    async def list_owners(self) -> object:
        m = self.models
        return [
            m.Owner(pets=[m.Cat(name="Tom", meows=True), m.Dog(name="Rex", barks=True)]),
            m.Owner(pets=[m.Puppy(name="Bit", barks=False, age=1)], favourite="Tom"),
        ]


class Sdk(msgspec.Struct):
    package: ModuleType
    models: ModuleType
    oracle: Oracle
    oracle_url: str
    shop: Shop
    stub_url: str

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package.__name__}.{name}")


@pytest.fixture(scope="module")
def sdk(make_package: Callable[[Path, str], Generated]) -> Iterator[Sdk]:
    result, models = make_package(SPEC, "t")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    shop = Shop(models)
    app = importlib.import_module(f"{package.__name__}.stubs").make_app(shop)
    with run_uvicorn("h11", app=oracle) as recorder, run_uvicorn("h11", app=app) as stub:
        yield Sdk(package, models, oracle, recorder.url, shop, stub.url + "/v1")


# --- untagged object unions (decoded by shape) ----------------------------------------------


def test_untagged_union_is_typed_and_decoded_by_required_fields(sdk: Sdk) -> None:
    m = sdk.models
    assert variants_of(m.Pet) == (m.Cat, m.Dog, m.Puppy)
    payload = (
        b'{"pets": [{"name": "Tom", "meows": true, "born": "2020-02-29"},'
        b' {"name": "Rex", "barks": true}, {"name": "Bit", "barks": false, "age": 2}],'
        b' "favourite": "Tom"}'
    )
    sdk.oracle.reply = (200, "application/json", b"[" + payload + b"]")
    with sdk.package.NegotiationClient(base_url=sdk.oracle_url) as api:
        (owner,) = api.list_owners().unwrap()
    cat, dog, puppy = owner.pets
    assert type(cat) is m.Cat and cat.born.isoformat() == "2020-02-29"
    assert type(dog) is m.Dog and dog == m.Dog(name="Rex", barks=True)
    # {name, barks, age} fits Dog and Puppy: the variant requiring the most properties wins
    assert type(puppy) is m.Puppy and puppy.age == 2
    assert owner.favourite == "Tom"
    # encoding gives the wire shape back: no tag, no wrapper
    assert json.loads(msgspec.json.encode(owner)) == json.loads(payload)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"pets": [{"name": "Tom"}]}]', "fits no variant of Pet (keys ['name'])"),
        (
            b'[{"pets": [{"name": "X", "meows": true, "barks": true}]}]',
            "fits several variants of Pet",
        ),
        (b'[{"pets": [7]}]', "a int fits no variant of Pet (Cat, Dog, Puppy)"),
    ],
)
def test_a_value_no_variant_or_several_fit_is_a_decode_failure(
    sdk: Sdk, body: bytes, message: str
) -> None:
    sdk.oracle.reply = (200, "application/json", body)
    with sdk.package.NegotiationClient(base_url=sdk.oracle_url) as api:
        result = api.list_owners()
    assert isinstance(result, Failure) and isinstance(result.error, DecodingError)
    assert message in str(result.error)


def test_unions_that_cannot_be_told_apart_are_diagnosed(
    make_package: Callable[[Path, str], Generated],
) -> None:
    result, models = make_package(SPEC, "t")
    reasons = [d.reason for d in result.diagnostics.sorted()]
    assert reasons == [
        "union of object schemas without a discriminator that cannot be told apart: "
        "Left and Right both require id",
    ]
    assert models.Either == dict[str, Any]
    # a union inside a union is flattened into it and decoded by shape: Pet | int
    m = models
    assert variants_of(m.PetOrCount) == (m.Cat, m.Dog, m.Puppy, int)
    list_of: Any = list  # the alias is a run-time class: no type for mypy to check here
    decode = msgspec.json.Decoder(list_of[m.PetOrCount], dec_hook=decode_hook).decode
    assert decode(b'[7, {"name": "Rex", "barks": true}]') == [7, m.Dog(name="Rex", barks=True)]


def test_structural_union_runtime_alone() -> None:
    class Cat(msgspec.Struct, kw_only=True):
        name: str

    class Tagged(msgspec.Struct, kw_only=True, tag_field="kind", tag="box"):
        size: int = 0

    union = structural_union("Thing", Cat, Tagged, list[int])
    holder: Any = list[union | None]  # type: ignore[valid-type]  # a run-time type
    decode = msgspec.json.Decoder(holder, dec_hook=decode_hook).decode
    assert decode(b'[{"name": "a"}, {"kind": "box"}, [1, 2], null]') == [
        Cat(name="a"),
        Tagged(),
        [1, 2],
        None,
    ]
    assert isinstance(Cat(name="a"), union) and not isinstance("text", union)
    with pytest.raises(msgspec.ValidationError, match="fits no variant of Thing"):
        decode(b'[{"size": 1}]')
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'crate'"):
        decode(b'[{"kind": "crate"}]')  # one candidate: its own error
    with pytest.raises(NotImplementedError):
        decode_hook(complex, 1)
    assert variants_of(int) is None


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Paint(msgspec.Struct, kw_only=True):
    id: str
    shade: Colour | msgspec.UnsetType | None = msgspec.UNSET


class Ink(msgspec.Struct, kw_only=True):
    id: str
    shade: Literal["black", 0] | None = None


def test_closed_values_tell_variants_with_the_same_required_properties_apart() -> None:
    union = structural_union("Colourant", Paint, Ink)
    decode = msgspec.json.Decoder(list[Any], dec_hook=decode_hook).decode
    items = decode(b'[{"id": "p", "shade": "blue"}, {"id": "i", "shade": "black"}]')
    assert [msgspec.convert(i, union, dec_hook=decode_hook) for i in items] == [
        Paint(id="p", shade=Colour.BLUE),
        Ink(id="i", shade="black"),
    ]
    # null is allowed by both: the values do not decide, and neither does anything else
    with pytest.raises(msgspec.ValidationError, match="fits several variants of Colourant"):
        msgspec.convert({"id": "x", "shade": None}, union, dec_hook=decode_hook)
    # a value neither allows: no variant converts it
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"id": "x", "shade": "green"}, union, dec_hook=decode_hook)


def test_stub_and_client_agree_on_untagged_unions(sdk: Sdk) -> None:
    m = sdk.models
    with sdk.package.NegotiationClient(base_url=sdk.stub_url) as api:
        owners = api.list_owners().unwrap()
        assert [type(p) for o in owners for p in o.pets] == [m.Cat, m.Dog, m.Puppy]
        # a constructed variant travels as its own shape and arrives as that variant
        assert api.create_pet(body=m.Puppy(name="Bit", barks=True, age=3)).unwrap() == m.Puppy(
            name="Bit", barks=True, age=3
        )
    assert sdk.shop.received[-1] == ("create_pet", {
        "body": m.Puppy(name="Bit", barks=True, age=3), "content_type": None,
        "request_media_type": None})  # fmt: skip
    with FlextApiClient() as raw:
        wire = raw.request("GET", f"{sdk.stub_url}/owners").unwrap().content
    assert json.loads(wire) == [
        {"pets": [{"name": "Tom", "meows": True}, {"name": "Rex", "barks": True}]},
        {"pets": [{"name": "Bit", "barks": False, "age": 1}], "favourite": "Tom"},
    ]


# --- several request media types ------------------------------------------------------------


def test_the_caller_picks_the_request_media_type(sdk: Sdk) -> None:
    m = sdk.models
    sdk.oracle.reply = (201, "application/json", b'{"name": "Tom", "meows": true}')
    cases = [
        ({}, m.Dog(name="Rex", barks=True), "application/json", b'{"name":"Rex","barks":true}'),
        (
            {"request_media_type2": "application/x-www-form-urlencoded"},
            m.Cat(name="Tom Cat", meows=False),
            "application/x-www-form-urlencoded",
            b"name=Tom%20Cat&meows=false",
        ),
        ({"request_media_type2": "application/xml"}, b"<cat/>", "application/xml", b"<cat/>"),
        ({"request_media_type2": "text/plain"}, "Tom", "text/plain; charset=utf-8", b"Tom"),
    ]
    with sdk.package.NegotiationClient(base_url=sdk.oracle_url) as api:
        for choice, body, media, wire in cases:
            # ``request_media_type`` and ``content_type`` stay the operation's own parameters
            api.create_pet(body=body, request_media_type="q", **choice).unwrap()
            seen = sdk.oracle.last()
            assert seen.header("content-type") == [media]
            assert seen.body == wire
            assert seen.target == "/pets?request_media_type=q"


def test_a_body_that_does_not_fit_the_media_type_fails_before_sending(sdk: Sdk) -> None:
    sent = len(sdk.oracle.seen)
    with sdk.package.NegotiationClient(base_url=sdk.oracle_url) as api:
        result = api.create_pet(body="Tom", request_media_type2="application/x-www-form-urlencoded")
        unknown = api.create_pet(body=b"x", request_media_type2="image/png")
    assert isinstance(result, Failure) and isinstance(result.error, BodyMediaMismatch)
    assert result.error.code == "BODY_MEDIA_MISMATCH"
    assert str(result.error).startswith(
        "create_pet (POST /pets): a str body cannot be sent as application/x-www-form-urlencoded"
    )
    assert isinstance(unknown, Failure) and "does not take a image/png body" in str(unknown.error)
    assert len(sdk.oracle.seen) == sent  # nothing was sent


def test_body_mismatch_rules() -> None:
    offered = {"a/json": "json", "a/form": "form", "a/bin": "binary", "t/text": "text"}
    fits = [("a/json", {"x": 1}), ("a/form", {"x": 1}), ("a/bin", bytearray(b"x")), ("t/text", "")]
    for media, body in fits:
        assert body_mismatch("op", "GET /", media, offered, body) is None
    for media, body in [("a/json", b"x"), ("a/form", "x"), ("a/bin", "x"), ("t/text", b"x")]:
        assert body_mismatch("op", "GET /", media, offered, body) is not None


def test_stub_reads_each_request_media_type(sdk: Sdk) -> None:
    m = sdk.models

    async def call() -> list[Any]:
        out = []
        async with sdk.package.AsyncNegotiationClient(base_url=sdk.stub_url) as api:
            for media, body in [
                ("application/x-www-form-urlencoded", m.Cat(name="Tom", meows=True)),
                ("application/xml", b"<cat/>"),
                ("text/plain", "Tom"),
            ]:
                out.append((await api.create_pet(body=body, request_media_type2=media)).unwrap())
        return out

    for got in (asyncio.run(call()), trio.run(call)):
        assert got == [
            m.Cat(name="Tom", meows=True),
            m.Dog(name="bytes:b'<cat/>'", barks=False),
            m.Dog(name="str:'Tom'", barks=False),
        ]


# --- stub refusals in the document's error schema -------------------------------------------


def _problem(sdk: Sdk, result: Any, status: int, code: str) -> str:
    assert isinstance(result, Failure), result
    error = result.error
    assert type(error).__name__ == "ProblemError" and error.status_code == status
    assert isinstance(error.body, sdk.models.Problem)
    assert (error.body.status, error.body.code) == (status, code)
    message: str = error.body.message
    return message


def test_stub_refusals_decode_as_the_clients_typed_errors(sdk: Sdk) -> None:
    ops = sdk.module("operations")
    with sdk.package.NegotiationClient(base_url=sdk.stub_url + "/nowhere") as api:
        result = api.get_pet(id=1)  # an unknown path
    assert _problem(sdk, result, 404, "NOT_FOUND") == "no operation has this path"
    with FlextApiClient() as raw:
        wrong_method = raw.request("DELETE", f"{sdk.stub_url}/pets/1").unwrap()
        wrong_media = raw.request(
            "POST",
            f"{sdk.stub_url}/pets",
            content=b"%PDF",
            headers={"content-type": "application/pdf"},
        ).unwrap()
    message = _problem(sdk, ops.parse_get_pet(wrong_method), 405, "METHOD_NOT_ALLOWED")
    assert message == "the operation does not take this method"
    message = _problem(sdk, ops.parse_create_pet(wrong_media), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert message == "this operation does not take a application/pdf body"
    with sdk.package.NegotiationClient(base_url=sdk.stub_url) as api:
        invalid = api.create_pet(body={"name": "Tom"})  # fits no variant of Pet
        _problem(sdk, invalid, 422, "VALIDATION_ERROR")
        sdk.shop.fail = True
        try:
            broken = api.create_pet(body=sdk.models.Cat(name="Tom", meows=True))
        finally:
            sdk.shop.fail = False
    assert _problem(sdk, broken, 500, "INTERNAL_ERROR") == "internal server error"


def test_refusals_without_a_documented_schema_keep_the_server_shape(tmp_path: Path) -> None:
    document = json.loads(json.dumps(_load(SPEC)))
    for path in document["paths"].values():
        for op in path.values():
            op["responses"] = {k: v for k, v in op["responses"].items() if k[0] == "2"}
    spec = tmp_path / "plain.json"
    spec.write_text(json.dumps(document))
    result = generate(spec, tmp_path / "out", "t_negotiation_plain")
    stubs = (result.package_dir / "stubs.py").read_text()
    assert "_dispatcher(routes, prefix, {})" in stubs
    assert "except Exception" not in stubs  # no documented 500: the server's catch-all answers


def _load(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())


# --- several response media types -----------------------------------------------------------


def test_the_caller_picks_the_response_media_type(sdk: Sdk) -> None:
    m = sdk.models
    with sdk.package.NegotiationClient(base_url=sdk.oracle_url) as api:
        sdk.oracle.reply = (200, "application/json", b'{"name": "Rex", "barks": true}')
        assert api.get_pet(id=1).unwrap() == m.Dog(name="Rex", barks=True)
        assert sdk.oracle.last().header("accept") == ["application/json"]
        sdk.oracle.reply = (200, "text/csv; charset=utf-8", b"name,barks\nRex,true\n")
        answer = api.get_pet(id=1, accept="text/csv").unwrap()
        assert answer == RawBody(b"name,barks\nRex,true\n", "text/csv")
        assert answer.text.startswith("name,barks")
        assert sdk.oracle.last().header("accept") == ["text/csv"]
        sdk.oracle.reply = (200, "application/xml", b"<pet/>")
        with_response = api.get_pet_with_response(id=2, accept="application/xml").unwrap()
        assert with_response.body == RawBody(b"<pet/>", "application/xml")


def test_stub_serves_raw_bodies_in_their_media_type(sdk: Sdk) -> None:
    sdk.shop.pet = RawBody(b"<pet name='Tom'/>", "application/xml")

    async def call() -> Any:
        async with sdk.package.AsyncNegotiationClient(base_url=sdk.stub_url) as api:
            return (await api.get_pet(id=5, accept="application/xml")).unwrap()

    for got in (asyncio.run(call()), trio.run(call)):
        assert got == RawBody(b"<pet name='Tom'/>", "application/xml")
    sdk.shop.pet = sdk.models.Cat(name="Tom", meows=True)
    with sdk.package.NegotiationClient(base_url=sdk.stub_url) as api:
        assert api.get_pet(id=5).unwrap() == sdk.models.Cat(name="Tom", meows=True)


def test_raw_body_matches_documented_media_types_only() -> None:
    from flext_api import URL, Headers, Request, Response

    request = Request("GET", URL("http://127.0.0.1/x"), Headers())
    response = Response(200, Headers({"content-type": "Text/Plain; x=1"}), b"hi", request=request)
    assert raw_body(response, ("text/*",)) == RawBody(b"hi", "text/plain")
    assert raw_body(response, ("application/xml",)) is None


# --- a corpus spec: the Swagger petstore offers JSON and XML everywhere ---------------------

PETSTORE = CORPUS / "swaggerapi_petstore.yaml"


@pytest.mark.skipif(not PETSTORE.is_file(), reason="corpus absent")
def test_corpus_petstore_negotiates_both_ways(
    make_package: Callable[[Path, str], Generated],
) -> None:
    result, models = make_package(PETSTORE, "neg")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    xml = b"<pet><id>1</id><name>doggie</name></pet>"
    with (
        run_uvicorn("h11", app=oracle) as running,
        package.SwaggerPetstoreOpenClient(
            base_url=running.url, petstore_auth="t", api_key="k"
        ) as api,
    ):
        oracle.reply = (200, "application/xml", xml)
        assert api.get_pet_by_id(pet_id=1, accept="application/xml").unwrap() == RawBody(
            xml, "application/xml"
        )
        assert oracle.last().header("accept") == ["application/xml"]
        oracle.reply = (200, "application/json", b'{"name": "doggie", "photoUrls": []}')
        pet = models.Pet(name="doggie", photo_urls=[])
        assert api.get_pet_by_id(pet_id=1).unwrap() == pet
        api.update_pet(body=pet, request_media_type="application/x-www-form-urlencoded")
        assert oracle.last().header("content-type") == ["application/x-www-form-urlencoded"]
        assert oracle.last().body == b"name=doggie"
        api.add_pet(body=xml, request_media_type="application/xml").unwrap()
        assert oracle.last().body == xml
        assert oracle.last().header("content-type") == ["application/xml"]


def test_no_diagnostic_for_the_typed_unions() -> None:
    from codegen.openapi.parse import parse_path

    diagnostics = Diagnostics()
    parse_path(SPEC, diagnostics)
    assert not diagnostics.sorted()  # the union diagnostic comes from the model emitter


def test_runtime_helpers_edges() -> None:
    from typing import Literal

    from flext_api.codegen_runtime import as_bytes

    assert as_bytes(b"a") == b"a" and as_bytes(bytearray(b"b")) == b"b"
    with pytest.raises(TypeError, match="expected bytes, got str"):
        as_bytes("c")
    either = structural_union("Either", Literal["on", "off"], int | None)
    assert isinstance("on", either) and isinstance(None, either) and not isinstance(2.5, either)
    holder: Any = list[either]  # type: ignore[valid-type]
    decode = msgspec.json.Decoder(holder, dec_hook=decode_hook).decode
    assert decode(b'["off", 3]') == ["off", 3]
    with pytest.raises(msgspec.ValidationError, match=r"a str fits no variant of Either"):
        decode(b'["dim"]')


def test_body_guard_takes_any_content_type_with_a_wildcard() -> None:
    from flext_api.server import RequestBodyGuardMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    anything = RequestBodyGuardMiddleware(app, allowed_content_types=("*/*",))
    json_only = RequestBodyGuardMiddleware(app, allowed_content_types=("application/json",))
    assert anything._content_type_allowed(b"application/pdf")
    assert anything._content_type_allowed(None)
    assert not json_only._content_type_allowed(b"application/pdf")
