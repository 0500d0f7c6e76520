"""A scripted raw-socket server for misbehaving-server tests, and the scripts themselves.

`RawServer(handler)` listens on 127.0.0.1 (port 0) and runs `handler(conn)` in a thread per
accepted connection; the handler writes whatever bytes the test needs, valid HTTP or not.

Invariants that keep a test run clean:
- `stop()` returns within about 2 s: it wakes the accept loop, shuts down every open connection
  (which unblocks a handler stuck in recv/send) and joins the threads. Scripts that wait do so
  with `wait_stopped()` or `idle_until_closed()`, which return when the server stops.
- Every accepted socket is closed by the server, never by the test: no ResourceWarning.
- A script's OSError (the client hung up, reset, refused the certificate) is part of the test
  and is swallowed; any other exception is re-raised by `stop()`, so a broken script fails the
  test that used it instead of passing silently.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, Protocol

Handler = Callable[[socket.socket], None]

HELLO_RESPONSE: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n"
)
_STOP_TIMEOUT: Final = 2.0
_IO_TIMEOUT: Final = 10.0
_MAX_HEAD: Final = 256 * 1024

_local = threading.local()


def wait_stopped(timeout: float | None = None) -> bool:
    """Inside a script: block until the server stops (or `timeout`); True if it stopped."""
    stopping: threading.Event = _local.stopping
    return stopping.wait(timeout)


def idle_until_closed(conn: socket.socket) -> None:
    """Inside a script: discard input until the client closes or the server stops."""
    stopping: threading.Event = _local.stopping
    with selectors.DefaultSelector() as selector:
        selector.register(conn, selectors.EVENT_READ)
        while not stopping.is_set():
            if selector.select(0.05) and not conn.recv(65536):
                return


class RequestReader:
    """Reads request heads (and Content-Length bodies) off one connection, pipelining-safe.

    Chunked request bodies are not decoded: the scripts only need GETs and small bodies.
    """

    __slots__ = ("buffer", "conn")

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def next_request(self) -> bytes | None:
        """The next request head (without body), or None if the client closed first."""
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > _MAX_HEAD:
                raise ValueError("request head too large for RawServer")
            data = self.conn.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = _content_length(head)
        while len(self.buffer) < length:
            data = self.conn.recv(65536)
            if not data:
                return None
            self.buffer += data
        self.buffer = self.buffer[length:]
        return head


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def read_request(conn: socket.socket) -> bytes | None:
    """Read one request head off a fresh connection (None if the client closed first)."""
    return RequestReader(conn).next_request()


class RawServer:
    """A listening socket on 127.0.0.1 whose connections are answered by `handler`.

    `connections` counts accepted connections (pool tests assert reuse with it). With
    `ssl_context`, each connection is wrapped server-side and the handshake runs in the
    handler's thread (a client that rejects the certificate ends that thread quietly).
    `recv_buffer` sets SO_RCVBUF on the listener (inherited by accepted sockets) so a script
    that never reads makes the client's writes block sooner.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        recv_buffer: int | None = None,
    ) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if recv_buffer is not None:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"RawServer:{self.port}", daemon=True
        )
        self._started = False

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self) -> RawServer:
        if not self._started:
            self._started = True
            self._acceptor.start()
        return self

    def __enter__(self) -> RawServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        return
                    try:
                        conn, _ = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    conn.setblocking(True)
                    conn.settimeout(_IO_TIMEOUT)
                    with self._lock:
                        if self._stopping.is_set():
                            conn.close()
                            return
                        self.connections += 1
                        self._open.add(conn)
                        thread = threading.Thread(
                            target=self._serve, args=(conn,), name=f"{self._acceptor.name}/conn"
                        )
                        thread.daemon = True
                        self._threads.append(thread)
                    thread.start()

    def _serve(self, conn: socket.socket) -> None:
        _local.stopping = self._stopping
        active = conn
        try:
            if self.ssl_context is not None:
                with self._lock:
                    # The wrapped socket takes over the file descriptor; register it before the
                    # handshake so stop() can interrupt a client that never completes it.
                    active = self.ssl_context.wrap_socket(
                        conn, server_side=True, do_handshake_on_connect=False
                    )
                    self._open.discard(conn)
                    self._open.add(active)
                    if self._stopping.is_set():
                        return
                active.do_handshake()
            self.handler(active)
        except OSError:
            pass
        except BaseException as error:
            self.errors.append(error)
        finally:
            with self._lock:
                self._open.discard(active)
                self._open.discard(conn)
                active.close()
                conn.close()

    def stop(self) -> None:
        """Stop accepting, end every handler, close every socket; re-raise a script error."""
        with self._lock:
            self._stopping.set()
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        deadline = time.monotonic() + _STOP_TIMEOUT
        if self._started:
            self._acceptor.join(max(deadline - time.monotonic(), 0.0))
        for thread in list(self._threads):
            thread.join(max(deadline - time.monotonic(), 0.0))
        self._listener.close()
        self._wake_r.close()
        self._wake_w.close()
        stuck = [thread.name for thread in self._threads if thread.is_alive()]
        if stuck:
            raise RuntimeError(f"RawServer handlers did not finish within 2 s: {stuck}")
        if self.errors:
            raise self.errors[0]


class RawServerFactory(Protocol):
    """The type of the `raw_server` fixture: starts a RawServer, stopped after the test."""

    def __call__(
        self,
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        recv_buffer: int | None = None,
    ) -> RawServer: ...


# --- Ready-made scripts -------------------------------------------------------------------


def respond_ok(conn: socket.socket) -> None:
    """Answer every request on the connection with 200 "hello, world\\n", keep-alive."""
    reader = RequestReader(conn)
    while reader.next_request() is not None:
        conn.sendall(HELLO_RESPONSE)


def close_mid_body(conn: socket.socket) -> None:
    """Promise Content-Length: 100, send 10 bytes, close."""
    if read_request(conn) is not None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"0123456789")


def body_longer_than_content_length(conn: socket.socket) -> None:
    """Answer every request with Content-Length: 5 and a 20-byte body (15 bytes of junk)."""
    reader = RequestReader(conn)
    while reader.next_request() is not None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloJUNKJUNKJUNKJUN")


def garbage_status_line(conn: socket.socket) -> None:
    """Answer with a line that is not an HTTP status line, then close."""
    if read_request(conn) is not None:
        conn.sendall(b"HELLO\r\n\r\n")


def oversized_headers(conn: socket.socket) -> None:
    """Answer with about 110 KiB of response headers (110 lines of 1 KiB), then close."""
    if read_request(conn) is None:
        return
    line = b"X-Filler-%03d: " + b"a" * 1000 + b"\r\n"
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(line % i for i in range(110))
    conn.sendall(head + b"Content-Length: 0\r\n\r\n")


def close_immediately(conn: socket.socket) -> None:
    """Close right after accept, before reading anything."""


def never_respond(conn: socket.socket) -> None:
    """Read the request and never answer (read timeouts); ends when the client or server stops."""
    idle_until_closed(conn)


def slow_reader(conn: socket.socket) -> None:
    """Never read anything (write timeouts): the client's send buffer fills up.

    Use with `RawServer(slow_reader, recv_buffer=4096)` and a request body of a few MiB.
    """
    wait_stopped()


def close_after_response(delay: float = 0.1) -> Handler:
    """A script that answers one request with keep-alive, then closes after `delay` seconds.

    The client sees a healthy idle connection that goes stale: the next request on it must
    notice (or be retried on a fresh connection).
    """

    def script(conn: socket.socket) -> None:
        if read_request(conn) is None:
            return
        conn.sendall(HELLO_RESPONSE)
        wait_stopped(delay)

    return script


SCRIPTS: Final[dict[str, Handler]] = {
    "respond_ok": respond_ok,
    "close_mid_body": close_mid_body,
    "body_longer_than_content_length": body_longer_than_content_length,
    "garbage_status_line": garbage_status_line,
    "oversized_headers": oversized_headers,
    "close_immediately": close_immediately,
    "never_respond": never_respond,
    "slow_reader": slow_reader,
    "close_after_response": close_after_response(),
}
