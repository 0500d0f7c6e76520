"""A real HTTP/1.1 server on 127.0.0.1 that answers from a :class:`MockRouter`.

For tests that need a socket (timeouts, a second process, a client you did not build): one
thread accepts, one daemon thread per connection runs the same :class:`MockWire` the mock
network uses. Stopping it closes the listener and every open connection and joins the
threads, so nothing outlives the ``with`` block.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from flext_api.testing._network import MockWire
from flext_api.testing._router import MockRouter

__all__ = ["LoopbackServer"]


class LoopbackServer:
    """``with LoopbackServer(router) as server: ... server.url ...``"""

    def __init__(self, router: MockRouter | None = None, *, host: str = "127.0.0.1") -> None:
        self.router = router if router is not None else MockRouter()
        self._listener = socket.create_server((host, 0))
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept, name="flext-loopback", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LoopbackServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; wait for the threads."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        wire = MockWire(self.router, "http")
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                wire.receive(data)
                while answer := wire.read(65536):
                    conn.sendall(answer)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()
