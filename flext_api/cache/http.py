"""The HTTP cache middleware for the clients (RFC 9111): the public names.

``HTTPCacheMiddleware`` serves ``FlextApiClient``, ``AsyncHTTPCacheMiddleware`` serves
``AsyncFlextApiClient`` (asyncio and trio); both store their entries in a ``FlextApiCache`` /
``AsyncFlextApiCache`` (or anything with its ``get``, ``set`` and ``delete``). See
docs/http_cache.md.
"""

from flext_api._sansio.http_cache import HTTPCachePolicy, StoredResponse
from flext_api.cache._async.http import AsyncHTTPCacheMiddleware, AsyncHTTPCacheStore, AsyncSpawn
from flext_api.cache._sync.http import HTTPCacheMiddleware, HTTPCacheStore, Spawn

__all__ = [
    "AsyncHTTPCacheMiddleware",
    "AsyncHTTPCacheStore",
    "AsyncSpawn",
    "HTTPCachePolicy",
    "HTTPCacheMiddleware",
    "HTTPCacheStore",
    "Spawn",
    "StoredResponse",
]
