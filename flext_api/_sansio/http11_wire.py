"""The client side of the HTTP/1.1 wire: h11, or an accelerated twin parsed by httptools.

:class:`H11Wire` is h11's connection itself. :class:`HttptoolsWire` has the same interface
and the same behaviour, byte for byte, event for event and error for error: the same state
machine (keep-alive, ``Connection: close``, HTTP/1.0, 1xx and the 101 rules, bodies that HEAD,
204 and 304 do not have, chunked, Content-Length, read-until-close), the same limits (the
incomplete-head size) and the same refusal of bytes the framing did not announce. It differs
only in cost:

* a response head in the common, clean shape (CRLF lines, ``HTTP/1.0`` or ``1.1``, field
  values without surrounding blanks, plain ``Content-Length`` and ``Transfer-Encoding``) is
  checked by one regular expression and split into fields by httptools (llhttp, in C);
* any other head (obs-fold, bare LF, odd versions or status codes, repeated or odd framing
  headers, trailing blanks...) and any head httptools refuses is handed to h11 itself, which
  parses it or names what is wrong with it: h11 stays the reference on every shape the fast
  path does not vouch for;
* bodies are framed here, with h11's grammar for chunks and its messages for every error;
* requests are serialized here, as h11 writes them (Host first), with h11's checks.

``tests/sansio/test_wire_differential.py`` feeds the same bytes to both, split at every offset,
and requires the same events or the same error. The choice between them is
:func:`wire_factory`'s: a client's ``http1_parser`` (``"h11"``, ``"httptools"`` or ``"auto"``,
httptools when it is installed), else the ``FLEXT_HTTP1_PARSER`` environment variable.

This module performs no I/O.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, Final, Literal

import h11

from flext_api._compat import h11_header_fields, h11_headers

try:  # the optional accelerator (the ``fast`` extra)
    from httptools import HttpResponseParser
except ImportError:  # pragma: no cover - httptools is a test dependency
    HttpResponseParser = None  # type: ignore[assignment,misc]

__all__ = [
    "ENV_VAR",
    "HTTP1_PARSERS",
    "H11Wire",
    "HTTP1Parser",
    "HttptoolsWire",
    "Wire",
    "WireFactory",
    "httptools_available",
    "wire_factory",
]

HTTP1Parser = Literal["h11", "httptools", "auto"]
HTTP1_PARSERS: Final = ("h11", "httptools", "auto")
ENV_VAR: Final = "FLEXT_HTTP1_PARSER"

HeaderTriple = tuple[bytes, bytes, bytes]
Event = Any  # an h11 event, h11.NEED_DATA or h11.PAUSED

IDLE: Final = h11.IDLE
SEND_RESPONSE: Final = h11.SEND_RESPONSE
SEND_BODY: Final = h11.SEND_BODY
DONE: Final = h11.DONE
MUST_CLOSE: Final = h11.MUST_CLOSE
CLOSED: Final = h11.CLOSED
ERROR: Final = h11.ERROR
MIGHT_SWITCH: Final = h11.MIGHT_SWITCH_PROTOCOL  # type: ignore[attr-defined]  # documented, not in __all__
SWITCHED: Final = h11.SWITCHED_PROTOCOL
NEED_DATA: Final = h11.NEED_DATA
PAUSED: Final = h11.PAUSED


class H11Wire(h11.Connection):
    """h11's client connection, with the three sending calls the connection makes."""

    def __init__(self, max_incomplete_event_size: int) -> None:
        super().__init__(h11.CLIENT, max_incomplete_event_size=max_incomplete_event_size)

    def send_request(self, method: str, target: bytes, fields: list[HeaderTriple]) -> bytes:
        # Headers were validated when built: h11 gets the triples it stores, unchecked.
        return self.send(h11.Request(method=method, target=target, headers=h11_headers(fields)))

    def send_data(self, data: bytes) -> bytes:
        return self.send(h11.Data(data=data))

    def send_end(self) -> bytes:
        return self.send(_END)


# -- grammar (RFC 9110/9112, as h11 reads it) ----------------------------------------------------

_TOKEN: Final = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_METHOD: Final = re.compile(_TOKEN)
_TARGET: Final = re.compile(rb"[\x21-\x7e]+")
_CHAR: Final = rb"[\x21-\x7e\x80-\xff]"
# The heads the fast path vouches for; every other head goes to h11.
_CLEAN_HEAD: Final = re.compile(
    rb"HTTP/1\.[01] [1-5][0-9][0-9](?: [\x20-\x7e\x80-\xff]*)?\r\n"
    rb"(?:" + _TOKEN + rb":[ ]*(?:" + _CHAR + rb"+(?:[ ]" + _CHAR + rb"+)*)?\r\n)*\r\n"
)
_BLANK_LINE: Final = re.compile(rb"\n\r?\n")
_CHUNK_HEADER: Final = re.compile(rb"(?P<size>[0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
_FIELD_LINE: Final = re.compile(
    rb"(?P<name>" + _TOKEN + rb"):[ \t]*"
    rb"(?P<value>(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*"
)
_FOLD: Final = re.compile(rb"[ \t]+")
# The peer states that trigger transitions of ours (see HttptoolsWire._settle).
_LOUD: Final = (CLOSED, ERROR)
_END: Final = h11.EndOfMessage()  # events are immutable: one serves every message
_LENGTH_DIGITS: Final = 20  # h11's bound on Content-Length digits


def _error(message: str) -> h11.RemoteProtocolError:
    return h11.RemoteProtocolError(message, error_status_hint=400)


def _reference_head(head: bytes) -> Any:
    """h11's reading of a head the fast path does not vouch for (its event, or its error)."""
    reference = h11.Connection(h11.CLIENT)
    # An Upgrade offer lets a 101 parse; whether it was allowed is decided by the caller.
    reference.send(
        h11.Request(method=b"GET", target=b"/", headers=[(b"host", b"h"), (b"upgrade", b"x")])
    )
    reference.receive_data(head)
    return reference.next_event()


def _comma_values(value: bytes) -> list[bytes]:
    return [each.strip().lower() for each in value.split(b",") if each.strip()]


class HttptoolsWire:
    """h11's client state machine with the response head parsed by httptools (see module)."""

    __slots__ = (
        "_buf",
        "_chunk_left",
        "_closed",
        "_declared",
        "_discard",
        "_fields",
        "_keep_alive",
        "_length",
        "_max",
        "_method",
        "_mode",
        "_proposal",
        "_search",
        "_send_chunked",
        "_send_left",
        "our_state",
        "their_state",
    )

    def __init__(self, max_incomplete_event_size: int) -> None:
        self._max = max_incomplete_event_size
        self.our_state: Any = IDLE
        self.their_state: Any = IDLE
        self._buf = b""
        self._closed = False
        self._search = 0
        self._fields: list[HeaderTriple] = []
        self._reset()

    def _reset(self) -> None:
        self._method = b""
        self._keep_alive = True
        self._proposal: bytes | None = None  # b"upgrade" or b"connect" while one is pending
        self._send_chunked = False
        self._send_left = 0
        # The response body: "length" (with _length left), "chunked" or "close".
        self._mode = ""
        self._length = self._declared = 0
        self._chunk_left = 0
        self._discard = b""

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        return (self._buf, self._closed)

    # -- state (h11's two-sided machine) ------------------------------------------------------

    def _settle(self) -> None:
        while True:
            ours, theirs = start = (self.our_state, self.their_state)
            if self._proposal is not None and ours is DONE:
                ours = MIGHT_SWITCH
            if self._proposal is None and ours is MIGHT_SWITCH:
                ours = DONE
            if not self._keep_alive:
                ours = MUST_CLOSE if ours is DONE else ours
                theirs = MUST_CLOSE if theirs is DONE else theirs
            if ours is MIGHT_SWITCH and theirs is SWITCHED:
                ours = SWITCHED
            elif (ours is CLOSED and theirs in (DONE, IDLE)) or (ours is ERROR and theirs is DONE):
                theirs = MUST_CLOSE
            elif (ours is DONE and theirs in _LOUD) or (ours is IDLE and theirs is CLOSED):
                ours = MUST_CLOSE
            self.our_state, self.their_state = ours, theirs
            if (ours, theirs) == start:
                return

    def _fail_send(self, message: str) -> h11.LocalProtocolError:
        self.our_state = ERROR
        self._settle()
        return h11.LocalProtocolError(message)

    def _cannot(self, event: str, role: str, state: Any) -> h11.LocalProtocolError:
        return h11.LocalProtocolError(
            f"can't handle event type {event} when role={role} and state={state}"
        )

    def start_next_cycle(self) -> None:
        if self.our_state is not DONE or self.their_state is not DONE:
            raise h11.LocalProtocolError(
                f"not in a reusable state. self.states={{CLIENT: {self.our_state}, "
                f"SERVER: {self.their_state}}}"
            )
        self.our_state = self.their_state = IDLE
        self._reset()

    # -- sending ------------------------------------------------------------------------------

    def send_request(self, method: str, target: bytes, fields: list[HeaderTriple]) -> bytes:
        if self.our_state is ERROR:
            raise h11.LocalProtocolError("Can't send data when our state is ERROR")
        raw_method = method.encode("ascii")
        hosts = 0
        length = 0
        chunked = close = upgrade = False
        for _, name, value in fields:  # one pass for every rule the request is held to
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                length = int(value.split(b",")[0])
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"connection":
                close = close or b"close" in _comma_values(value)
            elif name == b"upgrade":
                upgrade = upgrade or bool(_comma_values(value))
        # h11 checks these when the event is made, before its state is touched.
        if hosts == 0:
            raise h11.LocalProtocolError("Missing mandatory Host: header")
        if hosts > 1:
            raise h11.LocalProtocolError("Found multiple Host: headers")
        if _METHOD.fullmatch(raw_method) is None:
            raise h11.LocalProtocolError("Illegal method characters")
        if _TARGET.fullmatch(target) is None:
            raise h11.LocalProtocolError("Illegal target characters")
        if self.our_state is not IDLE:
            raise self._fail_send(
                f"can't handle event type Request when role=CLIENT and state={self.our_state}"
            )
        self._method = raw_method
        self._send_chunked = chunked
        self._send_left = length
        if raw_method == b"CONNECT":
            self._proposal = b"connect"
        if upgrade:
            self._proposal = b"upgrade"
        if close:
            self._keep_alive = False
        self.our_state = SEND_BODY
        if self.their_state is IDLE:
            self.their_state = SEND_RESPONSE
        if (
            not self._keep_alive or self._proposal is not None
        ):  # else no state-triggered transition applies
            self._settle()
        lines = [b"%s %s HTTP/1.1\r\n" % (raw_method, target)]
        lines += [b"%s: %s\r\n" % (raw, value) for raw, name, value in fields if name == b"host"]
        lines += [b"%s: %s\r\n" % (raw, value) for raw, name, value in fields if name != b"host"]
        lines.append(b"\r\n")
        return b"".join(lines)

    def send_data(self, data: bytes) -> bytes:
        if self.our_state is not SEND_BODY:
            raise self._fail_send(self._cannot("Data", "CLIENT", self.our_state).args[0])
        if self._send_chunked:
            return b"%x\r\n%s\r\n" % (len(data), data) if data else b""
        self._send_left -= len(data)
        if self._send_left < 0:
            raise self._fail_send("Too much data for declared Content-Length")
        return data

    def send_end(self) -> bytes:
        if self.our_state is not SEND_BODY:
            raise self._fail_send(self._cannot("EndOfMessage", "CLIENT", self.our_state).args[0])
        if not self._send_chunked and self._send_left != 0:
            raise self._fail_send("Too little data for declared Content-Length")
        self.our_state = DONE
        if (
            not self._keep_alive or self._proposal is not None or self.their_state in _LOUD
        ):  # else no state-triggered transition applies
            self._settle()
        return b"0\r\n\r\n" if self._send_chunked else b""

    def send(self, event: Any) -> bytes:
        """h11's ``send`` for the events a client sends (tests and rare paths)."""
        kind = type(event)
        if kind is h11.Request:
            fields = h11_header_fields(event.headers)
            return self.send_request(event.method.decode("ascii"), event.target, fields)
        if kind is h11.Data:
            return self.send_data(event.data)
        return self.send_end()

    # -- receiving ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if data:
            if self._closed:
                raise RuntimeError("received close, then received more data?")
            self._buf = self._buf + data if self._buf else bytes(data)
        else:
            self._closed = True

    def next_event(self) -> Event:
        theirs = self.their_state
        if (
            not self._buf
            and not self._closed
            and (theirs is SEND_RESPONSE or (theirs is SEND_BODY and self._length))
        ):
            return NEED_DATA  # the common wait for bytes, decided without a reader
        if theirs is ERROR:
            raise h11.RemoteProtocolError("Can't receive data when peer state is ERROR")
        if theirs is DONE and self._buf:
            return PAUSED
        if theirs is SWITCHED:
            return PAUSED
        try:
            if theirs is SEND_BODY:
                event = self._body_event()
            elif theirs is SEND_RESPONSE or theirs is IDLE:
                event = self._head_event()
            elif self._buf:
                raise _error("Got data when expecting EOF")  # noqa: TRY301
            elif self._closed:
                event = h11.ConnectionClosed()
                self.their_state = CLOSED
                self._settle()
            else:
                event = None
            if event is None:
                if len(self._buf) > self._max:
                    raise h11.RemoteProtocolError(  # noqa: TRY301
                        "Receive buffer too long", error_status_hint=431
                    )
                if self._closed:
                    raise _error("peer unexpectedly closed connection")  # noqa: TRY301
                return NEED_DATA
            return event
        except h11.LocalProtocolError as exc:  # h11 reports the peer's faults as remote ones
            self.their_state = ERROR
            self._settle()
            raise h11.RemoteProtocolError(str(exc), exc.error_status_hint) from None
        except BaseException:
            self.their_state = ERROR
            self._settle()
            raise

    def _take(self, count: int) -> bytes:
        buf = self._buf
        self._search = 0
        if count >= len(buf):
            self._buf = b""
            return buf
        self._buf = buf[count:]
        return buf[:count]

    def _lines_end(self) -> int | None:
        """Where the head (or trailer) at the start of the buffer ends: 0 for a leading blank
        line (h11 counts it as no lines), None while it is incomplete."""
        buf = self._buf
        if buf[:1] == b"\n":
            self._take(1)
            return 0
        if buf[:2] == b"\r\n":
            self._take(2)
            return 0
        match = _BLANK_LINE.search(buf, self._search)
        if match is None:
            self._search = max(0, len(buf) - 2)
            return None
        return match.end()

    def _head_event(self) -> Any:
        end = self._lines_end()
        if end is None:
            if self._buf and self._buf[0] < 0x21:
                raise _error("illegal request line")
            if not self._buf and self._closed:
                if self.their_state is not IDLE:
                    raise self._cannot("ConnectionClosed", "SERVER", self.their_state)
                self.their_state = CLOSED
                self._settle()
                return h11.ConnectionClosed()
            return None
        if end == 0:
            raise _error("no response line received")
        head = self._take(end)
        event = self._fast_head(head) if _CLEAN_HEAD.fullmatch(head) is not None else None
        if event is None:
            event = _reference_head(head)
        return self._process_head(event)

    def _fast_head(self, head: bytes) -> Any:
        """The event h11 would make of a clean head, or None when h11 must read it."""
        fields: list[HeaderTriple] = []  # filled by on_header
        self._fields = fields
        try:
            HttpResponseParser(self).feed_data(head)
        except Exception:
            return None  # httptools refuses what h11 may take: h11 decides
        framing = 0
        for _, name, value in fields:
            if name == b"content-length":
                if framing & 1 or not value.isdigit() or len(value) > _LENGTH_DIGITS:
                    return None
                framing |= 1
            elif name == b"transfer-encoding":
                if framing & 2 or value != b"chunked":
                    return None
                framing |= 2
        status = int(head[9:12])
        line_end = head.index(b"\r\n")
        reason = head[13:line_end]
        kind = h11.Response if status >= 200 else h11.InformationalResponse
        return kind(
            headers=h11_headers(fields),
            status_code=status,
            reason=reason,
            http_version=head[5:8],
        )

    def on_header(self, name: bytes, value: bytes) -> None:
        """httptools' callback: one field of the head."""
        self._fields.append((name, name.lower(), value))

    def _process_head(self, event: Any) -> Any:
        status = event.status_code
        theirs = self.their_state
        if theirs is IDLE:
            raise self._cannot(type(event).__name__, "SERVER", theirs)
        if type(event) is h11.InformationalResponse:
            if status == 101:
                if self._proposal != b"upgrade":
                    raise h11.LocalProtocolError(
                        "Received server _SWITCH_UPGRADE event without a pending proposal"
                    )
                self.their_state = SWITCHED
                self._settle()
            return event
        fields = h11_header_fields(event.headers)
        length: int | None = None
        chunked = False
        for _, name, value in fields:
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"connection" and b"close" in _comma_values(value):
                self._keep_alive = False
        if event.http_version < b"1.1":
            self._keep_alive = False
        method = self._method
        if self._proposal == b"connect" and 200 <= status < 300:
            self.their_state = SWITCHED
            self._settle()
            return event
        self._proposal = None
        if status in (204, 304) or method == b"HEAD" or (method == b"CONNECT" and status < 300):
            self._mode, self._length = "length", 0
        elif chunked:
            self._mode, self._chunk_left, self._discard = "chunked", 0, b""
        elif length is not None:
            self._mode, self._length = "length", length
            self._declared = length
        else:
            self._mode = "close"
        self.their_state = SEND_BODY
        if not self._keep_alive:  # else no state-triggered transition applies
            self._settle()
        return event

    # -- bodies -------------------------------------------------------------------------------

    def _body_event(self) -> Any:
        mode = self._mode
        if mode == "length":
            left = self._length
            if left == 0:
                return self._body_done(_END)
            if self._buf:
                data = self._take(left)
                self._length = left - len(data)
                return h11.Data(data=data)
            if self._closed:
                raise _error(
                    "peer closed connection without sending complete message body "
                    f"(received {self._declared - left} bytes, expected {self._declared})"
                )
            return None
        if mode == "chunked":
            event = self._chunk_event()
            if event is None and not self._buf and self._closed:
                raise _error(
                    "peer closed connection without sending complete message body "
                    "(incomplete chunked read)"
                )
            return event
        if self._buf:
            return h11.Data(data=self._take(len(self._buf)))
        if self._closed:
            return self._body_done(_END)
        return None

    def _body_done(self, event: Any) -> Any:
        self.their_state = DONE
        if (
            not self._keep_alive or self._proposal is not None or self.our_state is ERROR
        ):  # else no state-triggered transition applies
            self._settle()
        return event

    def _chunk_event(self) -> Any:
        if self._chunk_left < 0:  # reading the trailer
            end = self._lines_end()
            if end is None:
                return None
            lines = self._take(end).split(b"\n")[:-2] if end else []
            trailer = _decode_lines([line.removesuffix(b"\r") for line in lines])
            try:
                return self._body_done(h11.EndOfMessage(headers=trailer))
            except h11.LocalProtocolError as exc:
                raise _error(str(exc)) from exc
        if self._discard:
            data = self._take(len(self._discard))
            if not data:
                return None
            if data != self._discard[: len(data)]:
                raise _error(
                    f"malformed chunk footer: {bytearray(data)!r} (expected {self._discard!r})"
                )
            self._discard = self._discard[len(data) :]
            if self._discard:
                return None
        if self._chunk_left == 0:
            buf = self._buf
            index = buf.find(b"\r\n", max(0, self._search - 1))
            if index == -1:
                self._search = len(buf)
                return None
            line = self._take(index + 2)
            match = _CHUNK_HEADER.fullmatch(line)
            if match is None:
                raise _error(f"illegal chunk header: {bytearray(line)!r}")
            self._chunk_left = int(match["size"], 16)
            if self._chunk_left == 0:
                self._chunk_left = -1
                return self._chunk_event()
            start = True
        else:
            start = False
        if not self._buf:
            return None
        data = self._take(self._chunk_left)
        self._chunk_left -= len(data)
        end = self._chunk_left == 0
        if end:
            self._discard = b"\r\n"
        return h11.Data(data=data, chunk_start=start, chunk_end=end)


def _decode_lines(lines: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Trailer lines as h11 reads them: obs-fold joined, each line a field or an error."""
    folded: list[bytes] = []
    for line in lines:
        fold = _FOLD.match(line)
        if fold is None:
            folded.append(line)
        elif not folded:
            raise _error("continuation line at start of headers")
        else:
            folded[-1] += b" " + line[fold.end() :]
    fields = []
    for line in folded:
        match = _FIELD_LINE.fullmatch(line)
        if match is None:
            raise _error(f"illegal header line: {bytearray(line)!r}")
        fields.append((match["name"], match["value"]))
    return fields


Wire = H11Wire | HttptoolsWire
WireFactory = Callable[[int], Wire]


def httptools_available() -> bool:
    return HttpResponseParser is not None


def wire_factory(parser: str | None = None) -> WireFactory:
    """The wire for ``http1_parser=parser``; None reads ``FLEXT_HTTP1_PARSER`` (default auto)."""
    choice = parser if parser is not None else os.environ.get(ENV_VAR) or "auto"
    if choice not in HTTP1_PARSERS:
        source = "http1_parser" if parser is not None else ENV_VAR
        raise ValueError(
            f"{source}={choice!r}: use 'h11' (the reference parser), 'httptools' (the "
            "accelerated one, needs the fast extra) or 'auto' (httptools when installed)"
        )
    if choice == "h11" or (choice == "auto" and HttpResponseParser is None):
        return H11Wire
    if HttpResponseParser is None:  # pragma: no cover - httptools is a test dependency
        raise ValueError(
            "http1_parser='httptools' needs httptools: pip install 'flext-api[fast]', or use "
            "'auto' to fall back to h11"
        )
    return HttptoolsWire
