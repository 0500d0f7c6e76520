"""Generated stubs refuse in the document's error shape and never route a valid parameter to
a 404 (tests/codegen/specs/stub_refusals.yaml, served by uvicorn on 127.0.0.1; requests are
written byte for byte with http.client so the path reaches the server exactly as sent)."""

from __future__ import annotations

import http.client
import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from flext_api import Failure
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.servers.runners import run_uvicorn


class Handlers:
    def __init__(self) -> None:
        self.sites: list[str] = []

    async def get_site(self, *, site_id: str) -> object:
        self.sites.append(site_id)
        return {"id": site_id}

    async def site_exists(self, *, site_id: str) -> object:
        return (404, {"error": {"message": "gone", "status_code": 404, "code": "not_found"}})

    async def get_count(self, *, n: int) -> object:
        return {"id": str(n)}

    async def transfer(self, *, body: Any) -> object:
        return body


@pytest.fixture(scope="module")
def served(make_package: Callable[[Path, str], Generated]) -> Iterator[tuple[str, Handlers]]:
    result, _ = make_package(SPECS / "stub_refusals.yaml", "t")
    stubs = importlib.import_module(f"{result.package_dir.name}.stubs")
    handlers = Handlers()
    with run_uvicorn("h11", app=stubs.make_app(handlers)) as running:
        yield running.url, handlers


def test_a_head_error_is_typed_without_decoding_the_empty_body(
    served: tuple[str, Handlers], make_package: Callable[[Path, str], Generated]
) -> None:
    url, _ = served
    result, _ = make_package(SPECS / "stub_refusals.yaml", "t")
    sdk = importlib.import_module(result.package_dir.name)
    with sdk.StubRefusalsClient(base_url=url) as api:
        outcome = api.site_exists(site_id="s1")
    # the 404's JSON schema is not decoded from an empty HEAD body: a typed error, no body
    assert isinstance(outcome, Failure) and outcome.error.status_code == 404
    assert type(outcome.error).__name__ != "DecodingError" and outcome.error.body is None


def _call(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_percent_encoded_newline_in_a_string_path_parameter_reaches_the_handler(
    served: tuple[str, Handlers],
) -> None:
    url, handlers = served
    # Starlette's ``path`` convertor (``.*``) stops at the decoded newline: this was a 404.
    assert _call(url, "GET", "/sites/%0A") == (200, {"id": "\n"})
    assert _call(url, "GET", "/sites/a%0Ab%0D") == (200, {"id": "a\nb\r"})
    assert handlers.sites[-2:] == ["\n", "a\nb\r"]


def test_a_newline_an_integer_parameter_refuses_is_a_422_in_the_documented_error(
    served: tuple[str, Handlers],
) -> None:
    url, _ = served
    status, body = _call(url, "GET", "/counts/%0A")
    # lob's shape: nested object, status from its integer enum, code from its string enum
    assert status == 422
    assert set(body) == {"error"}
    assert body["error"]["status_code"] == 422 and body["error"]["code"] == "invalid"
    assert "path.n" in body["error"]["message"]
    assert _call(url, "GET", "/counts/7") == (200, {"id": "7"})


def test_a_closed_error_schema_gets_only_its_own_fields(served: tuple[str, Handlers]) -> None:
    url, _ = served
    status, body = _call(url, "POST", "/transfers", b"{}")
    # adyen's ServiceError: additionalProperties false, invalidFields items of its own shape
    assert status == 422
    assert set(body) <= {"detail", "errorCode", "status", "title", "type", "invalidFields"}
    assert {"detail", "errorCode", "status", "title", "type"} <= set(body)
    assert body["status"] == 422 and body["errorCode"] == "VALIDATION_ERROR"
    assert "body" in body["detail"] and body.get("invalidFields", []) == []
