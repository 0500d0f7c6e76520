"""One HTTP/2 connection on h2: many requests at once, each on its own stream.

The connection owns its stream count (``try_reserve_stream`` / ``release_stream``, called by
the pool under its lock): the pool never counts streams itself, so the two cannot drift.

There is no background reader task (the sync transform cannot map one). Instead a reader is
elected among the requests that wait: a request that needs something from the network (its
response head, body, or flow-control window) takes the ``_reading`` flag when nobody holds it,
reads from the socket with its own deadline, feeds h2, hands every event to its stream's
queue, wakes that stream, and loops until its own stream got something. It then drops the flag
and wakes one other waiting stream, which becomes the next reader. Everybody else waits on a
per-stream event, bounded by its own deadline.

Writes follow the same idea with a ``_writing`` flag: h2 state changes happen under
``self._lock`` (a no-op on an event loop, a real lock in threads) and never await; whoever
holds ``_writing`` sends everything h2 has queued (its own frames and anyone else's) and drops
the flag only when h2 has nothing left, checked under the lock. No lock is ever held across an
await or a blocking call.

Errors are converted here, once: h2 protocol errors become ``RemoteProtocolError`` /
``LocalProtocolError``; RST_STREAM fails one stream with the error code's name; GOAWAY fails
the streams above its last stream id as retryable; a broken socket fails every open stream.

Before the pool reuses an idle connection (no stream open but the one just reserved) it calls
:meth:`AsyncHTTP2Connection.probe`. The rule: a connection that received GOAWAY, lost its
socket or broke the protocol is dead (the connection knows: no I/O needed). Otherwise, if
nobody is reading, the probe becomes the reader for a moment and takes what the socket already
holds, without waiting for more: nothing there means alive; frames (a PING, SETTINGS, a late
WINDOW_UPDATE: servers legitimately send those on idle connections) are processed like any
read, and the connection is dead only if they contained GOAWAY or the socket hit EOF or an
error. On asyncio and trio the backend's ``is_readable()`` says first whether there is anything
to read (asyncio: no syscall); the blocking backend reads with a zero timeout instead, because
its TLS ``is_readable()`` may consume a byte, which would corrupt an HTTP/2 connection.

This module must never wait for the pool or touch pool state.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque

# unasync: begin-async-only
from collections.abc import AsyncIterable

# unasync: end-async-only
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
import hyperframe.frame

from flext_api._async.connection import ResponseHead
from flext_api._backends.base import AsyncNetworkStream
from flext_api._exceptions import (
    FlextApiError,
    LocalProtocolError,
    NetworkError,
    ReadTimeout,
    RemoteProtocolError,
    TimeoutException,
    WriteTimeout,
)
from flext_api._headers import Headers
from flext_api._models import Request, RequestStream, Response
from flext_api._synchronization import AsyncEvent, AsyncThreadLock

# unasync: sync-only: from flext_api._content import sync_body

__all__ = ["AsyncHTTP2Connection", "AsyncHTTP2Stream"]

READ_SIZE: Final = 64 * 1024
# Our receive windows: large enough that a fast download never waits for a WINDOW_UPDATE
# round trip, small enough that an unread stream cannot buffer much.
STREAM_WINDOW: Final = 4 * 1024 * 1024
CONNECTION_WINDOW: Final = 16 * 1024 * 1024
# The largest response head accepted (as for HTTP/1.1).
MAX_HEADER_LIST_SIZE: Final = 64 * 1024
_HEADER_BLOCKS_CACHED: Final = 256
# Consecutive DATA of one stream is merged into one queued chunk up to this size.
_MERGE_BELOW: Final = 256 * 1024
# Consumed body bytes are handed back to h2's flow control in batches of at least this.
_ACKNOWLEDGE_ABOVE: Final = 128 * 1024
# Frames up to this size are welcome (fewer frames per byte downloaded).
MAX_FRAME_SIZE: Final = 1024 * 1024
# The most streams this client opens on one connection, whatever the server allows.
MAX_STREAMS_CAP: Final = 1000
# A reuse probe reads at most this many times (frames already buffered, never new ones).
_PROBE_READS: Final = 4
# The longest a probe's read may wait (asyncio and trio, only once the socket is readable: the
# rest of a TLS record already on its way). trio cannot read with a zero timeout at all.
_PROBE_READ_TIMEOUT: Final = 0.05
# Stream ids are 31-bit; stop opening streams on a connection well before they run out.
_LAST_USABLE_STREAM_ID: Final = 2**31 - 1024

# Request headers that are per-hop in HTTP/1.1 and forbidden in HTTP/2 (RFC 9113 8.2.2).
_CONNECTION_HEADERS: Final = frozenset(
    {b"host", b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)

Origin = tuple[str, str, int]

# What a stream's queue holds: (kind, payload, flow-controlled length).
_HEAD: Final = 0
_DATA: Final = 1
_END: Final = 2
_QueueItem = tuple[int, object, int]


class _HeaderBlockDecoder(hpack.Decoder):
    """hpack's decoder, remembering the header blocks that do not depend on its state.

    Servers such as nginx answer with the same few header blocks (literals that are never
    added to the dynamic table, and static-table references), and decoding them again
    (Huffman in pure Python) is the largest cost of a small response. A block decoded while
    the dynamic table is empty, that leaves it empty and carries no table size update, is a
    pure function of its bytes: those are cached (a few hundred per connection at most).
    """

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[tuple[bytes, bool], list[Any]] = {}

    def decode(self, data: bytes, raw: bool = False) -> Any:
        table = self.header_table
        if table.dynamic_entries or not data or data[0] & 0xE0 == 0x20:
            return super().decode(data, raw)
        key = (bytes(data), raw)
        cached = self._blocks.get(key)
        if cached is not None:
            return list(cached)
        headers = super().decode(data, raw)
        if not table.dynamic_entries:
            if len(self._blocks) >= _HEADER_BLOCKS_CACHED:
                self._blocks.clear()
            self._blocks[key] = list(headers)
        return headers


class _H2Connection(h2.connection.H2Connection):
    """h2's connection, keeping the streams a GOAWAY lets finish.

    h2 closes its state machine on GOAWAY and then rejects every later frame as a protocol
    error, while RFC 9113 section 6.8 says the streams up to the last stream id complete
    normally (servers do finish them). This connection opens no stream after a GOAWAY (see
    ``AsyncHTTP2Connection.is_reusable``), so it puts the machine back in the state it was in.
    """

    def _open_streams(self, remainder: int) -> int:
        # h2 counts open streams by scanning all of them on every new request. Here every
        # stream in ``self.streams`` is open or about to be culled by the flext connection
        # (``AsyncHTTP2Connection._end_stream``), which ends each stream before its slot is
        # released; and a client has no inbound streams (push is disabled).
        return len(self.streams) if remainder == 1 else 0

    def _cull(self, stream_id: int) -> None:
        """Forget a closed stream, as h2's own scan would (late frames on it stay legal)."""
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def _receive_frame(self, frame: Any) -> list[h2.events.Event]:
        # h2 4.x's own version first formats every frame for a trace log (``repr(frame)``
        # hexlifies whole DATA payloads), which costs more than the rest of the frame's
        # processing. This is that method without the log line; the behaviour is the same.
        events: list[h2.events.Event]
        try:
            frames, events = self._frame_dispatch_table[frame.__class__](frame)
        except h2.exceptions.StreamClosedError as exc:
            if self._stream_is_closed_by_reset(exc.stream_id):
                reset = hyperframe.frame.RstStreamFrame(exc.stream_id)
                reset.error_code = exc.error_code
                self._prepare_for_sending([reset])
                events = exc._events
            else:
                raise
        except h2.exceptions.StreamIDTooLowError as exc:
            if self._stream_is_closed_by_reset(exc.stream_id):
                reset = hyperframe.frame.RstStreamFrame(exc.stream_id)
                reset.error_code = h2.errors.ErrorCodes.STREAM_CLOSED
                self._prepare_for_sending([reset])
                events = []
            elif self._stream_is_closed_by_end(exc.stream_id):
                raise h2.exceptions.StreamClosedError(exc.stream_id) from exc
            else:
                raise
        else:
            self._prepare_for_sending(frames)
        return events

    def _receive_goaway_frame(self, frame: Any) -> Any:
        state = self.state_machine.state
        result = super()._receive_goaway_frame(frame)
        self.state_machine.state = state
        return result


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"


class AsyncHTTP2Stream:
    """One request/response exchange on an :class:`AsyncHTTP2Connection`.

    The pool gets it from :meth:`AsyncHTTP2Connection.open_stream` (a stream slot already
    reserved), runs the exchange, then ends it with :meth:`close` and gives the slot back.
    It has the per-exchange surface of an HTTP/1.1 connection (``send_request``,
    ``receive_head``, ``receive_body_chunk``, ``is_reusable``, ``close``), so streaming
    responses read either the same way.
    """

    __slots__ = (
        "_events",
        "_read_timeout",
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
        self._events: deque[_QueueItem] = deque()
        self._waiter: AsyncEvent | None = None
        self._read_timeout: float | None = None
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

    # -- the exchange -------------------------------------------------------------------------

    async def send_request(self, request: Request) -> None:
        await self.connection._send_request(self, request)

    async def receive_head(self) -> ResponseHead:
        while True:
            kind, payload, _ = await self.connection._next_event(self)
            if kind == _HEAD:
                assert isinstance(payload, list)
                return self.connection._head(payload)
            raise RemoteProtocolError(  # pragma: no cover - h2 orders HEADERS first
                f"{self.connection.origin[1]} sent a body before the response headers"
            )

    async def receive_body_chunk(self) -> bytes:
        """The next piece of the body, or ``b""`` once it is complete."""
        connection = self.connection
        while True:
            kind, payload, flow = await connection._next_event(self)
            if kind == _DATA:
                await connection._acknowledge(self, flow)
                if payload:
                    assert isinstance(payload, bytes)
                    return payload
                continue
            if kind == _END:
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

    async def round_trip(self, request: Request) -> Response:
        started = time.perf_counter()
        await self.send_request(request)
        head = await self.receive_head()
        content = await self.receive_body()
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


class AsyncHTTP2Connection:
    __slots__ = (
        "_error",
        "_error_retryable",
        "_goaway_last_id",
        "_h2",
        "_lock",
        "_max_streams_cap",
        "_read_waiters",
        "_reading",
        "_reserved",
        "_settings_received",
        "_stream",
        "_streams",
        "_writing",
        "closed",
        "origin",
        "request_count",
    )

    def __init__(
        self,
        origin: Origin,
        stream: AsyncNetworkStream,
        *,
        max_streams: int = MAX_STREAMS_CAP,
    ) -> None:
        self.origin = origin
        self._stream = stream
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            # Request headers were validated when the request was built. Response headers are
            # not checked field by field by h2 (most of its cost per response); names are
            # lowercased here and framing comes from HTTP/2 itself, not from headers.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        conn = _H2Connection(config=config)
        conn.decoder = _HeaderBlockDecoder()
        conn.decoder.max_header_list_size = MAX_HEADER_LIST_SIZE
        conn.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
                h2.settings.SettingCodes.MAX_FRAME_SIZE: MAX_FRAME_SIZE,
            },
        )
        # h2 copied the default frame size limit when it was created.
        conn.max_inbound_frame_size = MAX_FRAME_SIZE
        conn.incoming_buffer.max_frame_size = MAX_FRAME_SIZE
        # The preface, our SETTINGS and a larger connection window go out with the first
        # request's HEADERS, in one write.
        conn.initiate_connection()
        conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self._h2 = conn
        self._lock = AsyncThreadLock()
        self._max_streams_cap = max_streams
        self._streams: dict[int, AsyncHTTP2Stream] = {}
        # Streams blocked on their event, with nothing queued: candidates for reading next.
        self._read_waiters: dict[AsyncHTTP2Stream, None] = {}
        # Until the server's SETTINGS arrive its stream limit is unknown (h2 says unbounded);
        # assume the 100 that RFC 9113 recommends as a minimum.
        self._settings_received = False
        self._reserved = 0  # THE stream count: slots handed out by try_reserve_stream
        self._reading = False
        self._writing = False
        self._error: FlextApiError | None = None
        self._error_retryable = False
        self._goaway_last_id: int | None = None
        self.request_count = 0
        self.closed = False

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        state = "closed" if self.closed else f"{self._reserved} streams"
        return f"<AsyncHTTP2Connection {scheme}://{host}:{port} {state}>"

    # -- pool-facing state (called under the pool's lock; never blocks) ------------------------

    @property
    def max_streams(self) -> int:
        """The peer's MAX_CONCURRENT_STREAMS (it may shrink at any time), capped by ours."""
        if not self._settings_received:
            return min(100, self._max_streams_cap)
        return min(self._h2.remote_settings.max_concurrent_streams, self._max_streams_cap)

    @property
    def active_streams(self) -> int:
        return self._reserved

    @property
    def free_streams(self) -> int:
        if not self.is_reusable():
            return 0
        return max(0, self.max_streams - self._reserved)

    def try_reserve_stream(self) -> bool:
        """Take a stream slot if the connection accepts one more request."""
        if self._reserved >= self.max_streams or not self.is_reusable():
            return False
        self._reserved += 1
        return True

    def release_stream(self) -> None:
        self._reserved -= 1

    def is_reusable(self) -> bool:
        return (
            not self.closed
            and self._error is None
            and self._goaway_last_id is None
            and self._h2.highest_outbound_stream_id < _LAST_USABLE_STREAM_ID
        )

    def is_stale(self) -> bool:
        # No I/O: reading here would steal frames from the elected reader. The pool probes an
        # idle connection with ``probe`` instead, which takes part in the reader election.
        return not self.is_reusable()

    async def probe(self) -> bool:
        """Is this connection still usable? Called by the pool with a stream slot reserved
        and no stream opened on it yet; see the module docstring for the rule.

        Only an idle connection is probed: with another stream reserved or a reader active,
        the connection is in use and its reader sees GOAWAY or EOF for everybody."""
        with self._lock:
            if not self.is_reusable():
                return False
            if self._reading or self._reserved > 1:
                return True
            self._reading = True
        try:
            await self._read_buffered()
        finally:
            self._hand_over_reading()
        return self.is_reusable()

    async def _read_buffered(self) -> None:
        """As the reader: process what the socket holds already, without waiting for more."""
        # unasync: sync-only: timeout = 0.0
        timeout = _PROBE_READ_TIMEOUT  # unasync: remove
        for _ in range(_PROBE_READS):
            # unasync: begin-async-only
            if not self._stream.is_readable():
                return
            # unasync: end-async-only
            try:
                data = await self._stream.read(READ_SIZE, timeout)
            except TimeoutException:
                return  # nothing (complete) to read: alive
            except NetworkError as exc:
                self._fail_from(exc, retryable=True)
                return
            if not data:
                self._fail(
                    RemoteProtocolError(
                        f"{self.origin[1]} closed the idle HTTP/2 connection; retry the request"
                    ),
                    retryable=True,
                )
                return
            self._receive(data)
            if not self.is_reusable():
                return

    def close(self) -> None:
        """Synchronous: safe in a cancelled task, never raises. Open streams fail."""
        if not self.closed:
            self.closed = True
            self._stream.close()
            self._fail(
                NetworkError(f"the HTTP/2 connection to {self.origin[1]} was closed"),
                retryable=False,
            )

    def open_stream(self) -> AsyncHTTP2Stream:
        """A handle for one exchange, on a slot reserved with :meth:`try_reserve_stream`."""
        self.request_count += 1
        return AsyncHTTP2Stream(self)

    # -- sending --------------------------------------------------------------------------------

    def _request_headers(self, request: Request) -> list[tuple[bytes, bytes]]:
        url = request.url
        authority = b""
        fields: list[tuple[bytes, bytes]] = []
        for _, lower, value in request.headers._list:
            if lower in _CONNECTION_HEADERS:
                if lower == b"host":
                    authority = value
                continue
            if lower == b"te" and value.lower() != b"trailers":
                continue
            fields.append((lower, value))
        if not authority:
            authority = url.host_header
        return [
            (b":method", request.method.encode("ascii")),
            (b":scheme", self.origin[0].encode("ascii")),
            (b":authority", authority),
            (b":path", url.raw_path),
            *fields,
        ]

    async def _send_request(self, stream: AsyncHTTP2Stream, request: Request) -> None:
        stream._read_timeout = request.timeout.read
        timeout = request.timeout.write
        headers = self._request_headers(request)
        content = request.content
        body = request.stream
        end = body is None and not content
        with self._lock:
            self._check_usable(stream)
            h = self._h2
            try:
                stream_id = h.get_next_available_stream_id()
                h.send_headers(stream_id, headers, end_stream=end)
            except h2.exceptions.TooManyStreamsError as exc:
                # The server shrank MAX_CONCURRENT_STREAMS after this slot was reserved.
                stream.retryable = True
                raise RemoteProtocolError(
                    f"{self.origin[1]} lowered its stream limit; the request was not sent",
                ) from exc
            except h2.exceptions.ProtocolError as exc:
                raise self._local_error(exc) from exc
            stream.stream_id = stream_id
            self._streams[stream_id] = stream
            stream.sent_end = end
            write = self._start_writing()
        if write:
            await self._write_pending(timeout)
        if end:
            return
        if content:
            await self._send_data(stream, content, timeout)
        if body is not None:
            await self._send_stream(stream, body, timeout)
        with self._lock:
            self._check_usable(stream)
            # The stream may be closed already (the server answered in full and reset it
            # with NO_ERROR): then there is nothing to end.
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.end_stream(stream.stream_id)
            stream.sent_end = True
            write = self._start_writing()
        if write:
            await self._write_pending(timeout)

    async def _send_stream(
        self, stream: AsyncHTTP2Stream, body: RequestStream, timeout: float | None
    ) -> None:
        # unasync: begin-async-only
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                if chunk:
                    await self._send_data(stream, chunk, timeout)
            return
        # unasync: end-async-only
        # unasync: sync-only: body = sync_body(body)
        for chunk in body:
            if chunk:
                await self._send_data(stream, chunk, timeout)

    async def _send_data(
        self, stream: AsyncHTTP2Stream, data: bytes, timeout: float | None
    ) -> None:
        """Send ``data`` as DATA frames within the flow-control windows, waiting (as a reader,
        if need be) for WINDOW_UPDATE when they are exhausted."""
        view = memoryview(data)
        offset = 0
        total = len(data)
        h = self._h2
        stream_id = stream.stream_id
        while offset < total:
            with self._lock:
                self._check_usable(stream)
                if stream.received_end and not stream._events:
                    # The server answered in full without reading the rest: stop sending.
                    return
                window = h.local_flow_control_window(stream_id)
                frame = h.max_outbound_frame_size
                while window > 0 and offset < total:
                    size = min(window, frame, total - offset)
                    h.send_data(stream_id, view[offset : offset + size])
                    offset += size
                    window -= size
                write = self._start_writing()
            if write:
                await self._write_pending(timeout)
            if offset < total and window <= 0:
                await self._wait_for_window(stream, timeout)

    def _start_writing(self) -> bool:
        """Under the lock: become the writer if there is something to send and nobody is."""
        # h2 has no public "bytes pending" query; its buffer is a bytearray (h2 4.x).
        if self._writing or not self._h2._data_to_send:
            return False
        self._writing = True
        return True

    async def _write_pending(self, timeout: float | None) -> None:
        """Send what h2 has queued until nothing is left; only the elected writer calls this."""
        done = False
        try:
            while True:
                with self._lock:
                    data = self._h2.data_to_send()
                    if not data or self.closed:
                        self._writing = False
                        done = True
                        return
                await self._stream.write(data, timeout)
        except WriteTimeout as exc:
            self._fail_from(exc, retryable=False)
            raise
        except NetworkError as exc:
            self._fail_from(exc, retryable=True)
            raise
        finally:
            if not done:
                with self._lock:
                    self._writing = False

    async def _acknowledge(self, stream: AsyncHTTP2Stream, flow: int) -> None:
        """The consumer took ``flow`` bytes: open the windows again (h2 decides when a
        WINDOW_UPDATE is worth sending)."""
        if not flow:
            return
        # Acknowledged in batches: h2 sends WINDOW_UPDATE only once half a window is consumed
        # anyway, and each call costs. The remainder is acknowledged when the stream ends.
        flow += stream._unacknowledged
        if flow < _ACKNOWLEDGE_ABOVE:
            stream._unacknowledged = flow
            return
        stream._unacknowledged = 0
        with self._lock:
            if self._error is not None or self.closed:
                return
            self._h2.acknowledge_received_data(flow, stream.stream_id)
            write = self._start_writing()
        if write:
            await self._write_pending(stream._read_timeout)

    # -- receiving: reader election -----------------------------------------------------------

    async def _next_event(self, stream: AsyncHTTP2Stream) -> _QueueItem:
        await self._wait(stream, stream._read_timeout, sending=False)
        with self._lock:
            if stream._events:
                return stream._events.popleft()
            raise self._stream_failure(stream)

    async def _wait_for_window(self, stream: AsyncHTTP2Stream, timeout: float | None) -> None:
        await self._wait(stream, timeout, sending=True)

    def _ready(self, stream: AsyncHTTP2Stream, sending: bool) -> bool:
        """Under the lock: may ``stream`` stop waiting?"""
        if stream.error is not None or self._error is not None:
            return True
        if sending:
            return stream.received_end or self._h2.local_flow_control_window(stream.stream_id) > 0
        return bool(stream._events)

    async def _wait(
        self, stream: AsyncHTTP2Stream, timeout: float | None, *, sending: bool
    ) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            waiter: AsyncEvent | None = None
            with self._lock:
                if self._ready(stream, sending):
                    return
                reader = not self._reading
                if reader:
                    self._reading = True
                else:
                    waiter = stream._waiter = AsyncEvent()
                    stream._sending = sending
                    self._read_waiters[stream] = None
            remaining = None if deadline is None else deadline - time.monotonic()
            if reader:
                try:
                    await self._read_until(stream, sending, remaining)
                finally:
                    self._hand_over_reading()
                continue
            assert waiter is not None
            try:
                woke = await waiter.wait(remaining)
            except BaseException:
                self._stop_waiting(stream)
                raise
            self._stop_waiting(stream, keep_reading_duty=True)
            if not woke and deadline is not None and time.monotonic() >= deadline:
                with self._lock:
                    if self._ready(stream, sending):
                        return
                self._pass_reading_duty()
                raise self._timeout(stream, sending, timeout)

    def _stop_waiting(self, stream: AsyncHTTP2Stream, *, keep_reading_duty: bool = False) -> None:
        with self._lock:
            self._read_waiters.pop(stream, None)
            stream._waiter = None
        if not keep_reading_duty:
            # This task may have been the one woken to read next: never strand the others.
            self._pass_reading_duty()

    def _pass_reading_duty(self) -> None:
        """If nobody reads, wake one waiting stream so it becomes the reader."""
        with self._lock:
            if self._reading:
                return
            waiter = self._pop_read_waiter()
        if waiter is not None:
            waiter.set()

    def _pop_read_waiter(self) -> AsyncEvent | None:
        while self._read_waiters:
            candidate = next(iter(self._read_waiters))
            del self._read_waiters[candidate]
            if candidate._waiter is not None:
                return candidate._waiter
        return None

    def _hand_over_reading(self) -> None:
        """Drop the reader flag and wake one waiting stream, which will read next."""
        with self._lock:
            self._reading = False
            waiter = self._pop_read_waiter()
        if waiter is not None:
            waiter.set()

    async def _read_until(
        self, stream: AsyncHTTP2Stream, sending: bool, timeout: float | None
    ) -> None:
        """As the elected reader: read and dispatch until ``stream`` may stop waiting."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._ready(stream, sending):
                    return
                # Frames another task queued but could not send (it was cancelled while
                # writing, or only queued an RST_STREAM): send them before waiting.
                write = self._start_writing()
            if write:
                await self._write_pending(timeout)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._timeout(stream, sending, timeout)
            try:
                data = await self._stream.read(READ_SIZE, remaining)
            except TimeoutException:
                raise self._timeout(stream, sending, timeout) from None
            except NetworkError as exc:
                self._fail_from(exc, retryable=True)
                return
            if not data:
                self._fail(
                    RemoteProtocolError(
                        f"{self.origin[1]} closed the HTTP/2 connection; retry the request"
                    ),
                    retryable=True,
                )
                return
            self._receive(data)

    def _receive(self, data: bytes) -> None:
        """Feed h2 and dispatch its events to the streams' queues, then wake their owners."""
        woken: list[AsyncEvent] = []
        with self._lock:
            try:
                events = self._h2.receive_data(data)
            except h2.exceptions.ProtocolError as exc:
                error = RemoteProtocolError(
                    f"{self.origin[1]} broke the HTTP/2 protocol ({exc}); the server or a proxy "
                    "in between is misbehaving"
                )
                error.__cause__ = exc
                self._fail_locked(error, retryable=False, woken=woken)
                events = []
            streams = self._streams
            for event in events:
                kind = type(event)
                if kind is h2.events.DataReceived:
                    target = streams.get(event.stream_id)  # type: ignore[attr-defined]
                    if target is not None:
                        queue = target._events
                        payload: bytes = event.data  # type: ignore[attr-defined]
                        flow: int = event.flow_controlled_length  # type: ignore[attr-defined]
                        if queue and queue[-1][0] == _DATA and queue[-1][2] < _MERGE_BELOW:
                            # Frames of one stream that arrived together reach the reader as
                            # one chunk: one wake-up and one acknowledgement, not one per frame.
                            _, before, before_flow = queue.pop()
                            assert isinstance(before, bytes)
                            queue.append((_DATA, before + payload, before_flow + flow))
                        else:
                            queue.append((_DATA, payload, flow))
                        target.response_bytes_seen = True
                        self._wake(target, woken)
                    else:
                        # A stream we reset: give the connection window back at once.
                        self._h2.acknowledge_received_data(
                            event.flow_controlled_length,  # type: ignore[attr-defined]
                            event.stream_id,  # type: ignore[attr-defined]
                        )
                elif kind is h2.events.ResponseReceived:
                    target = streams.get(event.stream_id)  # type: ignore[attr-defined]
                    if target is not None:
                        target._events.append((_HEAD, event.headers, 0))  # type: ignore[attr-defined]
                        target.response_bytes_seen = True
                        self._wake(target, woken)
                elif kind is h2.events.StreamEnded:
                    target = streams.get(event.stream_id)  # type: ignore[attr-defined]
                    if target is not None:
                        target.received_end = True
                        target._events.append((_END, None, 0))
                        self._wake(target, woken)
                elif kind is h2.events.TrailersReceived:
                    target = streams.get(event.stream_id)  # type: ignore[attr-defined]
                    if target is not None:
                        fields = [(n, n, v) for n, v in event.headers]  # type: ignore[attr-defined]
                        target.trailers = Headers._from_fields(fields)
                elif kind is h2.events.StreamReset:
                    self._on_reset(event, woken)  # type: ignore[arg-type]
                elif kind is h2.events.ConnectionTerminated:
                    self._on_goaway(event, woken)  # type: ignore[arg-type]
                elif kind is h2.events.WindowUpdated or kind is h2.events.RemoteSettingsChanged:
                    if kind is h2.events.RemoteSettingsChanged:
                        self._settings_received = True
                    for waiting in self._read_waiters:
                        if waiting._sending:
                            self._wake(waiting, woken)
        for waiter in woken:
            waiter.set()

    def _wake(self, stream: AsyncHTTP2Stream, woken: list[AsyncEvent]) -> None:
        waiter = stream._waiter
        if waiter is not None:
            stream._waiter = None
            woken.append(waiter)
        self._read_waiters.pop(stream, None)

    def _on_reset(self, event: h2.events.StreamReset, woken: list[AsyncEvent]) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None or event.stream_id is None:
            return
        code = event.error_code
        if code == h2.errors.ErrorCodes.NO_ERROR and stream.received_end:
            return  # "stop sending, I have answered": the response is complete
        name = _error_name(code)
        stream.error = RemoteProtocolError(
            f"stream reset by server ({name}) for a request to {self.origin[1]}"
            + ("; the server did not process it, retry it" if code == 7 else "")
        )
        stream.retryable = code == h2.errors.ErrorCodes.REFUSED_STREAM
        stream._reset_sent = True  # the stream is closed: nothing to reset
        self._wake(stream, woken)

    def _on_goaway(self, event: h2.events.ConnectionTerminated, woken: list[AsyncEvent]) -> None:
        last = event.last_stream_id if event.last_stream_id is not None else 0
        self._goaway_last_id = last
        name = _error_name(event.error_code if event.error_code is not None else 0)
        for stream_id, stream in self._streams.items():
            if stream_id > last and stream.error is None:
                stream.error = RemoteProtocolError(
                    f"{self.origin[1]} is closing the HTTP/2 connection (GOAWAY {name}) and "
                    "did not process this request; retry it on a new connection"
                )
                stream.retryable = True
                stream._reset_sent = True
                self._wake(stream, woken)

    # -- failures ------------------------------------------------------------------------------

    def _check_usable(self, stream: AsyncHTTP2Stream) -> None:
        """Under the lock, before queueing frames for ``stream``."""
        if stream.error is not None or self._error is not None or self.closed:
            raise self._stream_failure(stream)
        if self._goaway_last_id is not None and stream.stream_id == 0:
            stream.retryable = True
            raise RemoteProtocolError(
                f"{self.origin[1]} is closing this HTTP/2 connection (GOAWAY); retry the "
                "request on a new connection"
            )

    def _stream_failure(self, stream: AsyncHTTP2Stream) -> FlextApiError:
        """A fresh exception for ``stream`` (one object per task: tracebacks never mix)."""
        error = stream.error if stream.error is not None else self._error
        if error is None:
            error = NetworkError(f"the HTTP/2 connection to {self.origin[1]} was closed")
        if stream.error is None:
            # The connection failed: a request on a reused connection that saw no response
            # byte was not processed (or its processing was lost with the connection).
            stream.retryable = stream.retryable or (
                self._error_retryable and not stream.response_bytes_seen
            )
        copy = type(error)(str(error))
        copy.__cause__ = error.__cause__ or error
        return copy

    def _fail_from(self, exc: FlextApiError, *, retryable: bool) -> None:
        error = type(exc)(str(exc))
        error.__cause__ = exc.__cause__ or exc
        self._fail(error, retryable=retryable)

    def _fail(self, error: FlextApiError, *, retryable: bool) -> None:
        woken: list[AsyncEvent] = []
        with self._lock:
            self._fail_locked(error, retryable=retryable, woken=woken)
        for waiter in woken:
            waiter.set()

    def _fail_locked(
        self, error: FlextApiError, *, retryable: bool, woken: list[AsyncEvent]
    ) -> None:
        """A connection-level failure: every open stream fails with ``error``."""
        if self._error is None:
            self._error = error
            # Retryable only on a connection that served earlier requests: the server closed
            # a connection it considered idle, before it saw this one.
            self._error_retryable = retryable and self.request_count > 1
        for stream in list(self._read_waiters):
            self._wake(stream, woken)
        if not self.closed:
            self.closed = True
            self._stream.close()

    def _local_error(self, exc: Exception) -> LocalProtocolError:
        return LocalProtocolError(
            f"cannot send this request to {self.origin[1]} over HTTP/2: {exc}",
        )

    def _timeout(
        self, stream: AsyncHTTP2Stream, sending: bool, timeout: float | None
    ) -> TimeoutException:
        host = self.origin[1]
        if sending:
            return WriteTimeout(
                f"timed out after {timeout or 0:g} s waiting for {host} to accept more of the "
                "request body (HTTP/2 flow control); raise the write timeout if it needs longer"
            )
        return ReadTimeout(
            f"timed out after {timeout or 0:g} s waiting for data from {host}: the server is "
            "slow or stuck; raise the read timeout if it needs longer"
        )

    # -- ending a stream ----------------------------------------------------------------------

    def _end_stream(self, stream: AsyncHTTP2Stream) -> None:
        with self._lock:
            stream_id = stream.stream_id
            if stream_id and self._streams.pop(stream_id, None) is not None:
                finished = stream.sent_end and stream.received_end and stream.error is None
                if not finished and not stream._reset_sent and not self.closed:
                    stream._reset_sent = True
                    # Already closed by the peer in the meantime: nothing to reset.
                    with contextlib.suppress(h2.exceptions.ProtocolError):
                        self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                # Give back the connection window held by data nobody will read (and by data
                # read but not yet acknowledged).
                unread = sum(item[2] for item in stream._events) + stream._unacknowledged
                stream._unacknowledged = 0
                stream._events.clear()
                if unread and not self.closed and self._error is None:
                    self._h2.acknowledge_received_data(unread, stream_id)
                self._h2._cull(stream_id)
            self._read_waiters.pop(stream, None)

    def _head(self, fields: list[tuple[bytes, bytes]]) -> ResponseHead:
        status = 0
        regular: list[tuple[bytes, bytes, bytes]] = []
        for name, value in fields:
            if name == b":status":
                status = int(value)
            elif not name.startswith(b":"):
                regular.append((name, name.lower(), value))
        return ResponseHead(status, "", "HTTP/2", Headers._from_fields(regular))
