"""An h2 server that sends bodies as fast as flow control lets it, and records what the client
advertised: the peer for the HTTP/2 download tests (window sizes, backpressure, interleaving).

``GET /bytes/<size>/<seed>`` answers ``size`` bytes of :func:`body` (a pattern that differs per
seed, so a byte delivered to the wrong stream or out of order shows), in DATA frames of at most
``frame_size`` bytes (and of the client's MAX_FRAME_SIZE), round robin over the open streams,
each frame sent only within both flow-control windows. ``/padded/<size>/<seed>`` does the same
with 17 bytes of padding per frame. The server runs in a thread on 127.0.0.1, over TLS with
ALPN h2.

What it records: the client's SETTINGS (``client_settings``), every WINDOW_UPDATE increment
(``window_updates``: stream id -> increments; 0 is the connection), the body bytes sent per
stream (``sent``), and the streams it found with body left to send and no window to send it
in (``blocked``): the proof that the client, not the server, paced the transfer.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from typing import Any, Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions

__all__ = ["FloodServer", "body"]

_PATTERN: Final = 251  # a prime: the pattern never lines up with a frame or read size
_PAD: Final = 17


def body(size: int, seed: int) -> bytes:
    """The ``size`` bytes the server sends for ``seed``."""
    block = bytes((seed * 7 + index) % 256 for index in range(_PATTERN))
    return (block * (size // _PATTERN + 1))[:size]


class FloodServer:
    def __init__(self, ssl_context: ssl.SSLContext, *, frame_size: int = 16384) -> None:
        self._ssl_context = ssl_context
        self.frame_size = frame_size
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.client_settings: dict[int, int] = {}
        self.window_updates: dict[int, list[int]] = {}
        self.sent: dict[int, int] = {}
        self.blocked: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="h2-flood", daemon=True)

    def __enter__(self) -> FloodServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), 1).close()
        self._thread.join(5)
        self._listener.close()

    def sent_on(self, stream_id: int) -> int:
        with self._lock:
            return self.sent.get(stream_id, 0)

    def _serve(self) -> None:
        workers = []
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except OSError:
                break
            if self._stop.is_set():
                raw.close()
                break
            worker = threading.Thread(target=self._connection, args=(raw,), daemon=True)
            worker.start()
            workers.append(worker)
        for worker in workers:
            worker.join(3)

    def _connection(self, raw: socket.socket) -> None:
        sock: socket.socket = raw
        try:
            sock = self._ssl_context.wrap_socket(raw, server_side=True)
            self._run(sock)
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _run(self, sock: socket.socket) -> None:
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        # stream id -> (body, offset, padded)
        pending: dict[int, tuple[bytes, int, bool]] = {}
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            ready = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if ready or selector.select(0.01):
                data = sock.recv(65536)
                if not data:
                    return
                for event in conn.receive_data(data):
                    self._on_event(conn, event, pending)
            self._pump(conn, pending)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    def _on_event(
        self,
        conn: h2.connection.H2Connection,
        event: h2.events.Event,
        pending: dict[int, tuple[bytes, int, bool]],
    ) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            with self._lock:
                for code, change in event.changed_settings.items():
                    self.client_settings[int(code)] = change.new_value
        elif isinstance(event, h2.events.WindowUpdated):
            with self._lock:
                self.window_updates.setdefault(event.stream_id or 0, []).append(event.delta or 0)
        elif isinstance(event, h2.events.RequestReceived):
            stream_id = event.stream_id
            assert stream_id is not None
            fields: dict[Any, Any] = dict(event.headers or [])
            path = str(fields.get(":path", "/"))
            kind, _, rest = path.strip("/").partition("/")
            size, _, seed = rest.partition("/")
            if kind not in ("bytes", "padded") or not size.isdigit() or not seed.isdigit():
                conn.send_headers(stream_id, [(":status", "404")], end_stream=True)
                return
            payload = body(int(size), int(seed))
            conn.send_headers(
                stream_id, [(":status", "200"), ("content-length", str(len(payload)))]
            )
            pending[stream_id] = (payload, 0, kind == "padded")
            with self._lock:
                self.sent[stream_id] = 0
        elif isinstance(event, h2.events.StreamReset):
            pending.pop(event.stream_id or 0, None)

    def _pump(
        self, conn: h2.connection.H2Connection, pending: dict[int, tuple[bytes, int, bool]]
    ) -> None:
        """Round robin: one frame per stream per turn, while any stream has window."""
        progress = True
        while pending and progress:
            progress = False
            for stream_id in list(pending):
                payload, offset, padded = pending[stream_id]
                window = conn.local_flow_control_window(stream_id)
                # Padding (and its length byte) counts against the windows and the frame size.
                overhead = _PAD + 1 if padded else 0
                size = min(
                    self.frame_size,
                    conn.max_outbound_frame_size - overhead,
                    window - overhead,
                    len(payload) - offset,
                )
                if offset < len(payload) and size <= 0:
                    with self._lock:
                        self.blocked.add(stream_id)
                    continue
                size = max(size, 0)
                chunk = payload[offset : offset + size]
                end = offset + size >= len(payload)
                if padded:
                    conn.send_data(stream_id, chunk, end_stream=end, pad_length=_PAD)
                else:
                    conn.send_data(stream_id, chunk, end_stream=end)
                with self._lock:
                    self.sent[stream_id] += size
                progress = True
                if end:
                    del pending[stream_id]
                else:
                    pending[stream_id] = (payload, offset + size, padded)
