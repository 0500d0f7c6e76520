"""The generated bundled petstore (tests/codegen/specs/petstore.yaml) against its own generated
stub over uvicorn: what a user meets when the server is newer than the document (an enum value
the document does not list, G11).
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
import trio

from flext_api import Failure, Success
from tests.codegen.openapi.conftest import SPECS, Generated
from tests.servers.runners import run_uvicorn

CREDENTIALS = {"api_key": "key-1", "petstore_auth": "token-1"}


class NewerServer:
    """Answers with a pet status the document does not list, and records what it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def get_pet_by_id(self, *, pet_id: int) -> object:
        return (200, {"id": pet_id, "name": "rex", "photoUrls": [], "status": "adopted"})

    async def add_pet(self, *, body: Any) -> object:
        self.received.append({"body": body})
        return body

    async def find_pets_by_status(self, *, status: Any) -> object:
        self.received.append({"status": status})
        return []

    async def find_pets_by_tags(self, *, tags: Any) -> object:
        self.received.append({"tags": tags})
        return []


class Petstore(msgspec.Struct):
    sdk: ModuleType
    server: NewerServer
    base_url: str


@pytest.fixture(scope="module")
def petstore(make_package: Callable[[Path, str], Generated]) -> Iterator[Petstore]:
    result, _ = make_package(SPECS / "petstore.yaml", "t")
    sdk = importlib.import_module(result.package_dir.name)
    stubs = importlib.import_module(f"{result.package_dir.name}.stubs")
    server = NewerServer()
    with run_uvicorn("h11", app=stubs.make_app(server)) as running:
        yield Petstore(sdk, server, running.url + stubs.SERVER_PREFIX)


def test_unknown_enum_value_decodes_and_the_stub_refuses_it(petstore: Petstore) -> None:
    """The client keeps a value the document does not list (a newer server); the stub, which
    speaks for the document, refuses it with a 422 naming the field."""
    sdk = petstore.sdk
    with sdk.PetstoreClient(base_url=petstore.base_url, **CREDENTIALS) as api:
        result = api.get_pet_by_id(pet_id=7)
        assert isinstance(result, Success), result
        pet = result.value
        assert isinstance(pet, sdk.Pet) and isinstance(pet.status, sdk.PetStatus)
        assert pet.status == "adopted" and pet.status.value == "adopted"
        assert pet.status.name == "UNKNOWN"
        assert pet.status not in list(sdk.PetStatus)  # the documented members are unchanged
        # Sent back as it came (the client does not replace it), and refused by the stub.
        sent = len(petstore.server.received)
        refused = api.add_pet(body=pet)
        assert isinstance(refused, Failure) and refused.error.status_code == 422
        error = msgspec.json.decode(refused.error.response.content)
        assert error["error_code"] == "VALIDATION_ERROR"
        assert error["details"][0]["loc"] == ["body", "status"]
        assert "'adopted' is not one of" in error["details"][0]["msg"]
        status = sdk.FindPetsByStatusStatus("retired")
        refused = api.find_pets_by_status(status=status)
        assert isinstance(refused, Failure) and refused.error.status_code == 422
        detail = msgspec.json.decode(refused.error.response.content)["details"]
        assert detail[0]["loc"] == ["query", "status"] and "'retired'" in detail[0]["msg"]
        assert len(petstore.server.received) == sent  # no handler saw either request
        assert api.find_pets_by_status(status=sdk.FindPetsByStatusStatus.SOLD).unwrap() == []
        assert petstore.server.received[-1] == {"status": "sold"}


def test_unknown_enum_value_on_the_async_client(petstore: Petstore) -> None:
    sdk = petstore.sdk

    async def call() -> Any:
        async with sdk.AsyncPetstoreClient(base_url=petstore.base_url, **CREDENTIALS) as api:
            return (await api.get_pet_by_id(pet_id=8)).unwrap()

    for pet in (asyncio.run(call()), trio.run(call)):
        assert pet.id == 8 and pet.status == "adopted" and pet.status.name == "UNKNOWN"


def test_deprecated_operation_warns_at_the_call_site(petstore: Petstore) -> None:
    sdk = petstore.sdk
    with sdk.PetstoreClient(base_url=petstore.base_url, **CREDENTIALS) as api:
        with pytest.warns(DeprecationWarning, match=r"find_pets_by_tags: GET /pet/findByTags") as w:
            result = api.find_pets_by_tags(tags=["a"])
        assert w[0].filename == __file__  # points at the caller, not the generated client
        assert result == Success([])  # a warning, not a refusal: the call is made
        assert petstore.server.received[-1] == {"tags": ["a"]}
        assert "Deprecated" in (sdk.PetstoreClient.find_pets_by_tags.__doc__ or "")
        api.get_pet_by_id(pet_id=1)  # not deprecated: no warning (warnings are errors here)

    async def call() -> None:
        async with sdk.AsyncPetstoreClient(base_url=petstore.base_url, **CREDENTIALS) as api:
            with pytest.warns(DeprecationWarning, match="find_pets_by_tags_with_response"):
                await api.find_pets_by_tags_with_response()

    asyncio.run(call())
