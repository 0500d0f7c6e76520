"""Real loopback servers for the backend tests, and one test body for all three backends.

Servers are plain threads on blocking sockets bound to 127.0.0.1 (or a Unix socket), so
they behave the same whichever event loop the client under test runs on. Each connection
runs a *handler*: a function of the accepted socket that plays a script (echo, stay silent,
close at once...).

The ``net`` fixture gives the same async-looking API over the three backends: asyncio and
trio streams are used as they are (through ``AutoBackend``); the sync backend is wrapped in
coroutines that simply block, which is fine against a server running in another thread.
"""

from __future__ import annotations

import contextlib
import datetime
import select
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Protocol

import pytest
import trustme

from flext_api._backends.auto import AutoBackend
from flext_api._backends.base import AsyncNetworkStream, NetworkStream
from flext_api._backends.sync import SyncBackend
from flext_api._ssl import create_ssl_context

Handler = Callable[[socket.socket], None]


class Server:
    """A threaded server running ``handler`` on each accepted connection until closed.

    ``handler=None`` holds each connection silently: it never reads and never writes (and
    never answers a TLS ClientHello) until the server is closed.
    """

    def __init__(
        self,
        handler: Handler | None,
        *,
        tls: ssl.SSLContext | None = None,
        unix_path: str | None = None,
    ) -> None:
        self._handler = handler
        self._tls = tls
        self.stopping = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        if unix_path is None:
            self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._listener.bind(("127.0.0.1", 0))
            self.host, self.port = self._listener.getsockname()
        else:
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(unix_path)
            self.host, self.port = unix_path, 0
        self._listener.listen(16)
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # the listener was shut down
            with self._lock:
                if self.stopping.is_set():
                    conn.close()
                    return
                self._conns.append(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        sock: socket.socket = conn
        try:
            conn.settimeout(10)
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(conn, server_side=True)
                except OSError:
                    return  # the client refused our certificate, or hung up
                with self._lock:
                    self._conns.append(sock)
            if self._handler is None:
                self.stopping.wait(10)
            else:
                self._handler(sock)
        except OSError:
            pass  # the client reset the connection, or the test is over
        finally:
            sock.close()
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        # shutdown() wakes a thread blocked in accept() or recv(); close() alone does not.
        for sock in [self._listener, *self._conns]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._acceptor.join(5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)


# --- connection scripts --------------------------------------------------------------------


def echo(sock: socket.socket) -> None:
    while data := sock.recv(65536):
        sock.sendall(data)


def echo_once_then_close(sock: socket.socket) -> None:
    sock.sendall(sock.recv(65536))


def close_at_once(sock: socket.socket) -> None:
    pass


def send_unprompted(sock: socket.socket) -> None:
    sock.sendall(sock.recv(65536))  # one exchange, as a real request would have
    sock.sendall(b"surprise")
    sock.recv(1)  # then wait for the client to go away


def sink(sock: socket.socket) -> None:
    while sock.recv(1 << 20):
        pass  # read and discard everything


def reset_after_echo(sock: socket.socket) -> None:
    sock.sendall(sock.recv(65536))
    sock.recv(65536)  # the client read the echo and says so: only now reset
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def speak_plain_http(sock: socket.socket) -> None:
    sock.recv(65536)  # a TLS ClientHello, read as if it were a request
    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start servers for one test; all are stopped (and their threads joined) after it."""
    servers: list[Server] = []

    def start(
        handler: Handler | None, *, tls: ssl.SSLContext | None = None, unix_path: str | None = None
    ) -> Server:
        server = Server(handler, tls=tls, unix_path=unix_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def silent_server(serve: Callable[..., Server]) -> Server:
    """Accepts, then neither reads nor writes (and never answers a TLS ClientHello)."""
    return serve(None)


@pytest.fixture
def refused_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def full_backlog() -> Iterator[tuple[str, int]]:
    """A listener whose accept queue is full: new SYNs are dropped, so connect() hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers: list[socket.socket] = []
    try:
        for _ in range(16):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(address)
            fillers.append(filler)
            _, writable, _ = select.select([], [filler], [], 0.2)
            if not writable:
                break
        else:  # pragma: no cover - depends on the kernel
            pytest.skip("could not fill the accept queue on this kernel")
        yield address
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory for Unix socket paths (they are limited to about 100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="fx", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# --- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


@pytest.fixture(scope="session")
def tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    return _server_context(ca.issue_cert("localhost", "127.0.0.1"))


@pytest.fixture(scope="session")
def expired_server_context(ca: trustme.CA) -> ssl.SSLContext:
    now = datetime.datetime.now(datetime.UTC)
    cert = ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    return _server_context(cert)


@pytest.fixture
def client_context(ca_file: str) -> ssl.SSLContext:
    """Trusts the test CA, offers h2 and http/1.1."""
    return create_ssl_context(verify=ca_file, alpn=("h2", "http/1.1"))


# --- one API over the three backends -------------------------------------------------------


class Stream(Protocol):
    async def read(self, max_bytes: int, timeout: float | None) -> bytes: ...

    async def write(self, data: bytes, timeout: float | None) -> None: ...

    def close(self) -> None: ...

    def is_readable(self) -> bool: ...

    @property
    def alpn_protocol(self) -> str | None: ...


class BlockingAsAsync:
    """A sync stream behind coroutines that block (the server runs in another thread)."""

    def __init__(self, stream: NetworkStream) -> None:
        self.stream = stream

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        return self.stream.read(max_bytes, timeout)

    async def write(self, data: bytes, timeout: float | None) -> None:
        self.stream.write(data, timeout)

    def close(self) -> None:
        self.stream.close()

    def is_readable(self) -> bool:
        return self.stream.is_readable()

    @property
    def alpn_protocol(self) -> str | None:
        return self.stream.alpn_protocol


class Net:
    """Connects with the backend under test; closes every stream it opened at teardown."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._sync = SyncBackend()
        self._auto = AutoBackend()
        self.opened: list[Stream] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        *,
        timeout: float | None = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Stream:
        stream: Stream
        if self.name == "sync":
            stream = BlockingAsAsync(
                self._sync.connect_tcp(
                    host,
                    port,
                    timeout=timeout,
                    ssl_context=ssl_context,
                    server_hostname=server_hostname,
                )
            )
        else:
            stream = await self._auto.connect_tcp(
                host,
                port,
                timeout=timeout,
                ssl_context=ssl_context,
                server_hostname=server_hostname,
            )
        self.opened.append(stream)
        return stream

    async def connect_unix(
        self,
        path: str,
        *,
        timeout: float | None = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Stream:
        stream: Stream
        if self.name == "sync":
            stream = BlockingAsAsync(
                self._sync.connect_unix(
                    path, timeout=timeout, ssl_context=ssl_context, server_hostname=server_hostname
                )
            )
        else:
            async_stream: AsyncNetworkStream = await self._auto.connect_unix(
                path, timeout=timeout, ssl_context=ssl_context, server_hostname=server_hostname
            )
            stream = async_stream
        self.opened.append(stream)
        return stream

    async def sleep(self, seconds: float) -> None:
        """Let time pass, and the event loop (if any) run its callbacks."""
        import anyio

        await anyio.sleep(seconds)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(params=["sync", "asyncio", "trio"])
def net_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def net(net_name: str) -> AsyncIterator[Net]:
    # Async, so that its teardown runs inside the test's event loop, as closing must.
    network = Net(net_name)
    yield network
    for stream in network.opened:
        stream.close()
