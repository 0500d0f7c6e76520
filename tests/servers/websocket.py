"""WebSocket peers for the tests: a `websockets` echo server in a thread, and the pieces of a
hostile server (handshake, raw frames, and a record of what the client sent back).

`EchoServer` echoes every message; the text message "close:<code>" makes it close with that
code instead, and "headers" makes it answer with the handshake's request headers as JSON.
`hostile(script)` is a `raw_server` handler: it accepts the handshake by hand (optionally
negotiating permessage-deflate), runs `script(conn)` to write whatever frames a case needs,
then reads the client's frames until the client hangs up, recording the close code it sent
in `ClientLog`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from websockets.datastructures import Headers as WSHeaders
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WSRequest
from websockets.http11 import Response as WSResponse
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection, Message, Ping, Pong
from wsproto.utilities import generate_accept_token

from tests.servers.raw import Handler, read_request

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


class EchoServer:
    """A `websockets` server on 127.0.0.1 (port 0), in a thread, stopped on exit."""

    def __init__(
        self,
        *,
        compression: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        subprotocols: Sequence[str] | None = None,
        reject: tuple[int, bytes] | None = None,
        require_authorization: bytes | None = None,
    ) -> None:
        self._reject = reject
        self._authorization = require_authorization
        self.request_headers: list[WSHeaders] = []
        self._server: Server = serve(
            self._echo,
            "127.0.0.1",
            0,
            compression="deflate" if compression else None,
            ssl=ssl_context,
            subprotocols=[Subprotocol(name) for name in subprotocols] if subprotocols else None,
            process_request=self._process_request,
            max_size=None,
        )
        self.port: int = self._server.socket.getsockname()[1]
        self.url = f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{self.port}/echo"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._thread.join(5)

    def _process_request(
        self, connection: ServerConnection, request: WSRequest
    ) -> WSResponse | None:
        self.request_headers.append(request.headers)
        if self._reject is not None:
            status, body = self._reject
            return connection.respond(status, body.decode())
        if (
            self._authorization is not None
            and request.headers.get("Authorization", "").encode() != self._authorization
        ):
            return connection.respond(401, "credentials required\n")
        return None

    def _echo(self, connection: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):  # a client closing with 4xxx is a test case
            self._echo_messages(connection)

    def _echo_messages(self, connection: ServerConnection) -> None:
        for message in connection:
            if isinstance(message, str) and message.startswith("close:"):
                connection.close(int(message[6:]), "asked to")
                return
            if message == "headers":
                request = connection.request
                assert request is not None
                connection.send(json.dumps(dict(request.headers.raw_items())))
                continue
            connection.send(message)


# -- the hostile server --------------------------------------------------------------------


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
) -> bytes:
    """One unmasked (server-to-client) frame, with exactly the bits given."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
    first |= (0x10 if rsv3 else 0) | opcode
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 126, size)
    else:
        head = struct.pack("!BBQ", first, 127, size)
    return head + payload


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


def deflate(data: bytes) -> bytes:
    """``data`` compressed as one permessage-deflate message (RFC 7692 section 7.2.1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


@dataclass
class ClientLog:
    """What the client sent after the handshake (filled by the server's thread)."""

    request_head: bytes = b""
    close_codes: list[int] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)
    pings: int = 0
    pongs: list[bytes] = field(default_factory=list)
    hung_up: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def hostile(
    script: Callable[[socket.socket], None],
    log: ClientLog,
    *,
    deflate_response: str | None = None,
    accept: bytes | None = None,
    answer_close: bool = True,
) -> Handler:
    """A `raw_server` handler: a valid handshake (``accept`` overrides the accept token),
    then ``script``, then the client's frames recorded in ``log`` until it hangs up."""

    def handler(conn: socket.socket) -> None:
        try:
            head = read_request(conn)
            if head is None:
                return
            log.request_head = head
            key = b""
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip()
            token = accept if accept is not None else generate_accept_token(key)
            response = (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + token + b"\r\n"
            )
            if deflate_response is not None:
                response += b"Sec-WebSocket-Extensions: " + deflate_response.encode() + b"\r\n"
            conn.sendall(response + b"\r\n")
            script(conn)
            _record(conn, log, answer_close)
        finally:
            log.done.set()

    return handler


def _record(conn: socket.socket, log: ClientLog, answer_close: bool) -> None:
    """Record the client's frames, then read on until it hangs up (``log.hung_up``)."""
    reader = Connection(ConnectionType.SERVER)
    # Well past the client's own close timeout (10 s): a client that waits that long for a
    # close reply before hanging up must still be seen hanging up, even on a loaded machine.
    conn.settimeout(30)
    closing = False
    while True:
        try:
            data = conn.recv(65536)
        except TimeoutError:
            return
        except OSError:  # a reset is a hang-up too
            log.hung_up = True
            return
        if not data:
            log.hung_up = True
            return
        if closing:
            continue
        reader.receive_data(data)
        for event in reader.events():
            if isinstance(event, CloseConnection):
                log.close_codes.append(event.code)
                if answer_close:
                    try:
                        conn.sendall(close_frame(event.code if event.code != 1005 else 1000))
                    except OSError:  # the client hung up first: the reply finds a reset
                        log.hung_up = True
                        return
                closing = True
                break
            if isinstance(event, Message):
                log.messages.append(event.data)
            elif isinstance(event, Ping):
                log.pings += 1
            elif isinstance(event, Pong):
                log.pongs.append(bytes(event.payload))


def send(*frames: bytes) -> Callable[[socket.socket], None]:
    """A script that writes ``frames`` in one go."""

    def script(conn: socket.socket) -> None:
        conn.sendall(b"".join(frames))

    return script


def drop(conn: socket.socket) -> None:
    """A script that ends the TCP connection without a close frame."""
    conn.shutdown(socket.SHUT_RDWR)
