"""The contract between connections and the network: connect, read, write, close.

A connection (HTTP/1.1 or HTTP/2) only ever talks to a ``NetworkStream`` (blocking) or an
``AsyncNetworkStream`` (asyncio or trio). Each backend enforces its own timeouts and converts
every OS, DNS and TLS exception into the matching :class:`flext_api.FlextApiError` subclass at
this boundary, so nothing above it ever sees ``OSError`` or ``ssl.SSLError``.

Rules every backend keeps:

* ``timeout`` is a per-operation limit in seconds (``None``: wait for ever). ``connect_*``
  counts DNS resolution, the TCP handshake and the TLS handshake against the one limit.
* ``read`` returns ``b""`` only at end of stream; it raises ``ReadTimeout`` / ``ReadError``.
* ``write`` sends everything or raises ``WriteTimeout`` / ``WriteError``; after either error
  the stream is unusable for writing (callers close it). Writes are never concurrent: the
  caller serialises them.
* A cancelled ``write`` (``asyncio.CancelledError``, ``trio.Cancelled``) loses nothing and
  sends nothing twice: the bytes it had not handed to the network stay in the stream, and the
  next ``write`` sends them first, before its own ``data`` (``write(b"")`` sends just them).
  HTTP/2 depends on this: its frames and HPACK state are shared by every request on the
  connection, so a cancelled request must not take half a frame away with it. asyncio meets
  it by construction (``transport.write`` buffers everything before the drain is awaited);
  trio sends with its own loop on a plain socket. A stream that cannot resume after a
  cancelled write (trio's ``SSLStream``) closes itself instead: the next operation fails
  with ``WriteError`` / ``ReadError``, never with corrupt data. The blocking stream has no
  cancellation; its write is interrupted only by its timeout.
* ``close`` is synchronous on every backend (it aborts the transport) so that a cancelled task
  can drop a connection without awaiting anything.
* ``start_tls`` runs a TLS handshake over the stream (the tunnel a proxy opened with
  ``CONNECT``) and returns the stream to use from then on; the old one must not be used
  again. It works over a TLS stream too (TLS inside the TLS of an https proxy). Failures are
  ``TLSError`` / ``ConnectTimeout`` like a connect's, and close the stream.
* ``is_readable`` is the stale-connection probe for an idle connection: ``True`` when the peer
  closed it or sent bytes nobody asked for. It is called only on the connection about to be
  reused, never in a scan.
"""

from __future__ import annotations

import ssl
from typing import Protocol

__all__ = ["AsyncNetworkBackend", "AsyncNetworkStream", "NetworkBackend", "NetworkStream"]


class NetworkStream(Protocol):
    def read(self, max_bytes: int, timeout: float | None) -> bytes: ...

    def write(self, data: bytes, timeout: float | None) -> None: ...

    def close(self) -> None: ...

    def is_readable(self) -> bool: ...

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> NetworkStream: ...

    @property
    def alpn_protocol(self) -> str | None: ...


class AsyncNetworkStream(Protocol):
    async def read(self, max_bytes: int, timeout: float | None) -> bytes: ...

    async def write(self, data: bytes, timeout: float | None) -> None: ...

    def close(self) -> None: ...

    def is_readable(self) -> bool: ...

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> AsyncNetworkStream: ...

    @property
    def alpn_protocol(self) -> str | None: ...


class NetworkBackend(Protocol):
    def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> NetworkStream: ...

    def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> NetworkStream: ...


class AsyncNetworkBackend(Protocol):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncNetworkStream: ...

    async def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncNetworkStream: ...
