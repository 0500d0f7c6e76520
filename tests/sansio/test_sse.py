"""The Server-Sent Events parser against the HTML living standard's examples and rules.

Every stream in the tables is also fed one byte at a time and split at every offset: a parser
that depends on where the network cut the bytes fails here.
"""

from __future__ import annotations

import pytest

from flext_api._sansio.sse import (
    ServerSentEvent,
    SSEDecoder,
    SSEEventTooLarge,
    encode_event,
    is_event_stream,
    not_event_stream,
)

E = ServerSentEvent

CASES: list[tuple[str, bytes, list[ServerSentEvent]]] = [
    # The standard's examples (9.2.5/9.2.6).
    ("stock ticker", b"data: YHOO\ndata: +2\ndata: 10\n\n", [E("YHOO\n+2\n10")]),
    (
        "comment, id, id reset, leading space kept",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n\n",
        [E("first event", id="1"), E("second event", id=""), E(" third event", id="")],
    ),
    (
        "empty data, a lone newline, a block cut off by the end",
        b"data\n\ndata\ndata\n\ndata:",
        [E(""), E("\n")],
    ),
    ("one optional space after the colon", b"data:test\n\ndata: test\n\n", [E("test"), E("test")]),
    # Line endings: LF, CR, CRLF, mixed.
    ("CRLF", b"event: a\r\ndata: 1\r\n\r\n", [E("1", event="a")]),
    ("CR alone", b"event: a\rdata: 1\rdata: 2\r\r", [E("1\n2", event="a")]),
    ("mixed", b"data: 1\r\ndata: 2\rdata: 3\n\r\n", [E("1\n2\n3")]),
    # BOM: one leading BOM is dropped; a second one is part of the field name.
    ("BOM", b"\xef\xbb\xbfdata: x\n\n", [E("x")]),
    ("two BOMs", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [E("y")]),
    # Fields.
    ("event type", b"event: update\ndata: {}\n\n", [E("{}", event="update")]),
    (
        "event type resets after dispatch",
        b"event: a\ndata: 1\n\ndata: 2\n\n",
        [E("1", event="a"), E("2")],
    ),
    ("id carries forward", b"id: 7\ndata: a\n\ndata: b\n\n", [E("a", id="7"), E("b", id="7")]),
    (
        "id with NUL ignored",
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [E("a", id="1"), E("b", id="1")],
    ),
    (
        "retry on its event only",
        b"retry: 1500\ndata: a\n\ndata: b\n\n",
        [E("a", retry=1500), E("b")],
    ),
    (
        "retry not digits ignored",
        b"retry: 15s\ndata: a\n\nretry: -1\ndata: b\n\n",
        [E("a"), E("b")],
    ),
    ("unknown fields ignored", b"foo: bar\ndata: a\nevent\nx\n\n", [E("a")]),
    ("comments only", b": keep-alive\n\n:\n\n", []),
    ("colon in the value kept", b"data: a: b:c\n\n", [E("a: b:c")]),
    ("field name is case-sensitive", b"Data: a\ndata: b\n\n", [E("b")]),
    ("blank line with no data dispatches nothing", b"event: x\n\ndata: y\n\n", [E("y")]),
    ("UTF-8", "data: caf\u00e9 \u2603 \U0001f600\n\n".encode(), [E("caf\u00e9 \u2603 \U0001f600")]),
    ("invalid UTF-8 replaced", b"data: \xff\xfe\n\n", [E("\ufffd\ufffd")]),
]


def parse_whole(stream: bytes) -> list[ServerSentEvent]:
    return SSEDecoder().feed(stream)


def parse_bytewise(stream: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for i in range(len(stream)):
        events += decoder.feed(stream[i : i + 1])
    return events


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_events_match_the_standard(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert parse_whole(stream) == expected
    assert parse_bytewise(stream) == expected


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_split_point_gives_the_same_events(
    stream: bytes, expected: list[ServerSentEvent]
) -> None:
    for cut in range(len(stream) + 1):
        decoder = SSEDecoder()
        events = decoder.feed(stream[:cut]) + decoder.feed(b"") + decoder.feed(stream[cut:])
        assert events == expected, f"split at {cut}"


def test_decoder_keeps_last_event_id_and_retry_for_reconnecting() -> None:
    decoder = SSEDecoder(last_event_id="3")
    assert decoder.last_event_id == "3"
    assert decoder.retry is None
    decoder.feed(b"retry: 250\nid: 4\ndata: x\n\nid: 5\n\n")
    # An id-only block dispatches nothing but still moves the last event ID.
    assert decoder.last_event_id == "5"
    assert decoder.retry == 250


def test_an_endless_line_fails_with_a_stable_code_and_bounded_memory() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(SSEEventTooLarge) as caught:
        for _ in range(100):
            decoder.feed(b"x" * 100)
    assert caught.value.code == "SSE_EVENT_TOO_LARGE"
    assert "max_event_size=1000" in str(caught.value)
    assert len(decoder._line) == 0  # the oversized line is not kept


def test_an_endless_event_of_short_lines_fails_too() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    with pytest.raises(SSEEventTooLarge):
        for _ in range(200):
            decoder.feed(b"data: 0123456789\n")


def test_events_under_the_limit_pass_and_the_limit_resets_per_event() -> None:
    decoder = SSEDecoder(max_event_size=100)
    for _ in range(50):
        assert decoder.feed(b"data: " + b"x" * 80 + b"\n\n") == [E("x" * 80)]


def test_invalid_limit_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=0)


def test_json_data() -> None:
    assert E('{"a": [1, 2]}').json() == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/event-stream", True),
        ("text/event-stream; charset=utf-8", True),
        ("Text/Event-Stream", True),
        ("text/plain", False),
        ("application/json", False),
        (None, False),
    ],
)
def test_content_type_check(content_type: str | None, expected: bool) -> None:
    assert is_event_stream(content_type) is expected


def test_not_event_stream_errors_say_what_came_instead() -> None:
    html = not_event_stream(200, "text/html", b"<html>", "http://h/events")
    assert html.code == "SSE_NOT_EVENT_STREAM"
    assert "text/html" in str(html) and html.body == b"<html>" and html.status_code == 200
    gone = not_event_stream(404, "application/json", b"{}", "http://h/events")
    assert gone.code == "SSE_NOT_EVENT_STREAM"
    assert "status 404" in str(gone) and gone.url == "http://h/events"


@pytest.mark.parametrize(
    "event",
    [
        E("plain"),
        E("two\nlines", event="update", id="42"),
        E("", event="empty"),
        E("\n"),
        E("x", retry=2500),
        E(" leading space and trailing ", id="\u00e9"),
    ],
)
def test_encoded_events_parse_back_to_themselves(event: ServerSentEvent) -> None:
    wire = encode_event(
        event.data,
        event=None if event.event == "message" else event.event,
        id=event.id or None,
        retry=event.retry,
    )
    assert SSEDecoder().feed(wire) == [event]


def test_encoded_comments_are_keep_alives_that_dispatch_nothing() -> None:
    assert encode_event(comment="keep-alive") == b": keep-alive\n\n"
    assert SSEDecoder().feed(encode_event(comment="a\nb") + encode_event("x")) == [E("x")]


def test_encoded_crlf_in_data_becomes_lines() -> None:
    assert encode_event("a\r\nb\rc") == b"data: a\ndata: b\ndata: c\n\n"


@pytest.mark.parametrize(
    "kwargs",
    [{"event": "a\nb"}, {"id": "1\r"}, {"id": "1\x002"}, {"retry": -1}],
)
def test_encoding_what_cannot_round_trip_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"SSE|retry"):
        encode_event("x", **kwargs)  # type: ignore[arg-type]
