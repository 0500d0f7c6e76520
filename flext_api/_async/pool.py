"""The connection pool: check a connection out, run one exchange on it, check it back in.

Decisions come from :class:`flext_api._sansio.pool.PoolState`, the one record of which
connection is idle, in use or being opened; this module only acts on them. State changes
happen under ``self._lock`` in blocks that never await (a no-op lock on an event loop, a real
one in threads), and closing is synchronous, so a task cancelled anywhere cannot leave the pool
torn: the ``except BaseException`` arms below give back exactly what was taken.

Buffered and streamed requests run through one loop (:meth:`AsyncConnectionPool._exchange`),
where the one replay rule lives (:meth:`AsyncConnectionPool._may_replay`, RFC 9112 section
9.3.1). ``Timeout(total=...)`` bounds the pool wait and the connect (``Request.limit``).

In a process forked after the pool was used, the first call starts from an empty pool and the
inherited connections lose only the child's descriptors (see :mod:`flext_api._fork`).

HTTP/2 (``http2=``): a multiplexed connection serves many requests at once, one stream each.
The connection owns its stream count; under the lock the pool asks it for a stream
(``try_reserve_stream``) and tells :class:`PoolState` when it is full or has room again. A
request refused by the server without processing (REFUSED_STREAM, above a GOAWAY's last stream
id) is retried once, on another connection, when it may be replayed. A connection that can open
no stream (the server's MAX_CONCURRENT_STREAMS is 0) is closed once nothing runs on it.

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
from typing import Literal

from flext_api import _fork
from flext_api._async.connection import AsyncHTTP11Connection, ResponseHead
from flext_api._async.http2 import AsyncHTTP2Connection, AsyncHTTP2Stream
from flext_api._async.proxy import connect_through_proxy
from flext_api._backends.auto import (  # unasync: remove
    current_event_loop,  # unasync: remove
    default_async_backend,  # unasync: remove
)  # unasync: remove

# unasync: sync-only: from flext_api._backends.sync import default_sync_backend
from flext_api._backends.base import AsyncNetworkBackend, AsyncNetworkStream
from flext_api._exceptions import (
    EventLoopMismatch,  # unasync: remove
    FlextApiError,
    NetworkError,
    PoolClosed,
    PoolTimeout,
    ProtocolError,
)
from flext_api._models import DEFAULT_LIMITS, Limits, Request, Response, Trace
from flext_api._sansio.http11_wire import WireFactory, wire_factory
from flext_api._sansio.pool import Checkout, PoolState, Waiter
from flext_api._sansio.pool_stats import PoolStats
from flext_api._sansio.proxy import Proxy
from flext_api._sansio.replay import Origin, may_replay
from flext_api._synchronization import AsyncEvent, AsyncThreadLock

__all__ = ["AsyncConnectionPool"]

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
        wire: WireFactory | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        # The HTTP/1.1 wire (h11 or httptools): by default as FLEXT_HTTP1_PARSER says.
        self.wire = wire_factory() if wire is None else wire
        self._trace = trace
        self._proxy = proxy
        self._proxy_ssl_context = proxy_ssl_context
        # The pool key of every http origin behind the proxy (see the module docstring).
        self._forward_key: Origin | None = (
            None
            if proxy is None or proxy.is_socks  # SOCKS tunnels every origin: no forwarding
            else ("http", proxy.origin[1], proxy.origin[2])
        )
        # Origins by scheme that may share an HTTP/2 connection: https with ALPN when http2 is
        # on; clear http only with prior knowledge.
        self._multiplex_https = http2 is not False
        self._multiplex_http = http2 == "prior-knowledge" and proxy is None
        self._backend = backend if backend is not None else default_async_backend()
        self._uds = uds
        self._clock = clock
        self._limits = limits
        self._lock = AsyncThreadLock()
        self._state = self._new_state()
        self._generation = _fork.generation
        self._closed = False
        # unasync: begin-async-only
        self._loop: object = None  # the event loop the first request ran on
        # unasync: end-async-only

    @property
    def stats(self) -> PoolStats:
        """Connections open, idle, in use and waiting requests, overall and per origin."""
        if self._generation != _fork.generation:
            self._after_fork()
        with self._lock:
            return self._state.stats()

    # -- the exchange loop ------------------------------------------------------------------

    def _pool_key(self, request: Request) -> Origin:
        """The pool key of a request: its origin, or the proxy's for plain-http forwarding
        (one set of proxy connections serves every http origin)."""
        origin = request.url.origin
        if self._forward_key is not None and origin[0] == "http":
            return self._forward_key
        return origin

    async def round_trip(self, request: Request, max_decoded_size: int | None = None) -> Response:
        """Send ``request`` and read the whole response, its Content-Encoding undone (the
        decoded body bounded by ``max_decoded_size`` bytes and the decoder's ratio limit)."""
        response = (
            await self._exchange(request, streamed=False, max_decoded_size=max_decoded_size)
        )[1]
        assert type(response) is Response
        return response

    async def open_stream(self, request: Request) -> tuple[Exchange, ResponseHead]:
        """Send ``request`` and read the response head; the caller reads the body from the
        returned exchange (a connection, or an HTTP/2 stream) and then calls :meth:`release`."""
        exchange, head = await self._exchange(request, streamed=True)
        assert type(head) is ResponseHead
        return exchange, head

    async def _exchange(
        self, request: Request, *, streamed: bool, max_decoded_size: int | None = None
    ) -> tuple[Exchange, Response | ResponseHead]:
        """The one exchange loop: check out, run the exchange (to the end of the body, or
        to the head when ``streamed``), give back. A failure before any response byte on a
        reused connection sends the request once more (:meth:`_may_replay`). A buffered body
        is decoded inside the exchange, so one that does not decode (``DECODE_ERROR``,
        ``DECOMPRESSION_LIMIT``) is dropped here like any failed exchange, never given back."""
        origin = self._pool_key(request)
        replayed = False
        while True:
            connection = await self._acquire(origin, request)
            exchange: Exchange
            if type(connection) is AsyncHTTP11Connection:
                exchange = connection
            else:
                assert type(connection) is AsyncHTTP2Connection
                exchange = connection.open_stream()
            try:
                if streamed:
                    await exchange.send_request(request)
                    return exchange, await exchange.receive_head()
                response = await exchange.round_trip(request, max_decoded_size)
            except (NetworkError, ProtocolError):
                self._drop(exchange)
                if replayed or not self._may_replay(exchange, request):
                    raise
                replayed = True
                continue
            except BaseException:
                self._drop(exchange)
                raise
            if type(exchange) is AsyncHTTP11Connection:
                self._checkin(exchange)
            else:
                assert type(exchange) is AsyncHTTP2Stream
                self._end_stream(exchange)
            return exchange, response

    @staticmethod
    def _may_replay(exchange: Exchange, request: Request) -> bool:
        """May a failed exchange be sent again, on another connection? (RFC 9112 section
        9.3.1) Only when the server provably did not act on it: a *reused* connection failed
        before any response byte (it closed the idle connection while we were sending; an
        HTTP/2 stream also when refused: REFUSED_STREAM, above a GOAWAY's last stream id),
        and only for a request that :func:`may_replay` allows, with a body that can be sent
        again (in memory, not a stream already consumed)."""
        if request.stream is not None:
            return False
        if isinstance(exchange, AsyncHTTP2Stream):
            unseen = exchange.retryable
        else:
            unseen = exchange.request_count > 1 and not exchange.response_bytes_seen
        return unseen and may_replay(request.method, request.headers)

    def _drop(self, exchange: Exchange) -> None:
        """An exchange failed or was cancelled: reset the stream, or close the connection."""
        if isinstance(exchange, AsyncHTTP2Stream):
            self._end_stream(exchange)
        else:
            self._discard(exchange)

    def release(self, connection: Exchange) -> None:
        """Give back a connection whose streamed exchange ended (or was abandoned)."""
        if self._generation != _fork.generation:
            self._after_fork()
        if isinstance(connection, AsyncHTTP2Stream):
            self._end_stream(connection)
        else:
            self._checkin(connection)

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
            else:
                self._state.multiplexed_full(connection)
                if connection.active_streams == 0:
                    woken = self._state.discard(connection)
                    to_close = [connection, *self._state.take_closing()]
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
            if connection.active_streams == 0:
                # Closing, or allowed no stream at all (MAX_CONCURRENT_STREAMS = 0): with
                # nothing running on it, it serves nobody and must not count as in use.
                self._state.discard(connection)
                dead.append(connection)
                dead.extend(self._state.take_closing())
            dead.extend(checkout.to_close)  # expired idle connections this checkout gave up
            checkout = self._state.checkout(origin, self._clock(), multiplex=multiplex)
        return checkout, dead

    # -- check-out --------------------------------------------------------------------------

    # unasync: begin-async-only
    def _bind_loop(self, loop: object) -> None:
        """The first request binds the pool to its event loop. A request from another loop
        fails before it touches a connection of the first, unless the pool holds none (then
        nothing belongs to the old loop and the pool moves to the new one)."""
        with self._lock:
            if self._loop is not None and self._state.stats().connections:
                raise EventLoopMismatch(
                    "this async client was first used on another event loop, and its "
                    "connections belong to that loop: create one client per event loop "
                    "(inside the function asyncio.run or trio.run runs)"
                )
            self._loop = loop

    # unasync: end-async-only

    async def _acquire(self, origin: Origin, request: Request) -> Connection:
        if self._generation != _fork.generation:
            self._after_fork()
        if self._closed:
            raise PoolClosed("the client is closed; create a new client to send requests")
        # unasync: begin-async-only
        loop = current_event_loop()
        if loop is not self._loop:
            self._bind_loop(loop)
        # unasync: end-async-only
        # The wait's deadline, computed once however often this request is woken.
        deadline: float | None = None
        waited = False
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
                return await self._open(origin, request, multiplex)
            assert waiter is not None
            if not waited:
                waited = True
                # Timeout(total=...) caps the wait by what is left of the call's budget.
                limit = request.limit(request.timeout.pool)
                if limit is not None:
                    deadline = self._clock() + limit
            if self._trace is not None:
                self._trace("pool.wait.start", {"origin": origin})
            got = await self._wait(waiter, deadline, origin, request)
            if self._trace is not None:
                self._trace("pool.wait.end", {"origin": origin})
            if got is not None:
                return got

    async def _wait(
        self,
        waiter: Waiter[Connection, AsyncEvent],
        deadline: float | None,
        origin: Origin,
        request: Request,
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
        if waiter.retry:
            return None
        if not served:
            host = origin[1]
            budget = "" if request.deadline is None else " (or the call's total budget)"
            raise PoolTimeout(
                f"no connection to {host} became free within {request.timeout.pool}s{budget} "
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
        return await self._open(origin, request, waiter.multiplex)

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
            if isinstance(connection, AsyncHTTP2Connection):
                self._end_stream(connection.open_stream())
            else:
                self._checkin(connection)
        elif waiter.may_open:
            self._open_failed(waiter.origin, waiter.multiplex)

    async def connect(
        self, origin: Origin, timeout: float | None, *, tunnel: bool = False
    ) -> AsyncNetworkStream:
        """A new stream to ``origin`` with this pool's TLS, proxy and socket settings, never
        pooled: the caller owns it (a WebSocket takes its connection over for good). Through a
        proxy, ``tunnel`` asks for a CONNECT tunnel for an http origin too."""
        scheme, host, port = origin
        tls = self._ssl_context if scheme == "https" else None
        if self._proxy is not None:
            return await connect_through_proxy(
                self._backend,
                self._proxy,
                origin,
                ssl_context=tls,
                proxy_ssl_context=self._proxy_ssl_context,
                timeout=timeout,
                tunnel=tunnel,
            )
        if self._uds is not None:
            return await self._backend.connect_unix(
                self._uds, timeout=timeout, ssl_context=tls, server_hostname=host
            )
        return await self._backend.connect_tcp(
            host,
            port,
            timeout=timeout,
            ssl_context=tls,
            server_hostname=host if tls is not None else None,
        )

    async def _open(self, origin: Origin, request: Request, multiplex: bool) -> Connection:
        scheme = origin[0]
        tls = self._ssl_context if scheme == "https" else None
        # Timeout(total=...) caps the connect by what is left of the call's budget.
        timeout = request.limit(request.timeout.connect)
        trace = self._trace
        if trace is not None:
            started = time.perf_counter()
            trace("connect.start", {"origin": origin})
        try:
            stream = await self.connect(origin, timeout)
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
                closed = self._closed
        else:
            connection = AsyncHTTP11Connection(
                origin,
                stream,
                proxy_fields=self._proxy.header_fields
                if self._proxy is not None and scheme == "http" and not self._proxy.is_socks
                else None,
                trace=trace,
                wire=self.wire,
            )
            with self._lock:
                woken = self._state.opened(connection, origin, multiplex=multiplex)
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
            evicted = self._state.take_closing()
        for stale in evicted:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    def _checkin(self, connection: AsyncHTTP11Connection) -> None:
        """An HTTP/1.1 exchange ended: keep the connection if it is reusable, else close it."""
        with self._lock:
            woken, to_close = self._state.checkin(
                connection,
                self._clock(),
                reusable=not self._closed and connection.is_reusable(),
            )
        for stale in to_close:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    def _discard(self, connection: Connection) -> None:
        connection.close()
        with self._lock:
            woken = self._state.discard(connection)
            evicted = self._state.take_closing()
        for stale in evicted:
            stale.close()
        for waiter in woken:
            waiter.event.set()

    # -- shutdown and fork ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every connection, idle or in use; waiting requests fail with POOL_CLOSED."""
        if self._generation != _fork.generation:
            self._after_fork()
        with self._lock:
            self._closed = True
            connections = self._state.close_all()
            waiters = self._state.all_waiters()
        for connection in connections:
            connection.close()
        for waiter in waiters:
            waiter.event.set()

    def _new_state(self) -> PoolState[Connection, AsyncEvent]:
        limits = self._limits
        return PoolState(
            max_connections=limits.max_connections,
            max_keepalive=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    def _after_fork(self) -> None:
        """First use in a forked child (see :mod:`flext_api._fork`): start from an empty
        pool. The parent's connections are its own: each is closed here only in the sense
        that the child's descriptor goes (streams made before the fork close that way), and
        the old lock is replaced unheld, since a parent thread may have held it at the fork
        and no thread of the child will ever release it."""
        inherited = self._state.connections()
        self._lock = AsyncThreadLock()
        self._state = self._new_state()
        self._generation = _fork.generation
        for connection in inherited:
            connection.close()
