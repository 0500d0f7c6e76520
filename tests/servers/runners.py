"""Run real ASGI servers (uvicorn, hypercorn) in background threads on loopback.

Each runner is a context manager yielding a `RunningServer` whose `url` is ready to use when
the `with` block starts, and which is stopped (sockets closed, thread joined) within about 2 s
when it ends. Servers bind 127.0.0.1 only, on a port the kernel picks, so parallel runs never
collide; nothing here ever signals a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import uvicorn
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from .app import Receive, Scope, Send
from .app import app as default_app
from .tls import CertFiles

ASGIApp = Any  # the servers type their app parameters loosely; our app is tests.servers.app.app
_START_TIMEOUT: Final = 5.0
_STOP_TIMEOUT: Final = 2.0


@dataclass(frozen=True, slots=True)
class RunningServer:
    """A server ready for requests.

    `url` is the base URL ("http://127.0.0.1:PORT", "https://127.0.0.1:PORT", or
    "http://localhost" for a Unix socket server, whose path is `uds`). `insecure_url` is
    hypercorn's clear-text listener (HTTP/1.1 and h2c) next to its TLS one. `ca_pem` is the CA
    file to verify a TLS server with.
    """

    name: str
    url: str
    host: str = "127.0.0.1"
    port: int = 0
    uds: str | None = None
    insecure_url: str | None = None
    ca_pem: Path | None = None


def _ws_protocol() -> Literal["wsproto", "none"]:
    # uvicorn's "auto" would pick `websockets` if it is ever installed, whose deprecated
    # modules warn (and warnings are errors in this test suite); wsproto is what flext uses.
    return "wsproto" if importlib.util.find_spec("wsproto") is not None else "none"


class _UvicornThread:
    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn exited during startup (see the captured log)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("uvicorn did not start within 5 s")
            time.sleep(0.005)

    def bound_address(self) -> Any:
        return self.server.servers[0].sockets[0].getsockname()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(_STOP_TIMEOUT)
        if self.thread.is_alive():
            # Connections still busy after the grace period: stop waiting for them.
            self.server.force_exit = True
            self.thread.join(_STOP_TIMEOUT)
        if self.thread.is_alive():
            raise RuntimeError("uvicorn did not stop within its timeout")


def _uvicorn_config(app: ASGIApp, http: str, **where: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=http,
        ws=_ws_protocol(),
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        # No dictConfig of the process's logging: records propagate to pytest's capture.
        log_config=None,
        access_log=False,
        # uvicorn's own deadline for in-flight requests on shutdown (a /delay/60 in progress).
        timeout_graceful_shutdown=1,
        # Keep idle connections as long as a test may take between two requests.
        timeout_keep_alive=30,
        **where,
    )


@contextlib.contextmanager
def run_uvicorn(
    http: Literal["h11", "httptools"] = "h11", app: ASGIApp = default_app
) -> Iterator[RunningServer]:
    """uvicorn with the given HTTP/1.1 parser on 127.0.0.1, a port the kernel picks."""
    runner = _UvicornThread(_uvicorn_config(app, http, host="127.0.0.1", port=0))
    runner.start()
    try:
        host, port = runner.bound_address()[:2]
        yield RunningServer(name=f"uvicorn-{http}", url=f"http://{host}:{port}", port=port)
    finally:
        runner.stop()


@contextlib.contextmanager
def run_uvicorn_uds(
    http: Literal["h11", "httptools"] = "h11", app: ASGIApp = default_app
) -> Iterator[RunningServer]:
    """uvicorn on a Unix domain socket in a fresh temporary directory (url: http://localhost)."""
    # A short directory: socket paths are limited to about 107 bytes.
    directory = tempfile.mkdtemp(prefix="flext-uds-")
    path = str(Path(directory) / "uvicorn.sock")
    try:
        runner = _UvicornThread(_uvicorn_config(app, http, uds=path))
        runner.start()
        try:
            yield RunningServer(name=f"uvicorn-{http}-uds", url="http://localhost", uds=path)
        finally:
            runner.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    # Listening now means a client that connects before hypercorn's accept loop runs waits in
    # the backlog instead of being refused.
    sock.listen(128)
    return sock


class _BoundedTLSShutdownLoop(asyncio.SelectorEventLoop):
    """An event loop whose TLS servers wait at most 0.5 s for the peer's close_notify.

    hypercorn closes idle TLS connections on shutdown and awaits the TLS shutdown, which asyncio
    bounds at 30 s by default: an idle client that never reads again would hold stop() that
    long. hypercorn passes no ssl_shutdown_timeout, so it is set here, for this loop only.
    """

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_shutdown_timeout", 0.5)
        return await super().create_server(*args, **kwargs)


class _HypercornThread:
    def __init__(self, app: ASGIApp, config: HypercornConfig) -> None:
        self.app = app
        self.config = config
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.shutdown: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, name="hypercorn", daemon=True)

    async def _wrapped_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            # Hypercorn runs the lifespan protocol before it accepts connections and waits for
            # startup to complete; our app acknowledges it, then the server is up.
            async def send_and_mark(message: Any) -> None:
                await send(message)
                if message["type"] == "lifespan.startup.complete":
                    self.started.set()

            await self.app(scope, receive, send_and_mark)
            return
        await self.app(scope, receive, send)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.shutdown = asyncio.Event()
        # hypercorn's parameter is a union of its own TypedDict-based ASGI and WSGI signatures.
        app: ASGIApp = self._wrapped_app
        await hypercorn_serve(app, self.config, shutdown_trigger=self.shutdown.wait)

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_BoundedTLSShutdownLoop) as runner:
                runner.run(self._main())
        except BaseException as error:
            self.error = error
        finally:
            self.started.set()

    def start(self) -> None:
        self.thread.start()
        if not self.started.wait(_START_TIMEOUT):
            self.stop()
            raise RuntimeError("hypercorn did not start within 5 s")
        if self.error is not None:
            raise RuntimeError("hypercorn failed to start") from self.error

    def stop(self) -> None:
        loop, shutdown = self.loop, self.shutdown
        if loop is not None and shutdown is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already finished
                loop.call_soon_threadsafe(shutdown.set)
        self.thread.join(_STOP_TIMEOUT)
        if self.thread.is_alive():
            raise RuntimeError("hypercorn did not stop within 2 s")
        if self.error is not None:
            raise RuntimeError("hypercorn failed") from self.error


@contextlib.contextmanager
def run_hypercorn_tls(
    server_cert: CertFiles, ca_pem: Path, app: ASGIApp = default_app
) -> Iterator[RunningServer]:
    """hypercorn on 127.0.0.1: TLS with ALPN h2 and http/1.1 at `url`, clear text (HTTP/1.1 and
    h2c prior knowledge) at `insecure_url`."""
    secure = _listening_socket()
    insecure = _listening_socket()
    secure_port = secure.getsockname()[1]
    insecure_port = insecure.getsockname()[1]
    config = HypercornConfig()
    # Hypercorn adopts the descriptors (fd://) and closes them on shutdown; detach() hands
    # over ownership so the socket objects here never close them a second time.
    config.bind = [f"fd://{secure.detach()}"]
    config.insecure_bind = [f"fd://{insecure.detach()}"]
    config.certfile = str(server_cert.chain_pem)
    config.keyfile = str(server_cert.key_pem)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 30.0
    runner = _HypercornThread(app, config)
    runner.start()
    try:
        yield RunningServer(
            name="hypercorn-tls",
            url=f"https://127.0.0.1:{secure_port}",
            port=secure_port,
            insecure_url=f"http://127.0.0.1:{insecure_port}",
            ca_pem=ca_pem,
        )
    finally:
        runner.stop()
