"""Sliding-window limits: in memory (fake clock), in a real Redis, and across two workers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from flext_api._result import Failure, Success
from flext_api.server import (
    InMemoryRateLimiter,
    RateLimitDecision,
    RateLimiterUnavailable,
    RateLimitMiddleware,
    RedisRateLimiter,
)
from tests.server.apps import build_app
from tests.server.conftest import RedisServer, free_port, wait_for_port
from tests.server.helpers import asgi_call, http_call

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_in_memory() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(3, 10.0, clock=clock)
    assert [limiter.hit_now("k").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.hit_now("k")
    assert (refused.allowed, refused.remaining, refused.reset_after) == (False, 0, 10.0)
    clock.now += 4
    assert not limiter.hit_now("k").allowed
    assert limiter.hit_now("other").allowed  # keys are independent
    clock.now += 6  # the first three hits (t=1000) leave the window at t=1010
    again = limiter.hit_now("k")
    assert (again.allowed, again.remaining) == (True, 2)
    assert again.reset_after == 10.0


def test_in_memory_sweeps_expired_clients() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(1, 1.0, clock=clock)
    for index in range(1024):
        limiter.hit_now(f"client-{index}")
    clock.now += 2
    assert limiter.hit_now("fresh").allowed
    assert len(limiter._hits) == 1


@pytest.mark.parametrize(("limit", "window"), [(0, 1.0), (True, 1.0), (1, 0.0)])
def test_invalid_limits_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        InMemoryRateLimiter(limit, window)


@pytest.mark.anyio
async def test_middleware_headers_and_429_per_client_and_route() -> None:
    app = build_app(access_log=False, rate_limit=2, rate_limit_window_seconds=30)
    first = await asgi_call(app, "GET", "/pets/1")
    assert first.status == 200
    assert first.headers["ratelimit-limit"] == "2"
    assert first.headers["ratelimit-remaining"] == "1"
    assert first.headers["ratelimit-reset"] == "30"
    assert (await asgi_call(app, "GET", "/pets/2")).status == 200  # same route template
    refused = await asgi_call(app, "GET", "/pets/3")
    assert refused.status == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.json()["error_code"] == "RATE_LIMITED"
    assert refused.json()["details"] == {"limit": 2, "window_seconds": 30.0}
    assert (await asgi_call(app, "GET", "/ping")).status == 200  # another route
    other_client = await asgi_call(app, "GET", "/pets/4", client=("10.0.0.9", 1))
    assert other_client.status == 200
    for _ in range(3):
        assert (await asgi_call(app, "GET", "/health")).status == 200  # probes are exempt


class BrokenLimiter:
    limit = 1
    window = 1.0

    async def hit(self, key: str) -> Success[RateLimitDecision] | Failure[RateLimiterUnavailable]:
        return Failure(RateLimiterUnavailable("redis is down"))


@pytest.mark.anyio
async def test_limiter_failure_fails_open_or_closed() -> None:
    inner = build_app(access_log=False)
    open_reply = await asgi_call(RateLimitMiddleware(inner, BrokenLimiter()), "GET", "/ping")
    assert open_reply.status == 200
    closed = RateLimitMiddleware(inner, BrokenLimiter(), fail_open=False)
    closed_reply = await asgi_call(closed, "GET", "/ping")
    assert closed_reply.status == 503
    assert closed_reply.json()["error_code"] == "RATE_LIMITER_UNAVAILABLE"


@pytest.mark.anyio
async def test_redis_limiter_is_atomic_under_concurrency(redis_server: RedisServer) -> None:
    client = Redis.from_url(redis_server.url)
    try:
        limiter = RedisRateLimiter(client, 5, 30.0, prefix="test-atomic:")
        results: list[bool] = []

        async def hit() -> None:
            result = await limiter.hit("same-key")
            assert isinstance(result, Success)
            results.append(result.value.allowed)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(hit)
        assert results.count(True) == 5
        last = await limiter.hit("same-key")
        assert isinstance(last, Success)
        assert last.value.remaining == 0
        assert 29.0 < last.value.reset_after <= 30.0
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_redis_limiter_reports_an_unreachable_redis() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        result = await RedisRateLimiter(client, 1, 1.0).hit("k")
        assert isinstance(result, Failure)
        assert result.error_code == "RATE_LIMITER_UNAVAILABLE"
    finally:
        await client.aclose()


@pytest.fixture
def two_workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[int, int]]:
    """Two uvicorn processes sharing one Redis limit and one Prometheus multiprocess dir."""
    env = {
        **os.environ,
        "FLEXT_API_RATE_LIMIT": "7",
        "FLEXT_API_RATE_LIMIT_WINDOW_SECONDS": "60",
        "FLEXT_API_REDIS_URL": redis_server.url.replace("/0", "/1"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    ports = (free_port(), free_port())
    command = [sys.executable, "-m", "uvicorn", "tests.server.worker_app:create_app", "--factory"]
    processes = [
        subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=env,
        )
        for port in ports
    ]
    try:
        for port in ports:
            wait_for_port(port, timeout=15)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


def test_two_workers_share_one_redis_limit_and_metrics(two_workers: tuple[int, int]) -> None:
    statuses: list[int] = []
    pids: set[int] = set()
    for index in range(14):
        reply = http_call(two_workers[index % 2], "GET", "/ping")
        statuses.append(reply.status)
        if reply.status == 200:
            pids.add(reply.json()["pid"])
    assert statuses.count(200) == 7
    assert statuses.count(429) == 7
    assert len(pids) == 2  # both workers answered within the one shared limit
    ready = http_call(two_workers[0], "GET", "/ready")
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok"}}
    metrics = http_call(two_workers[1], "GET", "/metrics").body.decode()
    counted = {
        line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("flext_api_requests_total{") and 'route="/ping"' in line
    }
    assert sum(value for labels, value in counted.items() if 'status="200"' in labels) == 7
    assert sum(value for labels, value in counted.items() if 'status="429"' in labels) == 7
