"""The circuit breaker layer: fail fast with ``CIRCUIT_OPEN`` while an origin is unwell.

The decisions (open, half-open, closed) come from :mod:`flext_api._sansio.circuit`; this layer
reads the clock, counts outcomes and holds the lock, never across an await.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flext_api._async.middleware.chain import AsyncCallNext, R
from flext_api._exceptions import FlextApiError
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._sansio.circuit import CircuitBreaker, CircuitRegistry, CircuitState, Reject
from flext_api._synchronization import AsyncThreadLock

__all__ = ["AsyncCircuitBreakerMiddleware"]


class AsyncCircuitBreakerMiddleware:
    """Fail fast with ``CIRCUIT_OPEN`` while an origin is unwell.

    One breaker per origin ``(scheme, host, port)``; ``state`` shows one. Decisions are made
    under a lock that is never held across an await. ``clock`` (monotonic seconds) is
    injectable, so tests move time instead of sleeping through ``open_duration``.
    """

    __slots__ = ("_clock", "_lock", "registry")

    def __init__(
        self,
        config: CircuitBreaker | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CircuitRegistry(config if config is not None else CircuitBreaker())
        self._clock = clock
        self._lock = AsyncThreadLock()

    def state(self, origin: tuple[str, str, int]) -> CircuitState:
        """The breaker of one origin (closed until it has seen failures)."""
        with self._lock:
            return self.registry.get(origin)

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        origin = request.url.origin
        with self._lock:
            breaker = self.registry.get(origin)
            ticket = breaker.before_request(self._clock())
        if isinstance(ticket, Reject):
            return Failure(ticket.to_error(f"{origin[0]}://{origin[1]}:{origin[2]}", self._clock()))
        try:
            result = await call_next(request)
        except BaseException:
            with self._lock:
                breaker.on_abandon(ticket)
            raise
        config = self.registry.config
        if isinstance(result, Success):
            failed = config.is_failure(result.value.status_code, None)
        else:
            failed = config.is_failure(None, result.error.code)
        with self._lock:
            if failed:
                breaker.on_failure(self._clock(), ticket)
            else:
                breaker.on_success(self._clock(), ticket)
        return result
