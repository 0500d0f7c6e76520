"""The connection pool: check a connection out, run one exchange on it, check it back in.

Decisions come from :class:`flext_api._sansio.pool.PoolState`; this module only acts on them.
State changes happen under ``self._lock`` in blocks that never await (a no-op lock on an event
loop, a real one in threads), and closing is synchronous, so a task cancelled anywhere cannot
leave the pool torn: the ``except BaseException`` arms below give back exactly what was taken.

A request that fails on a *reused* connection before any response byte arrived is retried
once on a fresh connection when the method is idempotent (RFC 9112 section 9.3.1): the server
closed the idle connection while we were sending, which is not the caller's fault.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Final

from flext_api._async.connection import AsyncHTTP11Connection, ResponseHead
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
from flext_api._models import DEFAULT_LIMITS, Limits, Request, Response, Timeout
from flext_api._sansio.pool import PoolState, PoolStats, Waiter
from flext_api._synchronization import AsyncEvent, AsyncThreadLock

__all__ = ["AsyncConnectionPool"]

IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

Origin = tuple[str, str, int]
Connection = AsyncHTTP11Connection


class AsyncConnectionPool:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
        backend: AsyncNetworkBackend | None = None,
        uds: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssl_context = ssl_context
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

    async def round_trip(self, request: Request) -> Response:
        """Send ``request`` and read the whole response."""
        retry = request.method in IDEMPOTENT_METHODS and request.stream is None
        while True:
            connection = await self._acquire(request.url.origin, request.timeout)
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

    async def open_stream(self, request: Request) -> tuple[Connection, ResponseHead]:
        """Send ``request`` and read the response head; the caller reads the body from the
        connection and then calls :meth:`release`."""
        retry = request.method in IDEMPOTENT_METHODS and request.stream is None
        while True:
            connection = await self._acquire(request.url.origin, request.timeout)
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

    def release(self, connection: Connection) -> None:
        """Give back a connection whose streamed exchange ended (or was abandoned)."""
        if connection.is_reusable():
            self._checkin(connection)
        else:
            self._discard(connection)

    @staticmethod
    def _may_retry(connection: Connection, exc: FlextApiError) -> bool:
        return connection.request_count > 1 and not connection.response_bytes_seen

    # -- check-out --------------------------------------------------------------------------

    async def _acquire(self, origin: Origin, timeout: Timeout) -> Connection:
        if self._closed:
            raise PoolClosed("the client is closed; create a new client to send requests")
        deadline: float | None = None
        while True:
            waiter: Waiter[Connection, AsyncEvent] | None = None
            with self._lock:
                checkout = self._state.checkout(origin, self._clock())
                connection = checkout.connection
                if checkout.must_wait:
                    waiter = Waiter(origin, AsyncEvent())
                    self._state.enqueue(waiter)
                elif connection is not None:
                    self._in_use.add(connection)
            for stale in checkout.to_close:
                stale.close()
            if connection is not None:
                if connection.is_stale():
                    self._discard(connection)
                    continue
                return connection
            if checkout.may_open:
                return await self._open(origin, timeout)
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
        if not served:
            host = origin[1]
            raise PoolTimeout(
                f"no connection to {host} became free within {timeout.pool}s "
                f"(all {self._state.max_connections} in use); raise Limits(max_connections=...) "
                "or Timeout(pool=...), or send fewer requests at once",
            )
        if connection is not None:
            if connection.is_stale():
                self._discard(connection)
                return None
            return connection
        return await self._open(origin, timeout)

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
            self._checkin(connection)
        elif waiter.may_open:
            self._open_failed(waiter.origin)

    async def _open(self, origin: Origin, timeout: Timeout) -> Connection:
        scheme, host, port = origin
        tls = self._ssl_context if scheme == "https" else None
        try:
            if self._uds is not None:
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
        except BaseException:
            self._open_failed(origin)
            raise
        connection = AsyncHTTP11Connection(origin, stream)
        with self._lock:
            self._state.opened(connection, origin)
            self._in_use.add(connection)
            closed = self._closed
        if closed:
            self._discard(connection)
            raise PoolClosed("the client was closed while this request was connecting")
        return connection

    # -- check-in ---------------------------------------------------------------------------

    def _open_failed(self, origin: Origin) -> None:
        with self._lock:
            woken = self._state.open_failed(origin)
        for waiter in woken:
            waiter.event.set()

    def _checkin(self, connection: Connection) -> None:
        with self._lock:
            self._in_use.discard(connection)
            woken, to_close = self._state.checkin(
                connection,
                self._clock(),
                reusable=not self._closed and connection.is_reusable(),
            )
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
        for waiter in woken:
            waiter.event.set()

    # -- shutdown ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every connection, idle or in use; waiting requests fail with POOL_CLOSED."""
        with self._lock:
            self._closed = True
            idle = self._state.close_all_idle()
            busy = list(self._in_use)
            waiters = list(self._state.waiters)
        for connection in idle + busy:
            connection.close()
        for waiter in waiters:
            waiter.event.set()
