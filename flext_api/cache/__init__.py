"""A key-value cache for applications: memory, a directory, or Redis, blocking or async.

:class:`FlextApiCache` (blocking) and :class:`AsyncFlextApiCache` (asyncio and trio) share one
API; every call returns a ``FlextResult``. The HTTP cache middleware (``flext_api.cache.http``)
and the server's response cache store their entries through it.
"""

from __future__ import annotations

from flext_api.cache._async.backend import AsyncCacheBackend
from flext_api.cache._async.cache import AsyncFlextApiCache
from flext_api.cache._config import CacheConfig
from flext_api.cache._errors import (
    CacheDecodeError,
    CacheEncodeError,
    CacheError,
    CacheUnavailable,
)
from flext_api.cache._sync.backend import CacheBackend
from flext_api.cache._sync.cache import FlextApiCache

__all__ = [
    "AsyncCacheBackend",
    "AsyncFlextApiCache",
    "CacheBackend",
    "CacheConfig",
    "CacheDecodeError",
    "CacheEncodeError",
    "CacheError",
    "CacheUnavailable",
    "FlextApiCache",
]
