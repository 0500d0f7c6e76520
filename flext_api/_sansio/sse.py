"""The Server-Sent Events parser: bytes in, events out, per the HTML living standard (9.2.6).

Pure: no socket, no clock. ``SSEDecoder.feed(chunk)`` takes whatever the network delivered
(a chunk may end inside a line, inside a CRLF pair or inside a UTF-8 sequence) and returns the
events completed by it. Lines are split on bytes (CR, LF and CRLF never occur inside a UTF-8
sequence), so a character split across chunks is decoded whole once its line is complete.

Memory is bounded: the unfinished line plus the data gathered for the current event never
exceed ``max_event_size`` bytes; a server that sends more (an endless line, an endless event)
gets ``SSE_EVENT_TOO_LARGE`` instead of the process's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from flext_api._exceptions import FlextApiError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "SSEDecoder",
    "SSEError",
    "SSEEventTooLarge",
    "SSENotEventStream",
    "ServerSentEvent",
    "encode_event",
    "is_event_stream",
    "not_event_stream",
]

DEFAULT_MAX_EVENT_SIZE: Final = 1024 * 1024
"""Bytes one event (its unfinished line plus the data gathered so far) may hold."""

_BOM: Final = b"\xef\xbb\xbf"


class SSEError(FlextApiError):
    """Root of the Server-Sent Events failures."""

    code = "SSE_ERROR"


class SSEEventTooLarge(SSEError):
    """The server sent a line or an event larger than ``max_event_size``."""

    code = "SSE_EVENT_TOO_LARGE"


class SSENotEventStream(SSEError):
    """The server answered, but not with ``text/event-stream``: ``status_code``,
    ``content_type`` and the start of the ``body`` are kept to show what it sent instead."""

    code = "SSE_NOT_EVENT_STREAM"

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        content_type: str | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.content_type = content_type
        self.body = body


def is_event_stream(content_type: str | None) -> bool:
    """``text/event-stream``, whatever its parameters and case."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "text/event-stream"


def not_event_stream(
    status_code: int, content_type: str | None, body: bytes, url: str
) -> SSENotEventStream:
    """The failure for an answer that is not an event stream: a status other than 200 (and
    204, which means "stop"), or a 200 of another content type. The body is kept."""
    if status_code != 200:
        what = f"status {status_code} instead of 200"
        hint = "check the URL, the method and the credentials"
    else:
        what = f"Content-Type {content_type or '(none)'} instead of text/event-stream"
        hint = "check that the URL is the event stream endpoint"
    return SSENotEventStream(
        f"{url} answered an event-stream request with {what}; {hint} "
        "(the start of the body is on the error's `body`)",
        url=url,
        status_code=status_code,
        content_type=content_type,
        body=body,
    )


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event.

    ``event`` is the type (``"message"`` when the server named none); ``data`` the data lines
    joined with ``"\\n"``; ``id`` the stream's last event ID when this event was dispatched
    (the spec carries it forward from earlier events); ``retry`` the reconnection time in
    milliseconds if this event's block set one, else ``None``.
    """

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None

    def json(self) -> Any:
        """``data`` decoded as JSON (msgspec; raises ``msgspec.DecodeError`` if it is not)."""
        import msgspec

        return msgspec.json.decode(self.data)


class SSEDecoder:
    """Incremental parser. ``feed()`` returns the events each chunk completes; an event cut
    off by the end of the stream is discarded, as the standard says.

    ``last_event_id`` and ``retry`` (milliseconds, or ``None`` until the server sends one)
    are the state a reconnecting client needs.
    """

    __slots__ = (
        "_after_cr",
        "_data",
        "_data_size",
        "_event",
        "_event_retry",
        "_line",
        "_max",
        "_started",
        "last_event_id",
        "retry",
    )

    def __init__(
        self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE, last_event_id: str = ""
    ) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be a positive number of bytes")
        self._max = max_event_size
        self._line = bytearray()
        # The previous chunk ended with CR: an LF starting this one belongs to that CRLF.
        self._after_cr = False
        # Until 3 bytes have been seen the stream may still start with a (split) BOM.
        self._started = False
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._event_retry: int | None = None
        self.last_event_id = last_event_id
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Parse ``chunk``; raises ``SSE_EVENT_TOO_LARGE`` past ``max_event_size``."""
        if not self._started:
            head = bytes(self._line) + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._line = bytearray(head)
                return []
            self._started = True
            self._line.clear()
            chunk = head.removeprefix(_BOM)
        events: list[ServerSentEvent] = []
        end = len(chunk)
        if not end:
            return events
        start = 0
        if self._after_cr and chunk[0] == 0x0A:
            start = 1
        self._after_cr = False
        line = self._line
        while start < end:
            cr = chunk.find(b"\r", start)
            lf = chunk.find(b"\n", start)
            if cr < 0 and lf < 0:
                line += chunk[start:]
                self._check(len(line))
                return events
            stop = lf if cr < 0 or (0 <= lf < cr) else cr
            line += chunk[start:stop]
            self._check(len(line))
            event = self._process(bytes(line))
            line.clear()
            if event is not None:
                events.append(event)
            start = stop + 1
            if chunk[stop] == 0x0D:
                if start == end:
                    self._after_cr = True
                elif chunk[start] == 0x0A:
                    start += 1
        return events

    def _check(self, line_size: int) -> None:
        if line_size + self._data_size > self._max:
            self._line.clear()
            raise SSEEventTooLarge(
                f"the server sent an event larger than max_event_size={self._max} bytes "
                "(an unterminated line or too many data lines); raise max_event_size if "
                "such events are expected"
            )

    def _process(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        if raw[0] == 0x3A:  # ":" starts a comment (servers send them as keep-alives)
            return None
        line = raw.decode("utf-8", "replace")
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(raw)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = self._event_retry = int(value)
        # Any other field name is ignored, as the standard says.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, retry = self._data, self._event, self._event_retry
        self._data, self._data_size, self._event, self._event_retry = [], 0, "", None
        if not data:
            return None
        return ServerSentEvent(
            data="\n".join(data), event=event or "message", id=self.last_event_id, retry=retry
        )


def encode_event(
    data: str | None = None,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """One event on the wire (the server side's twin of :class:`SSEDecoder`).

    ``data`` may hold newlines (each line becomes a ``data:`` line, so the client gets the same
    string back); ``event`` and ``id`` may not, nor may ``id`` hold NUL: a value that cannot
    round-trip is a programming error (``ValueError``). A comment alone is a keep-alive.
    """
    lines: list[str] = []
    if comment is not None:
        lines.extend(f": {line}" if line else ":" for line in comment.splitlines() or [""])
    for name, value in (("event", event), ("id", id)):
        if value is not None:
            if "\r" in value or "\n" in value or (name == "id" and "\0" in value):
                raise ValueError(f"an SSE {name} cannot hold CR, LF or NUL: {value!r}")
            lines.append(f"{name}: {value}")
    if retry is not None:
        if retry < 0:
            raise ValueError("retry is a non-negative number of milliseconds")
        lines.append(f"retry: {retry}")
    if data is not None:
        # splitlines() would also split on \v, \x1c...: the standard's line ends only.
        lines.extend(
            f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        )
    return ("\n".join(lines) + "\n\n").encode()
