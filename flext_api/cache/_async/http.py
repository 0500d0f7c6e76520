"""The HTTP cache middleware: RFC 9111 caching of GET responses in a FlextApiCache.

Every decision comes from :mod:`flext_api._sansio.http_cache`; this layer loads and stores
entries, sends the request (or a conditional one) down the chain, and builds the response it
serves from the cache. It never mutates the request it receives (a conditional request is a
copy made with ``derive``), never holds a whole streamed body in memory (bodies are stored and
served in parts of ``part_size`` bytes), and never fails a request because the cache did: a
cache that cannot be read is a miss, one that cannot be written leaves the response unstored.

What the caller sees: every GET answered through this layer carries ``X-Cache``: ``HIT``
(fresh, from the cache), ``STALE`` (served stale: ``max-stale``, ``stale-while-revalidate``,
``stale-if-error``), ``REVALIDATED`` (the server answered 304; the stored body is served with
the updated headers) or ``MISS`` (from the network). A response from the cache also carries
``Age`` in seconds (RFC 9111 section 5.1).

Storage layout, under ``key_prefix``: ``<prefix>GET <url>`` holds the msgpack-encoded
:class:`StoredResponse`; its body lives in parts under ``<prefix>body:<id>:<n>``. The head is
written after the last part, so a reader never sees an entry whose body is incomplete; a body
the caller stopped reading part-way is never given a head, and its parts expire with their TTL.
"""

from __future__ import annotations

import itertools
import secrets
import time

# unasync: begin-async-only
from collections.abc import Awaitable, Callable

# unasync: end-async-only
# unasync: sync-only: from collections.abc import Callable
from typing import Any, Final, Protocol, TypeAlias, cast

import msgspec

from flext_api._async.connection import ResponseHead
from flext_api._async.middleware.chain import (
    AsyncCallNext,
    R,
    derive,
    discard,
    streams,
)
from flext_api._async.streaming import AsyncStreamingResponse, receive_decoded_body
from flext_api._exceptions import FlextApiError, StreamError
from flext_api._headers import Headers
from flext_api._models import Request, Response
from flext_api._result import Failure, Success
from flext_api._sansio.decoding import make_decoder
from flext_api._sansio.http_cache import (
    ERROR_STATUSES,
    Decision,
    HTTPCachePolicy,
    StoredResponse,
)

__all__ = ["AsyncHTTPCacheMiddleware", "AsyncHTTPCacheStore", "AsyncSpawn"]

AsyncSpawn: TypeAlias = "Callable[[Callable[[], Awaitable[None]]], object]"  # unasync: remove
# unasync: sync-only: Spawn: TypeAlias = "Callable[[Callable[[], None]], object]"
"""Starts a background job: ``task_group.start_soon`` / ``nursery.start_soon`` (async), a
thread pool's ``submit`` (blocking). Used for stale-while-revalidate."""

_DECODE_HEAD: Final = msgspec.msgpack.Decoder(StoredResponse)
_ENCODE: Final = msgspec.msgpack.Encoder()
# Requests this cache does not answer itself: a caller's own validators or range expect the
# server's 304 or 206, and an upgrade is not a cacheable exchange.
_PASS_THROUGH: Final = ("if-none-match", "if-modified-since", "range", "if-range", "upgrade")


class AsyncHTTPCacheStore(Protocol):
    """The part of ``flext_api.cache.AsyncFlextApiCache`` this middleware uses."""

    async def get(self, key: str) -> Success[bytes | None] | Failure[FlextApiError]: ...

    async def set(
        self, key: str, value: bytes, *, ttl: float | None = None
    ) -> Success[None] | Failure[FlextApiError]: ...

    async def delete(self, key: str) -> Success[bool] | Failure[FlextApiError]: ...


class AsyncHTTPCacheMiddleware:
    """Serve GET responses from ``cache`` while RFC 9111 says they are usable.

    ``shared=False`` (the default) is a private cache, for one user's client; ``shared=True``
    behaves as a proxy cache would (no ``private`` responses, ``s-maxage`` honoured, requests
    with ``Authorization`` stored only when the response allows it). ``keep_stale`` is how long
    (seconds) a response that can be revalidated stays stored past its freshness; ``clock`` is
    the wall clock (tests inject a fake one). See the module docstring for ``X-Cache``.

    ``spawn``: how to run the background revalidation of a response served stale inside its
    ``stale-while-revalidate`` window (``task_group.start_soon`` on asyncio/trio, an
    executor's ``submit`` on the blocking client). Without it, no revalidation is started
    and the stale response is served until the window ends (flext-api starts no task or
    thread of its own). One revalidation per URL runs at a time; its failures are dropped
    (the stored response simply stays stale).
    """

    __slots__ = (
        "_body_prefix",
        "_cache",
        "_clock",
        "_ids",
        "_keep_stale",
        "_part_size",
        "_prefix",
        "_revalidating",
        "_spawn",
        "policy",
    )

    def __init__(
        self,
        cache: AsyncHTTPCacheStore,
        *,
        shared: bool = False,
        heuristic_fraction: float = 0.1,
        keep_stale: float = 86_400.0,
        part_size: int = 1 << 20,
        key_prefix: str = "http:",
        clock: Callable[[], float] = time.time,
        spawn: AsyncSpawn | None = None,
    ) -> None:
        if part_size < 1:
            raise ValueError("part_size must be a positive number of bytes")
        self.policy = HTTPCachePolicy(shared=shared, heuristic_fraction=heuristic_fraction)
        self._cache = cache
        self._keep_stale = keep_stale
        self._part_size = part_size
        self._prefix = key_prefix
        self._clock = clock
        # Body ids: a random name per middleware and a counter per body, so two writers of one
        # URL (threads, tasks, processes sharing Redis) never interleave parts.
        self._body_prefix = f"{key_prefix}body:{secrets.token_hex(8)}."
        self._ids = itertools.count()
        self._spawn = spawn
        self._revalidating: dict[str, object] = {}

    def _head_key(self, url: str) -> str:
        return f"{self._prefix}GET {url}"

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        method = request.method
        if method != "GET":
            result = await call_next(request)
            if isinstance(result, Success):
                await self._invalidate(request, result.value.status_code, result.value.headers)
            return result
        if any(name in request.headers for name in _PASS_THROUGH):
            return await call_next(request)
        url = str(request.url)
        key = self._head_key(url)
        entry = await self._load(key)
        lookup = self.policy.lookup(request.headers, entry, self._clock())
        decision = lookup.decision
        if entry is not None and decision in (Decision.FRESH, Decision.STALE):
            label = "HIT" if decision is Decision.FRESH else "STALE"
            served = await self._serve(entry, request, call_next, label, lookup.age)
            if served is not None:
                if lookup.revalidate:
                    self._revalidate_later(key, entry, request, call_next)
                return served
            decision = Decision.MISS  # the body is gone from the cache
        if decision is Decision.ONLY_IF_CACHED:
            return self._gateway_timeout(request, call_next)
        sent = request
        if entry is not None and decision is Decision.VALIDATE:
            headers = request.headers.copy()
            for name, value in self.policy.conditional_headers(entry):
                headers[name] = value
            sent = derive(request, headers=headers)
        request_time = self._clock()
        result = await call_next(sent)
        if isinstance(result, Failure):
            if entry is not None and self.policy.may_serve_stale_on_error(
                entry, request.headers, self._clock()
            ):
                stale = await self._serve_current(entry, request, call_next, "STALE")
                if stale is not None:
                    return stale
            return result
        response = result.value
        status = response.status_code
        if entry is not None and sent is not request and status == 304:
            if self.policy.validator_matches(entry, response.headers):
                await discard(response)
                refreshed = self.policy.refresh(
                    entry,
                    response.headers.multi_items(),
                    request_time=request_time,
                    response_time=self._clock(),
                )
                await self._save_head(key, refreshed)
                served = await self._serve_current(refreshed, request, call_next, "REVALIDATED")
                if served is not None:
                    return served
            # A 304 for another representation, or the body vanished: ask again, unconditionally.
            await discard(response)
            await self._cache.delete(key)
            request_time = self._clock()
            result = await call_next(request)
            if isinstance(result, Failure):
                return result
            return await self._miss(request, result, request_time, entry)
        if (
            entry is not None
            and status in ERROR_STATUSES
            and self.policy.may_serve_stale_on_error(entry, request.headers, self._clock())
        ):
            stale = await self._serve_current(entry, request, call_next, "STALE")
            if stale is not None:
                await discard(response)
                return stale
        return await self._miss(request, result, request_time, entry)

    async def _miss(
        self,
        request: Request,
        result: Success[R],
        request_time: float,
        entry: StoredResponse | None,
    ) -> Success[R]:
        """A response from the network: marked, stored if it may be, returned."""
        response = result.value
        response.headers["X-Cache"] = "MISS"
        url = str(request.url)
        key = self._head_key(url)
        if self.policy.is_storable("GET", request.headers, response.status_code, response.headers):
            await self._store(key, url, request, response, request_time)
        elif entry is not None:
            await self._cache.delete(key)
        return result

    def _revalidate_later(
        self, key: str, entry: StoredResponse, request: Request, call_next: AsyncCallNext[R]
    ) -> None:
        spawn = self._spawn
        if spawn is None:
            return
        # setdefault checks and marks in one step (atomic under the GIL, and no await on
        # async): two requests, tasks or threads never start two jobs for one URL.
        token = object()
        if self._revalidating.setdefault(key, token) is not token:
            return

        async def revalidate() -> None:
            try:
                await self._revalidate(entry, request, call_next)
            except FlextApiError:
                pass  # nobody waits for this answer: the entry stays stale
            finally:
                del self._revalidating[key]

        spawn(revalidate)

    async def _revalidate(
        self, entry: StoredResponse, request: Request, call_next: AsyncCallNext[R]
    ) -> None:
        headers = request.headers.copy()
        for name, value in self.policy.conditional_headers(entry):
            headers[name] = value
        request_time = self._clock()
        result = await call_next(derive(request, headers=headers))
        if isinstance(result, Failure):
            return
        response = result.value
        try:
            if response.status_code == 304:
                if self.policy.validator_matches(entry, response.headers):
                    refreshed = self.policy.refresh(
                        entry,
                        response.headers.multi_items(),
                        request_time=request_time,
                        response_time=self._clock(),
                    )
                    await self._save_head(self._head_key(entry.url), refreshed)
                return
            await self._miss(request, result, request_time, entry)
            if isinstance(response, AsyncStreamingResponse):
                async for _ in response.aiter_raw():  # stores it as it goes
                    pass
        finally:
            await discard(response)

    # -- reading -------------------------------------------------------------------------

    async def _load(self, key: str) -> StoredResponse | None:
        loaded = await self._cache.get(key)
        if isinstance(loaded, Failure) or loaded.value is None:
            return None
        try:
            return _DECODE_HEAD.decode(loaded.value)
        except msgspec.DecodeError:
            return None  # written by another version: a miss, replaced on the next store

    async def _serve_current(
        self, entry: StoredResponse, request: Request, call_next: AsyncCallNext[R], label: str
    ) -> Success[R] | None:
        age = int(self.policy.current_age(entry, self._clock()))
        return await self._serve(entry, request, call_next, label, age)

    async def _serve(
        self,
        entry: StoredResponse,
        request: Request,
        call_next: AsyncCallNext[R],
        label: str,
        age: int,
    ) -> Success[R] | None:
        """The stored response as the caller's response type, or ``None`` if its body is gone."""
        headers = Headers(entry.headers)
        headers["Age"] = str(age)
        headers["X-Cache"] = label
        body = _StoredBody(self._cache, entry)
        if streams(call_next):
            if not await body.available():
                return None
            streamed = _cached_stream(entry, headers, request, body)
            return Success(cast("R", streamed))
        content = await body.read_all()
        if content is None:
            return None
        encoding = headers.get("content-encoding")
        if encoding is not None:
            # Stored from a streamed miss, as it came off the wire: decode it as a buffered
            # response is, and describe what the caller gets.
            chunks = iter((content, b""))

            async def receive() -> bytes:
                return next(chunks)

            try:
                content = await receive_decoded_body(receive, make_decoder(encoding))
            except FlextApiError:
                return None
            del headers["content-encoding"]
            headers["Content-Length"] = str(len(content))
        response = Response(entry.status, headers, content, request=request)
        return Success(cast("R", response))

    def _gateway_timeout(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        # RFC 9111 section 5.2.1.7: only-if-cached with nothing usable stored is a 504.
        entry = StoredResponse("GET", str(request.url), 504, [], 0.0, 0.0, [])
        headers = Headers({"X-Cache": "MISS", "Content-Length": "0"})
        if streams(call_next):
            body = _StoredBody(self._cache, entry)
            return Success(cast("R", _cached_stream(entry, headers, request, body)))
        return Success(cast("R", Response(504, headers, b"", request=request)))

    # -- writing -------------------------------------------------------------------------

    def _ttl(self, entry: StoredResponse) -> float:
        lifetime = self.policy.freshness_lifetime(entry)
        if entry.header("etag") is not None or entry.header("last-modified") is not None:
            return lifetime + self._keep_stale
        # Without validators a stale entry is only good for the stale-* windows.
        stale_windows = "stale-" in (entry.header("cache-control") or "")
        return lifetime + self._keep_stale if stale_windows else lifetime

    async def _save_head(self, key: str, entry: StoredResponse) -> None:
        await self._cache.set(key, _ENCODE.encode(entry), ttl=self._ttl(entry))

    async def _store(
        self, key: str, url: str, request: Request, response: R, request_time: float
    ) -> None:
        entry = self.policy.store(
            "GET",
            url,
            request.headers,
            response.status_code,
            [(k, v) for k, v in response.headers.multi_items() if k.lower() != "x-cache"],
            request_time=request_time,
            response_time=self._clock(),
        )
        if self._ttl(entry) <= 0:
            return  # stale at once and nothing to revalidate it with: storing it serves no one
        entry.body_key = f"{self._body_prefix}{next(self._ids)}"
        if isinstance(response, Response):
            # A buffered body is already decoded: store what the caller got, and say so.
            if entry.header("content-encoding") is not None:
                entry.headers = [
                    (k, v)
                    for k, v in entry.headers
                    if k.lower() not in ("content-encoding", "content-length")
                ]
                entry.headers.append(("Content-Length", str(len(response.content))))
            writer = _BodyWriter(self, key, entry)
            await writer.write(response.content)
            await writer.finish()
        elif isinstance(response, AsyncStreamingResponse):
            _tee(response, _BodyWriter(self, key, entry))

    async def _invalidate(self, request: Request, status: int, headers: Headers) -> None:
        for url in self.policy.invalidated(request.method, status, str(request.url), headers):
            await self._cache.delete(self._head_key(url))


class _BodyWriter:
    """Stores a body in parts as it comes, then the head that makes it visible."""

    __slots__ = ("_buffer", "_entry", "_failed", "_key", "_owner", "_ttl")

    def __init__(self, owner: AsyncHTTPCacheMiddleware, key: str, entry: StoredResponse) -> None:
        self._owner = owner
        self._key = key
        self._entry = entry
        self._buffer = bytearray()
        self._failed = False
        # Parts outlive the head by a minute: a reader that loaded the head finds its body.
        self._ttl = owner._ttl(entry) + 60

    async def write(self, data: bytes) -> None:
        self._buffer += data
        size = self._owner._part_size
        while len(self._buffer) >= size and not self._failed:
            await self._flush(bytes(self._buffer[:size]))
            del self._buffer[:size]

    async def _flush(self, part: bytes) -> None:
        entry = self._entry
        stored = await self._owner._cache.set(
            f"{entry.body_key}:{entry.body_parts}", part, ttl=self._ttl
        )
        if isinstance(stored, Failure):
            self._failed = True
            return
        entry.body_parts += 1
        entry.body_size += len(part)

    async def finish(self) -> None:
        if self._buffer and not self._failed:
            await self._flush(bytes(self._buffer))
            self._buffer.clear()
        if not self._failed:
            await self._owner._save_head(self._key, self._entry)


class _StoredBody:
    """Reads a stored body part by part; doubles as the exchange of a streamed cache hit."""

    __slots__ = ("_cache", "_entry", "_first", "_next", "trailers")

    def __init__(self, cache: AsyncHTTPCacheStore, entry: StoredResponse) -> None:
        self._cache = cache
        self._entry = entry
        self._next = 0
        self._first: bytes | None = None
        self.trailers: Headers | None = None

    async def available(self) -> bool:
        """Whether the body is still stored (its first part is read ahead to know)."""
        if self._entry.body_parts == 0:
            return True
        self._first = await self._part(0)
        return self._first is not None

    async def _part(self, index: int) -> bytes | None:
        loaded = await self._cache.get(f"{self._entry.body_key}:{index}")
        return loaded.value if isinstance(loaded, Success) else None

    async def receive_body_chunk(self) -> bytes:
        index = self._next
        if index >= self._entry.body_parts:
            return b""
        self._next += 1
        first, self._first = self._first, None
        part = first if index == 0 and first is not None else await self._part(index)
        if part is None:
            raise StreamError(
                f"the cached body of {self._entry.url} expired while it was read; "
                "send the request again"
            )
        return part

    async def read_all(self) -> bytes | None:
        parts = []
        for index in range(self._entry.body_parts):
            part = await self._part(index)
            if part is None:
                return None
            parts.append(part)
        return b"".join(parts)

    def is_reusable(self) -> bool:
        return True

    def close(self) -> None:
        pass


class _NoPool:
    """The pool of a cache hit: nothing to give back."""

    __slots__ = ()

    def release(self, connection: object) -> None:
        pass


def _cached_stream(
    entry: StoredResponse, headers: Headers, request: Request, body: _StoredBody
) -> AsyncStreamingResponse:
    head = ResponseHead(entry.status, "", "HTTP/1.1", headers)
    # The streamed response reads its body from an exchange and gives it back to a pool; a
    # cache hit's exchange is the stored body, and there is no connection to give back.
    return AsyncStreamingResponse(
        head, request=request, connection=cast("Any", body), pool=cast("Any", _NoPool())
    )


class _TeeExchange:
    """The connection of a streamed miss, seen through the cache: every chunk the caller
    reads is also written to the cache; the end of the body stores the head."""

    __slots__ = ("_inner", "_writer")

    def __init__(self, inner: Any, writer: _BodyWriter) -> None:
        self._inner = inner
        self._writer = writer

    @property
    def trailers(self) -> Headers | None:
        trailers: Headers | None = self._inner.trailers
        return trailers

    async def receive_body_chunk(self) -> bytes:
        chunk: bytes = await self._inner.receive_body_chunk()
        if chunk:
            await self._writer.write(chunk)
        else:
            await self._writer.finish()
        return chunk

    def is_reusable(self) -> bool:
        reusable: bool = self._inner.is_reusable()
        return reusable

    def close(self) -> None:
        self._inner.close()


class _TeePool:
    """Gives the real connection back to the real pool."""

    __slots__ = ("_connection", "_pool")

    def __init__(self, pool: Any, connection: Any) -> None:
        self._pool = pool
        self._connection = connection

    def release(self, connection: object) -> None:
        self._pool.release(self._connection)


def _tee(response: AsyncStreamingResponse, writer: _BodyWriter) -> None:
    # The one place this layer reaches into the streamed response: its body is read through
    # the exchange it holds, so storing while the caller reads means standing in for it.
    # The body is stored as it came off the wire (still Content-Encoded) with its headers.
    connection = response._connection
    if connection is None:
        return
    response._connection = cast("Any", _TeeExchange(connection, writer))
    response._pool = cast("Any", _TeePool(response._pool, connection))
