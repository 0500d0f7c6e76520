"""Conditional GET and a response cache for GET routes, as one pure ASGI middleware.

For the GET (and HEAD) routes its configuration covers, :class:`ResponseCacheMiddleware`:

* gives a complete 200 response an ``ETag`` (strong or weak, a hash of the body) unless the
  handler set one, answers ``If-None-Match`` with ``304 Not Modified`` and no body, and adds
  the route's ``Cache-Control`` (unless the handler set one) and ``Vary``;
* for routes with a ``ttl``, stores the response in a :class:`flext_api.cache.AsyncFlextApiCache`
  (Redis shares it across workers) keyed by method, path, query (order-insensitive) and the
  request headers the route varies on, and serves it from there (``X-Cache: HIT`` / ``MISS``,
  ``Age``). A request with ``Authorization`` or ``Cookie`` is never served from or stored
  in the cache unless the route sets ``cache_authenticated``; nor is a response that sets a
  cookie or says ``no-store`` / ``private``.

The cache fails open here whatever its configuration says: an unavailable cache means the
handler runs, never a failed request. Bodies larger than ``max_body_bytes`` stream through
untouched (no ETag, not stored): this module must never hold more than that in memory per
request, and never start a task of its own.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import msgspec
from starlette.routing import Match, Route

from flext_api._result import Success
from flext_api.cache import AsyncFlextApiCache, CacheConfig

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ResponseCacheMiddleware", "ResponseCaching", "RouteCaching"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteCaching:
    """How one GET route is cached.

    ``cache_control``: the ``Cache-Control`` header its responses get (unless the handler
    sets one), for example ``"public, max-age=60"``. ``etag``: ``"strong"``, ``"weak"``, or
    ``None`` for no ETag and no 304s. ``ttl``: seconds a response is kept in the server's
    cache (``None``: not cached on the server). ``vary``: request headers the response
    depends on (part of the cache key, sent as ``Vary``). ``cache_authenticated``: also cache
    requests that carry ``Authorization`` or ``Cookie`` (the key then includes those headers).
    """

    cache_control: str | None = None
    etag: Literal["strong", "weak"] | None = "strong"
    ttl: float | None = None
    vary: tuple[str, ...] = ()
    cache_authenticated: bool = False

    def __post_init__(self) -> None:
        if self.ttl is not None and not self.ttl > 0:
            msg = f"RouteCaching.ttl must be a positive number of seconds or None, not {self.ttl!r}"
            raise ValueError(msg)
        if self.etag not in ("strong", "weak", None):
            msg = f"RouteCaching.etag must be 'strong', 'weak' or None, not {self.etag!r}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCaching:
    """Caching for an application's GET routes.

    ``routes`` maps a route's path as declared (``"/items/{item_id}"``) to its
    :class:`RouteCaching`; ``default`` applies to every other GET route (``None``: leave them
    alone). ``cache`` stores the responses of routes with a ``ttl`` (``None``: a per-process
    memory cache; give a Redis-backed one to share it across workers).
    """

    routes: Mapping[str, RouteCaching] = field(default_factory=dict)
    default: RouteCaching | None = RouteCaching()
    cache: AsyncFlextApiCache | None = None
    max_body_bytes: int = 1024 * 1024


class _Stored(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float


_AUTH_HEADERS = (b"authorization", b"cookie")


class ResponseCacheMiddleware:
    """Pure ASGI; add with ``app.add_middleware(ResponseCacheMiddleware, caching=...)`` or
    pass ``caching=`` to :func:`flext_api.server.create_fastapi_app`."""

    def __init__(self, app: ASGIApp, caching: ResponseCaching) -> None:
        self.app = app
        self.caching = caching
        self.cache = (
            caching.cache
            if caching.cache is not None
            else AsyncFlextApiCache("memory", config=CacheConfig(fail_open=True))
        )
        self._routes: list[tuple[Route, RouteCaching | None]] | None = None

    def _policy(self, scope: Scope) -> RouteCaching | None:
        if self._routes is None:
            router = getattr(scope.get("app"), "router", None)
            routes = getattr(router, "routes", [])
            self._routes = []
            for route in routes:
                if isinstance(route, Route) and route.methods and "GET" in route.methods:
                    # A route with no policy still shadows later ones that match the path.
                    self._routes.append((route, self.caching.routes.get(route.path)))
        for route, policy in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return self.caching.default if policy is None else policy
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        policy = self._policy(scope)
        if policy is None:
            await self.app(scope, receive, send)
            return
        request_headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            request_headers[name] = (
                request_headers[name] + b", " + value if name in request_headers else value
            )
        key: str | None = None
        authenticated = any(name in request_headers for name in _AUTH_HEADERS)
        if (
            scope["method"] == "GET"
            and policy.ttl is not None
            and (policy.cache_authenticated or not authenticated)
        ):
            key = _cache_key(scope, policy, request_headers)
            found = await self.cache.get_value(key, _Stored)
            if isinstance(found, Success) and found.value is not None:
                stored = found.value
                headers = [*stored.headers, (b"x-cache", b"HIT")]
                age = max(0, int(time.time() - stored.stored_at))
                headers.append((b"age", str(age).encode()))
                await _answer(send, stored.status, headers, stored.body, request_headers)
                return
        await self._run(
            scope, receive, send, policy=policy, request_headers=request_headers, key=key
        )

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        policy: RouteCaching,
        request_headers: dict[bytes, bytes],
        key: str | None,
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        passing_through = False

        async def capture(message: Message) -> None:
            nonlocal start, size, passing_through
            if passing_through:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body: bytes = message.get("body", b"")
            chunks.append(body)
            size += len(body)
            if message.get("more_body", False):
                if size > self.caching.max_body_bytes:
                    # Too big to hash or store: stream it on untouched from here.
                    passing_through = True
                    await send(start)
                    await send(
                        {"type": "http.response.body", "body": b"".join(chunks), "more_body": True}
                    )
                    chunks.clear()
                return
            await self._finish(
                send,
                start,
                b"".join(chunks),
                policy=policy,
                request_headers=request_headers,
                key=key,
            )

        await self.app(scope, receive, capture)

    async def _finish(
        self,
        send: Send,
        start: Message,
        body: bytes,
        *,
        policy: RouteCaching,
        request_headers: dict[bytes, bytes],
        key: str | None,
    ) -> None:
        status: int = start["status"]
        headers: list[tuple[bytes, bytes]] = [
            (bytes(n).lower(), bytes(v)) for n, v in start.get("headers", [])
        ]
        if status != 200:
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        names = {name for name, _ in headers}
        if policy.etag is not None and b"etag" not in names:
            digest = hashlib.blake2b(body, digest_size=16).hexdigest()
            tag = f'"{digest}"' if policy.etag == "strong" else f'W/"{digest}"'
            headers.append((b"etag", tag.encode()))
        if policy.cache_control is not None and b"cache-control" not in names:
            headers.append((b"cache-control", policy.cache_control.encode()))
        if policy.vary:
            headers.append((b"vary", ", ".join(policy.vary).encode()))
        if key is not None:
            cache_control = b", ".join(v for n, v in headers if n == b"cache-control").lower()
            storable = b"set-cookie" not in names and not (
                b"no-store" in cache_control or b"private" in cache_control
            )
            if storable:
                stored = _Stored(status, headers, body, time.time())
                await self.cache.set(key, stored, ttl=policy.ttl)  # a failure: just not stored
            headers = [*headers, (b"x-cache", b"MISS")]
        await _answer(send, status, headers, body, request_headers)


def _cache_key(scope: Scope, policy: RouteCaching, request_headers: dict[bytes, bytes]) -> str:
    query: bytes = scope.get("query_string", b"")
    pairs = sorted(query.split(b"&")) if query else []
    varied = [name.lower() for name in policy.vary]
    if policy.cache_authenticated:
        varied.extend(name.decode() for name in _AUTH_HEADERS)
    digest = hashlib.sha256()
    for part in (
        scope["method"].encode(),
        scope.get("root_path", "").encode(),
        scope["path"].encode(),
        *pairs,
    ):
        digest.update(part + b"\0")
    for name in varied:
        digest.update(name.encode() + b"=" + request_headers.get(name.encode(), b"") + b"\0")
    return "response:" + digest.hexdigest()


def _etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 section 13.1.2: weak comparison (``W/`` ignored on both sides), ``*`` matches."""
    if if_none_match.strip() == b"*":
        return True
    wanted = etag.removeprefix(b"W/")
    return any(
        candidate.strip().removeprefix(b"W/") == wanted for candidate in if_none_match.split(b",")
    )


# Headers a 304 repeats (RFC 9110 section 15.4.5); the body and its headers go.
_NOT_MODIFIED_HEADERS = frozenset(
    {
        b"etag",
        b"cache-control",
        b"vary",
        b"expires",
        b"date",
        b"content-location",
        b"x-cache",
        b"age",
    }
)


async def _answer(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    request_headers: dict[bytes, bytes],
) -> None:
    if_none_match = request_headers.get(b"if-none-match")
    etag = next((value for name, value in headers if name == b"etag"), None)
    if if_none_match is not None and etag is not None and _etag_matches(if_none_match, etag):
        kept = [(n, v) for n, v in headers if n in _NOT_MODIFIED_HEADERS]
        await send({"type": "http.response.start", "status": 304, "headers": kept})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
