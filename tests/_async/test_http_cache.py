"""The HTTP cache middleware against a real origin (uvicorn on 127.0.0.1), on a fake clock.

Generated into ``tests/_sync/test_http_cache.py`` for the blocking client; this file runs on
asyncio and trio. The store is parametrized: ``dict`` (an in-test implementation of the
FlextApiCache get/set/delete contract) always, and every FlextApiCache backend that is
importable here (memory, filesystem), so the same suite checks them at merge.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from flext_api import AsyncFlextApiClient, FlextApiError
from flext_api._result import Failure, Success
from flext_api.cache._async.http import AsyncHTTPCacheMiddleware, AsyncHTTPCacheStore
from tests.servers.app import pattern_bytes
from tests.servers.cache_app import cache_app
from tests.servers.runners import RunningServer, run_uvicorn

pytestmark = pytest.mark.anyio  # unasync: remove


class AsyncDictStore:
    """The FlextApiCache contract (get/set/delete returning results) over a dict; TTLs ignored."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> Success[bytes | None] | Failure[FlextApiError]:
        return Success(self.data.get(key))

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None
    ) -> Success[None] | Failure[FlextApiError]:
        self.data[key] = value
        return Success(None)

    async def delete(self, key: str) -> Success[bool] | Failure[FlextApiError]:
        return Success(self.data.pop(key, None) is not None)


def _backends() -> list[str]:
    names = ["dict"]
    if hasattr(importlib.import_module("flext_api.cache"), "AsyncFlextApiCache"):
        names += ["memory", "filesystem"]
        if importlib.util.find_spec("tests.redis_servers") is not None:
            names.append("redis")
    return names


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of its own (tests/redis_servers.py, from the FlextApiCache suite)."""
    servers: Any = importlib.import_module("tests.redis_servers")
    with servers.redis_process() as server:
        yield server.url


@pytest.fixture(params=_backends())
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The cache under test; FlextApiCache ones are closed after the test (inside its loop)."""
    if request.param == "dict":
        yield AsyncDictStore()
        return
    package: Any = importlib.import_module("flext_api.cache")
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    config = package.CacheConfig(
        directory=str(tmp_path),
        key_prefix=f"t-{uuid.uuid4().hex[:8]}:",
        redis_url=url or "redis://127.0.0.1:6379/0",
    )
    cache = package.AsyncFlextApiCache(request.param, config=config)
    try:
        yield cache
    finally:
        cache.close()


@pytest.fixture(scope="module")
def origin() -> Iterator[RunningServer]:
    with run_uvicorn("h11", app=cache_app) as server:
        yield server


class FakeClock:
    """Wall-clock seconds that move only when a test says so.

    It starts well before the real time: the origin's ``Date`` then lies in the fake future,
    so every age comes from the fake clock alone (RFC 9111 clamps a negative apparent age).
    """

    def __init__(self) -> None:
        self.now = time.time() - 3600

    def __call__(self) -> float:
        return self.now


def path(**query: str) -> str:
    """A fresh resource on the origin (its own request counter) with these response headers."""
    name = uuid.uuid4().hex[:12]  # the origin's counters are per process, shared by all tests
    params = urlencode(query, quote_via=quote)
    return f"/c/{name}?{params}"


async def get(client: AsyncFlextApiClient, url: str, **headers: str) -> tuple[str, str, bytes]:
    """(X-Cache, X-Count, body) of one GET."""
    response = (await client.get(url, headers=headers)).unwrap()
    assert response.status_code == 200
    return response.headers["x-cache"], response.headers["x-count"], response.content


def cached_client(
    origin: RunningServer, store: AsyncHTTPCacheStore, clock: FakeClock, **options: Any
) -> AsyncFlextApiClient:
    cache = AsyncHTTPCacheMiddleware(store, clock=clock, **options)
    return AsyncFlextApiClient(base_url=origin.url, middleware=[cache])


async def test_fresh_response_is_served_from_the_cache_with_its_age(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    clock = FakeClock()
    url = path(cc="max-age=60")
    async with cached_client(origin, store, clock) as client:
        assert await get(client, url) == ("MISS", "1", f"{url[3:].split('?')[0]}:1".encode())
        clock.now += 10
        response = (await client.get(url)).unwrap()
        assert response.headers["x-cache"] == "HIT"
        assert response.headers["x-count"] == "1"  # the origin was not asked again
        assert int(response.headers["age"]) >= 10
        clock.now += 51
        assert (await get(client, url))[:2] == ("MISS", "2")


async def test_stale_response_is_revalidated_with_its_etag(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    clock = FakeClock()
    url = path(cc="max-age=5", etag='"v1"')
    name = url.split("?")[0].rsplit("/", 1)[1]
    async with cached_client(origin, store, clock) as client:
        first = await get(client, url)
        clock.now += 6
        label, count, body = await get(client, url)
        assert (label, count, body) == ("REVALIDATED", "2", first[2])
        seen = (await client.get(f"/seen/{name}")).unwrap().json().unwrap()
        assert seen["if-none-match"] == '"v1"'
        # The 304 refreshed the entry: fresh again without another trip.
        assert (await get(client, url))[:2] == ("HIT", "2")


async def test_no_store_is_never_served_from_the_cache(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="no-store, max-age=60")
    async with cached_client(origin, store, FakeClock()) as client:
        assert (await get(client, url))[:2] == ("MISS", "1")
        assert (await get(client, url))[:2] == ("MISS", "2")


async def test_vary_keeps_variants_apart(origin: RunningServer, store: AsyncHTTPCacheStore) -> None:
    url = path(cc="max-age=60", vary="Accept")
    async with cached_client(origin, store, FakeClock()) as client:
        assert (await get(client, url, accept="a/a"))[:2] == ("MISS", "1")
        assert (await get(client, url, accept="b/b"))[:2] == ("MISS", "2")
        assert (await get(client, url, accept="b/b"))[:2] == ("HIT", "2")


async def test_unsafe_method_invalidates_the_target(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="max-age=60")
    async with cached_client(origin, store, FakeClock()) as client:
        await get(client, url)
        assert (await get(client, url))[0] == "HIT"
        assert (await client.post(url, content=b"x")).unwrap().status_code == 200
        assert (await get(client, url))[:2] == ("MISS", "3")


async def test_stale_if_error_serves_the_stale_response_when_the_origin_fails(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    clock = FakeClock()
    url = path(cc="max-age=1, stale-if-error=60", fail_after="1")
    async with cached_client(origin, store, clock) as client:
        body = (await get(client, url))[2]
        clock.now += 10
        response = (await client.get(url)).unwrap()
        assert (response.status_code, response.headers["x-cache"]) == (200, "STALE")
        assert response.content == body
        clock.now += 100  # past the window: the 503 comes through
        assert (await client.get(url)).unwrap().status_code == 503


async def test_a_streamed_response_is_stored_as_it_is_read_and_served_in_parts(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="max-age=60", size="100000")
    cache = AsyncHTTPCacheMiddleware(store, clock=FakeClock(), part_size=30_000)
    async with AsyncFlextApiClient(base_url=origin.url, middleware=[cache]) as client:
        async with client.stream("GET", url) as result:
            streamed = result.unwrap()
            assert streamed.headers["x-cache"] == "MISS"
            received = b"".join([chunk async for chunk in streamed.aiter_bytes()])
        assert received == pattern_bytes(100_000)
        async with client.stream("GET", url) as result:
            hit = result.unwrap()
            assert hit.headers["x-cache"] == "HIT"
            chunks = [chunk async for chunk in hit.aiter_bytes()]
        # Served part by part (30 000 bytes each), never joined into one buffer.
        assert [len(c) for c in chunks] == [30_000, 30_000, 30_000, 10_000]
        assert b"".join(chunks) == received
        response = (await client.get(url)).unwrap()
        assert (response.headers["x-cache"], response.content) == ("HIT", received)


async def test_a_partly_read_stream_is_not_stored(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="max-age=60", size="100000")
    async with cached_client(origin, store, FakeClock()) as client:
        async with client.stream("GET", url) as result:
            async for _ in result.unwrap().aiter_bytes():
                break
        assert (await get(client, url))[:2] == ("MISS", "2")


async def test_a_gzip_body_stored_from_a_stream_is_served_decoded(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="max-age=60", size="5000", gzip="1")
    async with cached_client(origin, store, FakeClock()) as client:
        async with client.stream("GET", url) as result:
            raw = b"".join([chunk async for chunk in result.unwrap().aiter_raw()])
        assert gzip.decompress(raw) == pattern_bytes(5000)
        response = (await client.get(url)).unwrap()
        assert response.headers["x-cache"] == "HIT"
        assert response.content == pattern_bytes(5000)
        assert "content-encoding" not in response.headers


async def test_only_if_cached_without_an_entry_is_a_504_without_a_request(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="max-age=60")
    name = url.split("?")[0].rsplit("/", 1)[1]
    async with cached_client(origin, store, FakeClock()) as client:
        response = (await client.get(url, headers={"Cache-Control": "only-if-cached"})).unwrap()
        assert response.status_code == 504
        seen = (await client.get(f"/seen/{name}")).unwrap().json().unwrap()
        assert seen == {}  # the origin never heard of it


async def test_the_callers_request_is_not_changed_by_a_revalidation(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    clock = FakeClock()
    url = path(cc="max-age=0", etag='"e"')
    async with cached_client(origin, store, clock) as client:
        await get(client, url)
        response = (await client.get(url)).unwrap()
        assert response.headers["x-cache"] == "REVALIDATED"
        assert "if-none-match" not in response.request.headers


class AsyncBrokenStore:
    """A cache whose backend is down: every call fails the way FlextApiCache reports it."""

    def __init__(self) -> None:
        self.calls = 0

    def _down(self) -> Failure[FlextApiError]:
        self.calls += 1
        return Failure(FlextApiError("cache backend unavailable"))

    async def get(self, key: str) -> Success[bytes | None] | Failure[FlextApiError]:
        return self._down()

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None
    ) -> Success[None] | Failure[FlextApiError]:
        return self._down()

    async def delete(self, key: str) -> Success[bool] | Failure[FlextApiError]:
        return self._down()


async def test_a_failing_cache_never_fails_the_request(origin: RunningServer) -> None:
    broken = AsyncBrokenStore()
    url = path(cc="max-age=60", size="70000")
    async with cached_client(origin, broken, FakeClock()) as client:
        assert (await get(client, url))[:2] == ("MISS", "1")
        assert (await get(client, url))[:2] == ("MISS", "2")
        async with client.stream("GET", url) as result:
            body = b"".join([chunk async for chunk in result.unwrap().aiter_bytes()])
        assert body == pattern_bytes(70_000)
    assert broken.calls >= 4  # it was asked, and its failures were absorbed


async def test_a_304_for_another_representation_is_not_applied(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="no-cache", etag='"v1"', lie='"other"')
    async with cached_client(origin, store, FakeClock()) as client:
        assert (await get(client, url))[:2] == ("MISS", "1")
        # Conditional request -> 304 naming "other" (count 2) -> sent again plainly (count 3).
        assert (await get(client, url))[:2] == ("MISS", "3")


async def test_the_callers_own_conditional_request_gets_the_servers_304(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    url = path(cc="max-age=60", etag='"v1"')
    async with cached_client(origin, store, FakeClock()) as client:
        await get(client, url)
        response = (await client.get(url, headers={"If-None-Match": '"v1"'})).unwrap()
        assert response.status_code == 304


async def test_a_shared_cache_does_not_store_private_responses(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    private = path(cc="private, max-age=60")
    public = path(cc="public, max-age=60")
    async with cached_client(origin, store, FakeClock(), shared=True) as client:
        await get(client, private)
        await get(client, public)
        assert (await get(client, private))[:2] == ("MISS", "2")
        assert (await get(client, public))[:2] == ("HIT", "1")
    async with cached_client(origin, store, FakeClock()) as client:
        await get(client, private)
        assert (await get(client, private))[:2] == ("HIT", "3")


async def test_stale_while_revalidate_serves_stale_and_revalidates_in_the_background(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    clock = FakeClock()
    jobs: list[Any] = []  # what a task group's start_soon would run
    url = path(cc="max-age=10, stale-while-revalidate=60", etag='"v1"')
    async with cached_client(origin, store, clock, spawn=jobs.append) as client:
        await get(client, url)
        clock.now += 20
        assert (await get(client, url))[:2] == ("STALE", "1")  # answered without waiting
        assert (await get(client, url))[:2] == ("STALE", "1")
        assert len(jobs) == 1  # one revalidation per URL at a time
        await jobs[0]()  # the origin answers 304 (count 2): fresh again
        assert (await get(client, url))[:2] == ("HIT", "2")
        clock.now += 200  # past the window: revalidated in the foreground
        assert (await get(client, url))[0] == "REVALIDATED"
        assert len(jobs) == 1


async def test_background_revalidation_of_a_stream_stores_the_new_body(
    origin: RunningServer, store: AsyncHTTPCacheStore
) -> None:
    clock = FakeClock()
    jobs: list[Any] = []
    url = path(cc="max-age=10, stale-while-revalidate=60")  # no validator: a full refetch
    async with cached_client(origin, store, clock, spawn=jobs.append) as client:
        async with client.stream("GET", url) as result:
            first = b"".join([chunk async for chunk in result.unwrap().aiter_bytes()])
        clock.now += 20
        async with client.stream("GET", url) as result:
            stale = result.unwrap()
            assert stale.headers["x-cache"] == "STALE"
            assert b"".join([chunk async for chunk in stale.aiter_bytes()]) == first
        await jobs[0]()
        label, count, body = await get(client, url)
        assert (label, count) == ("HIT", "2")
        assert body != first  # the body the background refetch stored
