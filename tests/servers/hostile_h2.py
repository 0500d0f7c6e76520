"""A hostile HTTP/2 server in clear text (h2c, prior knowledge) on 127.0.0.1, one attack per path.

h2 runs the connection (preface, SETTINGS, flow control, well-formed answers); the attacks that
h2 would refuse to produce are written as raw frames with `hpack` and `hyperframe`. Raw header
blocks use never-indexed literals (and static-table references) only, so they never touch the
HPACK dynamic table that h2's own encoder shares with the client.

Paths:

* `/ok` -> 200 `hello, world`
* a path in `bodies` -> 200 with that body and Content-Encoding (the bombs)
* `/echo/<id>?delay=<ms>` -> 200 `<id>` after the delay; with a request body, 200 `<id>:<body>`
* `/huge-hpack?size=<bytes>` -> one header block of `size` bytes (HEADERS + CONTINUATION)
* `/continuation-flood?frames=<n>` -> HEADERS without END_HEADERS, then `n` small CONTINUATION
  frames, none ending the block
* `/status-nonnumeric`, `/status-missing` -> a response head with `:status: abc` / no `:status`
* `/no-window` -> never acknowledges the request body: no WINDOW_UPDATE, ever
* `/close` -> FIN without a response (then the server drains until the client hangs up)
* `/rst` -> RST_STREAM (INTERNAL_ERROR) instead of a response
* `/goaway` -> once `goaway_after` such requests are open on a connection: GOAWAY (last stream
  id 0, PROTOCOL_ERROR), then the connection is closed

`max_concurrent_streams` is the server's SETTINGS_MAX_CONCURRENT_STREAMS (0 refuses every
stream); with `streams_after_first`, each connection lowers its limit to that after its first
request. Every flood is bounded; `stop()` returns within a few seconds.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hyperframe.frame

HELLO: Final = b"hello, world"
_FRAME: Final = 16384  # the client's SETTINGS_MAX_FRAME_SIZE is at least this


def _literal_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HPACK block of never-indexed literals (dynamic table untouched)."""
    encoder = hpack.Encoder()
    return encoder.encode([hpack.NeverIndexedHeaderTuple(n, v) for n, v in headers])


@functools.cache
def huge_header_block(size: int) -> bytes:
    """A response header block of about `size` bytes: `:status: 200` and 1 KiB fillers (cached:
    a test builds it before measuring the client's memory)."""
    filler = [(b"x-filler-%d" % i, b"h" * 1000) for i in range(size // 1024)]
    return _literal_block([(b":status", b"200"), *filler])


class _Connection:
    """One accepted connection, served by its own thread with a timer queue."""

    def __init__(self, server: HostileH2Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config)
        self.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: server.max_concurrent_streams
            },
        )
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.counter = itertools.count()
        self.paths: dict[int, str] = {}
        self.bodies: dict[int, bytearray] = {}
        self.unacknowledged: dict[int, int] = {}  # /no-window: flow-controlled bytes held back
        self.delays: dict[int, float] = {}
        self.goaway_open: list[int] = []
        self.closing = False
        self.shrunk = False  # streams_after_first: the new limit was sent

    # -- sending ----------------------------------------------------------------------------

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def raw(self, frame: hyperframe.frame.Frame) -> None:
        self.flush()  # h2's queued bytes first: frames must not interleave mid-frame
        self.sock.sendall(frame.serialize())

    def later(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.counter), action))

    def respond(self, stream_id: int, body: bytes, status: int = 200) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self.h2.send_headers(
                stream_id,
                [(b":status", str(status).encode()), (b"content-length", b"%d" % len(body))],
            )
            self.h2.send_data(stream_id, body, end_stream=True)
        self.flush()

    def raw_headers(self, stream_id: int, block: bytes, *, end_headers: bool = True) -> None:
        """A header block as HEADERS (+ CONTINUATION) frames of at most 16 KiB."""
        first, rest = block[:_FRAME], block[_FRAME:]
        headers = hyperframe.frame.HeadersFrame(stream_id, first)
        headers.flags.add("END_STREAM")
        if not rest and end_headers:
            headers.flags.add("END_HEADERS")
        self.raw(headers)
        while rest:
            piece, rest = rest[:_FRAME], rest[_FRAME:]
            frame = hyperframe.frame.ContinuationFrame(stream_id, piece)
            if not rest and end_headers:
                frame.flags.add("END_HEADERS")
            self.sock.sendall(frame.serialize())

    def send_encoded(self, stream_id: int, body: bytes, encoding: str) -> None:
        """A 200 with `Content-Encoding: encoding` (the client's windows hold a few MiB)."""
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self.h2.send_headers(
                stream_id,
                [
                    (b":status", b"200"),
                    (b"content-encoding", encoding.encode("ascii")),
                    (b"content-length", b"%d" % len(body)),
                ],
            )
            view = memoryview(body)
            size = self.h2.max_outbound_frame_size
            for offset in range(0, len(body), size):
                piece = bytes(view[offset : offset + size])
                self.h2.send_data(stream_id, piece, end_stream=offset + size >= len(body))
                self.flush()
        self.flush()

    # -- the attacks -------------------------------------------------------------------------

    def huge_hpack(self, stream_id: int, size: int) -> None:
        self.raw_headers(stream_id, huge_header_block(size))

    def continuation_flood(self, stream_id: int, frames: int) -> None:
        block = _literal_block([(b":status", b"200")])
        self.raw(hyperframe.frame.HeadersFrame(stream_id, block))  # no END_HEADERS
        piece = hyperframe.frame.ContinuationFrame(stream_id, _literal_block([(b"x-a", b"b")]))
        data = piece.serialize()
        batch = data * 256
        for _ in range(frames // 256):
            self.sock.sendall(batch)

    def on_request(self, stream_id: int, path: str, query: dict[str, list[str]]) -> None:
        def number(name: str, default: int) -> int:
            return int(query.get(name, [str(default)])[0])

        if path == "/ok":
            self.respond(stream_id, HELLO)
        elif path in self.server.bodies:
            body, encoding = self.server.bodies[path]
            self.send_encoded(stream_id, body, encoding)
        elif path == "/huge-hpack":
            self.huge_hpack(stream_id, number("size", 4 * 1024 * 1024))
        elif path == "/continuation-flood":
            self.continuation_flood(stream_id, number("frames", 100_000))
        elif path == "/status-nonnumeric":
            block = _literal_block([(b":status", b"abc"), (b"content-length", b"0")])
            self.raw_headers(stream_id, block)
        elif path == "/status-missing":
            self.raw_headers(stream_id, _literal_block([(b"content-length", b"0")]))
        elif path == "/close":
            # FIN at once, then drain until the client hangs up: a close with unread bytes
            # would be a reset, which is another attack.
            self.flush()
            self.sock.shutdown(socket.SHUT_WR)
            self.closing = True
        elif path == "/rst":
            self.h2.reset_stream(stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.flush()
        elif path == "/goaway":
            self.goaway_open.append(stream_id)
            if len(self.goaway_open) >= self.server.goaway_after:
                self.raw(
                    hyperframe.frame.GoAwayFrame(
                        0, last_stream_id=0, error_code=h2.errors.ErrorCodes.PROTOCOL_ERROR
                    )
                )
                self.closing = True

    def on_end(self, stream_id: int) -> None:
        """The request (and its body) is complete: answer the paths that wait for the body."""
        path = self.paths.get(stream_id, "")
        if path.startswith("/echo/"):
            ident = path.removeprefix("/echo/").encode("ascii")
            body = self.bodies.pop(stream_id, None)
            answer = ident if body is None else ident + b":" + bytes(body)
            delay = self.delays.pop(stream_id, 0.0)
            self.later(delay, lambda: self.respond(stream_id, answer))

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        self.sock.settimeout(5.0)
        self.h2.initiate_connection()
        self.flush()
        stopping = self.server.stopping
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while not stopping.is_set() and not self.closing:
                now = time.monotonic()
                while self.timers and self.timers[0][0] <= now:
                    heapq.heappop(self.timers)[2]()
                wait = 0.05 if not self.timers else min(0.05, self.timers[0][0] - now)
                if not selector.select(max(wait, 0.0)):
                    continue
                data = self.sock.recv(65536)
                if not data:
                    return
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.flush()
                    return
                for event in events:
                    self.on_event(event)
                self.flush()
        if self.closing:
            # Drain what the client still sends so the close is a FIN, not a reset that could
            # destroy the GOAWAY before the client reads it.
            self.sock.settimeout(0.5)
            with contextlib.suppress(OSError):
                while self.sock.recv(65536):
                    pass

    def on_event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            stream_id = event.stream_id
            assert stream_id is not None
            fields = dict(event.headers or [])
            target = bytes(fields.get(b":path", b"/")).decode("ascii")
            split = urlsplit(target)
            self.paths[stream_id] = split.path
            query = parse_qs(split.query)
            if split.path.startswith("/echo/"):
                self.delays[stream_id] = int(query.get("delay", ["0"])[0]) / 1000
            with self.server.lock:
                self.server.requests.append(split.path)
            self.on_request(stream_id, split.path, query)
            later = self.server.streams_after_first
            if later is not None and not self.shrunk:
                self.shrunk = True
                self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: later})
        elif isinstance(event, h2.events.DataReceived):
            stream_id = event.stream_id
            assert stream_id is not None
            flow = event.flow_controlled_length or 0
            if self.paths.get(stream_id) == "/no-window":
                self.unacknowledged[stream_id] = self.unacknowledged.get(stream_id, 0) + flow
                with self.server.lock:
                    self.server.stalled_bytes += flow
                return
            self.bodies.setdefault(stream_id, bytearray()).extend(event.data or b"")
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self.h2.acknowledge_received_data(flow, stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            assert event.stream_id is not None
            self.on_end(event.stream_id)
        elif isinstance(event, h2.events.StreamReset):
            assert event.stream_id is not None
            with self.server.lock:
                self.server.resets += 1
            # A reset stream's unread data no longer holds the connection window.
            held = self.unacknowledged.pop(event.stream_id, 0)
            if held:
                with contextlib.suppress(h2.exceptions.StreamClosedError):
                    self.h2.acknowledge_received_data(held, event.stream_id)


class HostileH2Server:
    """The server: a listener thread and a thread per connection, all on 127.0.0.1."""

    def __init__(
        self,
        *,
        max_concurrent_streams: int = 100,
        goaway_after: int = 3,
        bodies: dict[str, tuple[bytes, str]] | None = None,
        streams_after_first: int | None = None,
    ) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.streams_after_first = streams_after_first
        self.goaway_after = goaway_after
        self.bodies = bodies or {}
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[str] = []
        self.resets = 0
        self.stalled_bytes = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, name="hostile-h2", daemon=True)
        self.errors: list[BaseException] = []

    def start(self) -> HostileH2Server:
        self._acceptor.start()
        return self

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._sockets.append(sock)
            thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            _Connection(self, sock).run()
        except OSError:
            pass  # the client hung up or reset: part of the test
        except BaseException as error:
            self.errors.append(error)
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop accepting, end every connection, re-raise a server-side bug."""
        self.stopping.set()
        with self.lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()
        if self.errors:
            raise self.errors[0]


__all__ = ["HELLO", "HostileH2Server", "huge_header_block"]
