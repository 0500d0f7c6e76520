"""The mock network: connections that reach a :class:`MockRouter` instead of a socket.

Each connection is an in-memory HTTP/1.1 server on h11: the bytes the client writes are parsed
as a server parses them, each complete request is answered by the router, and the answer is
serialised back for the client to read. So everything above the socket runs for real (the
request builder, middleware, the pool, the client's own HTTP/1.1 parser) and no byte leaves
the process. ``https://`` URLs work the same (no TLS happens: there is no peer to verify).

One sans-IO core (:class:`MockWire`) under a blocking stream and an async one; the async
stream never waits on anything, so it runs on asyncio and trio alike.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import h11

from flext_api._exceptions import ReadError, WriteError
from flext_api._headers import Headers
from flext_api.testing._router import RecordedRequest

if TYPE_CHECKING:
    from flext_api.testing._router import MockRouter

__all__ = ["AsyncMockBackend", "AsyncMockStream", "MockBackend", "MockStream", "MockWire"]


class MockWire:
    """The server side of one mock connection, as bytes in and bytes out."""

    __slots__ = ("_body", "_conn", "_outbound", "_request", "router", "scheme")

    def __init__(self, router: MockRouter, scheme: str) -> None:
        self.router = router
        self.scheme = scheme
        self._conn = h11.Connection(h11.SERVER)
        self._outbound = bytearray()
        self._request: h11.Request | None = None
        self._body = bytearray()

    def receive(self, data: bytes) -> None:
        """Take bytes the client wrote; answer every request they complete."""
        conn = self._conn
        conn.receive_data(data)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                # What a strict server does with bytes it cannot parse: answer 400 and close.
                self._outbound += (
                    conn.send(
                        h11.Response(
                            status_code=exc.error_status_hint, headers=[("connection", "close")]
                        )
                    )
                    or b""
                )
                return
            if event is h11.NEED_DATA or event is h11.PAUSED:
                if conn.they_are_waiting_for_100_continue and self._request is not None:
                    self._outbound += (
                        conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                    )
                return
            if isinstance(event, h11.Request):
                self._request, self._body = event, bytearray()
                if conn.they_are_waiting_for_100_continue:
                    self._outbound += (
                        conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                    )
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self._answer()
            elif isinstance(event, h11.ConnectionClosed):
                return

    def _answer(self) -> None:
        request = self._request
        assert request is not None
        headers = Headers(
            [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        )
        recorded = RecordedRequest(
            request.method.decode("ascii"),
            request.target.decode("latin-1"),
            headers,
            bytes(self._body),
            scheme=self.scheme,
        )
        answer = self.router.handle(recorded)
        fields = [(name, value) for name, value in answer.headers.multi_items()]
        no_body = recorded.method == "HEAD" or answer.status_code in (204, 304)
        if not no_body and "content-length" not in answer.headers:
            fields.append(("content-length", str(len(answer.content))))
        conn = self._conn
        self._outbound += (
            conn.send(h11.Response(status_code=answer.status_code, headers=fields)) or b""
        )
        if answer.content and not no_body:
            self._outbound += conn.send(h11.Data(data=answer.content)) or b""
        self._outbound += conn.send(h11.EndOfMessage()) or b""
        if conn.our_state is h11.MUST_CLOSE:
            return
        conn.start_next_cycle()
        self._request = None

    def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of the answer; ``b""`` when nothing more will come."""
        out = self._outbound
        data = bytes(out[:max_bytes])
        del out[:max_bytes]
        return data

    @property
    def pending(self) -> bool:
        return bool(self._outbound)


class MockStream:
    """A blocking stream on a :class:`MockWire`."""

    def __init__(self, wire: MockWire) -> None:
        self._wire = wire
        self._closed = False

    def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self._closed:
            raise ReadError("the mock connection is closed")
        return self._wire.read(max_bytes)

    def write(self, data: bytes, timeout: float | None) -> None:
        if self._closed:
            raise WriteError("the mock connection is closed")
        if data:
            self._wire.receive(data)

    def close(self) -> None:
        self._closed = True

    def is_readable(self) -> bool:
        return self._closed or self._wire.pending

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> MockStream:
        return self

    @property
    def alpn_protocol(self) -> str | None:
        return None


class AsyncMockStream:
    """An async stream on a :class:`MockWire` (asyncio and trio: it never waits)."""

    def __init__(self, wire: MockWire) -> None:
        self._sync = MockStream(wire)

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        return self._sync.read(max_bytes, timeout)

    async def write(self, data: bytes, timeout: float | None) -> None:
        self._sync.write(data, timeout)

    def close(self) -> None:
        self._sync.close()

    def is_readable(self) -> bool:
        return self._sync.is_readable()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str, timeout: float | None
    ) -> AsyncMockStream:
        return self

    @property
    def alpn_protocol(self) -> str | None:
        return None


class MockBackend:
    """The blocking client's network, ending in a router (``FlextApiClient(backend=...)``)."""

    def __init__(self, router: MockRouter) -> None:
        self.router = router
        self.connections = 0

    def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> MockStream:
        self.connections += 1
        return MockStream(MockWire(self.router, "https" if ssl_context else "http"))

    def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> MockStream:
        return self.connect_tcp(path, 0, timeout=timeout, ssl_context=ssl_context)


class AsyncMockBackend:
    """The async client's network, ending in a router (``AsyncFlextApiClient(backend=...)``)."""

    def __init__(self, router: MockRouter) -> None:
        self._sync = MockBackend(router)

    @property
    def connections(self) -> int:
        return self._sync.connections

    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncMockStream:
        stream = self._sync.connect_tcp(host, port, timeout=timeout, ssl_context=ssl_context)
        return AsyncMockStream(stream._wire)

    async def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> AsyncMockStream:
        return await self.connect_tcp(path, 0, timeout=timeout, ssl_context=ssl_context)
