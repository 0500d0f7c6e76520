"""The short path for DATA frames (``ClientH2Connection.receive_many``) against h2's own
``receive_data``: the same bytes, split anywhere, must give each stream the same body, the same
flow-controlled length, the same windows, the same end, and the same protocol errors.

Pure logic: both sides are h2 connections fed bytes a real h2 server produced.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Final

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hyperframe.frame
import pytest

from flext_api._compat import ClientH2Connection

REQUEST: Final = [
    (b":method", b"GET"),
    (b":path", b"/"),
    (b":scheme", b"https"),
    (b":authority", b"x"),
]
WINDOW: Final = 1 << 20


def _client(streams: int) -> ClientH2Connection:
    conn = ClientH2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW}
    )
    conn.initiate_connection()
    conn.increment_flow_control_window(4 * WINDOW)
    for index in range(streams):
        conn.send_headers(1 + 2 * index, REQUEST, end_stream=True)
    conn.data_to_send()
    return conn


def _exchange(streams: int, script: Callable[[h2.connection.H2Connection], None]) -> bytes:
    client = ClientH2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW}
    )
    client.initiate_connection()
    client.increment_flow_control_window(4 * WINDOW)
    for index in range(streams):
        client.send_headers(1 + 2 * index, REQUEST, end_stream=True)
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    server.data_to_send()  # its preface: each side under test gets its own copy below
    script(server)
    preface = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    preface.initiate_connection()
    return preface.data_to_send() + server.data_to_send()


def _respond(server: h2.connection.H2Connection, stream_id: int, length: int | None) -> None:
    headers = [(":status", "200")]
    if length is not None:
        headers.append(("content-length", str(length)))
    server.send_headers(stream_id, headers)


def _interleaved(server: h2.connection.H2Connection) -> None:
    bodies = {1: b"a" * 40_000, 3: b"b" * 25_000, 5: b""}
    for stream_id, payload in bodies.items():
        _respond(server, stream_id, len(payload))
    offsets = dict.fromkeys(bodies, 0)
    sizes = itertools.cycle([1000, 7, 16000, 1])
    while any(offsets[s] < len(bodies[s]) for s in bodies):
        for stream_id, payload in bodies.items():
            size = next(sizes)
            chunk = payload[offsets[stream_id] : offsets[stream_id] + size]
            if chunk:
                padded = stream_id == 3 and offsets[stream_id] % 2 == 0
                server.send_data(stream_id, chunk, pad_length=5 if padded else None)
                offsets[stream_id] += len(chunk)
    for stream_id in bodies:
        server.end_stream(stream_id)


def _feed(streams: int, data: bytes, cut: int, fast: bool) -> dict[str, Any]:
    """Feed ``data`` in two pieces (cut at ``cut``) and summarise what came out."""
    conn = _client(streams)
    received: dict[int, bytearray] = {}
    flow: dict[int, int] = {}
    ended: list[int] = []
    pieces = [data[:cut], data[cut:]]
    for piece in pieces:
        if fast:
            events = conn.receive_many([piece[: len(piece) // 3], piece[len(piece) // 3 :]])
        else:
            events = h2.connection.H2Connection.receive_data(conn, piece)
        for event in events:
            if isinstance(event, h2.events.DataReceived):
                received.setdefault(event.stream_id, bytearray()).extend(event.data)
                flow[event.stream_id] = flow.get(event.stream_id, 0) + event.flow_controlled_length
            elif isinstance(event, h2.events.StreamEnded):
                ended.append(event.stream_id)
    windows = {
        stream_id: conn._get_stream_by_id(stream_id)._inbound_window_manager.current_window_size
        for stream_id in conn.streams
    }
    return {
        "bodies": {key: bytes(value) for key, value in received.items()},
        "flow": flow,
        "ended": sorted(ended),
        "connection_window": conn._inbound_flow_control_window_manager.current_window_size,
        "stream_windows": windows,
    }


def test_interleaved_streams_split_anywhere_match_h2() -> None:
    data = _exchange(3, _interleaved)
    # Cuts at every offset near frame boundaries and a spread of others.
    cuts = sorted({*range(200), *range(0, len(data), 997), len(data)})
    for cut in cuts:
        assert _feed(3, data, cut, fast=True) == _feed(3, data, cut, fast=False), cut


def test_the_short_path_merges_a_streams_frames_into_one_event() -> None:
    def script(server: h2.connection.H2Connection) -> None:
        _respond(server, 1, None)
        for _ in range(10):
            server.send_data(1, b"x" * 1000)

    data = _exchange(1, script)
    events = _client(1).receive_many([data])
    data_events = [event for event in events if isinstance(event, h2.events.DataReceived)]
    assert len(data_events) == 1
    assert data_events[0].data == b"x" * 10_000
    assert data_events[0].flow_controlled_length == 10_000


def _overflowing(server: h2.connection.H2Connection) -> None:
    _respond(server, 1, None)
    server.send_data(1, b"x" * 1000)


def _raw_data_frame(stream_id: int, size: int) -> bytes:
    frame = hyperframe.frame.DataFrame(stream_id)
    frame.data = b"y" * size
    return frame.serialize()


@pytest.mark.parametrize("fast", [True, False])
def test_a_frame_beyond_the_stream_window_is_a_connection_error(fast: bool) -> None:
    data = _exchange(1, _overflowing)
    conn = _client(1)
    conn.receive_many([data]) if fast else h2.connection.H2Connection.receive_data(conn, data)
    conn.data_to_send()
    # The server ignores the window: more than the stream's window in frames of 16 KiB.
    flood = b"".join(_raw_data_frame(1, 16384) for _ in range(WINDOW // 16384 + 1))
    with pytest.raises(h2.exceptions.FlowControlError):
        if fast:
            conn.receive_many([flood])
        else:
            h2.connection.H2Connection.receive_data(conn, flood)
    goaway = conn.data_to_send()
    assert goaway[3] == 0x7  # a GOAWAY frame is queued, as h2 does
    assert int.from_bytes(goaway[-4:], "big") == h2.errors.ErrorCodes.FLOW_CONTROL_ERROR


@pytest.mark.parametrize("fast", [True, False])
def test_more_body_than_content_length_is_a_protocol_error(fast: bool) -> None:
    def script(server: h2.connection.H2Connection) -> None:
        _respond(server, 1, 10)

    data = _exchange(1, script) + _raw_data_frame(1, 11)
    conn = _client(1)
    with pytest.raises(h2.exceptions.ProtocolError):
        if fast:
            conn.receive_many([data])
        else:
            h2.connection.H2Connection.receive_data(conn, data)


def test_data_inside_a_header_block_is_refused() -> None:
    # HEADERS without END_HEADERS, then DATA instead of CONTINUATION: h2's path decides.
    headers = hyperframe.frame.HeadersFrame(1)
    headers.data = b"\x88"  # :status 200, static table
    data = _exchange(1, lambda server: None) + headers.serialize() + _raw_data_frame(1, 5)
    with pytest.raises(h2.exceptions.ProtocolError):
        _client(1).receive_many([data])


def test_after_a_connection_error_more_bytes_go_to_h2_which_refuses_them() -> None:
    data = _exchange(1, _overflowing)
    conn = _client(1)
    conn.receive_many([data])
    flood = b"".join(_raw_data_frame(1, 16384) for _ in range(WINDOW // 16384 + 1))
    with pytest.raises(h2.exceptions.FlowControlError):
        conn.receive_many([flood])
    # The connection is closed now: h2's own path handles (and refuses) what comes next.
    with pytest.raises(h2.exceptions.ProtocolError):
        conn.receive_many([_raw_data_frame(1, 10), _raw_data_frame(1, 10)])
