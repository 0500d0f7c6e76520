"""flext_api.testing: the mock network, the recorded requests and the loopback server, as a
user of the kit sees them. Generated into ``tests/_sync/test_testing_kit.py``."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator, Iterator

import pytest

from flext_api import AsyncFlextApiClient, Failure, RetryPolicy
from flext_api.testing import (
    LoopbackServer,
    MockResponse,
    MockRouter,
    RecordedRequest,
    mock_async_client,
)

pytestmark = pytest.mark.anyio  # unasync: remove


def created(request: RecordedRequest) -> MockResponse:
    pet = request.json()
    return MockResponse(201, json={"id": 7, **pet}, headers={"Location": "/pets/7"})


async def test_requests_are_routed_answered_and_recorded_as_sent() -> None:
    router = MockRouter()
    router.post("/pets", created)
    router.get("/pets/{pet_id}", lambda r: MockResponse(json={"id": int(r.path_params["pet_id"])}))
    async with mock_async_client(router, headers={"X-Team": "a"}) as client:
        made = (await client.post("/pets", json={"name": "Rex"})).unwrap()
        fetched = (await client.get("/pets/7", params={"fields": "id"})).unwrap()
    assert made.status_code == 201 and made.headers["location"] == "/pets/7"
    assert made.json().unwrap() == {"id": 7, "name": "Rex"}
    assert fetched.json().unwrap() == {"id": 7}

    (sent,) = router.assert_called("POST", "/pets", times=1)
    assert sent.json() == {"name": "Rex"}
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-team"] == "a" and sent.headers["host"] == "mock.test"
    (got,) = router.assert_called("GET", "/pets/7")
    assert got.query == [("fields", "id")] and got.url == "http://mock.test/pets/7?fields=id"
    router.assert_not_called("DELETE", "/pets/7")
    router.assert_all_called()
    router.check()
    with pytest.raises(AssertionError, match="expected GET /pets/7 2 time"):
        router.assert_called("GET", "/pets/7", times=2)


async def test_a_list_of_responses_is_served_in_turn_through_the_whole_client() -> None:
    router = MockRouter()
    route = router.get("/flaky", [MockResponse(503), MockResponse(503), MockResponse(text="ok")])
    policy = RetryPolicy(backoff_base=0.0, jitter=0.0, total_timeout=30)
    backend = router.async_backend()
    async with AsyncFlextApiClient(base_url="http://mock.test", backend=backend, retry=policy) as c:
        reply = (await c.get("/flaky")).unwrap()
        again = (await c.get("/flaky")).unwrap()
    assert reply.text == "ok" and again.text == "ok"  # the last answer repeats
    assert len(route.calls) == 4
    # Keep-alive works over the mock network: one connection for all four requests.
    assert backend.connections == 1


async def test_mistakes_in_the_mock_are_loud() -> None:
    router = MockRouter()
    router.get("/boom", lambda r: 1 / 0)  # type: ignore[arg-type,return-value]
    router.get("/never", MockResponse())
    async with mock_async_client(router) as client:
        unmatched = (await client.get("/nowhere")).unwrap()
        boom = (await client.get("/boom")).unwrap()
    assert unmatched.status_code == 404 and "no route for GET /nowhere" in unmatched.text
    assert boom.status_code == 500 and "ZeroDivisionError" in boom.text
    with pytest.raises(AssertionError, match="handler raised"):
        router.check()
    router.errors.clear()
    with pytest.raises(AssertionError, match="no route matched: GET /nowhere"):
        router.check()
    with pytest.raises(AssertionError, match="routes never called: GET /never"):
        router.assert_all_called()


async def test_https_urls_and_streamed_uploads_need_no_network() -> None:
    router = MockRouter()
    router.put("/blob", lambda r: MockResponse(json={"size": len(r.content)}))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 4096

    async with mock_async_client(router, base_url="https://api.example") as client:
        reply = (await client.put("/blob", content=chunks())).unwrap()
    assert reply.json().unwrap() == {"size": 64 * 4096}
    (sent,) = router.assert_called("PUT", "/blob")
    assert sent.url == "https://api.example/blob"


async def test_the_loopback_server_serves_the_router_on_a_real_socket() -> None:
    router = MockRouter()
    router.get("/hello", MockResponse(json={"hello": "world"}))
    with LoopbackServer(router) as server:
        async with AsyncFlextApiClient(base_url=server.url) as client:
            ours = (await client.get("/hello")).unwrap()
        with urllib.request.urlopen(f"{server.url}/hello", timeout=5) as reply:
            theirs = json.loads(reply.read())
    assert ours.json().unwrap() == theirs == {"hello": "world"}
    first, second = router.assert_called("GET", "/hello", times=2)
    assert first.headers["host"] == f"127.0.0.1:{server.port}"
    assert second.headers["user-agent"].startswith("Python-urllib")
    # Stopped: the port no longer answers.
    async with AsyncFlextApiClient(base_url=server.url) as client:
        assert isinstance(await client.get("/hello"), Failure)


@pytest.fixture
def pets(flext_mock: MockRouter) -> Iterator[MockRouter]:
    flext_mock.get("/pets", MockResponse(json=[]))
    yield flext_mock


async def test_the_pytest_fixtures(pets: MockRouter, flext_loopback: LoopbackServer) -> None:
    assert flext_loopback.router is pets
    async with mock_async_client(pets, base_url=flext_loopback.url) as client:
        assert (await client.get("/pets")).unwrap().json().unwrap() == []
    pets.assert_called("GET", "/pets", times=1)
