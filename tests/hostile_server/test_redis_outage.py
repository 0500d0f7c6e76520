"""A Redis that hangs must cost a request at most the Redis timeouts (item 3).

Two uvicorn workers share one Redis rate limit, as a deployment does. Redis then hangs, in
the two ways that leave a TCP connection up but no answer: a loopback server that accepts and
never replies, and a real redis-server stopped with SIGSTOP. Fail open (the default) lets
requests through; fail closed answers 503 in the JSON error shape; ``/ready`` says not ready
within its own timeout either way; once Redis answers again the shared limit applies again.

The client gives each request 5 s, five times the default Redis timeouts: before those
defaults existed, redis-py waited 5 s per attempt and retried ten times.
"""

from __future__ import annotations

import anyio
import msgspec
import pytest
from redis.asyncio import Redis

from flext_api._result import Failure
from flext_api.server import RedisRateLimiter
from tests.hostile_server.conftest import (
    PrivateRedis,
    UvicornWorker,
    requests_total,
    uvicorn_workers,
)

CLIENT_TIMEOUT = 5.0


def assert_not_ready(worker: UvicornWorker) -> None:
    ready = worker.call("GET", "/ready", timeout=CLIENT_TIMEOUT)
    assert ready.status == 503
    assert ready.json() == {"status": "not_ready", "checks": {"redis": "failed"}}


@pytest.mark.parametrize("hang", ["accepts-and-never-answers", "redis-server-sigstopped"])
def test_hanging_redis_fails_open_within_the_timeout(
    request: pytest.FixtureRequest, tmp_path: pytest.TempPathFactory, hang: str
) -> None:
    if hang == "accepts-and-never-answers":
        url = f"redis://127.0.0.1:{request.getfixturevalue('hanging_tcp_server')}/0"
        paused: PrivateRedis | None = None
    else:
        paused = request.getfixturevalue("private_redis")
        assert paused is not None
        url = paused.url
    env = {"FLEXT_API_RATE_LIMIT": "5", "FLEXT_API_REDIS_URL": url}
    with uvicorn_workers(tmp_path, env, count=2) as workers:  # type: ignore[arg-type]
        if paused is not None:
            first = workers[0].call("GET", "/ping")
            assert first.headers["ratelimit-remaining"] == "4"  # the limit works before
            paused.pause()
        for index, worker in enumerate(workers):
            request_id = f"hang-{index}"
            reply = worker.call(
                "GET", "/ping", headers={"X-Request-ID": request_id}, timeout=CLIENT_TIMEOUT
            )
            assert reply.status == 200  # fail open: served without a limit
            assert "ratelimit-limit" not in reply.headers
            assert worker.access_line(request_id)["status"] == 200
            assert_not_ready(worker)
            log = worker.stderr()
            warning = "WARNING flext_api.server.rate_limit rate limiter unavailable, letting"
            assert warning in log
            assert "Traceback" not in log
        samples = workers[0].metrics()
        assert requests_total(samples, "GET", "/ping", 200) == (3 if paused else 2)


def test_sigstopped_redis_fails_closed_with_a_503(
    private_redis: PrivateRedis, tmp_path: pytest.TempPathFactory
) -> None:
    env = {
        "FLEXT_API_RATE_LIMIT": "4",
        "FLEXT_API_REDIS_URL": private_redis.url,
        "FLEXT_API_RATE_LIMIT_FAIL_OPEN": "false",
        "FLEXT_API_REDIS_TIMEOUT_SECONDS": "0.3",
        "FLEXT_API_REDIS_CONNECT_TIMEOUT_SECONDS": "0.3",
    }
    with uvicorn_workers(tmp_path, env, count=2) as workers:  # type: ignore[arg-type]
        remaining = [workers[i % 2].call("GET", "/ping").headers["ratelimit-remaining"]
                     for i in range(4)]  # fmt: skip
        assert remaining == ["3", "2", "1", "0"]  # one limit shared by both workers

        private_redis.pause()
        for index, worker in enumerate(workers):
            request_id = f"closed-{index}"
            reply = worker.call(
                "GET", "/pets/1", headers={"X-Request-ID": request_id}, timeout=CLIENT_TIMEOUT
            )
            assert reply.status == 503
            assert reply.headers["content-type"] == "application/json"
            assert reply.headers["retry-after"]
            body = msgspec.json.decode(reply.body)
            assert body == {
                "error_code": "RATE_LIMITER_UNAVAILABLE",
                "message": body["message"],
                "details": None,
                "request_id": request_id,
            }
            assert "rate limit" in body["message"]
            line = worker.access_line(request_id)
            assert (line["route"], line["status"]) == ("/pets/{pet_id}", 503)
            assert_not_ready(worker)

        private_redis.resume()
        assert workers[1].call("GET", "/ping").status == 429  # the shared limit still holds
        assert workers[0].call("GET", "/pets/2").status == 200  # and the server serves
        ready = workers[1].call("GET", "/ready")
        assert ready.json() == {"status": "ready", "checks": {"redis": "ok"}}
        samples = workers[0].metrics()
        assert requests_total(samples, "GET", "/pets/{pet_id}", 503) == 2
        assert requests_total(samples, "GET", "/ping", 429) == 1
        for worker in workers:
            assert "Traceback" not in worker.stderr()


def test_limiter_timeout_bounds_a_hit_on_a_client_without_socket_timeouts(
    hanging_tcp_server: int,
) -> None:
    async def hit() -> None:
        # No socket timeouts on this client: only the limiter's own bound ends the wait.
        client = Redis.from_url(f"redis://127.0.0.1:{hanging_tcp_server}/0", socket_timeout=None)
        try:
            with anyio.fail_after(CLIENT_TIMEOUT):  # fails the test if the bound does not hold
                result = await RedisRateLimiter(client, 1, 1.0, timeout=0.2).hit("k")
        finally:
            await client.aclose()
        assert isinstance(result, Failure)
        assert result.error_code == "RATE_LIMITER_UNAVAILABLE"
        assert result.error.message == "the rate limiter's Redis did not answer within 0.2 s"

    anyio.run(hit)
