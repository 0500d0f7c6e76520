"""One HTTP/2 connection on h2: many requests at once, each on its own stream.

The connection owns its stream count (``try_reserve_stream`` / ``release_stream``, called by
the pool under its lock): the pool never counts streams itself, so the two cannot drift.

This module sets the connection up (h2's settings, windows and header decoder), answers the
pool (stream slots, reuse, the idle probe, close) and sends requests (HEADERS, then DATA within
the flow-control windows). The exchange itself is an
:class:`~flext_api._async.http2_stream.AsyncHTTP2Stream`; reading, writing and event dispatch
(the reader and writer elections) are the
:class:`~flext_api._async.http2_multiplexer.AsyncHTTP2Multiplexer` this class builds on.

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

# unasync: begin-async-only
from collections.abc import AsyncIterable

# unasync: end-async-only
from typing import Any, Final

import h2.config
import h2.exceptions
import h2.settings
import hpack

from flext_api._async.http2_multiplexer import READ_SIZE, AsyncHTTP2Multiplexer, Origin
from flext_api._async.http2_stream import AsyncHTTP2Stream
from flext_api._backends.base import AsyncNetworkStream
from flext_api._compat import ClientH2Connection
from flext_api._exceptions import (
    FlextApiError,
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    TimeoutException,
)
from flext_api._models import Request, RequestStream
from flext_api._synchronization import AsyncThreadLock

# unasync: sync-only: from flext_api._content import sync_body

__all__ = ["AsyncHTTP2Connection", "AsyncHTTP2Stream"]

# Our receive windows: large enough that a fast download never waits for a WINDOW_UPDATE
# round trip, small enough that an unread stream cannot buffer much.
STREAM_WINDOW: Final = 4 * 1024 * 1024
CONNECTION_WINDOW: Final = 16 * 1024 * 1024
# The largest response head accepted (as for HTTP/1.1).
MAX_HEADER_LIST_SIZE: Final = 64 * 1024
_HEADER_BLOCKS_CACHED: Final = 256
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


class AsyncHTTP2Connection(AsyncHTTP2Multiplexer):
    """One HTTP/2 connection: h2 set up for a client, the pool's view of it, and sending."""

    __slots__ = ()

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
        conn = ClientH2Connection(config=config)
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
        self._streams = {}
        self._read_waiters = {}
        # Until the server's SETTINGS arrive its stream limit is unknown (h2 says unbounded);
        # assume the 100 that RFC 9113 recommends as a minimum.
        self._settings_received = False
        self._reserved = 0  # THE stream count: slots handed out by try_reserve_stream
        self._reading = False
        self._writing = False
        self._unsent = False
        self._resets_unsent = False
        self._error = None
        self._error_retryable = False
        self._goaway_last_id = None
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
        """Give a slot back. The last one leaving with an RST_STREAM still unsent closes the
        connection: nobody is left to write it (a cancelled writer, or a stream that ended
        with a timeout, cannot), so it would wait for the next request on the connection, for
        ever if none comes, while the server keeps the stream open: its handler running, its
        stream slot taken, the connection window of an upload it never acknowledged held.
        Closing frees all of that at once, as a cancelled HTTP/1.1 request closes its
        connection. Under the pool's lock, like ``try_reserve_stream``: no slot can be handed
        out on the connection while this decides. Frames that hold nothing on the server
        (WINDOW_UPDATE) may wait: a request on the connection sends them before its own."""
        self._reserved -= 1
        if self._reserved == 0 and self._resets_unsent and not self._writing:
            self.close()

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

    def _local_error(self, exc: Exception) -> LocalProtocolError:
        return LocalProtocolError(
            f"cannot send this request to {self.origin[1]} over HTTP/2: {exc}",
        )

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
        try:
            await self._send_rest(stream, request, write, end)
        except FlextApiError as exc:
            await self._reset_failed(stream, exc)
            raise

    async def _send_rest(
        self, stream: AsyncHTTP2Stream, request: Request, write: bool, end: bool
    ) -> None:
        """After the HEADERS were queued: send them, then the body and its end."""
        if write:
            await self._write_pending(stream.write_limit())
        if end:
            return
        content = request.content
        if content:
            await self._send_data(stream, content)
        body = request.stream
        if body is not None:
            await self._send_stream(stream, body)
        with self._lock:
            self._check_usable(stream)
            # The stream may be closed already (the server answered in full and reset it
            # with NO_ERROR): then there is nothing to end.
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.end_stream(stream.stream_id)
            stream.sent_end = True
            write = self._start_writing()
        if write:
            await self._write_pending(stream.write_limit())

    async def _send_stream(self, stream: AsyncHTTP2Stream, body: RequestStream) -> None:
        # unasync: begin-async-only
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                if chunk:
                    await self._send_data(stream, chunk)
            return
        # unasync: end-async-only
        # unasync: sync-only: body = sync_body(body)
        for chunk in body:
            if chunk:
                await self._send_data(stream, chunk)

    async def _send_data(self, stream: AsyncHTTP2Stream, data: bytes) -> None:
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
                await self._write_pending(stream.write_limit())
            if offset < total and window <= 0:
                await self._wait_for_window(stream)
