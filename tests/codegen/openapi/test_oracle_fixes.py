"""Generator defects the independent oracle (tests/codegen/oracle) found on corpus specs, each
with a minimal spec of our own and checked on the wire: the generated client sends to, and
decodes from, a plain recording ASGI app under uvicorn (test_wire_truth.py's ``Oracle``)."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import trio

from flext_api import Success
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.codegen.openapi.test_wire_truth import Oracle
from tests.servers.runners import run_uvicorn


@pytest.fixture(scope="module")
def proofs(
    make_package: Callable[[Path, str], Generated],
) -> Iterator[tuple[ModuleType, Oracle, str]]:
    result, _ = make_package(SPECS / "discriminator_copies.yaml", "t")
    package = importlib.import_module(result.package_dir.name)
    oracle = Oracle()
    with run_uvicorn("h11", app=oracle) as running:
        yield package, oracle, running.url


def _create(package: ModuleType, url: str, flavour: str, body: object) -> object:
    if flavour == "sync":
        with package.DiscriminatorCopiesClient(base_url=url) as api:
            return api.create_proof(body=body)

    async def run() -> object:
        async with package.AsyncDiscriminatorCopiesClient(base_url=url) as api:
            return await api.create_proof(body=body)

    return asyncio.run(run()) if flavour == "asyncio" else trio.run(run)


@pytest.mark.parametrize("flavour", ["sync", "asyncio", "trio"])
def test_inline_variants_carry_their_tag_when_the_mapping_names_copies(
    proofs: tuple[ModuleType, Oracle, str], flavour: str
) -> None:
    package, oracle, url = proofs
    models = importlib.import_module(f"{package.__name__}.models")
    oracle.reply = (200, "application/json", b'{"kind": "card", "params": "front"}')
    result = _create(package, url, flavour, models.ProofEditableLetterProof(params=7))
    assert json.loads(oracle.last().body) == {"kind": "letter", "params": 7}
    assert isinstance(result, Success)
    assert result.value == models.ProofEditableCardProof(params="front")
