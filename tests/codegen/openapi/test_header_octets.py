"""Header and cookie parameters outside ASCII, on the wire (tests/codegen/specs/header_octets.yaml).

An HTTP field value is octets (RFC 9110 section 5.5) and servers read them one octet per
character (ISO-8859-1: WSGI, ASGI, the Fetch standard). Text up to U+00FF therefore travels as
those octets, byte for byte, whatever else the same field holds; a character beyond U+00FF has
no octet, and any encoding of it reaches the server as other text, so the generated client
refuses it before sending (``HEADER_INVALID``). The recording server here is a plain ASGI app
under uvicorn (the same judge as test_wire_truth.py), on sync, asyncio and trio.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio

from flext_api import Failure
from flext_api.codegen_runtime import RequestParts, unsendable_field
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.codegen.openapi.test_wire_truth import Oracle
from tests.servers.runners import run_uvicorn

SPEC = SPECS / "header_octets.yaml"


@pytest.fixture(scope="module")
def wire(
    make_package: Callable[[Path, str], Generated],
) -> Iterator[tuple[ModuleType, Oracle, str]]:
    result, _ = make_package(SPEC, "t")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    oracle.reply = (204, "text/plain", b"")
    with run_uvicorn("h11", app=oracle) as running:
        yield package, oracle, running.url


def _call(package: ModuleType, url: str, flavour: str, **args: Any) -> Any:
    if flavour == "sync":
        with package.HeaderOctetsClient(base_url=url) as api:
            return api.list_notes(**args)

    async def run() -> Any:
        async with package.AsyncHeaderOctetsClient(base_url=url) as api:
            return await api.list_notes(**args)

    return asyncio.run(run()) if flavour == "asyncio" else trio.run(run)


FLAVOURS = ["sync", "asyncio", "trio"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_latin1_text_travels_as_its_octets(
    wire: tuple[ModuleType, Oracle, str], flavour: str
) -> None:
    package, oracle, url = wire
    result = _call(
        package, url, flavour, x_tenant="café", x_tags=["ü", "ß x"], session="ünï", lang="fr"
    )
    assert not isinstance(result, Failure), result
    seen = oracle.last()  # the oracle reads raw octets as ISO-8859-1, one per character
    assert seen.header("x-tenant") == ["café"]
    assert seen.header("x-tags") == ["ü,ß x"]
    assert seen.header("cookie") == ["session=ünï; lang=fr"]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(
    ("args", "field", "char"),
    [
        ({"x_tenant": "caf€"}, "X-Tenant", "U+20AC"),
        ({"x_tenant": "t", "x_tags": ["ok", "\U000c7c29_"]}, "X-Tags", "U+C7C29"),
        # one cookie beyond U+00FF would turn the other's 'ü' into UTF-8 too: refused whole
        ({"x_tenant": "t", "session": "ü", "lang": "日本"}, "Cookie", "U+65E5"),
    ],
)
def test_text_beyond_latin1_is_refused_before_sending(
    wire: tuple[ModuleType, Oracle, str],
    flavour: str,
    args: dict[str, Any],
    field: str,
    char: str,
) -> None:
    package, oracle, url = wire
    before = len(oracle.seen)
    result = _call(package, url, flavour, **args)
    assert isinstance(result, Failure) and result.error.code == "HEADER_INVALID"
    message = str(result.error)
    assert f"{field!r}" in message and char in message and "GET /notes" in message
    assert "nothing was sent" in message
    assert len(oracle.seen) == before


def test_unsendable_field_checks_only_the_builders_fields() -> None:
    assert unsendable_field(RequestParts("GET", "/x", headers=(("A", "ÿ"), ("B", "ascii")))) is None
    refused = unsendable_field(RequestParts("GET", "/x", headers=(("A", "ok"), ("B", "Ā"))))
    assert refused is not None and "'B'" in str(refused) and "U+0100" in str(refused)
