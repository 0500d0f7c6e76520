"""A small forward proxy for the client's proxy tests: real sockets, one thread per connection.

`ForwardProxy` listens on 127.0.0.1 (in clear text, or over TLS with `ssl_context=`). It
forwards absolute-form requests (`GET http://host:port/path HTTP/1.1`) to their origin, one
upstream connection per request, and keeps the client's connection alive between requests;
it answers `CONNECT host:port` with 200 and then copies bytes both ways. With
`credentials=("user", "password")` it answers 407 to requests without the matching
`Proxy-Authorization`; with `refuse_connect=True` it answers 403 to every CONNECT.

It records what a test asserts on: connections accepted, requests forwarded (their target and
the headers they carried), tunnels opened (their authority). Upstreams are loopback only (the
test network guard refuses anything else).
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
from dataclasses import dataclass, field
from types import TracebackType

import h11

_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization"})


@dataclass
class ProxyLog:
    """What the proxy saw, appended from its threads (lists are safe to append to)."""

    connections: int = 0
    forwarded: list[tuple[bytes, list[tuple[bytes, bytes]]]] = field(default_factory=list)
    tunnels: list[bytes] = field(default_factory=list)
    authorizations: list[bytes | None] = field(default_factory=list)


class ForwardProxy:
    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        refuse_connect: bool = False,
    ) -> None:
        self._tls = ssl_context
        self._expected = (
            None
            if credentials is None
            else b"Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode())
        )
        self._refuse_connect = refuse_connect
        self.log = ProxyLog()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardProxy:
        thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        # shutdown() wakes the thread blocked in accept(); close() alone does not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            self.log.connections += 1
            self._track(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError, h11.ProtocolError):
            raw.settimeout(10)
            sock = raw
            if self._tls is not None:
                sock = self._tls.wrap_socket(raw, server_side=True)
                self._track(sock)
            self._serve_http(sock)

    def _serve_http(self, sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            request = _next(conn, sock)
            if not isinstance(request, h11.Request):
                return
            body = b""
            while True:
                event = _next(conn, sock)
                if isinstance(event, h11.Data):
                    body += bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return
            authorization = _header(request.headers, b"proxy-authorization")
            self.log.authorizations.append(authorization)
            if self._expected is not None and authorization != self._expected:
                _respond(conn, sock, 407, [(b"Proxy-Authenticate", b'Basic realm="test"')])
            elif request.method == b"CONNECT":
                self.log.tunnels.append(request.target)
                if self._refuse_connect:
                    _respond(conn, sock, 403, [])
                else:
                    self._tunnel(conn, sock, request.target)
                    return
            else:
                self._forward(conn, sock, request, body)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    def _forward(
        self, conn: h11.Connection, sock: socket.socket, request: h11.Request, body: bytes
    ) -> None:
        target = bytes(request.target)
        headers = [(bytes(n), bytes(v)) for n, v in request.headers.raw_items()]
        self.log.forwarded.append((target, headers))
        if not target.startswith(b"http://"):
            _respond(conn, sock, 400, [])
            return
        authority, _, path = target[len(b"http://") :].partition(b"/")
        host, _, port = authority.rpartition(b":")
        upstream = socket.create_connection((host.decode().strip("[]"), int(port)), timeout=10)
        with upstream:
            client = h11.Connection(h11.CLIENT)
            kept = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP]
            data = client.send(h11.Request(method=request.method, target=b"/" + path, headers=kept))
            if body:
                data += client.send(h11.Data(data=body))
            data += client.send(h11.EndOfMessage())
            upstream.sendall(data)
            response = _next(client, upstream)
            assert isinstance(response, h11.Response)
            out = [
                (bytes(n), bytes(v))
                for n, v in response.headers.raw_items()
                if n.lower() not in _HOP_BY_HOP
            ]
            sock.sendall(
                conn.send(
                    h11.Response(
                        status_code=response.status_code, headers=out, reason=response.reason
                    )
                )
            )
            while True:
                event = _next(client, upstream)
                if isinstance(event, h11.Data):
                    sock.sendall(conn.send(h11.Data(data=event.data)))
                else:
                    sock.sendall(conn.send(h11.EndOfMessage()))
                    return

    def _tunnel(self, conn: h11.Connection, sock: socket.socket, target: bytes) -> None:
        host, _, port = target.rpartition(b":")
        try:
            upstream = socket.create_connection((host.decode().strip("[]"), int(port)), timeout=10)
        except OSError:
            _respond(conn, sock, 502, [])
            return
        self._track(upstream)
        sock.sendall(
            conn.send(h11.Response(status_code=200, headers=[], reason=b"Connection established"))
        )
        leftover, _ = conn.trailing_data
        if leftover:
            upstream.sendall(leftover)
        _pipe(sock, upstream, self._stopping)


def _pipe(a: socket.socket, b: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes (single thread: an SSLSocket must not
    be read and written from two threads)."""
    peers = {a: b, b: a}
    while not stopping.is_set():
        ready: list[socket.socket] = [
            s for s in (a, b) if isinstance(s, ssl.SSLSocket) and s.pending()
        ]
        if not ready:
            ready, _, _ = select.select([a, b], [], [], 0.5)
        for source in ready:
            try:
                data = source.recv(65536)
            except ssl.SSLWantReadError:
                continue
            if not data:
                return
            peers[source].sendall(data)


def _next(conn: h11.Connection, sock: socket.socket) -> object:
    """The next h11 event (reading as needed); callers check its type."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
            continue
        return event


def _header(headers: h11._headers.Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return bytes(value)
    return None


def _respond(
    conn: h11.Connection, sock: socket.socket, status: int, headers: list[tuple[bytes, bytes]]
) -> None:
    body = f"proxy says {status}\n".encode()
    headers = [*headers, (b"Content-Length", str(len(body)).encode())]
    data = conn.send(h11.Response(status_code=status, headers=headers))
    data += conn.send(h11.Data(data=body))
    data += conn.send(h11.EndOfMessage())
    sock.sendall(data)
