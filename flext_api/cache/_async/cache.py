"""AsyncFlextApiCache: the cache's public face (``FlextApiCache`` is its generated twin).

Every call returns a ``FlextResult``; backend failures become ``Failure(CacheUnavailable)``
here, once, or a miss when ``fail_open`` is set. ``get_or_compute`` is single-flight: in one
process, concurrent misses on a key wait on one lock per key while the first caller computes;
on Redis, a lock with an expiry (``lock_expiry``) does the same across processes, and a
holder that dies only delays the others until it expires.

Never: catch cancellation, or hold the per-key table's guard across an await.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Self, TypeAlias, TypeVar

from flext_api._exceptions import FlextApiError
from flext_api._result import Failure, FlextResult, Success
from flext_api._synchronization import AsyncLock, AsyncThreadLock, async_sleep
from flext_api.cache._async.backend import AsyncCacheBackend, AsyncLocalBackend
from flext_api.cache._async.redis import AsyncRedisBackend
from flext_api.cache._codec import decode, encode
from flext_api.cache._config import CacheConfig
from flext_api.cache._errors import CacheError, CacheUnavailable
from flext_api.cache._filesystem import FileStore
from flext_api.cache._memory import MemoryStore

if TYPE_CHECKING:
    from collections.abc import Awaitable  # unasync: remove
    from types import TracebackType

# Spelled as a string: ``Awaitable`` exists only for type checkers (the sync twin has none).
AsyncCompute: TypeAlias = "Callable[[], Awaitable[bytes]]"  # unasync: remove
# unasync: sync-only: Compute: TypeAlias = "Callable[[], bytes]"

__all__ = ["AsyncFlextApiCache"]

T = TypeVar("T")

_LOCK_POLL = 0.02


class _Flight:
    """One key's computation: the lock its callers queue on, and how many are queued."""

    __slots__ = ("lock", "waiters")

    def __init__(self) -> None:
        self.lock = AsyncLock()
        self.waiters = 0


class AsyncFlextApiCache:
    """A key-value cache on memory, a directory, Redis, or any :class:`AsyncCacheBackend`.

    Values are bytes, or objects msgspec encodes (stored as JSON; read back with
    :meth:`get_value`). ``ttl`` is in seconds; ``None`` keeps the entry until it is evicted.
    The clock (``time.monotonic`` unless given) drives expiry and lazy cleanup of the local
    backends; Redis expires keys on its own clock.
    """

    def __init__(
        self,
        backend: Literal["memory", "filesystem", "redis"] | AsyncCacheBackend = "memory",
        *,
        config: CacheConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = CacheConfig() if config is None else config
        self._clock = clock
        self._backend: AsyncCacheBackend
        if backend == "memory":
            self._backend = AsyncLocalBackend(
                MemoryStore(
                    max_entries=self._config.max_entries,
                    max_bytes=self._config.max_bytes,
                    clock=clock,
                    cleanup_interval=self._config.cleanup_interval,
                )
            )
        elif backend == "filesystem":
            if self._config.directory is None:
                msg = "the filesystem cache needs CacheConfig(directory=...)"
                raise ValueError(msg)
            self._backend = AsyncLocalBackend(
                FileStore(
                    self._config.directory,
                    max_bytes=self._config.max_bytes,
                    clock=clock,
                    cleanup_interval=self._config.cleanup_interval,
                )
            )
        elif backend == "redis":
            self._backend = AsyncRedisBackend(self._config)
        elif isinstance(backend, str):
            msg = f"unknown cache backend {backend!r}: use 'memory', 'filesystem' or 'redis'"
            raise ValueError(msg)
        else:
            self._backend = backend
        self._flights: dict[str, _Flight] = {}
        self._flights_guard = AsyncThreadLock()

    @property
    def config(self) -> CacheConfig:
        return self._config

    @property
    def backend(self) -> AsyncCacheBackend:
        return self._backend

    def _unavailable_as_miss(self, error: CacheError) -> bool:
        return self._config.fail_open and isinstance(error, CacheUnavailable)

    async def get(self, key: str) -> FlextResult[bytes | None]:
        """The bytes stored under ``key``; ``None`` on a miss (or, with ``fail_open``, when
        the backend is unavailable)."""
        try:
            return Success(await self._backend.get(key))
        except CacheError as exc:
            if self._unavailable_as_miss(exc):
                return Success(None)
            return Failure(exc)

    async def get_value(self, key: str, type: type[T]) -> FlextResult[T | None]:
        """The value under ``key`` decoded as ``type`` (``CACHE_DECODE_ERROR`` if it does
        not fit)."""
        found = await self.get(key)
        if isinstance(found, Failure):
            return found
        if found.value is None:
            return Success(None)
        decoded = decode(key, found.value, type)
        if isinstance(decoded, CacheError):
            return Failure(decoded)
        return Success(decoded)

    async def set(
        self, key: str, value: bytes | object, *, ttl: float | None = None
    ) -> FlextResult[None]:
        """Store ``value`` (bytes, or anything msgspec encodes) for ``ttl`` seconds."""
        _check_ttl(ttl)
        data = encode(key, value)
        if isinstance(data, CacheError):
            return Failure(data)
        try:
            await self._backend.set(key, data, ttl)
        except CacheError as exc:
            if self._unavailable_as_miss(exc):
                return Success(None)
            return Failure(exc)
        return Success(None)

    async def delete(self, key: str) -> FlextResult[bool]:
        """Remove ``key``; ``True`` when it was there."""
        try:
            return Success(await self._backend.delete(key))
        except CacheError as exc:
            if self._unavailable_as_miss(exc):
                return Success(False)
            return Failure(exc)

    async def clear(self) -> FlextResult[None]:
        """Remove every entry of this cache (on Redis: every key under ``key_prefix``)."""
        try:
            await self._backend.clear()
        except CacheError as exc:
            if self._unavailable_as_miss(exc):
                return Success(None)
            return Failure(exc)
        return Success(None)

    async def get_or_compute(
        self, key: str, compute: AsyncCompute, *, ttl: float | None = None
    ) -> FlextResult[bytes]:
        """The bytes under ``key``, computing and storing them on a miss, once for all callers.

        An exception ``compute`` raises propagates to the caller that ran it (the others then
        try in turn); it is the caller's code, not a cache failure.
        """
        _check_ttl(ttl)
        found = await self.get(key)
        if isinstance(found, Failure):
            return found
        if found.value is not None:
            return Success(found.value)
        with self._flights_guard:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = _Flight()
            flight.waiters += 1
        try:
            async with flight.lock:
                return await self._compute_once(key, compute, ttl)
        finally:
            with self._flights_guard:
                flight.waiters -= 1
                if flight.waiters == 0:
                    del self._flights[key]

    async def _compute_once(
        self, key: str, compute: AsyncCompute, ttl: float | None
    ) -> FlextResult[bytes]:
        # Holding this process's lock for the key; the previous holder may have stored it.
        found = await self.get(key)
        if isinstance(found, Failure):
            return found
        if found.value is not None:
            return Success(found.value)
        token = await self._lock_across_processes(key)
        if isinstance(token, Failure):
            return token
        if isinstance(token, bytes):
            return Success(token)  # another process computed it while we waited
        try:
            value = await compute()
            stored = await self.set(key, value, ttl=ttl)
        finally:
            if token is not None:
                # A failed release expires on its own; the value is what matters.
                with contextlib.suppress(CacheError):
                    await self._backend.release_lock(key, token)
        if isinstance(stored, Failure):
            return stored
        return Success(value)

    async def _lock_across_processes(self, key: str) -> str | bytes | Failure[FlextApiError] | None:
        """A lock token; the value if another process stored it meanwhile; ``None`` to compute
        without a lock (``fail_open``, or the holder outlived ``lock_expiry``)."""
        # Real time, not the injected clock: this is an actual wait on another process.
        deadline = time.monotonic() + self._config.lock_expiry
        while True:
            try:
                token = await self._backend.acquire_lock(key, self._config.lock_expiry)
            except CacheError as exc:
                return None if self._unavailable_as_miss(exc) else Failure(exc)
            if token is not None:
                # The previous holder may have stored the value and released the lock between
                # our last look and this acquisition: look again before computing it twice.
                stored = await self.get(key)
                if isinstance(stored, Success) and stored.value is not None:
                    with contextlib.suppress(CacheError):
                        await self._backend.release_lock(key, token)
                    return stored.value
                return token
            await async_sleep(_LOCK_POLL)
            found = await self.get(key)
            if isinstance(found, Failure):
                return found
            if found.value is not None:
                return found.value
            if time.monotonic() > deadline:
                return None

    def close(self) -> None:
        """Release the backend's connections; calls after this fail with CACHE_UNAVAILABLE."""
        self._backend.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and not ttl > 0:
        msg = f"ttl must be a positive number of seconds or None, not {ttl!r}"
        raise ValueError(msg)
