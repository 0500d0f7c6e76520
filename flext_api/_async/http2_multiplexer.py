"""The I/O core of an HTTP/2 connection: writer and reader election, and event dispatch.

There is no background reader task (the sync transform cannot map one). Instead a reader is
elected among the requests that wait: a request that needs something from the network (its
response head, body, or flow-control window) takes the ``_reading`` flag when nobody holds it,
reads from the socket with its own deadline, feeds h2, hands every event to its stream's
queue (through the table :data:`_HANDLERS`: event type -> handler), wakes that stream, and
loops until its own stream got something. It then drops the flag and wakes one other waiting
stream, which becomes the next reader. Everybody else waits on a per-stream event, bounded by
its own deadline.

Writes follow the same idea with a ``_writing`` flag: h2 state changes happen under
``self._lock`` (a no-op on an event loop, a real lock in threads) and never await; whoever
holds ``_writing`` sends everything h2 has queued (its own frames and anyone else's) and drops
the flag only when h2 has nothing left, checked under the lock. No lock is ever held across an
await or a blocking call.

A cancelled write loses nothing: bytes taken out of h2 but not yet on the wire stay in the
network stream (the backend contract, see ``flext_api._backends.base``), ``_unsent`` records
that they are there, and the next writer sends them first (``write(b"")`` if h2 has nothing
new), so framing and HPACK state stay those the server sees. The cancelled writer wakes one
waiting stream to take over; with none waiting, the reader sends them (it reads in slices of
``_READ_SLICE``); with nobody left, an unsent RST_STREAM closes the connection (see
``AsyncHTTP2Connection.release_stream``). A request call that fails without being cancelled
resets its stream and sends that itself (``_reset_failed``). Where a backend cannot resume
(trio over TLS), it closes the stream: the connection fails instead of sending corrupt frames.

Errors are converted here (and in ``http2``), once: h2 protocol errors become
``RemoteProtocolError`` / ``LocalProtocolError``; RST_STREAM fails one stream with the error
code's name; GOAWAY fails the streams above its last stream id as retryable; a broken socket
fails every open stream; an invalid response head fails (and resets) its stream only.

This module must never wait for the pool or touch pool state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Final

import h2.errors
import h2.events
import h2.exceptions

from flext_api._async.http2_stream import (
    DATA,
    END,
    HEAD,
    AsyncHTTP2Stream,
    QueueItem,
    response_head,
)
from flext_api._backends.base import AsyncNetworkStream
from flext_api._compat import ClientH2Connection
from flext_api._exceptions import (
    FlextApiError,
    NetworkError,
    ReadTimeout,
    RemoteProtocolError,
    TimeoutException,
    WriteError,
    WriteTimeout,
)
from flext_api._headers import Headers
from flext_api._synchronization import AsyncEvent, AsyncThreadLock

__all__ = ["READ_SIZE", "AsyncHTTP2Multiplexer"]

READ_SIZE: Final = 64 * 1024
# A read at least this large means data arrives faster than it is read: take what else is
# already there, up to _GATHER bytes, before handing over (see ``_receive_available``).
_GATHER_AFTER: Final = 8 * 1024
_GATHER: Final = 128 * 1024
# Consecutive DATA of one stream is merged into one queued chunk up to this size.
_MERGE_BELOW: Final = 64 * 1024
# Consumed body bytes are handed back to h2's flow control in batches of at least this.
_ACKNOWLEDGE_ABOVE: Final = 128 * 1024
# The elected reader's longest single read: it then sends what others queued meanwhile and
# could not send (see ``_read_until``). A frame left behind waits at most this long.
_READ_SLICE: Final = 0.05

Origin = tuple[str, str, int]


def _error_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error code {code}"


class AsyncHTTP2Multiplexer:
    """The state and I/O shared by every stream of one connection (see the module docstring).

    :class:`~flext_api._async.http2.AsyncHTTP2Connection` builds on it: connection setup, the
    pool-facing interface and sending requests live there.
    """

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
        "_resets_unsent",
        "_settings_received",
        "_stream",
        "_streams",
        "_unsent",
        "_writing",
        "closed",
        "origin",
        "request_count",
    )

    origin: Origin
    closed: bool
    request_count: int
    _stream: AsyncNetworkStream
    _h2: ClientH2Connection
    _lock: AsyncThreadLock
    _streams: dict[int, AsyncHTTP2Stream]
    # Streams blocked on their event, with nothing queued: candidates for reading next.
    _read_waiters: dict[AsyncHTTP2Stream, None]
    _reading: bool
    _writing: bool
    # A write was cancelled after taking bytes out of h2: the network stream holds the rest.
    _unsent: bool
    # An RST_STREAM was queued and not everything queued since is on the wire yet.
    _resets_unsent: bool
    _settings_received: bool
    _error: FlextApiError | None
    _error_retryable: bool
    _goaway_last_id: int | None

    # -- writing --------------------------------------------------------------------------------

    def _start_writing(self) -> bool:
        """Under the lock: become the writer if there is something to send and nobody is."""
        if self._writing or not (self._unsent or self._h2.has_data_to_send()):
            return False
        self._writing = True
        return True

    async def _write_pending(self, timeout: float | None) -> None:
        """Send what h2 has queued until nothing is left; only the elected writer calls this."""
        done = False
        sent = False
        try:
            while True:
                with self._lock:
                    if sent:
                        self._unsent = False
                    data = self._h2.data_to_send()
                    if self.closed or not (data or self._unsent):
                        self._writing = False
                        self._resets_unsent = False  # everything queued is on the wire
                        done = True
                        return
                    # Until this write returns, part of ``data`` may be left in the stream.
                    self._unsent = True
                    sent = False
                await self._stream.write(data, timeout)
                sent = True
        except WriteTimeout as exc:
            # Frames may be cut mid-way: the connection is lost for all, but only this request
            # timed out; the others report a lost connection, not a timeout they did not set.
            lost = WriteError(
                f"the HTTP/2 connection to {self.origin[1]} was lost: another request's write "
                "timed out mid-frame; send the request again"
            )
            lost.__cause__ = exc
            self._fail(lost, retryable=False)
            raise
        except NetworkError as exc:
            self._fail_from(exc, retryable=True)
            raise
        finally:
            if not done:
                # Cancelled (or failed): whatever this writer did not send must not wait for a
                # reader blocked on the socket; a waiting stream takes over the writing.
                with self._lock:
                    self._writing = False
                    waiter = None
                    if self._error is None and not self.closed:
                        waiter = self._pop_read_waiter()
                if waiter is not None:
                    waiter.set()

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
            await self._write_pending(stream.write_limit())

    # -- receiving: reader election -----------------------------------------------------------

    async def _next_event(self, stream: AsyncHTTP2Stream) -> QueueItem:
        with self._lock:
            # Already queued (a download's next piece, most of the time): no wait to set up.
            if stream._events and stream.error is None:
                return stream._events.popleft()
        try:
            await self._wait(stream, stream.read_limit(), sending=False)
        except FlextApiError as exc:
            await self._reset_failed(stream, exc)
            raise
        with self._lock:
            # A stream that failed (reset, invalid head) reports that, not what it had queued.
            if stream._events and stream.error is None:
                return stream._events.popleft()
            failure = self._stream_failure(stream)
        await self._reset_failed(stream, failure)
        raise failure

    async def _reset_failed(self, stream: AsyncHTTP2Stream, error: FlextApiError) -> None:
        """A request call is about to fail with ``error`` (a timeout, a reset, an invalid
        head): reset its stream and send the frame now, while this task can still write (the
        pool's synchronous ``close`` cannot: see :meth:`AsyncHTTP2Connection.release_stream`)."""
        with self._lock:
            if self.closed or self._error is not None:
                return
            stream_id = stream.stream_id
            if stream.error is None:
                stream.error = error  # a later call on the stream reports the same failure
            if stream_id in self._streams and not stream._reset_sent:
                stream._reset_sent = True
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                    self._resets_unsent = True
            write = self._resets_unsent and self._start_writing()
        if write:
            # A failed write failed the connection (for every stream): ``error`` is still
            # what this call reports.
            with contextlib.suppress(FlextApiError):
                await self._write_pending(stream.write_limit())

    async def _wait_for_window(self, stream: AsyncHTTP2Stream) -> None:
        await self._wait(stream, stream.write_limit(), sending=True)

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
                # Frames a cancelled writer left behind: send them before waiting.
                write = self._start_writing()
                reader = not write and not self._reading
                if reader:
                    self._reading = True
                elif not write:
                    waiter = stream._waiter = AsyncEvent()
                    stream._sending = sending
                    self._read_waiters[stream] = None
            remaining = None if deadline is None else deadline - time.monotonic()
            if write:
                await self._write_pending(stream.write_limit())
                continue
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
                await self._write_pending(stream.write_limit())
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._timeout(stream, sending, timeout)
            # Read in slices: frames queued while this read blocks (by a writer cancelled
            # mid-write, an RST_STREAM or WINDOW_UPDATE of a stream that ended in another
            # task) have nobody else to send them, and the answer this reader waits for may
            # depend on them (the server waits for a request's END_STREAM, or for window).
            limited = remaining is None or remaining > _READ_SLICE
            try:
                data = await self._stream.read(READ_SIZE, _READ_SLICE if limited else remaining)
            except TimeoutException:
                if limited:
                    continue
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
            if len(data) >= _GATHER_AFTER:
                self._receive_available()

    def _receive_available(self) -> None:
        """A full read means a transfer faster than this reader: take what the socket holds
        already (at most ``_GATHER``) in the same pass, instead of one pass through the
        reader election per TLS record. Memory stays bounded by the receive windows: the
        server cannot send more than they allow until the consumer acknowledges data."""
        read_available = getattr(self._stream, "read_available", None)
        if read_available is None or self._error is not None:
            return  # trio: one read at a time; a failed connection: nothing more to take
        pieces = read_available(_GATHER)
        if pieces:
            self._receive(*pieces)

    # -- receiving: event dispatch --------------------------------------------------------------

    def _receive(self, *pieces: bytes) -> None:
        """Feed h2 and dispatch its events to the streams' queues, then wake their owners."""
        woken: list[AsyncEvent] = []
        with self._lock:
            try:
                events = self._h2.receive_many(pieces)
            except h2.exceptions.ProtocolError as exc:
                error = RemoteProtocolError(
                    f"{self.origin[1]} broke the HTTP/2 protocol ({exc}); the server or a proxy "
                    "in between is misbehaving"
                )
                error.__cause__ = exc
                self._fail_locked(error, retryable=False, woken=woken)
                events = []
            handlers = _HANDLERS
            for event in events:
                handler = handlers.get(type(event))
                if handler is not None:
                    handler(self, event, woken)
        for waiter in woken:
            waiter.set()

    def _on_data(self, event: h2.events.DataReceived, woken: list[AsyncEvent]) -> None:
        target = self._streams.get(event.stream_id)
        if target is None:
            # A stream we reset: give the connection window back at once.
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            return
        queue = target._events
        payload = event.data
        flow = event.flow_controlled_length
        if queue and queue[-1][0] == DATA and queue[-1][2] + flow <= _MERGE_BELOW:
            # Frames of one stream that arrived together reach the reader as one chunk: one
            # wake-up and one acknowledgement, not one per frame.
            _, before, before_flow = queue.pop()
            assert isinstance(before, bytes)
            queue.append((DATA, before + payload, before_flow + flow))
        else:
            queue.append((DATA, payload, flow))
        target.response_bytes_seen = True
        self._wake(target, woken)

    def _on_response(self, event: h2.events.ResponseReceived, woken: list[AsyncEvent]) -> None:
        target = self._streams.get(event.stream_id)
        if target is None:
            return
        target.response_bytes_seen = True
        try:
            # header_encoding=None: h2 hands over bytes.
            head = response_head(event.headers, self.origin[1])
        except RemoteProtocolError as error:
            # This stream only: the connection's framing and HPACK state are intact.
            target.error = error
            if not target._reset_sent:
                target._reset_sent = True
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.reset_stream(event.stream_id, h2.errors.ErrorCodes.PROTOCOL_ERROR)
                    self._resets_unsent = True
        else:
            target._events.append((HEAD, head, 0))
        self._wake(target, woken)

    def _on_end(self, event: h2.events.StreamEnded, woken: list[AsyncEvent]) -> None:
        target = self._streams.get(event.stream_id)
        if target is not None:
            target.received_end = True
            target._events.append((END, None, 0))
            self._wake(target, woken)

    def _on_trailers(self, event: h2.events.TrailersReceived, woken: list[AsyncEvent]) -> None:
        target = self._streams.get(event.stream_id)
        if target is not None:
            fields = [(name, name, value) for name, value in event.headers]
            target.trailers = Headers._from_fields(fields)

    def _on_reset(self, event: h2.events.StreamReset, woken: list[AsyncEvent]) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
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

    def _on_window(self, event: h2.events.Event, woken: list[AsyncEvent]) -> None:
        """WINDOW_UPDATE or SETTINGS: streams waiting to send may go on."""
        if type(event) is h2.events.RemoteSettingsChanged:
            self._settings_received = True
        # ``_wake`` removes each woken stream from the waiters: iterate over a copy.
        for waiting in list(self._read_waiters):
            if waiting._sending:
                self._wake(waiting, woken)

    def _wake(self, stream: AsyncHTTP2Stream, woken: list[AsyncEvent]) -> None:
        waiter = stream._waiter
        if waiter is not None:
            stream._waiter = None
            woken.append(waiter)
        self._read_waiters.pop(stream, None)

    # -- failures ------------------------------------------------------------------------------

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

    def _timeout(
        self, stream: AsyncHTTP2Stream, sending: bool, timeout: float | None
    ) -> TimeoutException:
        host = self.origin[1]
        if sending:
            return WriteTimeout(
                f"timed out after {timeout or 0:g} s waiting for {host} to accept more of the "
                "request body (HTTP/2 flow control); raise the write timeout (or the total "
                "budget) if it needs longer"
            )
        return ReadTimeout(
            f"timed out after {timeout or 0:g} s waiting for data from {host}: the server is "
            "slow or stuck; raise the read timeout (or the total budget) if it needs longer"
        )

    # -- ending a stream ----------------------------------------------------------------------

    def _end_stream(self, stream: AsyncHTTP2Stream) -> None:
        """Synchronous (the pool calls it in a cancelled task too): forget ``stream``, queue
        its RST_STREAM if it is unfinished, and give back the window its unread data holds.
        The frames go out with the next write on the connection (see
        :meth:`AsyncHTTP2Connection.release_stream` for when there is none)."""
        with self._lock:
            stream_id = stream.stream_id
            if stream_id and self._streams.pop(stream_id, None) is not None:
                finished = stream.sent_end and stream.received_end and stream.error is None
                if not finished and not stream._reset_sent and not self.closed:
                    stream._reset_sent = True
                    # Already closed by the peer in the meantime: nothing to reset.
                    with contextlib.suppress(h2.exceptions.ProtocolError):
                        self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
                        self._resets_unsent = True
                # Give back the connection window held by data nobody will read (and by data
                # read but not yet acknowledged).
                unread = sum(item[2] for item in stream._events) + stream._unacknowledged
                stream._unacknowledged = 0
                stream._events.clear()
                if unread and not self.closed and self._error is None:
                    self._h2.acknowledge_received_data(unread, stream_id)
                self._h2.forget_stream(stream_id)
            self._read_waiters.pop(stream, None)


# Event type -> handler. Events of any other type (PING, SETTINGS acknowledgements, priority,
# informational 1xx heads) need nothing from the streams: h2 answers what must be answered.
_HANDLERS: Final[
    dict[type[h2.events.Event], Callable[[AsyncHTTP2Multiplexer, Any, list[AsyncEvent]], None]]
] = {
    h2.events.DataReceived: AsyncHTTP2Multiplexer._on_data,
    h2.events.ResponseReceived: AsyncHTTP2Multiplexer._on_response,
    h2.events.StreamEnded: AsyncHTTP2Multiplexer._on_end,
    h2.events.TrailersReceived: AsyncHTTP2Multiplexer._on_trailers,
    h2.events.StreamReset: AsyncHTTP2Multiplexer._on_reset,
    h2.events.ConnectionTerminated: AsyncHTTP2Multiplexer._on_goaway,
    h2.events.WindowUpdated: AsyncHTTP2Multiplexer._on_window,
    h2.events.RemoteSettingsChanged: AsyncHTTP2Multiplexer._on_window,
}
