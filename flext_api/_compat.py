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
from collections.abc import Callable
from typing import Any, Final

import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h11._headers
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
    """

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
