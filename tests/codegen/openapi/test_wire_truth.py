"""Defect classes found on unseen specs, checked on the wire (tests/codegen/specs/wire_truth.yaml).

The oracle is independent of the generator: a plain ASGI app under uvicorn on 127.0.0.1 that
records the bytes the generated client sent (method, raw target, headers, body) and answers with
bytes the test chose. So each assertion is about what a user (or a server) would actually see:
discriminator tags, header values, query strings, form bodies, credentials, bodiless statuses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from codegen.openapi.diagnostics import Diagnostics
from codegen.openapi.parse import parse_path
from flext_api import Failure, Success
from flext_api.codegen_runtime import (
    AuthMissing,
    header_param,
    header_value,
    missing_security,
    serialize,
    status_message,
)
from flext_api.codegen_validation import documented_error_body
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.servers.runners import run_uvicorn

SPEC = SPECS / "wire_truth.yaml"


class Seen(msgspec.Struct):
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name.lower()]


class Oracle:
    """Records each request as bytes and answers ``reply`` (status, content type, body)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.reply: tuple[int, str, bytes] = (200, "application/json", b"{}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["raw_path"].decode() + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        headers = [(k.decode().lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        self.seen.append(Seen(scope["method"], target, headers, body))
        status, media, content = self.reply
        head = [(b"content-type", media.encode())] if media else []
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": content})

    def last(self) -> Seen:
        return self.seen[-1]


class Sdk(msgspec.Struct):
    package: ModuleType
    models: ModuleType
    oracle: Oracle
    base_url: str

    def client(self, **credentials: Any) -> Any:
        return self.package.WireTruthClient(base_url=self.base_url, **credentials)


@pytest.fixture(scope="module")
def sdk(make_package: Callable[[Path, str], Generated]) -> Iterator[Sdk]:
    result, models = make_package(SPEC, "t")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    with run_uvicorn("h11", app=oracle) as running:
        yield Sdk(package, models, oracle, running.url)


def test_discriminator_tags_are_the_wire_values_not_schema_names(sdk: Sdk) -> None:
    m = sdk.models
    with sdk.client() as api:
        # Explicit mapping whose keys differ from the schema names.
        sdk.oracle.reply = (200, "application/json", b'{"petType":"dog_v1","name":"rex"}')
        got = api.create_pet(body=m.Cat(name="tom")).unwrap()
        assert msgspec.json.decode(sdk.oracle.last().body) == {"petType": "cat_v1", "name": "tom"}
        assert isinstance(got, m.Dog) and got.name == "rex"
        # No mapping: each variant's own const / one-value enum is its tag.
        sdk.oracle.reply = (200, "application/json", b'{"shape":"square-v2","side":2}')
        shape = api.put_shape(body=m.Circle(radius=1.5)).unwrap()
        assert msgspec.json.decode(sdk.oracle.last().body) == {"shape": "circle-v2", "radius": 1.5}
        assert isinstance(shape, m.Square) and shape.side == 2


def test_bodiless_statuses_and_head_are_never_decoded(sdk: Sdk) -> None:
    with sdk.client(bearer="t") as api:
        # 204 and HEAD with a schema attached, and a body-less reply: Success(None), no
        # DecodingError from decoding b"".
        sdk.oracle.reply = (204, "", b"")
        assert api.delete_pet(pet_id=3) == Success(None)
        assert sdk.oracle.last().method == "DELETE"
        sdk.oracle.reply = (200, "application/json", b"")
        assert api.pet_exists(pet_id=3) == Success(None)
        assert sdk.oracle.last().method == "HEAD"
        sdk.oracle.reply = (304, "", b"")
        result = api.delete_pet(pet_id=3)
        assert isinstance(result, Failure) and result.error.status_code == 304
        assert result.error.body is None


def test_ignored_header_parameters_are_not_arguments(sdk: Sdk) -> None:
    build = importlib.import_module(f"{sdk.package.__name__}.operations").build_search
    assert {"accept", "content_type", "authorization"}.isdisjoint(build.__kwdefaults__)
    assert "x_trace" in build.__kwdefaults__
    diagnostics = Diagnostics()
    parse_path(SPEC, diagnostics)
    ignored = [d for d in diagnostics.sorted() if "is ignored" in d.reason]
    assert [d.pointer.rsplit("/", 1)[-1] for d in ignored] == ["1", "2", "3"]


def test_optional_auth_still_sends_a_credential_it_has(sdk: Sdk) -> None:
    sdk.oracle.reply = (200, "application/json", b"{}")
    # security: [{}, {api_key: []}]: the {} alternative comes first but does not win.
    with sdk.client(api_key="k-1", bearer="b-1") as api:
        api.search().unwrap()
        assert sdk.oracle.last().header("x-api-key") == ["k-1"]
        # delete lists only bearer: the API key the client also holds is not sent.
        sdk.oracle.reply = (204, "", b"")
        api.delete_pet(pet_id=1).unwrap()
        assert sdk.oracle.last().header("x-api-key") == []
        assert sdk.oracle.last().header("authorization") == ["Bearer b-1"]
    sdk.oracle.reply = (200, "application/json", b"{}")
    with sdk.client() as api:
        api.search().unwrap()
        assert sdk.oracle.last().header("x-api-key") == []


def test_missing_required_auth_names_the_schemes() -> None:
    required = ((("bearer", "http", "bearer"),), (("key", "apiKey", "header:X-Key"),))
    error = missing_security("DELETE", "/pets/1", required, {})
    assert isinstance(error, AuthMissing) and error.code == "AUTH_MISSING"
    assert "bearer or key" in str(error) and "DELETE /pets/1" in str(error)
    optional = ((), (("key", "apiKey", "header:X-Key"),))
    assert missing_security("GET", "/search", optional, {}) is None


def test_object_query_parameters_follow_the_style_table(sdk: Sdk) -> None:
    m = sdk.models
    sdk.oracle.reply = (200, "application/json", b"{}")
    with sdk.client() as api:
        api.search(filter=m.Filter(color="red", size=3), where={"a": {"b": 1}, "gone": None})
    # (the transport percent-encodes deepObject's brackets, which RFC 3986 does not allow raw)
    assert sdk.oracle.last().target == "/search?filter=color,red,size,3&where%5Ba%5D%5Bb%5D=1"
    # A nested value has no row in the table: JSON text, never a Python repr.
    assert serialize("f", {"a": {"b": [1]}}, "form", False) == "f=a,%7B%22b%22%3A%5B1%5D%7D"
    assert serialize("f", {"a": None, "b": True}, "form", True) == "b=true"


def test_form_body_omits_none_and_empty_arrays(sdk: Sdk) -> None:
    m = sdk.models
    sdk.oracle.reply = (204, "", b"")
    with sdk.client() as api:
        api.send_form(body=m.FormData(name="a b", note=None, tags=[], urgent=False)).unwrap()
    assert sdk.oracle.last().body == b"name=a%20b&urgent=false"


def test_int_or_string_const_default_and_boolean_looking_enum(sdk: Sdk) -> None:
    m = sdk.models
    wire = b'{"port":8080,"size":"50%","switch":"true"}'
    sdk.oracle.reply = (200, "application/json", wire)
    with sdk.client() as api:
        found = api.search().unwrap()
    assert found.port == 8080 and found.size == "50%"
    assert found.switch is m.SearchResponseSwitch.TRUE and found.switch.value == "true"
    # const: absent on the wire, still its one value; and sent when constructed.
    assert found.kind == "found"
    assert msgspec.json.decode(msgspec.json.encode(m.SearchResponse()))["kind"] == "found"


def test_open_enum_keeps_known_members_and_unknown_strings(sdk: Sdk) -> None:
    m = sdk.models
    with sdk.client() as api:
        sdk.oracle.reply = (200, "application/json", b'{"color":"red"}')
        assert api.search().unwrap().color is m.SearchResponseColor.RED
        sdk.oracle.reply = (200, "application/json", b'{"color":"mauve"}')
        later = api.search().unwrap().color
    assert isinstance(later, m.SearchResponseColor) and later.value == "mauve"
    assert msgspec.json.encode(m.SearchResponse(color=later)) == b'{"kind":"found","color":"mauve"}'


def test_unmodeled_keywords_are_diagnostics() -> None:
    diagnostics = Diagnostics()
    parse_path(SPEC, diagnostics)
    reasons = {d.reason: d.pointer for d in diagnostics.sorted()}
    assert reasons["schema keyword 'not' is not modeled"].endswith("/properties/odd/not")


def test_header_values_are_never_percent_encoded() -> None:
    # simple style, as the specification's table shows it, with the text as written.
    assert header_value("a b/ü%20", False) == "a b/ü%20"
    assert header_value(["x y", 3], False) == "x y,3"
    assert header_value({"r": "1 0", "g": None}, True) == "r=1 0"
    assert header_value({"r": "1 0"}, False) == "r,1 0"
    # The stub's inverse keeps the text as sent (no percent-decoding).
    assert header_param("a%20b", False, "primitive") == "a%20b"
    assert header_param("x y,3", False, "array") == ["x y", "3"]
    assert header_param("r=1 0,g=2", True, "object") == {"r": "1 0", "g": "2"}
    assert header_param("r,1 0", False, "object") == {"r": "1 0"}


class ApiProblem(msgspec.Struct):
    code: str
    status: int
    message: str


def test_documented_error_bodies_carry_the_refusal_status_and_code() -> None:
    body = documented_error_body(ApiProblem, "no pet 42", [], status=404, code="NOT_FOUND")
    assert body == ApiProblem(code="NOT_FOUND", status=404, message="no pet 42")


def test_error_messages_name_the_request_and_what_the_server_said(sdk: Sdk) -> None:
    with sdk.client(bearer="t") as api:
        sdk.oracle.reply = (404, "application/json", b'{"message":"no pet 42"}')
        response = api.delete_pet(pet_id=42).error.response
        assert status_message(response) == "DELETE /pets/42 answered 404: no pet 42"
        sdk.oracle.reply = (503, "text/plain", b"  down\n for   maintenance ")
        response = api.delete_pet(pet_id=7).error.response
        assert status_message(response) == "DELETE /pets/7 answered 503: down for maintenance"
        sdk.oracle.reply = (500, "application/json", b"[1]")
        response = api.delete_pet(pet_id=7).error.response
        assert status_message(response) == "DELETE /pets/7 answered 500"
