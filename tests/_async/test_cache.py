"""FlextApiCache on memory, a directory and a real redis-server: one suite, three backends.
Generated into tests/_sync/test_cache.py for the blocking cache (threads for concurrency)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from flext_api._result import Failure, FlextResult, Success
from flext_api._synchronization import async_sleep
from flext_api.cache import AsyncFlextApiCache, CacheConfig
from flext_api.cache._async.redis import AsyncRedisBackend
from tests.concurrency import agather as gather  # unasync: remove
from tests.redis_servers import RedisProcess, hung_server, redis_process

# unasync: sync-only: from tests.concurrency import gather

pytestmark = pytest.mark.anyio  # unasync: remove

BACKENDS = ["memory", "filesystem", "redis"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Pet(msgspec.Struct):
    name: str
    age: int


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisProcess]:
    with redis_process() as server:
        yield server


MakeCache = Callable[..., AsyncFlextApiCache]


@pytest.fixture(params=BACKENDS)
async def make_cache(
    request: pytest.FixtureRequest, tmp_path: Path, redis: RedisProcess
) -> AsyncIterator[MakeCache]:
    # async, so the caches close inside the event loop that opened their connections
    made: list[AsyncFlextApiCache] = []
    backend = request.param
    prefix = f"test-{secrets.token_hex(4)}:"

    def make(clock: Callable[[], float] | None = None) -> AsyncFlextApiCache:
        config = CacheConfig(
            directory=str(tmp_path / "cache"), redis_url=redis.url, key_prefix=prefix
        )
        cache = (
            AsyncFlextApiCache(backend, config=config)
            if clock is None
            else AsyncFlextApiCache(backend, config=config, clock=clock)
        )
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


async def test_set_get_delete_clear(make_cache: MakeCache) -> None:
    cache = make_cache()
    assert await cache.get("missing") == Success(None)
    assert await cache.set("a", b"alpha") == Success(None)
    assert await cache.set("b", b"") == Success(None)
    assert await cache.get("a") == Success(b"alpha")
    assert await cache.get("b") == Success(b"")  # an empty value is a hit, not a miss
    assert await cache.delete("a") == Success(True)
    assert await cache.delete("a") == Success(False)
    assert await cache.get("a") == Success(None)
    assert (await cache.set("c", b"x")).is_success
    assert await cache.clear() == Success(None)
    assert await cache.get("b") == Success(None)
    assert await cache.get("c") == Success(None)


async def test_objects_round_trip_and_bad_values_fail_at_set(make_cache: MakeCache) -> None:
    cache = make_cache()
    assert (await cache.set("pet", Pet("Rex", 3))).is_success
    assert await cache.get_value("pet", Pet) == Success(Pet("Rex", 3))
    assert await cache.get("pet") == Success(b'{"name":"Rex","age":3}')
    assert (await cache.set("d", {"k": [1, 2]})).is_success
    assert await cache.get_value("d", dict[str, list[int]]) == Success({"k": [1, 2]})
    assert await cache.get_value("nothing", Pet) == Success(None)

    bad = await cache.set("bad", object())
    assert isinstance(bad, Failure)
    assert bad.error.code == "CACHE_ENCODE_ERROR"
    assert "'bad'" in bad.error.message
    assert await cache.get("bad") == Success(None)  # nothing half-stored

    assert (await cache.set("raw", b"not json")).is_success
    wrong = await cache.get_value("raw", Pet)
    assert isinstance(wrong, Failure)
    assert wrong.error.code == "CACHE_DECODE_ERROR"
    wrong_shape = await cache.get_value("pet", list[int])
    assert isinstance(wrong_shape, Failure)
    assert wrong_shape.error.code == "CACHE_DECODE_ERROR"


async def test_ttl_expires_entries(make_cache: MakeCache, request: pytest.FixtureRequest) -> None:
    clock = FakeClock()
    cache = make_cache(clock)
    assert (await cache.set("short", b"1", ttl=5)).is_success
    assert (await cache.set("forever", b"2")).is_success
    assert await cache.get("short") == Success(b"1")
    backend = cache.backend
    if isinstance(backend, AsyncRedisBackend):
        # Redis keeps the TTL itself (every process sees the same expiry).
        ttl_ms = await backend.command("PTTL", cache.config.key_prefix + "short")
        assert isinstance(ttl_ms, int)
        assert 0 < ttl_ms <= 5000
        assert await backend.command("PTTL", cache.config.key_prefix + "forever") == -1
    else:
        clock.now += 5
        assert await cache.get("short") == Success(None)
    assert await cache.get("forever") == Success(b"2")
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("x", b"1", ttl=0)


async def test_get_or_compute_runs_once_for_100_concurrent_misses(make_cache: MakeCache) -> None:
    cache = make_cache()
    runs: list[int] = []

    async def compute() -> bytes:
        runs.append(1)
        await async_sleep(0.05)  # long enough for every other caller to miss and queue
        return b"computed"

    async def call() -> FlextResult[bytes]:
        return await cache.get_or_compute("hot", compute, ttl=60)

    results = await gather([call for _ in range(100)])
    assert results == [Success(b"computed")] * 100
    assert len(runs) == 1
    assert await cache.get("hot") == Success(b"computed")
    # a hit never computes
    assert await cache.get_or_compute("hot", compute) == Success(b"computed")
    assert len(runs) == 1


async def test_get_or_compute_lets_the_next_caller_retry_after_an_exception(
    make_cache: MakeCache,
) -> None:
    cache = make_cache()

    async def broken() -> bytes:
        raise RuntimeError("boom")

    async def works() -> bytes:
        return b"ok"

    with pytest.raises(RuntimeError, match="boom"):
        await cache.get_or_compute("k", broken)
    assert await cache.get_or_compute("k", works) == Success(b"ok")


async def test_memory_lru_bounded_by_entries() -> None:
    async with AsyncFlextApiCache("memory", config=CacheConfig(max_entries=3)) as cache:
        for key in "abc":
            await cache.set(key, key.encode())
        await cache.get("a")  # a is now the most recently used
        await cache.set("d", b"d")
        assert await cache.get("b") == Success(None)
        for key in "acd":
            assert await cache.get(key) == Success(key.encode())


async def test_unavailable_redis_is_a_clear_failure_or_a_miss_with_fail_open() -> None:
    with hung_server() as port:
        config = CacheConfig(redis_url=f"redis://127.0.0.1:{port}/0", timeout=0.2)
        async with AsyncFlextApiCache("redis", config=config) as cache:
            hung = await cache.get("k")
            assert isinstance(hung, Failure)
            assert hung.error.code == "CACHE_UNAVAILABLE"
            assert f"127.0.0.1:{port}" in hung.error.message
            computed = await cache.get_or_compute("k", _constant)
            assert isinstance(computed, Failure)
            assert computed.error.code == "CACHE_UNAVAILABLE"
        open_config = CacheConfig(
            redis_url=f"redis://127.0.0.1:{port}/0", timeout=0.2, fail_open=True
        )
        async with AsyncFlextApiCache("redis", config=open_config) as cache:
            assert await cache.get("k") == Success(None)
            assert await cache.set("k", b"v") == Success(None)
            assert await cache.get_or_compute("k", _constant) == Success(b"fresh")


async def _constant() -> bytes:
    return b"fresh"


async def test_redis_killed_mid_run_fails_then_recovers() -> None:
    with redis_process() as server:
        config = CacheConfig(redis_url=server.url, timeout=0.5, connect_timeout=0.5)
        async with AsyncFlextApiCache("redis", config=config) as cache:
            assert (await cache.set("k", b"before")).is_success
            assert await cache.get("k") == Success(b"before")
            server.kill()
            down = await cache.get("k")
            assert isinstance(down, Failure)
            assert down.error.code == "CACHE_UNAVAILABLE"
            down_set = await cache.set("k", b"during")
            assert isinstance(down_set, Failure)
            server.restart()
            # a fresh Redis (no persistence): the cache reconnects by itself
            assert await cache.get("k") == Success(None)
            assert (await cache.set("k", b"after")).is_success
            assert await cache.get("k") == Success(b"after")


async def test_redis_fail_open_serves_misses_while_down() -> None:
    with redis_process() as server:
        config = CacheConfig(redis_url=server.url, fail_open=True)
        async with AsyncFlextApiCache("redis", config=config) as cache:
            assert (await cache.set("k", b"v")).is_success
            server.kill()
            assert await cache.get("k") == Success(None)
            assert await cache.get_or_compute("k", _constant) == Success(b"fresh")
            server.restart()
            assert (await cache.set("k", b"v2")).is_success
            assert await cache.get("k") == Success(b"v2")


async def test_redis_key_prefix_isolates_caches(redis: RedisProcess) -> None:
    one = AsyncFlextApiCache("redis", config=CacheConfig(redis_url=redis.url, key_prefix="one:"))
    two = AsyncFlextApiCache("redis", config=CacheConfig(redis_url=redis.url, key_prefix="two:"))
    async with one, two:
        assert (await one.set("k", b"1")).is_success
        assert (await two.set("k", b"2")).is_success
        assert await one.clear() == Success(None)
        assert await one.get("k") == Success(None)
        assert await two.get("k") == Success(b"2")
        backend = two.backend
        assert isinstance(backend, AsyncRedisBackend)
        assert await backend.command("GET", "two:k") == b"2"


async def test_redis_url_database_is_selected(redis: RedisProcess) -> None:
    db2 = CacheConfig(redis_url=redis.url.replace("/0", "/2"), key_prefix="db:")
    db0 = CacheConfig(redis_url=redis.url, key_prefix="db:")
    async with (
        AsyncFlextApiCache("redis", config=db2) as two,
        AsyncFlextApiCache("redis", config=db0) as zero,
    ):
        assert (await two.set("k", b"in db 2")).is_success
        assert await zero.get("k") == Success(None)
        assert await two.get("k") == Success(b"in db 2")
