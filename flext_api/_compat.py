"""Every use of h2's and h11's private internals, in one place, behind named functions.

flext-api leans on a few private attributes of h2 and h11 where their public API costs too much
per request or cannot express what a client needs (RFC 9113 GOAWAY draining, forgetting a
closed stream at once, handing h11 header triples it would otherwise re-validate). Nothing else
in ``flext_api`` may touch a private name of either library: it imports what it needs from here.

:data:`PRIVATE_API` lists each private name with what it is used for, and
:func:`missing_private_api` checks them against the installed releases; the contract test
(``tests/test_compat.py``) fails naming the attribute when an h2 or h11 release changes one.

This module must never perform I/O or hold state of its own.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Iterable
from typing import Any, Final

import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.stream
import h2.windows
import h11._headers
import hyperframe.exceptions
import hyperframe.frame

__all__ = [
    "PRIVATE_API",
    "ClientH2Connection",
    "h11_header_fields",
    "h11_headers",
    "missing_private_api",
]

HeaderTriple = tuple[bytes, bytes, bytes]

# (owner, attribute, why flext-api needs it). Checked by ``missing_private_api``.
PRIVATE_API: Final[tuple[tuple[object, str, str], ...]] = (
    (h2.connection.H2Connection, "_data_to_send", "ClientH2Connection.has_data_to_send"),
    (h2.connection.H2Connection, "_closed_streams", "ClientH2Connection.forget_stream"),
    (h2.connection.H2Connection, "_open_streams", "counting open streams without a scan"),
    (h2.connection.H2Connection, "_receive_frame", "frame processing without trace logging"),
    (h2.connection.H2Connection, "_frame_dispatch_table", "ClientH2Connection._receive_frame"),
    (h2.connection.H2Connection, "_prepare_for_sending", "ClientH2Connection._receive_frame"),
    (h2.connection.H2Connection, "_stream_is_closed_by_reset", "ClientH2Connection"),
    (h2.connection.H2Connection, "_stream_is_closed_by_end", "ClientH2Connection"),
    (h2.connection.H2Connection, "_receive_goaway_frame", "draining streams after GOAWAY"),
    (h2.exceptions.StreamClosedError, "_events", "events of a frame on a reset stream"),
    (h2.frame_buffer.FrameBuffer, "_data", "ClientH2Connection.receive_data (DATA fast path)"),
    (h2.frame_buffer.FrameBuffer, "_headers_buffer", "ClientH2Connection.receive_data"),
    (
        h2.connection.H2Connection,
        "_inbound_flow_control_window_manager",
        "ClientH2Connection.receive_data",
    ),
    (h2.stream.H2Stream, "_inbound_window_manager", "ClientH2Connection.receive_data"),
    (h2.stream.H2Stream, "_track_content_length", "ClientH2Connection.receive_data"),
    (h2.windows.WindowManager, "window_consumed", "ClientH2Connection.receive_data"),
    (h11._headers.Headers, "_full_items", "h11_header_fields / h11_headers"),
)


def _has_attribute(owner: object, name: str) -> bool:
    if hasattr(owner, name):
        return True
    # Instance attributes set in __init__ (h2's buffers, the exception's event list).
    if isinstance(owner, type):
        init = owner.__dict__.get("__init__")
        code = getattr(init, "__code__", None)
        return code is not None and name in code.co_names
    return False


def missing_private_api() -> list[str]:
    """``owner.attribute (use)`` for every private name the installed h2/h11 lack."""
    missing = []
    for owner, name, use in PRIVATE_API:
        if not _has_attribute(owner, name):
            label = getattr(owner, "__qualname__", repr(owner))
            module = getattr(owner, "__module__", "")
            missing.append(f"{module}.{label}.{name} (used by {use})")
    return missing


# -- h11 ----------------------------------------------------------------------------------------

h11_headers: Final[Callable[[list[HeaderTriple]], Any]] = h11._headers.Headers
"""An h11 header list from (raw name, lowercased name, value) triples that were validated
when the request was built: h11 neither normalizes nor re-checks them."""

h11_header_fields: Final[Callable[[Any], list[HeaderTriple]]] = operator.attrgetter("_full_items")
"""The (raw name, lowercased name, value) triples of an h11 event's headers, without a copy
(an attribute getter: no Python frame per response)."""


# -- h2 -----------------------------------------------------------------------------------------


# A frame header: 24-bit length (as 16 + 8 bits), type, flags, reserved bit + 31-bit stream id.
_FRAME_HEADER: Final = struct.Struct(">HBBBL")
_DATA: Final = 0x0
# DATA flags the fast path leaves to h2: END_STREAM (state change) and PADDED.
_SLOW_DATA_FLAGS: Final = 0x1 | 0x8
_DATA_STATES: Final = frozenset(
    {h2.stream.StreamState.OPEN, h2.stream.StreamState.HALF_CLOSED_LOCAL}
)
_CLIENT_OPEN: Final = h2.connection.ConnectionState.CLIENT_OPEN


class ClientH2Connection(h2.connection.H2Connection):
    """h2's connection for a client that ends and forgets its own streams.

    * It keeps the streams a GOAWAY lets finish: h2 closes its state machine on GOAWAY and then
      rejects every later frame as a protocol error, while RFC 9113 section 6.8 says the
      streams up to the last stream id complete normally (servers do finish them). flext-api
      opens no stream after a GOAWAY, so the machine is put back in the state it was in.
    * :meth:`forget_stream` drops a closed stream at once, so counting open streams is
      ``len(self.streams)`` instead of h2's scan of every stream on every request.
    * Frames are processed without h2's trace log line, which formats every frame (hexlifying
      whole DATA payloads) and costs more than the rest of the frame's processing.
    * The DATA frames of a download take a short path (:meth:`receive_data`): h2 builds a
      frame object, runs two state machines whose state cannot change and dispatches through
      three layers for every one of them, which made an HTTP/2 download cost twice the CPU of
      an HTTP/1.1 one (servers send 8-16 KiB frames). Every other frame, and any DATA frame
      that changes state or needs a check this path does not make, goes through h2.
    """

    def receive_data(self, data: Any) -> list[h2.events.Event]:
        """h2's ``receive_data``, with the short path of :meth:`receive_many`."""
        return self.receive_many((data,))

    def receive_many(self, pieces: Iterable[Any]) -> list[h2.events.Event]:
        """h2's ``receive_data`` for several pieces read in a row (no copy to join them), with
        a short path for plain DATA frames.

        A DATA frame takes it when it has neither END_STREAM nor PADDED, no header block is
        being continued, the connection is open and its stream is one h2 knows, open for
        receiving and past its response head: then h2 would only debit both receive windows
        (refusing a frame that overflows either: a connection error, as in h2), count the
        bytes against a Content-Length, and emit ``DataReceived``. That is all this does,
        except that consecutive such frames of one stream become one ``DataReceived`` (their
        payloads joined, their flow-controlled lengths added): one event per read, not one
        per frame.
        """
        if self.state_machine.state is not _CLIENT_OPEN:
            events: list[h2.events.Event] = []
            for piece in pieces:
                events += super().receive_data(piece)
            return events
        buffer = self.incoming_buffer
        raw = buffer._data
        for piece in pieces:
            raw += piece  # h2's add_data, less its server preamble check
        limit = buffer.max_frame_size = self.max_inbound_frame_size
        streams = self.streams
        unpack = _FRAME_HEADER.unpack_from
        events = []
        # Frames taken by the short path are cut from the buffer once, at the end (or before h2
        # parses the next frame itself): one move of the rest instead of one per frame.
        start = 0
        size = len(raw)
        view = memoryview(raw)
        # The DATA frames of one stream met in a row: one event, one debit of the windows.
        merged: h2.events.DataReceived | None = None
        merged_stream: Any = None
        parts: list[memoryview] = []
        try:
            while size - start >= 9:
                high, low, kind, flags, stream_id = unpack(raw, start)
                length = high << 8 | low
                if kind == _DATA and not flags & _SLOW_DATA_FLAGS and length <= limit:
                    stream_id &= 0x7FFFFFFF
                    stream = streams.get(stream_id)
                    machine = None if stream is None else stream.state_machine
                    if (
                        machine is not None
                        and machine.state in _DATA_STATES
                        and machine.headers_received
                        and not buffer._headers_buffer
                    ):
                        end = start + 9 + length
                        if size < end:
                            break
                        if merged is None or merged_stream is not stream:
                            if merged is not None:
                                self._debit(merged, merged_stream, parts)
                                parts = []
                            merged = h2.events.DataReceived(stream_id=stream_id)
                            merged.flow_controlled_length = 0
                            merged_stream = stream
                            events.append(merged)
                        parts.append(view[start + 9 : end])
                        merged.flow_controlled_length += length
                        start = end
                        continue
                if merged is not None:
                    self._debit(merged, merged_stream, parts)
                    merged, parts = None, []
                view.release()
                if start:
                    del raw[:start]
                    start = 0
                frame = next(buffer, None)
                size = len(raw)
                view = memoryview(raw)
                if frame is None:
                    break
                events.extend(self._receive_frame(frame))
            if merged is not None:
                self._debit(merged, merged_stream, parts)
        except hyperframe.exceptions.InvalidPaddingError as exc:
            self._terminate_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR)
            msg = "Received frame with invalid padding."
            raise h2.exceptions.ProtocolError(msg) from exc
        except h2.exceptions.ProtocolError as exc:
            # As h2: a GOAWAY is queued, then the error goes up.
            self._terminate_connection(exc.error_code)
            raise
        finally:
            # Clear the list itself: a traceback through ``_debit`` still references it, and
            # its slices would keep the buffer from being resized.
            parts.clear()
            view.release()
            if start:
                del raw[:start]
        return events

    def _debit(self, event: h2.events.DataReceived, stream: Any, parts: list[memoryview]) -> None:
        """The short path's accounting for the frames merged into ``event``: what h2 does
        per frame, once for their sum (a window overflowed by any of them is overflowed by
        the sum: the same connection error)."""
        length = event.flow_controlled_length
        self._inbound_flow_control_window_manager.window_consumed(length)
        stream._inbound_window_manager.window_consumed(length)
        stream._track_content_length(length, False)
        event.data = b"".join(parts)

    def has_data_to_send(self) -> bool:
        """Is anything queued for the socket? (h2 has no public query; its buffer is a
        bytearray in h2 4.x.)"""
        return bool(self._data_to_send)

    def forget_stream(self, stream_id: int) -> None:
        """Forget a closed stream, as h2's own scan would (late frames on it stay legal)."""
        stream = self.streams.get(stream_id)
        if stream is not None and stream.closed:
            del self.streams[stream_id]
            self._closed_streams[stream_id] = stream.closed_by

    def _open_streams(self, remainder: int) -> int:
        # Every stream in ``self.streams`` is open or about to be forgotten by its owner,
        # which ends each stream before its slot is released; a client has no inbound streams
        # (push is disabled).
        return len(self.streams) if remainder == 1 else 0

    def _receive_frame(self, frame: Any) -> list[h2.events.Event]:
        # h2 4.x's own version without its trace log line; the behaviour is the same.
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
