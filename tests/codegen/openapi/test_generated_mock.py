"""A generated SDK's ``testing.py``: its ready mock client, as an SDK user writes a test with
it (the bundled petstore). The requests go through the generated client and flext-api's whole
client stack into the testing kit's router."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from flext_api import Failure, Success
from tests.codegen.openapi.conftest import SPECS, Generated

CREDENTIALS = {"api_key": "key-1", "petstore_auth": "token-1"}


@pytest.fixture(scope="module")
def sdk(make_package: Callable[[Path, str], Generated]) -> str:
    result, _ = make_package(SPECS / "petstore.yaml", "t")
    return result.package_dir.name


def test_the_mock_client_decodes_recorded_answers_and_records_what_was_sent(sdk: str) -> None:
    testing = importlib.import_module(f"{sdk}.testing")
    models = importlib.import_module(f"{sdk}.models")
    router = testing.MockRouter()
    router.get(
        "/api/v3/pet/{petId}",
        lambda request: testing.MockResponse(
            json={"id": int(request.path_params["petId"]), "name": "Rex", "photoUrls": []}
        ),
    )
    router.get("/api/v3/pet/99", testing.MockResponse(404, json={"message": "no such pet"}))
    assert testing.MOCK_BASE_URL == "http://mock.test/api/v3"

    with testing.mock_client(router, **CREDENTIALS) as api:
        missing = api.get_pet_by_id(pet_id=99)  # the first route that matches wins: not this one
        found = api.get_pet_by_id(pet_id=7)
    assert isinstance(found, Success) and isinstance(found.value, models.Pet)
    assert (found.value.id, found.value.name) == (7, "Rex")
    assert isinstance(missing, Success) and missing.value.id == 99

    first, second = router.assert_called("GET", "/api/v3/pet/7") + router.assert_called(
        "GET", "/api/v3/pet/99"
    )
    assert first.headers["api_key"] == "key-1"
    assert second.path_params == {"petId": "99"}


def test_the_async_mock_client_on_trio_reports_a_documented_error(sdk: str) -> None:
    testing = importlib.import_module(f"{sdk}.testing")
    router = testing.MockRouter()
    router.get("/api/v3/pet/findByStatus", testing.MockResponse(400))

    async def main() -> object:
        async with testing.mock_async_client(router, **CREDENTIALS) as api:
            return await api.find_pets_by_status(status="sold")

    result = trio.run(main)
    assert isinstance(result, Failure) and result.error.status_code == 400
    (sent,) = router.assert_called("GET", "/api/v3/pet/findByStatus", times=1)
    assert sent.query == [("status", "sold")]
    assert sent.headers["authorization"] == "Bearer token-1"
