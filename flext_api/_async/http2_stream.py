"""One HTTP/2 request/response exchange (a stream), and the check of its response head.

The stream is the per-request handle the pool drives: ``send_request``, ``receive_head``,
``receive_body_chunk``, ``round_trip``, ``close``. It holds the events the connection's reader
dispatched to it (a queue of head, body pieces and end) and its own state; every network wait
goes through its :class:`~flext_api._async.http2.AsyncHTTP2Connection`.

:func:`response_head` is where a response head from the network becomes a
:class:`ResponseHead`, or a ``RemoteProtocolError`` naming the host: h2 does not validate
inbound headers here (that would cost most of a response's processing), so this function is
the one place that enforces RFC 9113 section 8.3 for responses.

This module must never touch the socket or h2 directly: only its connection does.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Final

from flext_api._async.connection import ResponseHead
from flext_api._async.streaming import receive_decoded_body
from flext_api._exceptions import FlextApiError, RemoteProtocolError
from flext_api._headers import Headers
from flext_api._models import Request, Response
from flext_api._sansio.decoding import make_decoder
from flext_api._synchronization import AsyncEvent

if TYPE_CHECKING:
    from flext_api._async.http2 import AsyncHTTP2Connection

__all__ = ["AsyncHTTP2Stream", "response_head"]

# What a stream's queue holds: (kind, payload, flow-controlled length).
HEAD: Final = 0
DATA: Final = 1
END: Final = 2
QueueItem = tuple[int, object, int]


def response_head(fields: list[tuple[bytes, bytes]], host: str) -> ResponseHead:
    """The response head of a HEADERS block, or ``RemoteProtocolError``.

    RFC 9113 section 8.3: exactly one ``:status`` (a three-digit code, 100..599 here), no other
    pseudo-header in a response, and pseudo-headers before every regular field.
    """
    status = -1
    regular: list[tuple[bytes, bytes, bytes]] = []
    for name, value in fields:
        if name[:1] == b":":
            if name != b":status":
                problem = f"unknown pseudo-header {name.decode('latin-1')!r}"
            elif status != -1:
                problem = "a duplicated :status"
            elif regular:
                problem = ":status after regular header fields"
            elif len(value) == 3 and value.isdigit() and 100 <= int(value) <= 599:
                status = int(value)
                continue
            else:
                problem = f"an invalid :status {value.decode('latin-1')!r}"
            break
        regular.append((name, name.lower(), value))
    else:
        if status != -1:
            return ResponseHead(status, "", "HTTP/2", Headers._from_fields(regular))
        problem = "no :status"
    raise RemoteProtocolError(
        f"{host} sent an invalid HTTP/2 response head ({problem}); the server or a proxy in "
        "between is misbehaving, retrying will not help"
    )


class AsyncHTTP2Stream:
    """One request/response exchange on an :class:`AsyncHTTP2Connection`.

    The pool gets it from :meth:`AsyncHTTP2Connection.open_stream` (a stream slot already
    reserved), runs the exchange, then ends it with :meth:`close` and gives the slot back.
    It has the per-exchange surface of an HTTP/1.1 connection (``send_request``,
    ``receive_head``, ``receive_body_chunk``, ``is_reusable``, ``close``), so streaming
    responses read either the same way.

    Time limits: every wait of a buffered exchange (:meth:`round_trip`) is capped by the
    request's total budget (``Request.limit``); for a streamed one the budget ends at the
    response head, and body reads after it wait at most the read timeout per gap.
    """

    __slots__ = (
        "_buffered",
        "_events",
        "_head_received",
        "_request",
        "_reset_sent",
        "_sending",
        "_unacknowledged",
        "_waiter",
        "connection",
        "error",
        "received_end",
        "response_bytes_seen",
        "retryable",
        "sent_end",
        "stream_id",
        "trailers",
    )

    def __init__(self, connection: AsyncHTTP2Connection) -> None:
        self.connection = connection
        self.stream_id = 0  # assigned when the HEADERS frame is queued
        self._events: deque[QueueItem] = deque()
        self._waiter: AsyncEvent | None = None
        self._request: Request | None = None
        self._buffered = False  # round_trip: the body's reads count against the total too
        self._head_received = False
        self._sending = False  # waiting for flow-control window, not for events
        self._unacknowledged = 0  # body bytes consumed but not yet given back to h2
        self._reset_sent = False
        self.error: FlextApiError | None = None
        self.received_end = False
        self.sent_end = False
        self.response_bytes_seen = False
        # True when the server provably did not process this request (REFUSED_STREAM, a
        # GOAWAY below this stream's id, a reused connection lost before any response byte):
        # the pool may send an idempotent request again on another connection.
        self.retryable = False
        self.trailers: Headers | None = None

    def __repr__(self) -> str:
        return f"<AsyncHTTP2Stream {self.stream_id} on {self.connection!r}>"

    # -- time limits ----------------------------------------------------------------------------

    def read_limit(self) -> float | None:
        """How long the next read may wait: the read timeout, capped by the total budget
        until the head arrived (and for a buffered exchange, until the body is complete)."""
        request = self._request
        if request is None:
            return None
        if self._head_received and not self._buffered:
            return request.timeout.read
        return request.limit(request.timeout.read)

    def write_limit(self) -> float | None:
        """How long the next write (or flow-control window wait) may take."""
        request = self._request
        if request is None:
            return None
        if self._head_received and not self._buffered:
            return request.timeout.write
        return request.limit(request.timeout.write)

    # -- the exchange -------------------------------------------------------------------------

    async def send_request(self, request: Request) -> None:
        self._request = request
        await self.connection._send_request(self, request)

    async def receive_head(self) -> ResponseHead:
        kind, payload, _ = await self.connection._next_event(self)
        if kind == HEAD:
            assert isinstance(payload, ResponseHead)
            self._head_received = True
            return payload
        raise RemoteProtocolError(  # pragma: no cover - h2 orders HEADERS first
            f"{self.connection.origin[1]} sent a body before the response headers"
        )

    async def receive_body_chunk(self) -> bytes:
        """The next piece of the body, or ``b""`` once it is complete."""
        connection = self.connection
        while True:
            kind, payload, flow = await connection._next_event(self)
            if kind == DATA:
                await connection._acknowledge(self, flow)
                if payload:
                    assert isinstance(payload, bytes)
                    return payload
                continue
            if kind == END:
                return b""
            raise RemoteProtocolError(  # pragma: no cover - h2 refuses a second HEADERS
                f"{connection.origin[1]} sent a second response head on one stream"
            )

    async def receive_body(self) -> bytes:
        first = await self.receive_body_chunk()
        if not first:
            return b""
        chunks = [first]
        while chunk := await self.receive_body_chunk():
            chunks.append(chunk)
        return b"".join(chunks)

    async def round_trip(self, request: Request, max_decoded_size: int | None = None) -> Response:
        """Send ``request`` and read the whole response, its Content-Encoding undone as the
        body is read (:func:`~flext_api._async.streaming.receive_decoded`): a body that does
        not decode raises before its end, and the pool resets the stream."""
        started = time.perf_counter()
        self._buffered = True
        await self.send_request(request)
        head = await self.receive_head()
        encoding = head.headers.get("content-encoding")
        if encoding is None:
            content = await self.receive_body()
        else:
            decoder = make_decoder(encoding, max_size=max_decoded_size)
            try:
                content = await receive_decoded_body(self.receive_body_chunk, decoder)
            except FlextApiError as exc:
                # A body that does not decode ends this stream only: reset it and send the
                # frame now, while this task can still write (the connection stays usable).
                await self.connection._reset_failed(self, exc)
                raise
        response = Response(
            head.status_code,
            head.headers,
            content,
            request=request,
            http_version="HTTP/2",
            reason_phrase="",
            elapsed=time.perf_counter() - started,
        )
        response.trailers = self.trailers
        return response

    # -- ending -------------------------------------------------------------------------------

    def is_reusable(self) -> bool:
        """The exchange completed both ways (nothing to reset)."""
        return self.sent_end and self.received_end and self.error is None

    def close(self) -> None:
        """End the exchange; an unfinished stream is reset (RST_STREAM CANCEL), never the
        connection. Synchronous and safe in a cancelled task: the frame is queued and sent by
        the connection's next write."""
        self.connection._end_stream(self)
