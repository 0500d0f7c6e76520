"""HTTP/2 peers for the tests: nghttpd and nginx (Debian packages) and a scripted h2 server.

nghttpd and nginx run as child processes on 127.0.0.1, on ports picked by the kernel, and are
stopped by their PID (never by name). When a binary is missing the runner fails with the apt
line to install it: a missing peer is a broken test environment, not a reason to skip.

The scripted server (``ScriptedH2Server``) is h2 on plain sockets in a thread, for the faults a
real server will not produce on demand: GOAWAY while streams are in flight, RST_STREAM on one
stream, trailers, a MAX_CONCURRENT_STREAMS that shrinks. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings

from .tls import CertFiles

APT_HINT: Final = "apt-get update -qq && apt-get install -y -qq nghttp2-server nghttp2-client nginx"
_START_TIMEOUT: Final = 5.0

HELLO: Final = b"hello, world"


def require_binary(name: str) -> str:
    """The path of ``name``, or a test failure that says how to install it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise RuntimeError(f"{name} is not installed; the HTTP/2 tests need it: {APT_HINT}")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{what} exited at startup: {output}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within 5 s")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(3)
    if proc.stdout is not None:
        proc.stdout.close()


@dataclass(frozen=True, slots=True)
class H2Peer:
    """A running peer: ``url`` (TLS, ALPN h2), ``clear_url`` (h2c prior knowledge, when the
    peer has one), the document root ``root``, and ``ca_pem`` to verify it."""

    name: str
    url: str
    ca_pem: Path
    root: Path
    clear_url: str | None = None


def _write_root(root: Path, big_size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_bytes(HELLO)
    block = bytes(range(256)) * 4096  # 1 MiB
    with (root / "big.bin").open("wb") as out:
        for _ in range(big_size // len(block)):
            out.write(block)


@contextlib.contextmanager
def run_nghttpd(
    server_cert: CertFiles, ca_pem: Path, *, max_concurrent_streams: int = 100, big_size: int
) -> Iterator[H2Peer]:
    """nghttpd over TLS (ALPN h2) and in clear text (h2c), serving a document root with
    ``index.html`` and ``big.bin``; POST/PUT bodies are echoed back; responses carry the
    trailer ``x-trailer: done``."""
    binary = require_binary("nghttpd")
    directory = Path(tempfile.mkdtemp(prefix="flext-nghttpd-"))
    root = directory / "root"
    _write_root(root, big_size)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ports = []
        for tls in (True, False):
            port = _free_port()
            args = [
                binary,
                "-d",
                str(root),
                "--address=127.0.0.1",
                f"--max-concurrent-streams={max_concurrent_streams}",
                "--echo-upload",
                "--trailer=x-trailer: done",
                # Windows as large as flext-api's, so throughput is not the server's window.
                "--window-bits=22",
                "--connection-window-bits=24",
            ]
            if tls:
                args += [str(port), str(server_cert.key_pem), str(server_cert.chain_pem)]
            else:
                args += ["--no-tls", str(port)]
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            procs.append(proc)
            _wait_listening(port, proc, "nghttpd")
            ports.append(port)
        yield H2Peer(
            name="nghttpd",
            url=f"https://127.0.0.1:{ports[0]}",
            clear_url=f"http://127.0.0.1:{ports[1]}",
            ca_pem=ca_pem,
            root=root,
        )
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(directory, ignore_errors=True)


_NGINX_CONF: Final = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    http2_max_concurrent_streams {streams};
    server {{
        listen 127.0.0.1:{port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {root};
        client_max_body_size 256m;
        client_body_buffer_size 1m;
        location /upload/ {{
            dav_methods PUT;
            create_full_put_path on;
        }}
    }}
    server {{
        listen 127.0.0.1:{plain_port};
        root {root};
    }}
}}
"""


@contextlib.contextmanager
def run_nginx(
    server_cert: CertFiles, ca_pem: Path, *, max_concurrent_streams: int = 128, big_size: int
) -> Iterator[H2Peer]:
    """nginx with HTTP/2 over TLS at ``url`` (static files; PUT under /upload/ stores the
    body in ``root/upload/``), HTTP/1.1 in clear text at ``clear_url``."""
    binary = require_binary("nginx")
    directory = Path(tempfile.mkdtemp(prefix="flext-nginx-"))
    root = directory / "root"
    _write_root(root, big_size)
    (root / "upload").mkdir()
    port, plain_port = _free_port(), _free_port()
    conf = directory / "nginx.conf"
    conf.write_text(
        _NGINX_CONF.format(
            dir=directory,
            port=port,
            plain_port=plain_port,
            cert=server_cert.chain_pem,
            key=server_cert.key_pem,
            root=root,
            streams=max_concurrent_streams,
        )
    )
    proc = subprocess.Popen(
        [binary, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_listening(port, proc, "nginx")
        yield H2Peer(
            name="nginx",
            url=f"https://127.0.0.1:{port}",
            clear_url=f"http://127.0.0.1:{plain_port}",
            ca_pem=ca_pem,
            root=root,
        )
    finally:
        _stop(proc, signal.SIGQUIT)
        shutil.rmtree(directory, ignore_errors=True)


# -- the scripted server -----------------------------------------------------------------------


@dataclass
class H2Script:
    """What the scripted server does. Paths it answers:

    * ``/`` -> 200 ``hello, world``; ``/trailers`` -> 200 ``body`` + trailer ``x-checksum: 42``
    * ``/reset`` -> RST_STREAM ``reset_code`` (no response)
    * ``/hold`` -> answered only when ``release_hold`` fires, or on GOAWAY (see below)

    ``goaway_after``: when that many ``/hold`` requests are open on the first connection, send
    GOAWAY whose last stream id is the ``goaway_keep``-th of them, answer those up to it, then
    close the connection; later connections answer ``/hold`` at once. ``shrink_to``: after the
    first request on a connection, lower MAX_CONCURRENT_STREAMS to this.

    ``close_idle``: once set, the first connection closes as soon as it has no stream open:
    GOAWAY (last stream id: the highest it received) then close, or with ``close_idle_goaway``
    false a bare close (EOF). The server sets ``idle_closed`` once the socket is closed.
    Later connections serve normally. ``ping_idle``: once set, each connection sends one PING
    (and the server sets ``pinged``): frames on an idle connection that do not close it.
    """

    max_concurrent_streams: int = 100
    reset_code: int = h2.errors.ErrorCodes.INTERNAL_ERROR
    goaway_after: int | None = None
    goaway_keep: int = 0
    shrink_to: int | None = None
    release_hold: threading.Event = field(default_factory=threading.Event)
    close_idle: threading.Event = field(default_factory=threading.Event)
    close_idle_goaway: bool = True
    ping_idle: threading.Event = field(default_factory=threading.Event)


class ScriptedH2Server:
    """h2 server in a thread on 127.0.0.1 (TLS with ALPN h2 when given a context)."""

    def __init__(self, script: H2Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self._ssl_context = ssl_context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.connections = 0
        self.streams_seen: list[tuple[int, int, str]] = []  # (connection no., stream id, path)
        self.resets: list[tuple[int, int]] = []  # RST_STREAM from the client: (connection, id)
        self.idle_closed = threading.Event()  # see H2Script.close_idle
        self.pinged = threading.Event()  # see H2Script.ping_idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="h2-scripted", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> ScriptedH2Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.script.release_hold.set()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        workers: list[threading.Thread] = []
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                break
            if self._stop.is_set():
                conn.close()
                break
            with self._lock:
                self.connections += 1
                number = self.connections
            worker = threading.Thread(target=self._connection, args=(conn, number), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(3)

    def _connection(self, raw: socket.socket, number: int) -> None:
        sock: socket.socket = raw
        try:
            if self._ssl_context is not None:
                sock = self._ssl_context.wrap_socket(raw, server_side=True)
            self._run(sock, number)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            if number == 1 and self.script.close_idle.is_set():
                self.idle_closed.set()

    @staticmethod
    def _close_idle(sock: socket.socket, conn: h2.connection.H2Connection, goaway: bool) -> None:
        """Close an idle connection, after a GOAWAY if ``goaway``."""
        if goaway:
            conn.close_connection(last_stream_id=conn.highest_inbound_stream_id)
            sock.sendall(conn.data_to_send())
        # Read (and drop) anything the client sent in the meantime: closing with unread data
        # would reset the connection, and the reset can destroy the GOAWAY before it is read.
        sock.settimeout(0.05)
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    def _run(self, sock: socket.socket, number: int) -> None:
        script = self.script
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: script.max_concurrent_streams
            },
        )
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        held: list[int] = []
        requests = 0
        closing = False
        pinged = False
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            if number == 1 and script.close_idle.is_set() and not conn.open_inbound_streams:
                self._close_idle(sock, conn, script.close_idle_goaway)
                return
            if not pinged and script.ping_idle.is_set():
                pinged = True
                conn.ping(b"flextapi")
                sock.sendall(conn.data_to_send())
                self.pinged.set()
            if held and script.release_hold.is_set() and not closing:
                for stream_id in held:
                    self._respond(conn, stream_id, HELLO)
                held.clear()
                sock.sendall(conn.data_to_send())
            pending = sock.pending() if isinstance(sock, ssl.SSLSocket) else 0
            if not pending and not selector.select(0.02):
                continue
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers: dict[Any, Any] = dict(event.headers or [])
                    path = str(headers.get(":path", "/"))
                    stream_id = event.stream_id
                    assert stream_id is not None
                    requests += 1
                    with self._lock:
                        self.streams_seen.append((number, stream_id, path))
                    if script.shrink_to is not None and requests == 1:
                        conn.update_settings(
                            {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: script.shrink_to}
                        )
                    if path == "/reset":
                        conn.reset_stream(stream_id, script.reset_code)
                    elif path == "/hold" and script.goaway_after is not None and number > 1:
                        # After a GOAWAY, the requests retried on a new connection.
                        self._respond(conn, stream_id, HELLO)
                    elif path == "/hold":
                        held.append(stream_id)
                        if script.goaway_after is not None and len(held) == script.goaway_after:
                            last = held[script.goaway_keep - 1] if script.goaway_keep else 0
                            state = conn.state_machine.state
                            conn.close_connection(last_stream_id=last)
                            # h2 would refuse to answer after its own GOAWAY; RFC 9113 6.8
                            # lets the streams up to ``last`` finish, which is the point here.
                            conn.state_machine.state = state
                            for kept in held[: script.goaway_keep]:
                                self._respond(conn, kept, HELLO)
                            held.clear()
                            closing = True
                    elif path == "/trailers":
                        self._respond(conn, stream_id, b"body", trailers=[("x-checksum", "42")])
                    elif path == "/":
                        self._respond(conn, stream_id, HELLO)
                    else:
                        self._respond(conn, stream_id, b"not found", status=404)
                elif isinstance(event, h2.events.StreamReset):
                    assert event.stream_id is not None
                    with self._lock:
                        self.resets.append((number, event.stream_id))
                    if event.stream_id in held:
                        held.remove(event.stream_id)
                elif isinstance(event, h2.events.DataReceived):
                    assert event.stream_id is not None
                    conn.acknowledge_received_data(
                        event.flow_controlled_length or 0, event.stream_id
                    )
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
            if closing:
                # Read (and drop) what the client still sends until it hangs up: closing with
                # unread data would reset the connection, and the reset can destroy the GOAWAY
                # before the client reads it.
                sock.settimeout(0.5)
                with contextlib.suppress(OSError):
                    while sock.recv(65536):
                        pass
                return

    @staticmethod
    def _respond(
        conn: h2.connection.H2Connection,
        stream_id: int,
        body: bytes,
        *,
        status: int = 200,
        trailers: list[tuple[str, str]] | None = None,
    ) -> None:
        conn.send_headers(
            stream_id,
            [(":status", str(status)), ("content-length", str(len(body)))],
        )
        conn.send_data(stream_id, body, end_stream=trailers is None)
        if trailers is not None:
            conn.send_headers(stream_id, trailers, end_stream=True)


def server_tls_context(server_cert: CertFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server_cert.chain_pem, server_cert.key_pem)
    context.set_alpn_protocols(["h2"])
    return context


__all__ = [
    "APT_HINT",
    "H2Peer",
    "H2Script",
    "ScriptedH2Server",
    "require_binary",
    "run_nghttpd",
    "run_nginx",
    "server_tls_context",
]
