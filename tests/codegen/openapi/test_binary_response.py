"""A response whose schema is `type: string, format: binary` is the body's octets, whatever
media type the document lists (tests/codegen/specs/binary_response.yaml): the client returns
them as they came, and the stub serves them under a media type that is not JSON."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from flext_api import FlextApiClient, HTTPStatusError
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.codegen.openapi.test_wire_truth import Oracle
from tests.servers.runners import run_uvicorn

SPEC = SPECS / "binary_response.yaml"
# a docker log frame: stream 1, length 5, then the text; never valid JSON, nor base64
FRAME = b"\x01\x00\x00\x00\x00\x00\x00\x05hello\xff"


@pytest.fixture(scope="module")
def package(make_package: Callable[[Path, str], Generated]) -> Iterator[ModuleType]:
    result, _ = make_package(SPEC, "t")
    yield importlib.import_module(result.package_dir.name)


def test_the_client_returns_the_octets_as_they_came(package: ModuleType) -> None:
    oracle = Oracle()
    with run_uvicorn("h11", app=oracle) as server:
        for media in ("", "application/json", "application/octet-stream"):
            oracle.reply = (200, media, FRAME)
            with package.OctetsClient(base_url=server.url) as api:
                assert api.get_logs().unwrap() == FRAME
                assert api.get_blob().unwrap() == FRAME
        oracle.reply = (404, "application/json", b'{"message": "no such stream"}')
        with package.OctetsClient(base_url=server.url) as api:
            error: Any = api.get_logs().error  # the generated error class, with its body
        assert error.body.message == "no such stream"
        assert isinstance(error, HTTPStatusError) and error.status_code == 404
        # an error body nested deeper than a decoder follows: still a Failure, and the next call
        oracle.reply = (404, "application/json", b"[" * 5000 + b"]" * 5000)
        with package.OctetsClient(base_url=server.url) as api:
            deep = api.get_logs()
            assert deep.is_failure
            oracle.reply = (200, "", FRAME)
            assert api.get_logs().unwrap() == FRAME


class Handlers:
    async def get_logs(self) -> object:
        return FRAME

    async def get_blob(self) -> object:
        return FRAME


def test_the_stub_serves_octets_under_a_media_type_that_is_not_json(package: ModuleType) -> None:
    app = importlib.import_module(f"{package.__name__}.stubs").make_app(Handlers())
    with run_uvicorn("h11", app=app) as stub, FlextApiClient() as client:
        logs = client.get(stub.url + "/v1/logs").unwrap()
        blob = client.get(stub.url + "/v1/only-json").unwrap()
    assert logs.content == FRAME and logs.headers["content-type"].startswith("text/plain")
    assert blob.content == FRAME
    assert blob.headers["content-type"] == "application/octet-stream"
