"""Sliding-window rate limits per client and route, in memory or in Redis.

The window is a log of hit times: a request is allowed when fewer than ``limit`` hits fall in
the last ``window`` seconds, so there is no burst at a fixed window's edge. The in-memory
limiter is exact for one process; the Redis limiter runs the same algorithm as one Lua script
(atomic, on Redis's own clock), so any number of workers share one limit.

This module must never block the event loop on Redis (async client only), never raise a
Redis failure into a request (it is a ``FlextResult``; the middleware fails open or closed
as configured), and never key by raw path (the route template bounds the key space).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import anyio
from redis.exceptions import RedisError

from flext_api._exceptions import TransportError
from flext_api._result import FlextResult, Success, fail, ok
from flext_api.server._routes import match_route_template
from flext_api.server.errors import RateLimited, send_error, send_failure

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "InMemoryRateLimiter",
    "RateLimitDecision",
    "RateLimitMiddleware",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisRateLimiter",
    "client_address",
]

logger = logging.getLogger("flext_api.server.rate_limit")


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of one hit: allowed or not, and what the RateLimit-* headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    """Seconds until the oldest hit in the window expires (a slot frees up)."""


class RateLimiterUnavailable(TransportError):
    """The limiter's store (Redis) could not be reached or answered with an error."""

    code = "RATE_LIMITER_UNAVAILABLE"


class RateLimiter(Protocol):
    """Anything that records a hit for ``key`` and says whether it is within the limit."""

    limit: int
    window: float

    async def hit(self, key: str) -> FlextResult[RateLimitDecision]: ...


def _check_limits(limit: int, window: float) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"rate limit must be a positive integer, got {limit!r}")
    if not window > 0:
        raise ValueError(f"rate limit window must be positive seconds, got {window!r}")


class InMemoryRateLimiter:
    """Exact sliding window for one process. ``clock`` is injectable for tests."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_limits(limit, window)
        self.limit = limit
        self.window = float(window)
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._sweep_at = 1024

    def hit_now(self, key: str) -> RateLimitDecision:
        """Record a hit for ``key`` (no I/O, so no Result) and decide."""
        now = self._clock()
        cutoff = now - self.window
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._sweep_at:
                self._sweep(cutoff)
            hits = self._hits[key] = deque()
        while hits and hits[0] <= cutoff:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        return RateLimitDecision(
            allowed=allowed,
            limit=self.limit,
            remaining=self.limit - len(hits),
            reset_after=hits[0] + self.window - now,
        )

    async def hit(self, key: str) -> FlextResult[RateLimitDecision]:
        return ok(self.hit_now(key))

    def _sweep(self, cutoff: float) -> None:
        # Drop clients whose every hit has expired; amortised: the next sweep waits until
        # the table has doubled, so each hit pays O(1) on average.
        self._hits = {key: hits for key, hits in self._hits.items() if hits and hits[-1] > cutoff}
        self._sweep_at = max(1024, 2 * len(self._hits))


# KEYS[1]: the window's sorted set. ARGV: limit, window in microseconds, a unique member.
# Scores are Redis server time in microseconds, so every worker shares one clock.
_SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local allowed = 0
if count < limit then
  redis.call('ZADD', key, now, ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', key, math.ceil(window / 1000))
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, limit - count, reset}
"""


class RedisRateLimiter:
    """Sliding window shared by every process that uses the same Redis and ``prefix``.

    ``timeout`` (seconds, ``None`` for none) bounds a whole hit, however many round trips it
    takes (connecting, loading the script): a Redis that accepts connections but never
    answers then costs a request that long, and the hit fails with
    ``RATE_LIMITER_UNAVAILABLE``. Give the client socket timeouts as well, so that its
    connections do not wait on their own (``create_fastapi_app`` does both).
    """

    def __init__(
        self,
        client: Redis,
        limit: int,
        window: float,
        *,
        prefix: str = "flext_api:ratelimit:",
        timeout: float | None = None,
    ) -> None:
        _check_limits(limit, window)
        if timeout is not None and not timeout > 0:
            raise ValueError(f"rate limiter timeout must be positive seconds, got {timeout!r}")
        self.limit = limit
        self.window = float(window)
        self.prefix = prefix
        self.timeout = timeout
        self._client = client
        self._script = client.register_script(_SLIDING_WINDOW_LUA)
        self._window_us = math.ceil(self.window * 1_000_000)

    async def hit(self, key: str) -> FlextResult[RateLimitDecision]:
        try:
            # redis-py drops a connection whose command was cancelled, so none is reused
            # with an answer still in flight.
            with anyio.fail_after(math.inf if self.timeout is None else self.timeout):
                reply = await self._script(
                    keys=[self.prefix + key],
                    args=[self.limit, self._window_us, os.urandom(12).hex()],
                    client=self._client,
                )
        except TimeoutError as exc:
            waited = "in time" if self.timeout is None else f"within {self.timeout:g} s"
            error = RateLimiterUnavailable(f"the rate limiter's Redis did not answer {waited}")
            error.__cause__ = exc
            return fail(error)
        except (RedisError, OSError) as exc:
            error = RateLimiterUnavailable(f"the rate limiter's Redis failed: {exc}")
            error.__cause__ = exc
            return fail(error)
        allowed, remaining, reset_us = (int(part) for part in reply)
        return ok(
            RateLimitDecision(
                allowed=allowed == 1,
                limit=self.limit,
                remaining=max(remaining, 0),
                reset_after=max(reset_us, 0) / 1_000_000,
            )
        )


def client_address(scope: Scope) -> str:
    """The peer address the server saw (behind a proxy, pass a ``key_func`` that trusts it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimitMiddleware:
    """Apply ``limiter`` per client (``key_func``) and route template; 429 over the limit.

    Every limited response carries ``RateLimit-Limit``, ``RateLimit-Remaining`` and
    ``RateLimit-Reset`` (seconds); a 429 also carries ``Retry-After``. When the limiter
    fails (Redis down), ``fail_open=True`` lets the request through and logs a warning;
    ``fail_open=False`` answers 503.
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        *,
        key_func: Callable[[Scope], str] = client_address,
        exempt_paths: Iterable[str] = ("/health", "/ready", "/metrics"),
        fail_open: bool = True,
        warn_interval: float = 10.0,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.key_func = key_func
        self.exempt_paths = frozenset(exempt_paths)
        self.fail_open = fail_open
        self.warn_interval = warn_interval
        self._failures_unreported = 0
        self._warned_at = -math.inf

    def _warn_unavailable(self, message: str) -> None:
        self._failures_unreported += 1
        now = time.monotonic()
        if now - self._warned_at < self.warn_interval:
            return
        logger.warning(
            "rate limiter unavailable, %s (failed hits since the last report: %d): %s",
            "letting requests through" if self.fail_open else "answering 503",
            self._failures_unreported,
            message,
        )
        self._failures_unreported = 0
        self._warned_at = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        key = f"{self.key_func(scope)}|{match_route_template(scope)}"
        result = await self.limiter.hit(key)
        if not isinstance(result, Success):
            self._warn_unavailable(result.error.message)
            if self.fail_open:
                await self.app(scope, receive, send)
            else:
                await send_error(
                    send,
                    503,
                    result.error.code,
                    "the rate limiter is unavailable, so this server refuses requests it cannot "
                    "count; retry shortly",
                    headers={"Retry-After": "1"},
                )
            return
        decision = result.value
        reset = str(math.ceil(decision.reset_after))
        headers = [
            (b"ratelimit-limit", str(decision.limit).encode()),
            (b"ratelimit-remaining", str(decision.remaining).encode()),
            (b"ratelimit-reset", reset.encode()),
        ]
        if not decision.allowed:
            await send_failure(
                send,
                RateLimited(
                    f"rate limit of {decision.limit} requests per {self.limiter.window:g} s "
                    "exceeded",
                    details={"limit": decision.limit, "window_seconds": self.limiter.window},
                    headers={
                        "Retry-After": reset,
                        "RateLimit-Limit": str(decision.limit),
                        "RateLimit-Remaining": "0",
                        "RateLimit-Reset": reset,
                    },
                ),
            )
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *headers]
            await send(message)

        await self.app(scope, receive, send_with_limits)
