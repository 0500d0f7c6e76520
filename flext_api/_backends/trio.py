"""trio: connections on trio's socket and TLS streams, with deadlines as trio cancel scopes.

Job: open TCP or Unix-socket connections (DNS, TCP and TLS handshake under one deadline),
read and write them with one cancel scope per call, and convert trio's and the OS's errors
into flext-api errors at this boundary.

A write on a plain socket is resumable (see ``flext_api._backends.base``): it runs its own
send loop, so a cancelled write knows what went out and keeps the rest for the next write. A
write through TLS is not (trio's ``SSLStream`` breaks when a send is cancelled): such a
cancellation closes the stream.

Never: swallow ``trio.Cancelled`` (it is a ``BaseException``; only ``OSError`` and trio's
resource errors are converted here, and a cancelled TLS write closes the stream and re-raises),
await in ``close()``, or import anything asyncio-only.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio

from flext_api._backends import (
    connect_error,
    connect_timeout,
    fd_is_readable,
    happy_eyeballs_trio,
    origin_of,
    read_error,
    read_timeout,
    require_server_hostname,
    write_error,
    write_timeout,
)
from flext_api._backends.happy_eyeballs import DEFAULT_RESOLVER
from flext_api._resolver import DEFAULT_HAPPY_EYEBALLS_DELAY, Resolver, check_delay

__all__ = ["TrioBackend", "TrioStream"]

_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
# Sockets are file descriptors that os.read/os.write serve (not on Windows).
_DIRECT_IO = os.name == "posix"


class TrioStream:
    """One connection: a ``trio.SocketStream``, or a ``trio.SSLStream`` over one."""

    __slots__ = ("_alpn", "_closed", "_fd", "_origin", "_socket", "_stream", "_tls", "_unsent")

    def __init__(self, stream: trio.SocketStream | trio.SSLStream[Any], origin: str) -> None:
        self._stream = stream
        self._origin = origin
        self._closed = False
        # Bytes a cancelled write did not send; the next write sends them first.
        self._unsent = b""
        self._tls = isinstance(stream, trio.SSLStream)
        self._alpn: str | None
        if isinstance(stream, trio.SSLStream):
            self._alpn = stream.selected_alpn_protocol()
        else:
            self._alpn = None
        # The socket under the stream(s): TLS to an origin may run inside a proxy's TLS.
        inner: trio.abc.Stream = stream
        while isinstance(inner, trio.SSLStream):
            inner = inner.transport_stream
        assert isinstance(inner, trio.SocketStream)
        self._socket = inner.socket
        # A plain POSIX socket is first tried without a cancel scope (see _try_read): the
        # descriptor, or -1 where that does not apply.
        self._fd = -1 if self._tls or not _DIRECT_IO else self._socket.fileno()

    @property
    def alpn_protocol(self) -> str | None:
        return self._alpn

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._fd >= 0 and not self._closed:
            # What trio's own recv does (a cancellation point, the call, a schedule point), with
            # no cancel scope when the bytes are already there: the common read of a response.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                data = os.read(self._fd, max_bytes)
            except BlockingIOError:
                pass  # nothing yet: wait for it under the deadline, below
            except OSError as exc:
                raise read_error(self._origin, exc) from exc
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return data
        try:
            # Both trio streams return bytes; their shared interface says bytes | bytearray.
            if timeout is None:
                return await self._stream.receive_some(max_bytes)  # type: ignore[return-value]
            with trio.move_on_after(max(timeout, 0.0)):
                return await self._stream.receive_some(max_bytes)  # type: ignore[return-value]
        except _STREAM_ERRORS as exc:
            raise read_error(self._origin, None if self._closed else exc) from exc
        raise read_timeout(self._origin, timeout)

    async def write(self, data: bytes, timeout: float | None) -> None:
        if self._tls:
            await self._write_tls(data, timeout)
            return
        # Our own send loop on the socket, not SocketStream.send_all: cancelled mid-way,
        # send_all leaves an unknown amount sent, while each trio socket send() either sends
        # and returns the count or is cancelled having sent nothing. So this loop knows what
        # went out, and keeps the rest for the next write (the backend contract).
        unsent = self._unsent
        if unsent:
            data = unsent + data
            self._unsent = b""
        if not data:
            return
        view = memoryview(data)
        offset = 0
        total = len(view)
        send = self._socket.send
        try:
            if self._fd >= 0 and not self._closed:
                # As in read: what the kernel takes at once needs no cancel scope. Cancelled
                # here, the write keeps its bytes for the next one, like a cancelled send.
                await trio.lowlevel.checkpoint_if_cancelled()
                try:
                    offset = os.write(self._fd, view)
                except BlockingIOError:
                    offset = 0  # the send buffer is full: wait for room, below
                if offset == total:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    return
            with trio.move_on_after(math.inf if timeout is None else max(timeout, 0.0)):
                while offset < total:
                    offset += await send(view[offset:])
                return
        except _STREAM_ERRORS as exc:
            raise write_error(self._origin, None if self._closed else exc) from exc
        finally:
            if offset < total:
                self._unsent = bytes(view[offset:])
        assert timeout is not None  # no deadline: the loop ends only by sending everything
        raise write_timeout(self._origin, timeout)

    async def _write_tls(self, data: bytes, timeout: float | None) -> None:
        try:
            if timeout is None:
                await self._stream.send_all(data)
                return
            with trio.move_on_after(max(timeout, 0.0)):
                await self._stream.send_all(data)
                return
        except _STREAM_ERRORS as exc:
            raise write_error(self._origin, None if self._closed else exc) from exc
        except BaseException:
            # Cancelled: trio's SSLStream cannot resume a cancelled send_all (an unknown part of
            # a TLS record went out; trio marks the stream broken). The connection cannot go on
            # without corrupting what the peer reads, so it is closed: the next read or write
            # fails cleanly, and requests are failed or retried, never mis-delivered.
            self.close()
            raise
        # The deadline cancelled send_all: broken as above.
        self.close()
        raise write_timeout(self._origin, timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Close the socket under the stream(s) directly: aclose() would await (a TLS
        # close_notify), which a cancelled task cannot do. trio wakes any task blocked on the
        # socket with ClosedResourceError.
        try:
            self._socket.close()
        except RuntimeError:
            # Outside a trio run (an object closed after trio.run returned), trio cannot
            # notify waiters, and there are none: release the descriptor directly.
            fd = self._socket.detach()
            if fd >= 0:
                os.close(fd)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> TrioStream:
        """TLS to ``server_hostname`` over this connection (a proxy's tunnel): a
        ``trio.SSLStream`` around the current stream, so over a TLS stream TLS nests."""
        origin = f"{server_hostname} (through {self._origin})"
        with trio.move_on_after(math.inf if timeout is None else max(timeout, 0.0)):
            try:
                tls = trio.SSLStream(
                    self._stream,
                    ssl_context,
                    server_hostname=server_hostname,
                    https_compatible=True,
                )
                await tls.do_handshake()
                return TrioStream(tls, origin)
            except BaseException as exc:
                self.close()
                _raise_connect_error(exc, origin, server_hostname, server_hostname, timeout)
                raise
        self.close()
        raise connect_timeout(origin, timeout)

    def is_readable(self) -> bool:
        # Polls the descriptor, which sees EOF and unexpected data. It cannot see plaintext
        # that trio's SSLStream already decrypted and buffered, and after a TLS 1.3 handshake
        # with no exchange since, pending session tickets read as "readable"; the pool only
        # probes connections that completed an exchange, which consumed both.
        if self._closed:
            return True
        fd = self._socket.fileno()
        return fd < 0 or fd_is_readable(fd)


class TrioBackend:
    """Opens :class:`TrioStream` connections in the current trio run. Holds only its settings
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

    async def _open_tcp(self, host: str, port: int) -> trio.SocketStream:
        addresses = await happy_eyeballs_trio.resolve(self._resolver, host, port)
        return await happy_eyeballs_trio.open_tcp(addresses, self._delay)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> TrioStream:
        return await _connect(
            partial(self._open_tcp, host, port),
            origin_of(host, port),
            host=host,
            timeout=timeout,
            ssl_context=ssl_context,
            server_hostname=server_hostname or host,
        )

    async def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> TrioStream:
        origin = f"unix:{path}"
        require_server_hostname(ssl_context, server_hostname, origin)
        return await _connect(
            partial(trio.open_unix_socket, path),
            origin,
            host=path,
            timeout=timeout,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
        )


async def _connect(
    open_socket: Callable[[], Awaitable[trio.SocketStream]],
    origin: str,
    *,
    host: str,
    timeout: float | None,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
) -> TrioStream:
    # One deadline for DNS (trio resolves in a thread it can abandon), TCP and TLS.
    with trio.move_on_after(math.inf if timeout is None else max(timeout, 0.0)):
        sock_stream: trio.SocketStream | None = None
        try:
            sock_stream = await open_socket()
            if ssl_context is None:
                return TrioStream(sock_stream, origin)
            # https_compatible: servers that close without close_notify are normal on the
            # web, and HTTP framing already tells a complete body from a truncated one.
            tls = trio.SSLStream(
                sock_stream, ssl_context, server_hostname=server_hostname, https_compatible=True
            )
            await tls.do_handshake()
            return TrioStream(tls, origin)
        except BaseException as exc:
            # Whatever ends the attempt (an error, the deadline, an outer cancellation), the
            # socket must not leak; trio.Cancelled and the rest propagate untouched.
            if sock_stream is not None:
                sock_stream.socket.close()
            _raise_connect_error(exc, origin, host, server_hostname, timeout)
            raise
    raise connect_timeout(origin, timeout)


def _raise_connect_error(
    exc: BaseException,
    origin: str,
    host: str,
    server_hostname: str | None,
    timeout: float | None,
) -> None:
    """Raise the flext-api error for a failed connect or handshake; return for anything
    else (trio.Cancelled...), which the caller re-raises untouched."""
    if isinstance(exc, trio.BrokenResourceError):
        # trio wraps the handshake's ssl or socket error; the cause says what failed.
        # Chain that error, as the other backends do.
        cause = exc.__cause__
        if not isinstance(cause, OSError):  # pragma: no cover - trio always sets one
            cause = ssl.SSLError(str(exc) or "the connection broke during the handshake")
        raise connect_error(
            cause, origin, host=host, server_hostname=server_hostname, timeout=timeout
        ) from cause
    if isinstance(exc, OSError):
        raise connect_error(
            exc, origin, host=host, server_hostname=server_hostname, timeout=timeout
        ) from exc
