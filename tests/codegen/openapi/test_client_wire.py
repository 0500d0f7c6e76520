"""What generated clients put on the wire for the oracle's client-side findings
(tests/codegen/specs/client_wire.yaml): ``format: byte`` content, required properties the
document does not declare, cookie and header values. Each request is recorded as bytes by a
plain ASGI app under uvicorn on 127.0.0.1 (the ``Oracle`` of test_wire_truth)."""

from __future__ import annotations

import base64
import importlib
import inspect
from collections.abc import Callable, Iterator
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from flext_api import FlextApiClient, Success
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.codegen.openapi.test_wire_truth import Oracle, Seen
from tests.servers.runners import run_uvicorn

SPEC = SPECS / "client_wire.yaml"


class Sdk(msgspec.Struct):
    package: ModuleType
    models: ModuleType
    oracle: Oracle
    base_url: str

    def client(self) -> Any:
        return self.package.ClientWireClient(base_url=self.base_url)


@pytest.fixture(scope="module")
def sdk(make_package: Callable[[Path, str], Generated]) -> Iterator[Sdk]:
    result, models = make_package(SPEC, "t")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    oracle.reply = (204, "", b"")
    with run_uvicorn("h11", app=oracle) as running:
        yield Sdk(package, models, oracle, running.url)


def _parts(seen: Seen) -> dict[str, tuple[str, bytes]]:
    """The multipart body as name -> (part content type, content)."""
    head = f"Content-Type: {seen.header('content-type')[0]}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + seen.body)
    out: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out[str(part.get_param("name", header="content-disposition"))] = (
            part.get_content_type(),
            payload,
        )
    return out


def test_format_byte_content_travels_as_base64_and_binary_as_is(sdk: Sdk) -> None:
    # The data-type table of OpenAPI 3.0: ``byte`` is "base64 encoded characters", ``binary``
    # "any sequence of octets"; the caller passes raw bytes either way.
    raw = b"\x00\x01\xffbytes"
    with sdk.client() as api:
        api.put_attachment(body=raw).unwrap()
        assert sdk.oracle.last().body == base64.b64encode(raw) == b"AAH/Ynl0ZXM="
        api.put_blob(body=raw).unwrap()
        assert sdk.oracle.last().body == raw
        api.upload(body=sdk.models.Upload(content=raw, name="a.bin", raw=raw)).unwrap()
    parts = _parts(sdk.oracle.last())
    # a ``format: byte`` property is a primitive, not a file: text/plain (the Encoding
    # Object's default), its text the base64 of the bytes
    assert parts["content"] == ("text/plain", b"AAH/Ynl0ZXM=")
    assert parts["raw"] == ("application/octet-stream", raw)
    assert parts["name"][1] == b"a.bin"


def test_required_property_the_document_does_not_declare_is_sent(sdk: Sdk) -> None:
    folder = sdk.models.Folder
    # required by the document: the constructor refuses to leave it out
    assert inspect.signature(folder).parameters["name2"].default is inspect.Parameter.empty
    with sdk.client() as api:
        api.create_folder(body=folder(name2="docs", name="Docs")).unwrap()
    assert msgspec.json.decode(sdk.oracle.last().body) == {"name": "docs", "Name": "Docs"}
    # and a response holding it decodes (any JSON value: the document gives it no schema)
    decoded = msgspec.json.decode(b'{"name": {"x": 1}, "FileCount": 2}', type=folder)
    assert decoded.name2 == {"x": 1} and decoded.file_count == 2
    # an allOf merge whose parts never declare a required name keeps it the same way
    labelled = sdk.models.Labelled
    assert inspect.signature(labelled).parameters["label"].default is inspect.Parameter.empty
    assert msgspec.json.encode(labelled(label=[1], size=2)) == b'{"size":2,"label":[1]}'


def test_cookie_and_header_values_are_not_percent_encoded(sdk: Sdk) -> None:
    with sdk.client() as api:
        api.session(who="Zoë van Dijk/ü", tags=["a b", "c,d"], x_note="x y z/é").unwrap()
        seen = sdk.oracle.last()
        # non-ASCII and inner spaces travel as written (RFC 9110 field values allow SP and
        # obs-text; é is one latin-1 byte); only the array delimiter inside an item is encoded
        assert seen.header("cookie") == ["who=Zoë van Dijk/ü; tags=a b,c%2Cd"]
        assert seen.header("x-note") == ["x y z/é"]
        # what would break the Cookie header (``;``), or be read back changed by a
        # percent-decoding reader (``%``), or dropped as whitespace at the ends, is encoded
        api.session(who=" 100%; sure ").unwrap()
        assert sdk.oracle.last().header("cookie") == ["who=%20100%25%3B sure%20"]


class Attachments:
    """A handler for the stub: records the attachment bodies it is handed."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def put_attachment(self, *, body: bytes) -> object:
        self.received.append(body)
        return (204, None)


def test_stub_hands_the_decoded_bytes_and_refuses_what_is_not_base64(
    make_package: Callable[[Path, str], Generated],
) -> None:
    result, _ = make_package(SPEC, "t")
    package = importlib.import_module(result.package_dir.name)
    stubs = importlib.import_module(f"{result.package_dir.name}.stubs")
    server = Attachments()
    raw = b"\x00\x01\xffbytes"
    with run_uvicorn("h11", app=stubs.make_app(server)) as running:
        url = running.url + stubs.SERVER_PREFIX
        with package.ClientWireClient(base_url=url) as api:
            assert isinstance(api.put_attachment(body=raw), Success)
            assert server.received == [raw]
        with FlextApiClient(base_url=url) as plain:
            refused = plain.put(
                "/attachment",
                content=b"not base64!",
                headers={"content-type": "application/octet-stream"},
            ).unwrap()
    assert refused.status_code == 422
    assert "not base64" in refused.text
    assert server.received == [raw]  # the handler never saw the refused body
