"""Which pool serves a request: the client's own, or the pool of the proxy its origin uses.

The client asks :class:`AsyncPoolRouter` for a pool per request and for the merged statistics;
it never looks at proxies itself. With no proxy configured :meth:`AsyncPoolRouter.pool_for`
is never called: the client keeps the direct pool and pays nothing for routing.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping

from flext_api._async.pool import AsyncConnectionPool, HTTP2Mode
from flext_api._backends.base import AsyncNetworkBackend
from flext_api._models import Limits, Request, Trace
from flext_api._sansio.pool_stats import OriginStats, PoolStats
from flext_api._sansio.proxy import Proxy, ProxyRouter, ProxyTypes, build_router

__all__ = ["AsyncPoolRouter"]


class AsyncPoolRouter:
    """The direct pool plus one pool per proxy (each with the client's ``limits``).

    ``direct`` serves every request when ``routes`` is ``None``; otherwise ``routes`` picks
    the proxy per origin (``None``: direct) and :meth:`pool_for` returns its pool.
    """

    __slots__ = ("direct", "proxy_pools", "routes")

    def __init__(
        self,
        direct: AsyncConnectionPool,
        *,
        proxy: ProxyTypes | None,
        proxies: Mapping[str, ProxyTypes | None] | None,
        trust_env: bool,
        environ: Mapping[str, str],
        make_proxy_tls: Callable[[], ssl.SSLContext],
        ssl_context: ssl.SSLContext | None,
        limits: Limits,
        backend: AsyncNetworkBackend | None,
        http2: HTTP2Mode,
        trace: Trace | None,
    ) -> None:
        self.direct = direct
        self.routes: ProxyRouter | None = build_router(
            proxy=proxy, proxies=proxies, trust_env=trust_env, environ=environ
        )
        self.proxy_pools: dict[Proxy, AsyncConnectionPool] = {}
        if self.routes is None:
            return
        proxy_tls = None
        if any(each.url.scheme == "https" for each in self.routes.proxies):
            # The proxy itself is spoken to in HTTP/1.1, whatever http2= says.
            proxy_tls = make_proxy_tls()
        for each in self.routes.proxies:
            self.proxy_pools[each] = AsyncConnectionPool(
                ssl_context=ssl_context,
                limits=limits,
                backend=backend,
                http2=http2,
                proxy=each,
                proxy_ssl_context=proxy_tls,
                trace=trace,
                wire=direct.wire,
            )

    def pool_for(self, request: Request) -> AsyncConnectionPool:
        """The pool for ``request``: its proxy's, or the direct one."""
        routes = self.routes
        if routes is None:
            return self.direct
        proxy = routes.select(request.url.origin)
        return self.direct if proxy is None else self.proxy_pools[proxy]

    @property
    def stats(self) -> PoolStats:
        """Every pool's statistics added up, per origin too (through a proxy: per tunneled
        origin, and per ``("http", proxy host, proxy port)`` for forwarded http requests)."""
        stats = self.direct.stats
        for pool in self.proxy_pools.values():
            more = pool.stats
            origins = dict(stats.origins)
            for origin, counts in more.origins.items():
                seen = origins.get(origin)
                origins[origin] = (
                    counts
                    if seen is None
                    else OriginStats(
                        seen.connections + counts.connections,
                        seen.idle + counts.idle,
                        in_use=seen.in_use + counts.in_use,
                        opening=seen.opening + counts.opening,
                    )
                )
            stats = PoolStats(
                stats.connections + more.connections,
                stats.idle + more.idle,
                stats.waiters + more.waiters,
                origins,
                in_use=stats.in_use + more.in_use,
                opening=stats.opening + more.opening,
            )
        return stats

    async def aclose(self) -> None:
        """Close every pool."""
        await self.direct.aclose()
        for pool in self.proxy_pools.values():
            await pool.aclose()
