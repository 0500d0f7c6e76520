"""Blocking sockets: the network under the sync client.

Job: open TCP or Unix-socket connections (DNS, TCP and TLS handshake inside one connect
timeout) and read, write, probe and close them with per-operation timeouts, converting every
``OSError`` / ``ssl.SSLError`` into a flext-api error at this boundary.

Never: start an event loop, keep a thread per connection, or share a stream between threads
at the same time (the pool hands a connection to one thread at a time, so a stream keeps no
lock). The only threads used are happy_eyeballs' small shared pool for name lookups.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import TypeVar

from flext_api import _fork
from flext_api._backends import (
    connect_error,
    connect_timeout,
    fd_is_readable,
    origin_of,
    read_error,
    read_timeout,
    require_server_hostname,
    write_error,
    write_timeout,
)
from flext_api._backends.base import NetworkBackend
from flext_api._backends.happy_eyeballs import DEFAULT_RESOLVER, open_tcp, resolve
from flext_api._exceptions import ReadTimeout, WriteTimeout
from flext_api._resolver import DEFAULT_HAPPY_EYEBALLS_DELAY, Resolver, check_delay

__all__ = ["SyncBackend", "SyncStream", "SyncTLSInTLSStream", "default_sync_backend"]

_TLS_READ_SIZE = 64 * 1024
_T = TypeVar("_T")


_KERNEL_TIMEOUTS = sys.platform == "linux"
_PEEK_NOW = socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)


def _set_kernel_timeout(sock: socket.socket, option: int, timeout: float | None) -> None:
    """SO_RCVTIMEO / SO_SNDTIMEO as a ``struct timeval``; 0 means "wait for ever" to the
    kernel, so an expired deadline becomes the shortest real wait (1 microsecond)."""
    if timeout is None:
        seconds, micros = 0, 0
    else:
        whole = max(timeout, 1e-6)
        seconds = int(whole)
        micros = max(int((whole - seconds) * 1_000_000), 1 if seconds == 0 else 0)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("@ll", seconds, micros))


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class SyncStream:
    """One connected socket (plain or TLS).

    An HTTP/1.1 connection uses it from one thread at a time. An HTTP/2 connection reads in
    one thread while others write: the kernel allows that on a plain socket, but OpenSSL does
    not on one ``SSLSocket`` (concurrent SSL_read and SSL_write corrupt its state). TLS
    streams therefore keep the socket non-blocking and run every SSL call under
    ``_ssl_lock``, waiting for readiness (``poll``) outside it, so a blocked reader never
    holds up a writer or the other way round.
    """

    __slots__ = (
        "_alpn",
        "_closed",
        "_generation",
        "_kernel_timeouts",
        "_origin",
        "_pending_error",
        "_rcv_timeout",
        "_snd_timeout",
        "_sock",
        "_ssl_lock",
        "_timeout",
        "_tls",
    )

    def __init__(self, sock: socket.socket, origin: str) -> None:
        self._sock = sock
        self._origin = origin
        self._closed = False
        self._generation = _fork.generation  # a forked child's close() must send nothing
        self._tls = isinstance(sock, ssl.SSLSocket)
        # Plain sockets on Linux: the kernel enforces read and write timeouts (SO_RCVTIMEO,
        # SO_SNDTIMEO) on a blocking socket. A Python socket timeout would instead poll()
        # before every recv and send: two extra syscalls per exchange.
        self._kernel_timeouts = _KERNEL_TIMEOUTS and not self._tls
        self._rcv_timeout: float | None = None
        self._snd_timeout: float | None = None
        self._pending_error: OSError | None = None
        if self._kernel_timeouts:
            sock.settimeout(None)
        # settimeout() costs a syscall (it flips O_NONBLOCK), so remember the current value
        # and only call it when a caller asks for a different one.
        self._timeout = sock.gettimeout()
        self._ssl_lock = threading.Lock()
        self._alpn = sock.selected_alpn_protocol() if isinstance(sock, ssl.SSLSocket) else None

    @property
    def alpn_protocol(self) -> str | None:
        return self._alpn

    def _set_timeout(self, timeout: float | None) -> None:
        # A deadline already in the past means "only what is already there": 0.0, never
        # a negative value (which settimeout rejects).
        if timeout is not None and timeout < 0:
            timeout = 0.0
        self._sock.settimeout(timeout)
        self._timeout = timeout

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._tls:
            return self._tls_read(max_bytes, timeout)
        if self._kernel_timeouts:
            if self._pending_error is not None:
                error, self._pending_error = self._pending_error, None
                raise read_error(self._origin, error) from error
            try:
                if timeout != self._rcv_timeout:
                    _set_kernel_timeout(self._sock, socket.SO_RCVTIMEO, timeout)
                    self._rcv_timeout = timeout
                return self._sock.recv(max_bytes)
            except BlockingIOError as exc:  # EAGAIN: SO_RCVTIMEO expired
                raise read_timeout(self._origin, timeout or 0.0) from exc
            except OSError as exc:
                raise read_error(self._origin, None if self._closed else exc) from exc
        try:
            if timeout != self._timeout:
                self._set_timeout(timeout)
            return self._sock.recv(max_bytes)
        except (TimeoutError, BlockingIOError, ssl.SSLWantReadError) as exc:
            raise read_timeout(self._origin, timeout or 0.0) from exc
        except OSError as exc:
            raise read_error(self._origin, None if self._closed else exc) from exc

    def _tls_read(self, max_bytes: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self._sock
        while True:
            with self._ssl_lock:
                try:
                    if self._timeout != 0.0:
                        self._set_timeout(0.0)
                    return sock.recv(max_bytes)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except OSError as exc:
                    raise read_error(self._origin, None if self._closed else exc) from exc
            if not _wait_fd(sock, select.POLLIN, deadline):
                raise read_timeout(self._origin, timeout or 0.0)

    def read_available(self, max_bytes: int) -> list[bytes]:
        """Up to ``max_bytes`` that arrived already, without waiting, in the pieces read:
        none when nothing did (or on a plain socket, where one ``read`` takes all the kernel
        holds anyway).

        Over TLS one ``recv`` returns at most one record (16 KiB); a reader that keeps up
        with a fast download takes the records already there in one pass instead. EOF and
        errors are not reported here: the next ``read`` meets them."""
        pieces: list[bytes] = []
        if not self._tls or self._closed:
            return pieces
        sock = self._sock
        size = 0
        with self._ssl_lock:
            if self._timeout != 0.0:
                self._set_timeout(0.0)
            while size < max_bytes:
                try:
                    piece = sock.recv(max_bytes - size)
                except OSError:  # nothing more (SSLWantReadError), or an error left for read
                    break
                if not piece:
                    break  # EOF: the next read returns it again
                pieces.append(piece)
                size += len(piece)
        return pieces

    def _tls_write(self, data: bytes, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = self._sock
        view = memoryview(data)
        while view:
            # One TLS record at a time; after a "want write" OpenSSL needs the same bytes
            # again, which the next turn of the loop passes.
            piece = view[:16384]
            with self._ssl_lock:
                try:
                    if self._timeout != 0.0:
                        self._set_timeout(0.0)
                    sent = sock.send(piece)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    sent = 0
                except OSError as exc:
                    raise write_error(self._origin, None if self._closed else exc) from exc
            if sent:
                view = view[sent:]
            elif not _wait_fd(sock, select.POLLOUT, deadline):
                raise write_timeout(self._origin, timeout or 0.0)

    def write(self, data: bytes, timeout: float | None) -> None:
        if self._tls:
            self._tls_write(data, timeout)
            return
        if self._kernel_timeouts:
            try:
                if timeout != self._snd_timeout:
                    _set_kernel_timeout(self._sock, socket.SO_SNDTIMEO, timeout)
                    self._snd_timeout = timeout
                self._sock.sendall(data)
            except BlockingIOError as exc:  # EAGAIN: SO_SNDTIMEO expired mid-buffer
                raise write_timeout(self._origin, timeout or 0.0) from exc
            except OSError as exc:
                raise write_error(self._origin, None if self._closed else exc) from exc
            return
        try:
            if timeout != self._timeout:
                self._set_timeout(timeout)
            # sendall() keeps one deadline for the whole buffer (plain and TLS sockets).
            self._sock.sendall(data)
        except (TimeoutError, BlockingIOError, ssl.SSLWantWriteError) as exc:
            raise write_timeout(self._origin, timeout or 0.0) from exc
        except OSError as exc:
            raise write_error(self._origin, None if self._closed else exc) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        sock = self._sock
        # shutdown() sends FIN even if the fd was duplicated (fork) and wakes a thread still
        # blocked in recv() on this socket; close() alone does neither. It fails harmlessly
        # when the peer already reset the connection. In a forked child the socket is still
        # the parent's: only the child's descriptor goes (close() sends no TLS close_notify).
        if self._generation == _fork.generation:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with suppress(OSError):
            sock.close()

    def is_readable(self) -> bool:
        if self._closed:
            return True
        sock = self._sock
        if not self._tls:
            # One syscall: data or EOF mean the idle connection is unusable.
            try:
                sock.recv(1, _PEEK_NOW)
            except BlockingIOError:
                return False
            except OSError as exc:
                # The kernel reports a reset once: keep it for the next read to raise.
                self._pending_error = exc
            return True
        assert isinstance(sock, ssl.SSLSocket)
        if sock.pending():
            return True  # decrypted bytes nobody asked for
        if not fd_is_readable(sock.fileno()):
            return False
        # Readable ciphertext is not always application data: TLS 1.3 servers send session
        # tickets after the handshake. Let OpenSSL consume the records without blocking; only
        # EOF, an error or real data make the connection unusable. (A byte of unexpected data
        # is consumed here, which is fine: such a connection is discarded.)
        if self._timeout != 0.0:
            self._set_timeout(0.0)
        try:
            sock.recv(1)  # returns data or b"" (EOF): either way, not reusable
        except ssl.SSLWantReadError:
            return False
        except OSError:
            pass
        return True

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> SyncStream | SyncTLSInTLSStream:
        """TLS to ``server_hostname`` over this connection (a proxy's tunnel); this stream
        must not be used afterwards. Over a TLS socket the inner TLS runs in memory."""
        origin = f"{server_hostname} (through {self._origin})"
        if self._tls:
            return SyncTLSInTLSStream(self, ssl_context, server_hostname, timeout, origin)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            sock = _start_tls(self._sock, ssl_context, server_hostname, deadline)
        except OSError as exc:
            self.close()
            raise connect_error(
                exc, origin, host=server_hostname, server_hostname=server_hostname, timeout=timeout
            ) from exc
        self._closed = True  # the socket now belongs to the new stream
        return SyncStream(sock, origin)


class SyncTLSInTLSStream:
    """TLS over another TLS stream (an origin's, inside an https proxy's tunnel).

    An ``ssl.SSLObject`` encrypts into memory buffers, and the outer :class:`SyncStream`
    carries the records: the kernel only ever sees the proxy's TLS. Timeouts and errors on the
    wire are the outer stream's (they name the proxy).
    """

    __slots__ = ("_incoming", "_origin", "_outer", "_outgoing", "_tls")

    def __init__(
        self,
        outer: SyncStream | SyncTLSInTLSStream,
        ssl_context: ssl.SSLContext,
        server_hostname: str,
        timeout: float | None,
        origin: str,
    ) -> None:
        self._outer = outer
        self._origin = origin
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._run(self._tls.do_handshake, deadline)
        except ssl.SSLError as exc:
            outer.close()
            raise connect_error(
                exc, origin, host=server_hostname, server_hostname=server_hostname, timeout=timeout
            ) from exc
        except (ReadTimeout, WriteTimeout, TimeoutError) as exc:
            outer.close()
            raise connect_timeout(origin, timeout) from exc
        except BaseException:
            outer.close()
            raise

    def _run(self, operation: Callable[[], _T], deadline: float | None) -> _T:
        """Run an SSLObject operation, moving records through the outer stream until it
        completes. ``deadline`` bounds each wire operation."""
        outer = self._outer
        while True:
            try:
                result = operation()
            except ssl.SSLWantReadError:
                self._flush(deadline)
                data = outer.read(_TLS_READ_SIZE, _remaining(deadline))
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            self._flush(deadline)
            return result

    def _flush(self, deadline: float | None) -> None:
        if self._outgoing.pending:
            self._outer.write(self._outgoing.read(), _remaining(deadline))

    @property
    def alpn_protocol(self) -> str | None:
        return self._tls.selected_alpn_protocol()

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            return self._run(partial(self._tls.read, max_bytes), deadline)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""  # close_notify, or a peer that closed without one: end of stream
        except ssl.SSLError as exc:
            raise read_error(self._origin, exc) from exc
        except TimeoutError as exc:
            raise read_timeout(self._origin, timeout or 0.0) from exc

    def write(self, data: bytes, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        view = memoryview(data)
        try:
            while view:
                written = self._run(partial(self._tls.write, view), deadline)
                view = view[written:]
        except ssl.SSLError as exc:
            raise write_error(self._origin, exc) from exc
        except TimeoutError as exc:
            raise write_timeout(self._origin, timeout or 0.0) from exc

    def close(self) -> None:
        self._outer.close()

    def is_readable(self) -> bool:
        return bool(self._tls.pending()) or self._outer.is_readable()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> SyncTLSInTLSStream:
        origin = f"{server_hostname} (through {self._origin})"
        return SyncTLSInTLSStream(self, ssl_context, server_hostname, timeout, origin)


def _wait_fd(sock: socket.socket, events: int, deadline: float | None) -> bool:
    """Wait until ``sock`` is ready for ``events`` (or failed); ``False`` at the deadline."""
    if sock.fileno() < 0:
        return True  # closed under us: the next call reports it
    poller = select.poll()
    poller.register(sock, events)
    if deadline is None:
        return bool(poller.poll())
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    return bool(poller.poll(left * 1000))


def _start_tls(
    sock: socket.socket,
    ssl_context: ssl.SSLContext,
    server_hostname: str | None,
    deadline: float | None,
) -> ssl.SSLSocket:
    sock.settimeout(_remaining(deadline))
    return ssl_context.wrap_socket(sock, server_hostname=server_hostname)


class SyncBackend:
    """Opens :class:`SyncStream` connections. Holds only its settings: one instance serves
    every thread.

    ``resolver`` turns host names into addresses (the system's ``getaddrinfo`` by default);
    ``happy_eyeballs_delay`` is how long one connection attempt runs alone before the next
    address is tried beside it (RFC 8305).
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

    def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> SyncStream:
        origin = origin_of(host, port)
        hostname = server_hostname or host
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            sock = open_tcp(resolve(self._resolver, host, port, deadline), deadline, self._delay)
        except OSError as exc:
            raise connect_error(
                exc, origin, host=host, server_hostname=hostname, timeout=timeout
            ) from exc
        if ssl_context is not None:
            try:
                sock = _start_tls(sock, ssl_context, hostname, deadline)
            except OSError as exc:
                sock.close()
                raise connect_error(
                    exc, origin, host=host, server_hostname=hostname, timeout=timeout
                ) from exc
        return SyncStream(sock, origin)

    def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> SyncStream:
        origin = f"unix:{path}"
        require_server_hostname(ssl_context, server_hostname, origin)
        deadline = None if timeout is None else time.monotonic() + timeout
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(path)
            if ssl_context is not None:
                sock = _start_tls(sock, ssl_context, server_hostname, deadline)
        except OSError as exc:
            sock.close()
            raise connect_error(
                exc, origin, host=path, server_hostname=server_hostname, timeout=timeout
            ) from exc
        return SyncStream(sock, origin)


_default_backend = SyncBackend()


def default_sync_backend(resolver: Resolver | None = None) -> NetworkBackend:
    """The backend the sync client uses unless given another: the shared one, or one of its
    own when the client names a ``resolver``."""
    return _default_backend if resolver is None else SyncBackend(resolver=resolver)
