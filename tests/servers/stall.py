"""An echo origin that stops reading on demand, so the client's writes block (cancelled writes).

``StallingEcho`` gives two RawServer handlers, ``h2`` (HTTP/2, prior knowledge or ALPN h2 over
TLS) and ``http1``. Each answers every request with its ``x-id`` header as the body, after
reading the whole request body. While ``reading`` is clear the handlers read nothing, so with
a small SO_RCVBUF (``raw_server(..., recv_buffer=4096)``) the client's writes of a large body
block. What the server saw is recorded for the test: the ids it answered, the streams the
client reset (HTTP/2), the requests whose connection ended before their body did (HTTP/1.1),
and any protocol error (a client that sent corrupt frames or HPACK).

h2 windows are large (16 MiB per stream, 1 GiB per connection), so a stalled client blocks on
the socket, not on flow control.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
from typing import Final

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import h11

from tests.servers.raw import wait_stopped

__all__ = ["BAD_HEADS", "StallingEcho", "bad_heads_h2"]

_POLL = 0.02


class StallingEcho:
    def __init__(self) -> None:
        self.reading = threading.Event()
        self.reading.set()
        self.answered: list[bytes] = []
        self.resets: list[bytes] = []  # x-id of every stream the client reset
        self.aborted: list[bytes] = []  # x-id of every request whose connection ended early
        self.protocol_errors: list[str] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    # -- what the test observes ---------------------------------------------------------------

    def unread(self) -> list[int]:
        """Bytes waiting in each open connection's receive queue (FIONREAD)."""
        sizes = []
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            fd = sock.fileno()
            if fd < 0:
                continue
            packed = fcntl.ioctl(fd, termios.FIONREAD, struct.pack("i", 0))
            sizes.append(struct.unpack("i", packed)[0])
        return sizes

    # -- handlers -----------------------------------------------------------------------------

    def _paused(self) -> bool | None:
        """Block while reading is paused; True if the server is stopping, None otherwise."""
        while not self.reading.is_set():
            if wait_stopped(_POLL):
                return True
        return None

    def _receive(self, conn: socket.socket) -> bytes | None:
        """Up to 64 KiB, ``b""`` at EOF (or a reset), None when nothing came in a while."""
        try:
            return conn.recv(65536)
        except TimeoutError:
            return None
        except OSError:
            return b""

    def _track(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL)
        with self._lock:
            self._sockets.append(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._sockets.remove(conn)

    def h2(self, conn: socket.socket) -> None:
        self._track(conn)
        try:
            self._serve_h2(conn)
        finally:
            self._untrack(conn)

    def _serve_h2(self, conn: socket.socket) -> None:
        h = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        h.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**24}
        )
        h.initiate_connection()
        h.increment_flow_control_window(2**30)
        conn.sendall(h.data_to_send())
        ids: dict[int, bytes] = {}
        while True:
            if self._paused():
                return
            data = self._receive(conn)
            if data is None:
                if wait_stopped(0):
                    return
                continue
            if not data:
                return
            try:
                events = h.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                self.protocol_errors.append(repr(exc))
                return
            for event in events:
                if isinstance(event, h2.events.RequestReceived):
                    fields = dict(event.headers or [])
                    ids[event.stream_id] = bytes(fields.get(b"x-id", b"?"))
                elif isinstance(event, h2.events.DataReceived):
                    h.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    body = ids.pop(event.stream_id, b"?")
                    h.send_headers(
                        event.stream_id,
                        [(b":status", b"200"), (b"content-length", str(len(body)).encode())],
                    )
                    h.send_data(event.stream_id, body, end_stream=True)
                    self.answered.append(body)
                elif isinstance(event, h2.events.StreamReset):
                    self.resets.append(ids.pop(event.stream_id, b"?"))
            out = h.data_to_send()
            if out:
                conn.sendall(out)

    def http1(self, conn: socket.socket) -> None:
        self._track(conn)
        try:
            self._serve_http1(conn)
        finally:
            self._untrack(conn)

    def _serve_http1(self, conn: socket.socket) -> None:
        h = h11.Connection(h11.SERVER)
        current: bytes | None = None
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                self.protocol_errors.append(repr(exc))
                return
            if event is h11.NEED_DATA:
                if self._paused():
                    return
                data = self._receive(conn)
                if data is None:
                    if wait_stopped(0):
                        return
                    continue
                if not data and current is not None:
                    self.aborted.append(current)
                    return
                h.receive_data(data)
            elif isinstance(event, h11.Request):
                current = dict(event.headers).get(b"x-id", b"?")
            elif isinstance(event, h11.EndOfMessage):
                body = current or b"?"
                current = None
                headers = [(b"content-length", str(len(body)).encode())]
                conn.sendall(h.send(h11.Response(status_code=200, headers=headers)))
                conn.sendall(h.send(h11.Data(data=body)) + h.send(h11.EndOfMessage()))
                self.answered.append(body)
                h.start_next_cycle()
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return


# Response heads that break RFC 9113 section 8.3, by name: ``/bad/<name>`` answers with one.
BAD_HEADS: Final[dict[str, list[tuple[bytes, bytes]]]] = {
    "non-numeric": [(b":status", b"abc")],
    "missing": [(b"content-type", b"text/plain")],
    "duplicated": [(b":status", b"200"), (b":status", b"204")],
    "out-of-range": [(b":status", b"600")],
    "pseudo-after-regular": [(b"content-type", b"text/plain"), (b":status", b"200")],
    "unknown-pseudo": [(b":status", b"200"), (b":path", b"/")],
}


def bad_heads_h2(conn: socket.socket, resets: list[int]) -> None:
    """A RawServer handler: HTTP/2 where ``/bad/<name>`` answers with ``BAD_HEADS[name]`` and
    a body, leaving the stream open, and anything else with 200 ``fine``; the stream id of
    every RST_STREAM goes to ``resets``. h2's own header checks are off, so the broken heads
    reach the client."""
    h = h2.connection.H2Connection(
        h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
    )
    h.initiate_connection()
    conn.sendall(h.data_to_send())
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            return
        if not data:
            return
        for event in h.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                path = bytes(dict(event.headers or []).get(b":path", b"/"))
                name = path.removeprefix(b"/bad/").decode()
                head = BAD_HEADS.get(name)
                # A broken head leaves its stream open: the client has to reset it.
                h.send_headers(event.stream_id, head or [(b":status", b"200")])
                h.send_data(event.stream_id, b"fine", end_stream=head is None)
            elif isinstance(event, h2.events.StreamReset):
                resets.append(event.stream_id)
        out = h.data_to_send()
        if out:
            conn.sendall(out)
