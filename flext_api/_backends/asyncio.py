"""asyncio: connections as ``asyncio.Protocol`` callbacks, with deadlines swept by one timer.

Job: open TCP or Unix-socket connections with ``loop.create_connection`` (the lookup, the
Happy Eyeballs race and TLS inside one ``asyncio.timeout``), and read and write them at the
lowest cost asyncio allows. A read that finds buffered data returns it without awaiting
anything; a read that must wait creates one future and, if it has a timeout, files it with
the loop's :class:`_Deadlines` (one timer per loop for every waiting read and write, instead
of a timer handle per wait: creating, heap-pushing and cancelling a handle cost ~3 us per
request). No ``StreamReader`` (its extra layers cost more than this whole class) and no
per-call ``asyncio.timeout``.

Never: swallow ``asyncio.CancelledError``, leave a timer or future behind when a wait ends
(however it ends), await in ``close()``, or let ``OSError`` / ``ssl.SSLError`` escape.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import weakref
from collections import deque
from typing import cast

from flext_api import _fork
from flext_api._backends import (
    connect_error,
    fd_is_readable,
    happy_eyeballs_asyncio,
    origin_of,
    read_error,
    read_timeout,
    require_server_hostname,
    write_error,
    write_timeout,
)
from flext_api._backends.happy_eyeballs import DEFAULT_RESOLVER
from flext_api._resolver import DEFAULT_HAPPY_EYEBALLS_DELAY, Resolver, check_delay

__all__ = ["AsyncioBackend", "AsyncioStream"]

# Stop reading from the socket when this much is buffered and nobody reads it (a slow
# consumer of a large download), and start again once the reader has caught up.
_PAUSE_ABOVE = 256 * 1024
_RESUME_BELOW = 64 * 1024


def _expire(waiter: asyncio.Future[bool]) -> None:
    # A waiter's result says why it woke (True: event, False: deadline).
    if not waiter.done():
        waiter.set_result(False)


class _Deadlines:
    """Every pending read or write deadline of one event loop, behind a single timer.

    ``add``/``discard`` are dict operations. The timer runs at the earliest deadline (never
    sooner than ``_SLACK`` after the previous run), expires what is due and re-arms itself for
    the next one; a wait may thus end up to ``_SLACK`` seconds late, never early.
    """

    __slots__ = ("_handle", "_loop", "_waiting", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[asyncio.Future[bool], float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._when = math.inf

    def add(self, waiter: asyncio.Future[bool], timeout: float) -> None:
        deadline = self._loop.time() + max(timeout, 0.0)
        self._waiting[waiter] = deadline
        if deadline < self._when:
            self._arm(deadline)

    def discard(self, waiter: asyncio.Future[bool]) -> None:
        self._waiting.pop(waiter, None)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        self._handle = None
        self._when = math.inf
        now = self._loop.time()
        earliest = math.inf
        due = []
        for waiter, deadline in self._waiting.items():
            if deadline <= now:
                due.append(waiter)
            elif deadline < earliest:
                earliest = deadline
        for waiter in due:
            del self._waiting[waiter]
            _expire(waiter)
        if earliest < math.inf:
            self._arm(max(earliest, now + _SLACK))


_SLACK = 0.01
_DEADLINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines] = (
    weakref.WeakKeyDictionary()
)


def _deadlines(loop: asyncio.AbstractEventLoop) -> _Deadlines:
    registry = _DEADLINES.get(loop)
    if registry is None:
        registry = _DEADLINES[loop] = _Deadlines(loop)
    return registry


class AsyncioStream(asyncio.Protocol):
    """One connection: the protocol object the transport calls back, and the stream the
    connection reads and writes.

    Being both saves an object and an attribute hop on every read. The callback methods
    (``connection_made``, ``data_received``...) belong to asyncio; connections use ``read``,
    ``write``, ``close``, ``is_readable`` and ``alpn_protocol`` only.
    """

    __slots__ = (
        "_alpn",
        "_buffered",
        "_chunks",
        "_closed",
        "_deadlines",
        "_eof",
        "_error",
        "_fd",
        "_generation",
        "_loop",
        "_origin",
        "_read_waiter",
        "_reading_paused",
        "_start",
        "_transport",
        "_write_waiter",
        "_writing_paused",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: str) -> None:
        self._loop = loop
        self._generation = _fork.generation  # see close()
        self._deadlines = _deadlines(loop)
        self._origin = origin
        self._transport: asyncio.Transport | None = None
        # Received bytes objects, kept as they came: a read of a whole chunk returns that
        # very object, no copy.
        self._chunks: deque[bytes] = deque()
        self._start = 0  # where the unread part of the first chunk starts
        self._buffered = 0
        self._eof = False  # the peer finished sending, or the connection is gone
        self._error: BaseException | None = None  # why the connection was lost, if not clean
        self._closed = False  # close() was called on this side
        self._read_waiter: asyncio.Future[bool] | None = None
        self._write_waiter: asyncio.Future[bool] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._alpn: str | None = None
        self._fd = -1

    # --- asyncio.Protocol callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else -1
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._alpn = ssl_object.selected_alpn_protocol()

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)
        if self._buffered > _PAUSE_ABOVE and not self._reading_paused:
            self._reading_paused = True
            cast("asyncio.Transport", self._transport).pause_reading()

    def eof_received(self) -> None:
        # Returning None lets the transport close itself; HTTP has no use for half-open.
        self._eof = True
        self._wake(self._read_waiter)

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake(self._read_waiter)
        self._wake(self._write_waiter)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake(self._write_waiter)

    @staticmethod
    def _wake(waiter: asyncio.Future[bool] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    # --- the stream ----------------------------------------------------------------------

    @property
    def alpn_protocol(self) -> str | None:
        return self._alpn

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        chunks = self._chunks
        if not chunks:
            await self._wait_readable(timeout)
            if not chunks:
                return b""  # end of stream (errors were raised by the wait)
        data = chunks[0]
        start = self._start
        size = len(data) - start
        if size <= max_bytes:
            chunks.popleft()
            if start:
                data = data[start:]
                self._start = 0
        else:
            # Only the piece returned is copied; the rest stays in place (copying the rest
            # every time cost 2.5 copies of a large download, and fresh page-sized blocks).
            end = start + max_bytes
            data = data[start:end]
            self._start = end
            size = max_bytes
        self._buffered -= size
        if self._reading_paused and self._buffered < _RESUME_BELOW:
            self._reading_paused = False
            cast("asyncio.Transport", self._transport).resume_reading()
        return data

    def read_available(self, max_bytes: int) -> list[bytes]:
        """Up to ``max_bytes`` already received, without waiting, in the pieces received."""
        chunks = self._chunks
        pieces: list[bytes] = []
        if not chunks:
            return pieces
        size = 0
        while chunks and size < max_bytes:
            data = chunks[0]
            start = self._start
            room = max_bytes - size
            if len(data) - start <= room:
                chunks.popleft()
                if start:
                    data = data[start:]
                    self._start = 0
            else:
                data = data[start : start + room]
                self._start = start + room
            pieces.append(data)
            size += len(data)
        self._buffered -= size
        if self._reading_paused and self._buffered < _RESUME_BELOW:
            self._reading_paused = False
            cast("asyncio.Transport", self._transport).resume_reading()
        return pieces

    async def _wait_readable(self, timeout: float | None) -> None:
        """Wait until data is buffered or the stream ended; raise on timeout or error."""
        if not self._eof and not self._closed:
            if self._read_waiter is not None:
                msg = "another task is already reading this connection"
                raise RuntimeError(msg)
            loop = self._loop
            waiter = self._read_waiter = loop.create_future()
            if timeout is not None:
                self._deadlines.add(waiter, timeout)
            try:
                woke = await waiter
            finally:
                # Runs on every exit, cancellation included: nothing outlives the wait.
                self._read_waiter = None
                if timeout is not None:
                    self._deadlines.discard(waiter)
            if self._chunks:
                return  # data wins over a deadline that fired in the same loop iteration
            if not woke:
                raise read_timeout(self._origin, cast("float", timeout))
        if self._closed:
            raise read_error(self._origin, None)
        if self._error is not None:
            raise read_error(self._origin, self._error) from self._error

    async def write(self, data: bytes, timeout: float | None) -> None:
        if self._eof or self._closed:
            raise self._write_failure()
        # The transport takes every byte before anything is awaited, so a cancelled drain
        # leaves nothing unsent and nothing to send twice (the backend contract on cancelled
        # writes): the next write's bytes simply follow in the transport's buffer.
        cast("asyncio.Transport", self._transport).write(data)
        if self._writing_paused:
            await self._drain(timeout)

    async def _drain(self, timeout: float | None) -> None:
        """Wait until the transport's send buffer drains below its low-water mark."""
        if self._write_waiter is not None:
            msg = "another task is already writing this connection"
            raise RuntimeError(msg)
        loop = self._loop
        waiter = self._write_waiter = loop.create_future()
        if timeout is not None:
            self._deadlines.add(waiter, timeout)
        try:
            woke = await waiter
        finally:
            self._write_waiter = None
            if timeout is not None:
                self._deadlines.discard(waiter)
        if self._eof or self._closed:
            raise self._write_failure()
        if not woke:
            raise write_timeout(self._origin, cast("float", timeout))

    def _write_failure(self) -> Exception:
        error = write_error(self._origin, None if self._closed else self._error)
        error.__cause__ = self._error
        return error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._chunks.clear()
        self._start = 0
        transport = self._transport
        if transport is None:
            return
        if self._generation != _fork.generation:
            # A forked child: the transport belongs to the parent's loop (whose epoll set the
            # child shares); release the child's descriptor and touch nothing else.
            sock = transport.get_extra_info("socket")
            _fork.drop_inherited_descriptor(-1 if sock is None else sock.fileno(), transport)
            return
        # abort(), not close(): drop unsent data and skip the TLS close_notify exchange, so
        # closing never needs the loop to run again (a cancelled task cannot await it).
        transport.abort()

    def is_readable(self) -> bool:
        # The transport reports EOF and data only when the loop gets to run: bytes that reached
        # the kernel while the loop was busy (a stray response, a FIN) are not delivered yet,
        # and reusing the connection would hand them to the next request. So poll the socket
        # too: one syscall, only for the connection about to be reused. Over TLS a readable
        # socket may also be a late session ticket: the connection is then given up for a new
        # one, which costs a handshake, never an answer.
        if self._eof or self._closed or self._chunks:
            return True
        fd = self._fd
        return fd >= 0 and fd_is_readable(fd)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> AsyncioStream:
        """TLS to ``server_hostname`` over this connection (a proxy's tunnel), with
        ``loop.start_tls``; over a TLS transport that nests TLS in TLS. Returns this same
        object, now reading and writing through the new TLS transport."""
        origin = f"{server_hostname} (through {self._origin})"
        if self._chunks or self._eof or self._closed or self._transport is None:
            # Bytes the proxy sent before our ClientHello cannot be TLS from the origin.
            self.close()
            raise connect_error(
                ConnectionError("the proxy tunnel closed or sent data before the handshake"),
                origin,
                host=server_hostname,
                server_hostname=server_hostname,
                timeout=timeout,
            )
        try:
            async with asyncio.timeout(timeout):
                transport = await self._loop.start_tls(
                    self._transport,
                    self,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=_handshake_limit(ssl_context, timeout),
                )
        except OSError as exc:
            self.close()
            raise connect_error(
                exc, origin, host=server_hostname, server_hostname=server_hostname, timeout=timeout
            ) from exc
        except BaseException:
            self.close()
            raise
        if transport is None:  # pragma: no cover - only for a protocol that refuses TLS
            self.close()
            raise connect_error(
                ConnectionError("start_tls returned no transport"),
                origin,
                host=server_hostname,
                server_hostname=server_hostname,
                timeout=timeout,
            )
        self._transport = transport
        self._origin = origin
        ssl_object = transport.get_extra_info("ssl_object")
        self._alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        return self


class AsyncioBackend:
    """Opens :class:`AsyncioStream` connections on the running loop. Holds only its settings
    (the resolver and the Happy Eyeballs delay, as :class:`~flext_api._backends.sync.SyncBackend`).
    """

    __slots__ = ("_delay", "_resolver")

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        happy_eyeballs_delay: float = DEFAULT_HAPPY_EYEBALLS_DELAY,
    ) -> None:
        self._resolver = resolver if resolver is not None else DEFAULT_RESOLVER
        self._delay = check_delay(happy_eyeballs_delay)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        origin = origin_of(host, port)
        stream = AsyncioStream(loop, origin)
        hostname = (server_hostname or host) if ssl_context is not None else None
        try:
            # The outer timeout covers the lookup, the TCP connect and the TLS handshake.
            async with asyncio.timeout(timeout):
                addresses = await happy_eyeballs_asyncio.resolve(self._resolver, host, port)
                sock = await happy_eyeballs_asyncio.open_tcp(addresses, self._delay)
                await loop.create_connection(
                    lambda: stream,
                    sock=sock,
                    ssl=ssl_context,
                    server_hostname=hostname,
                    ssl_handshake_timeout=_handshake_limit(ssl_context, timeout),
                )
        except OSError as exc:  # TimeoutError, socket.gaierror and ssl.SSLError included
            raise connect_error(
                exc, origin, host=host, server_hostname=hostname, timeout=timeout
            ) from exc
        return stream

    async def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncioStream:
        origin = f"unix:{path}"
        require_server_hostname(ssl_context, server_hostname, origin)
        loop = asyncio.get_running_loop()
        stream = AsyncioStream(loop, origin)
        try:
            async with asyncio.timeout(timeout):
                await loop.create_unix_connection(
                    lambda: stream,
                    path,
                    ssl=ssl_context,
                    # asyncio insists on a name with TLS; "" means "no SNI, no check".
                    server_hostname=(server_hostname or "") if ssl_context is not None else None,
                    ssl_handshake_timeout=_handshake_limit(ssl_context, timeout),
                )
        except OSError as exc:
            raise connect_error(
                exc, origin, host=path, server_hostname=server_hostname, timeout=timeout
            ) from exc
        return stream


def _handshake_limit(ssl_context: ssl.SSLContext | None, timeout: float | None) -> float | None:
    # asyncio has its own handshake limit (60 s by default) that fails with a vague
    # ConnectionAbortedError. Put it just past our deadline, so asyncio.timeout fires first
    # and the caller gets ConnectTimeout, or out of the way when the caller waits for ever.
    if ssl_context is None:
        return None
    if timeout is None:
        return math.inf
    return max(timeout, 0.0) + 1.0
