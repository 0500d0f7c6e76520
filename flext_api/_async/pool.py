"""The connection pool: check a connection out, run one exchange on it, check it back in.

Decisions come from :class:`flext_api._sansio.pool.PoolState`; this module only acts on them.
State changes happen under ``self._lock`` in blocks that never await (a no-op lock on an event
loop, a real one in threads), and closing is synchronous, so a task cancelled anywhere cannot
leave the pool torn: the ``except BaseException`` arms below give back exactly what was taken.

A request that fails on a *reused* connection before any response byte arrived is retried
once on a fresh connection when the method is idempotent (RFC 9112 section 9.3.1): the server
closed the idle connection while we were sending, which is not the caller's fault.

HTTP/2 (``http2=``): a multiplexed connection serves many requests at once, one stream each.
The connection owns its stream count; under the lock the pool asks it for a stream
(``try_reserve_stream``) and tells :class:`PoolState` when it is full or has room again. A
request refused by the server without processing (REFUSED_STREAM, above a GOAWAY's last stream
id) is retried once, on another connection, when idempotent.

An HTTP/2 connection with no stream open is idle: it expires after ``keepalive_expiry`` and
may be evicted for another origin like an idle HTTP/1.1 connection (:class:`PoolState`). A
request that takes an idle one (its stream is the only one) probes it first
(:meth:`AsyncHTTP2Connection.probe`): GOAWAY or a lost socket discards it and the request
looks again, so a connection the server closed while idle costs no failed request.

Through a forward proxy (``proxy=``, one pool per proxy): every http origin shares the
connections to the proxy (keyed by ``("http", proxy host, proxy port)``; requests go in
absolute form), while each https origin gets tunnels of its own (keyed by the origin), because
a tunnel carries TLS to exactly one server. See :mod:`flext_api._async.proxy`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Final, Literal

from flext_api._async.connection import AsyncHTTP11Connection, ResponseHead
from flext_api._async.http2 import AsyncHTTP2Connection, AsyncHTTP2Stream
from flext_api._async.proxy import connect_through_proxy
from flext_api._backends.auto import default_async_backend  # unasync: remove

# unasync: sync-only: from flext_api._backends.sync import default_sync_backend
from flext_api._backends.base import AsyncNetworkBackend
from flext_api._exceptions import (
    FlextApiError,
    NetworkError,
    PoolClosed,
    PoolTimeout,
    ProtocolError,
)
from flext_api._models import DEFAULT_LIMITS, Limits, Request, Response, Timeout, Trace
from flext_api._sansio.pool import Checkout, PoolState, PoolStats, Waiter
from flext_api._sansio.proxy import Proxy
from flext_api._synchronization import AsyncEvent, AsyncThreadLock

__all__ = ["AsyncConnectionPool"]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

Origin = tuple[str, str, int]
Connection = AsyncHTTP11Connection | AsyncHTTP2Connection
# What an exchange runs on: a whole HTTP/1.1 connection, or one stream of an HTTP/2 one.
Exchange = AsyncHTTP11Connection | AsyncHTTP2Stream
HTTP2Mode = bool | Literal["prior-knowledge"]


class AsyncConnectionPool:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        backend: AsyncNetworkBackend | None = None,
        uds: str | None = None,
        http2: HTTP2Mode = False,
        clock: Callable[[], float] = time.monotonic,
        proxy: Proxy | None = None,
        proxy_ssl_context: ssl.SSLContext | None = None,
        trace: Trace | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._trace = trace
        self._proxy = proxy
        self._proxy_ssl_context = proxy_ssl_context
        # The pool key of every http origin behind the proxy (see the module docstring).
        self._forward_key: Origin | None = (
            None if proxy is None else ("http", proxy.origin[1], proxy.origin[2])
        )
        # Origins by scheme that may share an HTTP/2 connection: https with ALPN when http2 is
        # on; clear http only with prior knowledge.
        self._multiplex_https = http2 is not False
        self._multiplex_http = http2 == "prior-knowledge" and proxy is None
        self._backend = backend if backend is not None else default_async_backend()
        self._uds = uds
        self._clock = clock
        self._lock = AsyncThreadLock()
        self._state: PoolState[Connection, AsyncEvent] = PoolState(
            max_connections=limits.max_connections,
            max_keepalive=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
        self._in_use: set[Connection] = set()
        self._closed = False

    @property
    def stats(self) -> PoolStats:
        """Connections open, idle, in use and waiting requests, overall and per origin."""
        with self._lock:
            return self._state.stats()

    # -- the two ways to run an exchange ----------------------------------------------------

    def _pool_key(self, request: Request) -> Origin:
        """The pool key of a request: its origin, or the proxy's for plain-http forwarding
        (one set of proxy connections serves every http origin)."""
        origin = request.url.origin
        if self._forward_key is not None and origin[0] == "http":
            return self._forward_key
        return origin

    async def round_trip(self, request: Request) -> Response:
        """Send ``request`` and read the whole response."""
        retry = request.method in IDEMPOTENT_METHODS and request.stream is None
        origin = self._pool_key(request)
        while True:
            connection = await self._acquire(origin, request.timeout)
            if type(connection) is AsyncHTTP2Connection:
                stream = connection.open_stream()
                try:
                    response = await stream.round_trip(request)
                except (NetworkError, ProtocolError):
                    self._end_stream(stream)
                    if retry and stream.retryable:
                        retry = False
                        continue
                    raise
                except BaseException:
                    self._end_stream(stream)
                    raise
                self._end_stream(stream)
                return response
            assert type(connection) is AsyncHTTP11Connection
            try:
                response = await connection.round_trip(request)
            except (NetworkError, ProtocolError) as exc:
                self._discard(connection)
                if retry and self._may_retry(connection, exc):
                    retry = False
                    continue
                raise
            except BaseException:
                self._discard(connection)
                raise
            self._checkin(connection)
            return response

    async def open_stream(self, request: Request) -> tuple[Exchange, ResponseHead]:
        """Send ``request`` and read the response head; the caller reads the body from the
        returned exchange (a connection, or an HTTP/2 stream) and then calls :meth:`release`."""
        retry = request.method in IDEMPOTENT_METHODS and request.stream is None
        origin = self._pool_key(request)
        while True:
            connection = await self._acquire(origin, request.timeout)
            if type(connection) is AsyncHTTP2Connection:
                stream = connection.open_stream()
                try:
                    await stream.send_request(request)
                    head = await stream.receive_head()
                except (NetworkError, ProtocolError):
                    self._end_stream(stream)
                    if retry and stream.retryable:
                        retry = False
                        continue
                    raise
                except BaseException:
                    self._end_stream(stream)
                    raise
                return stream, head
            assert type(connection) is AsyncHTTP11Connection
            try:
                await connection.send_request(request)
                head = await connection.receive_head()
            except (NetworkError, ProtocolError) as exc:
                self._discard(connection)
                if retry and self._may_retry(connection, exc):
                    retry = False
                    continue
                raise
            except BaseException:
                self._discard(connection)
                raise
            return connection, head

    def release(self, connection: Exchange) -> None:
        """Give back a connection whose streamed exchange ended (or was abandoned)."""
        if isinstance(connection, AsyncHTTP2Stream):
            self._end_stream(connection)
        elif connection.is_reusable():
            self._checkin(connection)
        else:
            self._discard(connection)

    @staticmethod
    def _may_retry(connection: AsyncHTTP11Connection, exc: FlextApiError) -> bool:
        return connection.request_count > 1 and not connection.response_bytes_seen

    def _end_stream(self, stream: AsyncHTTP2Stream) -> None:
        """An HTTP/2 exchange ended (however): reset it if unfinished, give its slot back,
        hand the room to a waiter, and close the connection once it is closing and empty."""
        connection = stream.connection
        stream.close()
        self._give_back_stream(connection)

    def _give_back_stream(self, connection: AsyncHTTP2Connection) -> None:
        """Release a stream slot of ``connection`` (its stream, if any, already ended)."""
        woken: list[Waiter[Connection, AsyncEvent]] = []
        to_close: list[Connection] = []
        with self._lock:
            connection.release_stream()
            if connection.is_reusable() and not self._closed:
                woken, to_close = self._state.stream_freed(
                    connection,
                    connection.free_streams,
                    self._clock(),
                    idle=connection.active_streams == 0,
                )
                for waiter in woken:
                    # Others were granted a slot freed by evicting idle connections.
                    if waiter.shared:
                        reserved = connection.try_reserve_stream()
                        assert reserved, "the connection had room for every waiter it was given"
                self._in_use.difference_update(to_close)
                drop = False
            else:
                self._state.multiplexed_full(connection)
                drop = connection.active_streams == 0
                if drop:
                    self._in_use.discard(connection)
                    woken = self._state.discard(connection)
                    to_close = [*to_close, *self._take_closing()]
        if drop:
            connection.close()
        for stale in to_close:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    def _multiplex(self, origin: Origin) -> bool:
        scheme = origin[0]
        return self._multiplex_https if scheme == "https" else self._multiplex_http

    def _reserve_shared(
        self, checkout: Checkout[Connection], origin: Origin, multiplex: bool
    ) -> tuple[Checkout[Connection], list[Connection]]:
        """Under the lock: reserve a stream on the shared connection ``checkout`` offers, or
        mark it full and check out again (each full connection leaves the table once)."""
        dead: list[Connection] = []
        while checkout.shared:
            connection = checkout.connection
            assert type(connection) is AsyncHTTP2Connection
            if connection.try_reserve_stream():
                if not connection.free_streams:
                    self._state.multiplexed_full(connection)
                return checkout, dead
            self._state.multiplexed_full(connection)
            if not connection.is_reusable() and connection.active_streams == 0:
                self._in_use.discard(connection)
                self._state.discard(connection)
                dead.append(connection)
                dead.extend(self._take_closing())
            # Expired idle connections this checkout gave up (closed by the caller).
            self._in_use.difference_update(checkout.to_close)
            dead.extend(checkout.to_close)
            checkout = self._state.checkout(origin, self._clock(), multiplex=multiplex)
        return checkout, dead

    # -- check-out --------------------------------------------------------------------------

    async def _acquire(self, origin: Origin, timeout: Timeout) -> Connection:
        if self._closed:
            raise PoolClosed("the client is closed; create a new client to send requests")
        deadline: float | None = None
        multiplex = self._multiplex(origin)
        while True:
            waiter: Waiter[Connection, AsyncEvent] | None = None
            dead: list[Connection] = []
            with self._lock:
                checkout = self._state.checkout(origin, self._clock(), multiplex=multiplex)
                if checkout.shared:
                    checkout, dead = self._reserve_shared(checkout, origin, multiplex)
                connection = checkout.connection
                if checkout.must_wait:
                    waiter = Waiter(origin, AsyncEvent(), multiplex=multiplex)
                    self._state.enqueue(waiter)
                elif connection is not None:
                    self._in_use.add(connection)
                self._in_use.difference_update(checkout.to_close)
            for stale in dead + checkout.to_close:
                stale.close()
            if connection is not None:
                if checkout.shared:
                    assert type(connection) is AsyncHTTP2Connection
                    if await self._probe(connection):
                        return connection
                    continue
                if connection.is_stale():
                    self._discard(connection)
                    continue
                return connection
            if checkout.may_open:
                return await self._open(origin, timeout, multiplex)
            assert waiter is not None
            if deadline is None and timeout.pool is not None:
                deadline = self._clock() + timeout.pool
            got = await self._wait(waiter, deadline, origin, timeout)
            if got is not None:
                return got

    async def _wait(
        self,
        waiter: Waiter[Connection, AsyncEvent],
        deadline: float | None,
        origin: Origin,
        timeout: Timeout,
    ) -> Connection | None:
        """Wait for the pool to serve ``waiter``; ``None`` means look again (the connection
        handed over was stale)."""
        try:
            remaining = None if deadline is None else deadline - self._clock()
            await waiter.event.wait(remaining)
        except BaseException:
            self._abandon(waiter)
            raise
        if self._closed:
            self._abandon(waiter)
            raise PoolClosed("the client was closed while this request waited for a connection")
        with self._lock:
            served = waiter.served or not self._state.remove_waiter(waiter)
            connection = waiter.connection
            if connection is not None:
                self._in_use.add(connection)
        if waiter.retry:
            return None
        if not served:
            host = origin[1]
            raise PoolTimeout(
                f"no connection to {host} became free within {timeout.pool}s "
                f"(all {self._state.max_connections} in use); raise Limits(max_connections=...) "
                "or Timeout(pool=...), or send fewer requests at once",
            )
        if connection is not None:
            if waiter.shared:
                assert type(connection) is AsyncHTTP2Connection
                return connection if await self._probe(connection) else None
            if connection.is_stale():
                self._discard(connection)
                return None
            return connection
        return await self._open(origin, timeout, waiter.multiplex)

    async def _probe(self, connection: AsyncHTTP2Connection) -> bool:
        """A stream slot of ``connection`` is reserved for this request: is the connection
        still usable? Only an idle one is probed (see :meth:`AsyncHTTP2Connection.probe`);
        if it is dead the slot is given back (closing the connection) and ``False`` says
        look again."""
        try:
            usable = await connection.probe()
        except BaseException:
            self._give_back_stream(connection)
            raise
        if not usable:
            self._give_back_stream(connection)
        return usable

    def _abandon(self, waiter: Waiter[Connection, AsyncEvent]) -> None:
        """The waiting task stops (cancelled, timed out, pool closed): give back what the pool
        may have handed it in the meantime."""
        with self._lock:
            if self._state.remove_waiter(waiter):
                return
            connection = waiter.connection
            if connection is not None:
                self._in_use.add(connection)
        if connection is not None:
            if type(connection) is AsyncHTTP2Connection:
                self._end_stream(connection.open_stream())
            else:
                self._checkin(connection)
        elif waiter.may_open:
            self._open_failed(waiter.origin, waiter.multiplex)

    async def _open(self, origin: Origin, timeout: Timeout, multiplex: bool) -> Connection:
        scheme, host, port = origin
        tls = self._ssl_context if scheme == "https" else None
        trace = self._trace
        if trace is not None:
            started = time.perf_counter()
            trace("connect.start", {"origin": origin})
        try:
            if self._proxy is not None:
                stream = await connect_through_proxy(
                    self._backend,
                    self._proxy,
                    origin,
                    ssl_context=tls,
                    proxy_ssl_context=self._proxy_ssl_context,
                    timeout=timeout.connect,
                )
            elif self._uds is not None:
                stream = await self._backend.connect_unix(
                    self._uds, timeout=timeout.connect, ssl_context=tls, server_hostname=host
                )
            else:
                stream = await self._backend.connect_tcp(
                    host,
                    port,
                    timeout=timeout.connect,
                    ssl_context=tls,
                    server_hostname=host if tls is not None else None,
                )
        except BaseException as exc:
            self._open_failed(origin, multiplex)
            if trace is not None:
                code = exc.code if isinstance(exc, FlextApiError) else type(exc).__name__
                trace("connect.failed", {"origin": origin, "error": code})
            raise
        if trace is not None:
            trace(
                "connect.end",
                {
                    "origin": origin,
                    "tls": tls is not None,
                    "alpn": stream.alpn_protocol,
                    "elapsed": time.perf_counter() - started,
                },
            )
        connection: Connection
        if multiplex and (stream.alpn_protocol == "h2" or (scheme == "http" and tls is None)):
            connection = http2 = AsyncHTTP2Connection(origin, stream)
            with self._lock:
                http2.try_reserve_stream()  # the stream of the request that opened it
                woken = self._state.opened_multiplexed(http2, origin, http2.free_streams)
                for waiter in woken:
                    if waiter.shared:
                        http2.try_reserve_stream()
                self._in_use.add(http2)
                closed = self._closed
        else:
            connection = AsyncHTTP11Connection(
                origin,
                stream,
                proxy_fields=self._proxy.header_fields
                if self._proxy is not None and scheme == "http"
                else None,
                trace=trace,
            )
            with self._lock:
                woken = self._state.opened(connection, origin, multiplex=multiplex)
                self._in_use.add(connection)
                closed = self._closed
        for waiter in woken:
            waiter.event.set()
        if closed:
            self._discard(connection)
            raise PoolClosed("the client was closed while this request was connecting")
        return connection

    # -- check-in ---------------------------------------------------------------------------

    def _open_failed(self, origin: Origin, multiplex: bool = False) -> None:
        with self._lock:
            woken = self._state.open_failed(origin, multiplex=multiplex)
            evicted = self._take_closing()
        for stale in evicted:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    def _take_closing(self) -> list[Connection]:
        """Under the lock: idle connections the state evicted for a waiter, to close."""
        evicted = self._state.take_closing()
        self._in_use.difference_update(evicted)
        return evicted

    def _checkin(self, connection: Connection) -> None:
        with self._lock:
            self._in_use.discard(connection)
            woken, to_close = self._state.checkin(
                connection,
                self._clock(),
                reusable=not self._closed and connection.is_reusable(),
            )
            self._in_use.difference_update(to_close)
            if woken and woken[0].connection is connection:
                self._in_use.add(connection)
        for stale in to_close:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    def _discard(self, connection: Connection) -> None:
        connection.close()
        with self._lock:
            self._in_use.discard(connection)
            woken = self._state.discard(connection)
            evicted = self._take_closing()
        for stale in evicted:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    # -- shutdown ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every connection, idle or in use; waiting requests fail with POOL_CLOSED."""
        with self._lock:
            self._closed = True
            idle = self._state.close_all_idle()
            busy = list(self._in_use)
            waiters = self._state.all_waiters()
        for connection in idle + busy:
            connection.close()
        for waiter in waiters:
            waiter.event.set()
