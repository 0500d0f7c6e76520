"""A generated stub behind a real uvicorn on 127.0.0.1 (both HTTP parsers): the factory's body
guard refuses a 256 MiB body at the limit without buffering it, a refusal reaches the
generated client as its typed error, and the server keeps serving afterwards."""

from __future__ import annotations

import importlib
import socket
import tracemalloc
from collections.abc import Iterator
from typing import Literal

import msgspec
import pytest

from flext_api import Failure, Success
from tests.hostile_server.stubs.conftest import Stub
from tests.hostile_server.stubs.test_refusals import VALID
from tests.servers.runners import RunningServer, run_uvicorn

HUGE = 256 * 1024 * 1024
CHUNK = 64 * 1024
# The whole process (server thread included) may not hold more than this while 256 MiB pass.
MEMORY_BOUND = 24 * 1024 * 1024


@pytest.fixture(params=["h11", "httptools"])
def served(request: pytest.FixtureRequest, hostile: Stub) -> Iterator[RunningServer]:
    parser: Literal["h11", "httptools"] = request.param
    with run_uvicorn(parser, app=hostile.app) as server:
        yield server


def _head(sock: socket.socket) -> tuple[int, bytes]:
    """Status and whole response of a ``Connection: close`` answer."""
    sock.settimeout(10)
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not piece:
            break
        data += piece
    return int(data.split(b" ", 2)[1]), data


def _send_huge(server: RunningServer, chunked: bool) -> tuple[int, bytes, int]:
    """Send a 256 MiB POST (chunked, or with its length declared); stop when the server hangs
    up. Returns the status, the response and the bytes the server let in."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % HUGE
    sock.sendall(
        b"POST /v1/things HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + framing
        + b"\r\n\r\n"
    )
    piece = (b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n") if chunked else b" " * CHUNK
    sent = 0
    sock.settimeout(2)
    try:
        while sent < HUGE:
            sock.sendall(piece)
            sent += CHUNK
    except OSError:  # the server answered and closed: the rest is never read
        pass
    with sock:
        status, response = _head(sock)
    return status, response, sent


@pytest.mark.parametrize("chunked", [True, False])
def test_a_256_mib_body_is_refused_at_the_limit_without_buffering(
    served: RunningServer, hostile: Stub, chunked: bool
) -> None:
    tracemalloc.start()
    try:
        status, response, sent = _send_huge(served, chunked)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413, response
    body = msgspec.json.decode(response.split(b"\r\n\r\n", 1)[1])
    assert body["error_code"] == "PAYLOAD_TOO_LARGE"
    assert body["details"] == {"max_body_bytes": 1_048_576}
    assert sent < HUGE  # refused early: the client could not push the whole body
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.1f} MiB while refusing"
    assert hostile.handlers.calls == []
    _client_round_trip(served, hostile)


def _client_round_trip(server: RunningServer, hostile: Stub) -> None:
    """The generated client against the served stub: accepted, and refused as its typed error."""
    package = hostile.result.package_dir.name
    client_module = importlib.import_module(f"{package}.client")
    errors = importlib.import_module(f"{package}.errors")
    cls = getattr(client_module, f"{hostile.result.api_name}Client")
    hostile.handlers.reply = (201, VALID)
    with cls(base_url=server.url + hostile.stubs.SERVER_PREFIX) as api:
        ok = api.create_thing(body=msgspec.convert(VALID, hostile.models.Thing))
        assert isinstance(ok, Success) and ok.value.name == "ok"
        # The client is tolerant: it sends what the stub refuses, and gets the typed 422 back.
        bad = msgspec.convert({**VALID, "kind": "omega", "count": 0}, hostile.models.Thing)
        refused = api.create_thing(body=bad)
        assert isinstance(refused, Failure), refused
        assert isinstance(refused.error, errors.InvalidError)
        assert refused.error.status_code == 422
        assert refused.error.body.message == "invalid request: body.kind, body.count"
        assert [e.split(":")[0] for e in refused.error.body.errors] == ["body.kind", "body.count"]
        again = api.get_thing(thing_id=0)
        assert isinstance(again, Failure) and again.error.status_code == 422
        assert b'"loc":["path","thingId"]' in again.error.response.content
