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
from flext_api import Failure, FlextApiClient, FormFile, OAuth2Flow, Success
from flext_api.codegen_runtime import (
    AuthMissing,
    header_param,
    header_value,
    missing_security,
    serialize,
    status_message,
)
from flext_api.codegen_validation import HandlerContext, documented_error_body
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
        self.token = b'{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}'
        self.queue: list[tuple[int, str, bytes]] = []  # answered first, one per request

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
        status, media, content = self.queue.pop(0) if self.queue else self.reply
        if target == "/token":
            status, media, content = 200, "application/json", self.token
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

    def module(self, name: str) -> ModuleType:
        return importlib.import_module(f"{self.package.__name__}.{name}")


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
    # optional const: absent on the wire stays absent (G7), sent only when set
    assert found.kind is msgspec.UNSET
    sent = msgspec.json.decode(msgspec.json.encode(m.SearchResponse()))
    assert "kind" not in sent
    assert (
        msgspec.json.decode(msgspec.json.encode(m.SearchResponse(kind="found")))["kind"] == "found"
    )
    # a required const property too: constructed without it, it is still on the wire
    assert sent["api"] == "v1" and found.api == "v1"


def test_open_enum_keeps_known_members_and_unknown_strings(sdk: Sdk) -> None:
    m = sdk.models
    with sdk.client() as api:
        sdk.oracle.reply = (200, "application/json", b'{"color":"red"}')
        assert api.search().unwrap().color is m.SearchResponseColor.RED
        sdk.oracle.reply = (200, "application/json", b'{"color":"mauve"}')
        later = api.search().unwrap().color
    assert isinstance(later, m.SearchResponseColor) and later.value == "mauve"
    assert msgspec.json.encode(m.SearchResponse(color=later)) == (b'{"api":"v1","color":"mauve"}')


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
        problem = b'{"code":"N","status":404,"message":"no pet 42"}'
        sdk.oracle.reply = (404, "application/problem+json", problem)
        response = api.delete_pet(pet_id=42).error.response
        assert status_message(response) == "DELETE /pets/42 answered 404: no pet 42"
        sdk.oracle.reply = (503, "text/plain", b"  down\n for   maintenance ")
        response = api.delete_pet(pet_id=7).error.response
        assert status_message(response) == "DELETE /pets/7 answered 503: down for maintenance"
        sdk.oracle.reply = (500, "application/json", b"[1]")
        response = api.delete_pet(pet_id=7).error.response
        assert status_message(response) == "DELETE /pets/7 answered 500"


def test_header_parameters_travel_as_written(sdk: Sdk) -> None:
    sdk.oracle.reply = (200, "application/json", b"{}")
    with sdk.client() as api:
        api.search(x_trace="a b%20/c,d").unwrap()
    assert sdk.oracle.last().header("x-trace") == ["a b%20/c,d"]


def test_required_auth_missing_fails_before_sending(sdk: Sdk) -> None:
    before = len(sdk.oracle.seen)
    with sdk.client(api_key="k") as api:
        result = api.delete_pet(pet_id=1)
    assert isinstance(result, Failure) and result.error.code == "AUTH_MISSING"
    assert "bearer" in str(result.error) and "/pets/1" in str(result.error)
    assert len(sdk.oracle.seen) == before


def test_oauth2_goes_through_the_client_given_with_its_scopes(sdk: Sdk) -> None:
    assert sdk.module("operations").SECURITY_READ_SECURE == ((("oauth", "oauth2", "read"),),)
    sdk.oracle.reply = (200, "application/json", b'["s"]')
    flow = OAuth2Flow(f"{sdk.base_url}/token", "id-1", "secret-1")
    with FlextApiClient(base_url=f"{sdk.base_url}/mounted") as mine:
        api = sdk.package.WireTruthClient(client=mine, oauth=flow)
        assert api.read_secure().unwrap() == ["s"]
        assert api.read_secure().unwrap() == ["s"]
    targets = [s.target for s in sdk.oracle.seen[-3:]]
    # one token request, then both calls under the user's base URL with the token
    assert targets == ["/token", "/mounted/secure", "/mounted/secure"]
    assert sdk.oracle.last().header("authorization") == ["Bearer tok-1"]


def test_failures_name_the_real_request_and_the_server_message(sdk: Sdk) -> None:
    m = sdk.models
    sdk.oracle.reply = (404, "application/json", b'{"code":"N","status":404,"message":"no pet 42"}')
    with sdk.client(bearer="t") as api:
        error = api.delete_pet(pet_id=42).error
    assert "DELETE /pets/42 answered 404: no pet 42" in str(error)
    assert error.body == m.Problem(code="N", status=404, message="no pet 42")


def test_multipart_parts_honour_encoding_and_omit_none(sdk: Sdk) -> None:
    m = sdk.models
    sdk.oracle.reply = (200, "application/json", b'{"name":"n"}')
    with sdk.client() as api:
        body = m.FormData(name="n", note=None, tags=[], meta=m.FormDataMeta(a=1), urgent=True)
        api.upload(body=body).unwrap()
    sent = sdk.oracle.last().body
    assert b'name="note"' not in sent and b'name="tags"' not in sent
    meta = sent.split(b'name="meta"', 1)[1].split(b"\r\n\r\n", 1)
    assert b"Content-Type: application/vnd.meta+json" in meta[0]
    assert meta[1].startswith(b'{"a":1}')


class Shop:
    """A stub implementation recording what each handler received."""

    def __init__(self) -> None:
        self.received: dict[str, Any] = {}

    async def list_books(self, *, limit: int | None = None) -> list[str]:
        self.received["list_books"] = limit
        return ["dune"]

    async def list_toys(self) -> list[str]:
        return ["yoyo"]

    async def search(self, *, context: HandlerContext, **kwargs: Any) -> object:
        self.received["search"] = kwargs
        self.received["context"] = context
        return {}

    async def upload(self, *, body: Any) -> object:
        self.received["upload"] = body
        return body

    def __getattr__(self, name: str) -> Any:
        async def handle(**kwargs: Any) -> object:
            return (500, None)

        return handle


@pytest.fixture(scope="module")
def stub(sdk: Sdk) -> Iterator[tuple[Shop, str]]:
    shop = Shop()
    with run_uvicorn("h11", app=sdk.module("stubs").make_app(shop)) as running:
        yield shop, running.url + "/v1"


def test_stub_routes_path_keys_with_a_query_and_reads_headers_as_sent(
    sdk: Sdk, stub: tuple[Shop, str]
) -> None:
    shop, url = stub
    with sdk.package.WireTruthClient(base_url=url) as api:
        assert api.list_toys().unwrap() == ["yoyo"]
        assert api.list_books(limit=2).unwrap() == ["dune"]
        assert shop.received["list_books"] == 2
        api.search(x_trace="a b%20c").unwrap()
        assert shop.received["search"]["x_trace"] == "a b%20c"
        # a handler that declares ``context`` gets the request's credentials and id
        assert shop.received["context"].credentials == ()
    with sdk.package.WireTruthClient(base_url=url, api_key="k") as api:
        answer = api.search_with_response(x_trace="t").unwrap()
        context = shop.received["context"]
        assert context.credentials == ("api_key",)
        assert context.request_id and context.request_id == answer.headers.get("x-request-id")
        assert context.request.url.path == "/v1/search"
    with sdk.package.WireTruthClient(base_url=url) as api:
        meta = sdk.models.FormDataMeta(a=4)
        sent = sdk.models.FormData(name="n", count=3, urgent=False, meta=meta)
        assert api.upload(body=sent).unwrap() == sent
        assert shop.received["upload"] == sent


def test_stub_parses_text_parts_as_the_schema_says(sdk: Sdk, stub: tuple[Shop, str]) -> None:
    shop, url = stub
    parts = (
        ("name", FormFile(b"n", content_type="text/plain")),
        ("urgent", FormFile(b"true", content_type="text/plain")),
        ("count", FormFile(b"7", content_type="text/plain")),
        ("weight", FormFile(b"", content_type="text/plain")),  # an empty field: null
        ("note", FormFile(b"null", content_type="text/plain")),
    )
    with FlextApiClient() as raw:
        response = raw.request("POST", f"{url}/uploads", files=parts).unwrap()
    assert response.status_code == 200
    got = shop.received["upload"]
    assert (got.urgent, got.count, got.weight, got.note) == (True, 7, None, "null")


def test_stub_refusals_use_the_documented_error_schema(sdk: Sdk, stub: tuple[Shop, str]) -> None:
    _, url = stub
    with FlextApiClient() as raw:
        response = raw.request("DELETE", f"{url}/pets/1").unwrap()
    assert response.status_code == 401
    result = sdk.module("operations").parse_delete_pet(response)
    assert isinstance(result, Failure)
    assert result.error.body == sdk.models.Problem(
        code="UNAUTHORIZED",
        status=401,
        message="missing credentials: send one of the documented security schemes",
    )


def test_event_stream_operations_yield_events(sdk: Sdk) -> None:
    stream = b"retry: 1\nid: 1\ndata: a\n\nid: 2\ndata: b\ndata: c\n\n"
    sdk.oracle.queue = [(200, "text/event-stream", stream), (204, "", b"")]
    with sdk.client(api_key="k") as api, api.watch_events(topic="x y") as opened:
        events = [(e.id, e.data) for e in opened.unwrap()]
    # the dropped connection is reopened with Last-Event-ID; the 204 ends the stream
    assert events == [("1", "a"), ("2", "b\nc")]
    first, second = sdk.oracle.seen[-2:]
    assert first.target == "/events?topic=x%20y" and first.header("x-api-key") == ["k"]
    assert second.header("last-event-id") == ["2"]
    diagnostics = Diagnostics()
    parse_path(SPEC, diagnostics)
    assert any(d.reason.startswith("text/event-stream") for d in diagnostics.sorted())
