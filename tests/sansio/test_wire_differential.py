"""The accelerated HTTP/1.1 wire against h11: the same bytes give the same events or errors.

Every response below is fed to both wires whole, split in two at every offset, and one byte at
a time; the events (Data merged, since where a body is cut depends on the reads), the error
h11 names, the final states and the bytes left over must all be the same.
"""

from __future__ import annotations

from typing import Any

import h11
import pytest

from flext_api._compat import h11_header_fields
from flext_api._sansio.http11_wire import ENV_VAR, H11Wire, HttptoolsWire, wire_factory

pytest.importorskip("httptools")

REQUEST_FIELDS = [(b"Host", b"host", b"example.com")]


def _run(
    wire_type: type[Any],
    pieces: list[bytes],
    method: str = "GET",
    fields: list[tuple[bytes, bytes, bytes]] | None = None,
    max_size: int = 16 * 1024,
) -> list[Any]:
    wire = wire_type(max_size)
    sent = wire.send_request(method, b"/x", REQUEST_FIELDS + (fields or []))
    sent += wire.send_end()
    out: list[Any] = [sent]
    for piece in pieces:
        wire.receive_data(piece)
        while True:
            try:
                event = wire.next_event()
            except h11.RemoteProtocolError as exc:
                out.append(("error", str(exc)))
                out.append((wire.our_state, wire.their_state))
                return out
            if event is h11.NEED_DATA:
                break
            if event is h11.PAUSED:
                out.append("paused")
                out.append((wire.our_state, wire.their_state, wire.trailing_data))
                return out
            kind = type(event)
            if kind is h11.Data:
                if out and type(out[-1]) is bytearray:
                    out[-1] += event.data
                else:
                    out.append(bytearray(event.data))
                continue
            if kind in (h11.Response, h11.InformationalResponse):
                fields_seen = list(h11_header_fields(event.headers))
                out.append(
                    (
                        kind.__name__,
                        event.status_code,
                        bytes(event.reason),
                        bytes(event.http_version),
                        fields_seen,
                    )
                )
            elif kind is h11.EndOfMessage:
                out.append(("end", list(h11_header_fields(event.headers))))
            else:
                out.append(kind.__name__)
            out.append((wire.our_state, wire.their_state))
            if kind is h11.ConnectionClosed:
                return out
    out.append(("final", wire.our_state, wire.their_state, wire.trailing_data))
    return out


def _splits(data: bytes) -> list[list[bytes]]:
    shapes = [[data, b""], [data]]
    shapes += [[data[:cut], data[cut:], b""] for cut in range(1, len(data))]
    shapes.append([data[i : i + 1] for i in range(len(data))] + [b""])
    return shapes


def _same(data: bytes, method: str = "GET", **kwargs: Any) -> list[Any]:
    reference = None
    for pieces in _splits(data):
        expected = _run(H11Wire, pieces, method, **kwargs)
        got = _run(HttptoolsWire, pieces, method, **kwargs)
        assert got == expected, (pieces, method)
        if pieces == [data]:
            reference = expected  # the whole response, the connection left open
    assert reference is not None
    return reference


TE = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
CL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;a=b\r\nabc\r\n0\r\n\r\n"
)

VALID = [
    CL,
    CHUNKED,
    TE + b"\r\n2\r\nhi\r\n0\r\nX-T: 1\r\nY: a b\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 404 Not  Found \r\nX: \r\nY:\r\nZ:   spaced  value  \r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Bin: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 \xe9t\xe9\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSTRAY",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nUpgrade: h2c\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    b"HTTP/1.1 200 OK\r\nX: a\r\n  folded\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\tb\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: ctl\x01\x7f\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"1\r\nx\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;\x01ext\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000005\r\nhello\r\n0\r\n\r\n",
    b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
    b"\r\n",
    b"",
]

MALFORMED = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 123456789012345678901\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n123456789012345678901\r\nx\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n fold\r\n\r\n",
    TE + b"\r\n0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded-first: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX\xc3\xa9: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n: empty-name\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: nul\x00\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX : space-before-colon\r\n\r\n",
    b"HTTP/1.1 20 OK\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 abc OK\r\n\r\n",
    b"HTTP/1.1  200 OK\r\n\r\n",
    b"HTTP/1.1 099 Low\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    b"HTTP/1.1 200 OK\x00\r\n\r\n",
    b"HTTP/11 200 OK\r\n\r\n",
    b"http/1.1 200 OK\r\n\r\n",
    b"ICY 200 OK\r\n\r\n",
    b" HTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
    b"garbage",
    b"\x16\x03\x01\x02\x00",
    b"HTTP/1.1 200 OK\r\nX: " + b"a" * 3000 + b"\r\n\r\n",
    # Request-smuggling shapes: framing fields a proxy and a client might read differently.
    TE + b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked \r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding\r\n : chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length:  5 \r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    TE + b"\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    TE + b"\r\nfffffffffffffffffffff\r\n",
    TE + b'\r\n5;a="b;c"\r\nhello\r\n0\r\n\r\n',
    TE + b"\r\n5\r\nhello\r\r\n0\r\n\r\n",
]


@pytest.mark.parametrize("data", VALID + MALFORMED, ids=lambda data: repr(data[:40]))
def test_same_events_or_error(data: bytes) -> None:
    _same(data)


@pytest.mark.parametrize("method", ["HEAD", "POST", "CONNECT", "OPTIONS"])
@pytest.mark.parametrize("data", [CL, CHUNKED, VALID[3], VALID[8], MALFORMED[0]], ids=repr)
def test_same_per_method(method: str, data: bytes) -> None:
    _same(data, method)


def test_upgrade_offered_and_switched() -> None:
    data = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframes"
    fields = [(b"Upgrade", b"upgrade", b"websocket")]
    events = _same(data, fields=fields)
    assert events[-2] == "paused"


def test_connection_close_requested() -> None:
    events = _same(CL, fields=[(b"Connection", b"connection", b"close")])
    assert events[-1][1:3] == (h11.MUST_CLOSE, h11.MUST_CLOSE)


def test_head_size_limit() -> None:
    # Like h11, the wire bounds an incomplete head (the connection bounds complete ones).
    big = b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 40
    events = _same(big, max_size=64)
    assert events[-2] == ("error", "Receive buffer too long")
    assert _same(big + b"\r\n", max_size=64)[-1][1:3] == (h11.DONE, h11.SEND_BODY)


def test_valid_ones_are_accepted() -> None:
    assert _same(CL)[-1][1:3] == (h11.DONE, h11.DONE)
    assert _same(MALFORMED[0])[-2][0] == "error"


def test_the_parser_is_chosen_by_option_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert wire_factory() is HttptoolsWire  # auto, with httptools installed
    assert wire_factory("h11") is H11Wire
    assert wire_factory("httptools") is HttptoolsWire
    monkeypatch.setenv(ENV_VAR, "h11")
    assert wire_factory() is H11Wire
    assert wire_factory("auto") is HttptoolsWire  # the option wins over the environment


def test_sending_is_serialized_as_h11_does() -> None:
    fields = [
        (b"X-First", b"x-first", b"1"),
        (b"Host", b"host", b"example.com"),
        (b"Content-Length", b"content-length", b"5"),
    ]
    for method, body in [("POST", [b"he", b"llo"]), ("PUT", [b"hello"])]:
        out = []
        for wire_type in (H11Wire, HttptoolsWire):
            wire = wire_type(1024)
            sent = wire.send_request(method, b"/p?q=1", fields)
            sent += b"".join(wire.send_data(piece) for piece in body) + wire.send_end()
            out.append((sent, wire.our_state, wire.their_state))
        assert out[0] == out[1]
    chunked = [(b"Host", b"host", b"h"), (b"Transfer-Encoding", b"transfer-encoding", b"chunked")]
    framed = []
    for wire_type in (H11Wire, HttptoolsWire):
        wire = wire_type(1024)
        sent = wire.send_request("POST", b"/", chunked)
        sent += wire.send_data(b"abc") + wire.send_data(b"") + wire.send_end()
        framed.append(sent)
    assert framed[0] == framed[1]
    assert framed[0].endswith(b"3\r\nabc\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("method", "target", "fields", "body"),
    [
        ("GET", b"/", [], None),
        ("GET", b"/", REQUEST_FIELDS * 2, None),
        ("G T", b"/", REQUEST_FIELDS, None),
        ("GET", b"/a b", REQUEST_FIELDS, None),
        ("GET", b"/", REQUEST_FIELDS, b"x"),
        ("POST", b"/", [*REQUEST_FIELDS, (b"Content-Length", b"content-length", b"1")], b"xy"),
        ("POST", b"/", [*REQUEST_FIELDS, (b"Content-Length", b"content-length", b"3")], b"xy"),
    ],
)
def test_sending_errors_are_h11s(
    method: str, target: bytes, fields: list[Any], body: bytes | None
) -> None:
    outcomes = []
    for wire_type in (H11Wire, HttptoolsWire):
        wire = wire_type(1024)
        try:
            wire.send_request(method, target, fields)
            if body is not None:
                wire.send_data(body)
            wire.send_end()
        except h11.LocalProtocolError as exc:
            outcomes.append((str(exc), wire.our_state))
        else:
            outcomes.append(("sent", wire.our_state))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] != "sent"


def _misuse(wire: Any) -> list[Any]:
    """Calls out of order, each answered as h11 answers it (its error, or what it returns)."""
    out: list[Any] = []

    def attempt(call: Any, *args: Any) -> None:
        try:
            result = call(*args)
        except (h11.LocalProtocolError, h11.RemoteProtocolError, RuntimeError) as exc:
            out.append((type(exc).__name__, str(exc), wire.our_state, wire.their_state))
        else:
            out.append(result if result in (h11.NEED_DATA, h11.PAUSED) else type(result).__name__)

    attempt(wire.send_data, b"x")  # before any request
    attempt(wire.send_request, "GET", b"/", REQUEST_FIELDS)  # our state is ERROR now
    return out


def _idle_close(wire: Any) -> list[Any]:
    out: list[Any] = [wire.next_event()]
    wire.receive_data(b"")
    out += [type(wire.next_event()).__name__, wire.our_state, wire.their_state]
    try:
        wire.receive_data(b"late")
    except RuntimeError as exc:
        out.append(str(exc))
    return out


def _cycle(wire: Any) -> list[Any]:
    out: list[Any] = []
    try:
        wire.start_next_cycle()
    except h11.LocalProtocolError:
        out.append("not reusable")
    sent = wire.send(h11.Request(method="GET", target="/", headers=[("Host", "h")]))
    sent += wire.send(h11.EndOfMessage())
    out.append(sent)
    try:
        wire.send_end()
    except h11.LocalProtocolError as exc:
        out.append(str(exc))
    wire.receive_data(b"\nHTTP/1.1 200 OK\r\n\r\n")
    for _ in range(2):
        try:
            out.append(wire.next_event())
        except h11.RemoteProtocolError as exc:
            out.append(str(exc))
    return out


def _trailer_fold(wire: Any) -> list[Any]:
    wire.send_request("GET", b"/", REQUEST_FIELDS)
    wire.send_end()
    wire.receive_data(TE + b"\r\n0\r\nX: a\r\n  b\r\n\r\n")
    wire.next_event()
    end = wire.next_event()
    return [list(h11_header_fields(end.headers)), wire.our_state, wire.their_state]


@pytest.mark.parametrize("script", [_misuse, _idle_close, _cycle, _trailer_fold])
def test_state_rules_out_of_the_common_path_are_h11s(script: Any) -> None:
    assert script(HttptoolsWire(1024)) == script(H11Wire(1024))
