"""The private h2/h11 internals flext-api relies on (flext_api._compat) still exist and behave.

An h2 or h11 release that renames or reshapes one of them fails here, naming the attribute,
instead of failing somewhere deep in a request.
"""

from __future__ import annotations

import re
from pathlib import Path

import h2.config
import h2.events
import h11

from flext_api._compat import (
    PRIVATE_API,
    ClientH2Connection,
    h11_header_fields,
    h11_headers,
    missing_private_api,
)

REQUEST = [(b":method", b"GET"), (b":path", b"/"), (b":scheme", b"http"), (b":authority", b"x")]
ROOT = Path(__file__).resolve().parent.parent / "flext_api"


def test_every_private_name_flext_api_uses_exists_in_the_installed_releases() -> None:
    assert missing_private_api() == []


def test_the_check_names_a_missing_attribute() -> None:
    class Reshaped:
        pass

    # The check must be able to fail: a class without the attribute is reported by name.
    entry = (Reshaped, "_data_to_send", "a test")
    original = PRIVATE_API
    try:
        import flext_api._compat as compat

        compat.PRIVATE_API = (*original, entry)  # type: ignore[misc]
        missing = compat.missing_private_api()
    finally:
        compat.PRIVATE_API = original  # type: ignore[misc]
    assert len(missing) == 1 and "Reshaped._data_to_send (used by a test)" in missing[0]


def _client_connection() -> ClientH2Connection:
    conn = ClientH2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    return conn


def test_h2_pending_bytes_are_seen_until_taken() -> None:
    conn = _client_connection()
    assert conn.has_data_to_send(), "h2's _data_to_send no longer holds the preface"
    assert conn.data_to_send().startswith(b"PRI * HTTP/2.0")
    assert not conn.has_data_to_send(), "h2's data_to_send() no longer empties _data_to_send"


def _server_answer(client: ClientH2Connection, end: bool) -> list[h2.events.Event]:
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    server.send_headers(1, [(b":status", b"200")], end_stream=end)
    return client.receive_data(server.data_to_send())


def test_h2_closed_stream_is_forgotten_and_late_frames_stay_legal() -> None:
    conn = _client_connection()
    conn.send_headers(
        1,
        REQUEST,
        end_stream=True,
    )
    events = _server_answer(conn, end=True)
    assert any(isinstance(event, h2.events.StreamEnded) for event in events)
    assert 1 in conn.streams
    conn.forget_stream(1)
    assert 1 not in conn.streams, "h2's streams/_closed_streams bookkeeping changed"
    # The stream still counts as closed (not unknown): h2's _closed_streams took it over.
    assert conn._stream_is_closed_by_end(1)
    assert conn.open_outbound_streams == 0


def test_h2_goaway_leaves_the_streams_below_its_last_id_able_to_finish() -> None:
    conn = _client_connection()
    conn.send_headers(
        1,
        REQUEST,
        end_stream=True,
    )
    server = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding=None)
    )
    server.initiate_connection()
    server.receive_data(conn.data_to_send())
    state = server.state_machine.state
    server.close_connection(last_stream_id=1)
    events = conn.receive_data(server.data_to_send())
    assert any(isinstance(event, h2.events.ConnectionTerminated) for event in events)
    # Without ClientH2Connection's override h2 refuses every frame after GOAWAY.
    server.state_machine.state = state  # RFC 9113 6.8: the server finishes stream 1
    server.send_headers(1, [(b":status", b"200")], end_stream=True)
    later = conn.receive_data(server.data_to_send())
    assert [type(event) for event in later] == [h2.events.ResponseReceived, h2.events.StreamEnded]


def test_h11_header_triples_round_trip_without_normalisation() -> None:
    triples = [(b"X-Mixed-Case", b"x-mixed-case", b"1"), (b"Host", b"host", b"example")]
    headers = h11_headers(triples)
    request = h11.Request(method="GET", target="/", headers=headers)
    assert h11_header_fields(request.headers) == triples
    # The raw names (case kept) are what goes on the wire.
    wire = h11.Connection(h11.CLIENT).send(request)
    assert wire is not None and b"X-Mixed-Case: 1\r\n" in wire


def test_no_module_outside_compat_touches_private_h2_or_h11_names() -> None:
    pattern = re.compile(
        r"h11\._|_h2\._(?!_)|\b(_data_to_send|_cull|_full_items|_closed_streams|_open_streams"
        r"|_frame_dispatch_table|_receive_frame|_prepare_for_sending)\b"
    )
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "_compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT.parent)}:{number}: {line.strip()}")
    assert offenders == []
