"""What a cache backend implements, and the adapter that serves the local stores through it.

A backend stores bytes under keys. Its methods raise :class:`CacheError` subclasses
(``CacheUnavailable`` when the store cannot be reached or answers garbage); the cache turns
them into ``Failure`` values once, at its edge. ``acquire_lock`` / ``release_lock`` give
single-flight across processes where the store is shared (Redis); an in-process store grants
every lock, because the cache already serialises computations inside the process.

This module must never import an event loop: the blocking twin is generated from it.
"""

from __future__ import annotations

from typing import Protocol

from flext_api.cache._errors import CacheUnavailable
from flext_api.cache._filesystem import FileStore
from flext_api.cache._memory import MemoryStore

__all__ = ["AsyncCacheBackend", "AsyncLocalBackend"]


class AsyncCacheBackend(Protocol):
    """The store behind a cache (``CacheBackend`` on the blocking side)."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def clear(self) -> None: ...

    async def acquire_lock(self, key: str, expiry: float) -> str | None:
        """A token when this caller now holds the lock on ``key``, ``None`` when another does."""
        ...

    async def release_lock(self, key: str, token: str) -> None: ...

    def close(self) -> None: ...


class AsyncLocalBackend:
    """Serves a :class:`MemoryStore` or :class:`FileStore` (neither awaits: memory, local disk)."""

    __slots__ = ("_store",)

    def __init__(self, store: MemoryStore | FileStore) -> None:
        self._store = store

    @property
    def store(self) -> MemoryStore | FileStore:
        return self._store

    async def get(self, key: str) -> bytes | None:
        try:
            return self._store.get(key)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        try:
            self._store.set(key, value, ttl)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def delete(self, key: str) -> bool:
        try:
            return self._store.delete(key)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def clear(self) -> None:
        try:
            self._store.clear()
        except OSError as exc:
            raise self._unavailable(exc) from exc

    async def acquire_lock(self, key: str, expiry: float) -> str | None:
        return "local"

    async def release_lock(self, key: str, token: str) -> None:
        return None

    def close(self) -> None:
        return None

    def _unavailable(self, exc: OSError) -> CacheUnavailable:
        where = getattr(self._store, "directory", "memory")
        return CacheUnavailable(
            f"the cache directory {where} failed ({exc.strerror or exc}): check that it exists, "
            "is writable and the disk is not full"
        )
