"""A process that forks after using a client: parent and child each talk on their own sockets.

Without fork handling the child would reuse the parent's pooled connections (HTTP/1.1, TLS or
HTTP/2), so each process could read the other's responses, and closing them in the child
would cut the parent's. Every test here uses the client in the parent (by host name, so the
DNS executor has run), forks, sends requests from the child, then sends more from the parent,
and checks on the server's side which connection served whom:

* the child's requests get the child's answers, on connections of its own;
* the parent's next request still goes over its original connection and gets its answer.

The child reports through a pipe and always ends with ``os._exit``, never returning into
pytest. Sync is the main case; asyncio runs the parent's loop in a thread (so the parent keeps
its loop and connections across the fork) and the child uses a new loop with the same client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from flext_api import AsyncFlextApiClient, FlextApiClient, Limits, Response, Success
from tests.servers.h2peers import H2Script, ScriptedH2Server, server_tls_context
from tests.servers.raw import Handler, RawServerFactory, RequestReader
from tests.servers.tls import TLSCertificates

# Long enough for a loaded 2-core machine, short enough that a hung child fails the test.
CHILD_TIMEOUT = 60.0


def numbered_connections() -> Handler:
    """Answer every request with ``<connection number> <path>``: which connection served it."""
    counter = itertools.count(1)
    lock = threading.Lock()

    def script(conn: socket.socket) -> None:
        with lock:
            number = next(counter)
        reader = RequestReader(conn)
        while (head := reader.next_request()) is not None:
            path = head.split(b" ", 2)[1]
            body = b"%d %s" % (number, path)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    return script


def answer(result: Success[Response] | Any) -> str:
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    response: Response = result.value
    return f"{response.status_code} {response.content.decode()}"


def in_child(work: Callable[[], list[str]]) -> list[str]:
    """Fork; run ``work`` in the child and return what it returned (its failure, if any, is
    raised here with the child's message)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any of pytest's teardown
        code = 1
        try:
            os.close(read_end)
            try:
                report: dict[str, Any] = {"answers": work()}
                code = 0
            except BaseException as error:  # everything goes back to the parent
                report = {"error": f"{type(error).__name__}: {error}"}
            with os.fdopen(write_end, "w") as out:
                json.dump(report, out)
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as channel:
        received = channel.read()
    _, status = os.waitpid(pid, 0)
    report = json.loads(received) if received else {"error": "the child reported nothing"}
    assert "error" not in report, f"in the child: {report['error']}"
    assert os.waitstatus_to_exitcode(status) == 0
    answers: list[str] = report["answers"]
    return answers


# -- sync --------------------------------------------------------------------------------------


@pytest.mark.timeout(CHILD_TIMEOUT)
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_sync_child_uses_its_own_connections_and_the_parent_keeps_its_own(
    tls: bool, raw_server: RawServerFactory, tls_certs: TLSCertificates
) -> None:
    server = raw_server(
        numbered_connections(), ssl_context=tls_certs.server.server_context() if tls else None
    )
    base = f"{'https' if tls else 'http'}://localhost:{server.port}"
    with FlextApiClient(verify=str(tls_certs.ca_pem), limits=Limits(max_connections=4)) as client:
        assert answer(client.get(base + "/parent-1")) == "200 1 /parent-1"

        def child() -> list[str]:
            return [answer(client.get(f"{base}/child-{n}")) for n in (1, 2)]

        assert in_child(child) == ["200 2 /child-1", "200 2 /child-2"]
        assert answer(client.get(base + "/parent-2")) == "200 1 /parent-2"
        assert client.pool_stats.connections == 1
    assert server.connections == 2


@pytest.fixture
def h2_server(tls_certs: TLSCertificates) -> Iterator[ScriptedH2Server]:
    server = ScriptedH2Server(H2Script(), server_tls_context(tls_certs.server)).start()
    yield server
    server.stop()


def served_by(server: ScriptedH2Server) -> dict[str, int]:
    """Which server connection (1, 2...) received each path."""
    return {path: number for number, _, path in server.streams_seen}


@pytest.mark.timeout(CHILD_TIMEOUT)
def test_sync_child_does_not_share_the_parents_http2_connection(
    h2_server: ScriptedH2Server, tls_certs: TLSCertificates
) -> None:
    base = f"https://localhost:{h2_server.port}"
    with FlextApiClient(verify=str(tls_certs.ca_pem), http2=True) as client:
        assert answer(client.get(base + "/")) == "200 hello, world"

        def child() -> list[str]:
            return [answer(client.get(base + "/child")) for _ in range(2)]

        assert in_child(child) == ["404 not found"] * 2
        assert answer(client.get(base + "/")) == "200 hello, world"
        assert client.pool_stats.connections == 1
    # The child's streams went over a connection of its own; the parent's both over the first.
    assert served_by(h2_server)["/child"] == 2
    assert [number for number, _, path in h2_server.streams_seen if path == "/"] == [1, 1]
    assert h2_server.connections == 2


# -- asyncio -----------------------------------------------------------------------------------


class LoopThread:
    """The parent's event loop, running in a thread of its own across the fork."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CHILD_TIMEOUT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CHILD_TIMEOUT)
        self.loop.close()


@pytest.mark.timeout(CHILD_TIMEOUT)
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_asyncio_child_uses_a_new_loop_and_its_own_connections(
    tls: bool, raw_server: RawServerFactory, tls_certs: TLSCertificates
) -> None:
    server = raw_server(
        numbered_connections(), ssl_context=tls_certs.server.server_context() if tls else None
    )
    base = f"{'https' if tls else 'http'}://localhost:{server.port}"
    client = AsyncFlextApiClient(verify=str(tls_certs.ca_pem))
    parent = LoopThread()
    try:

        async def get(path: str) -> str:
            return answer(await client.get(base + path))

        assert parent.run(get("/parent-1")) == "200 1 /parent-1"

        def child() -> list[str]:
            async def requests() -> list[str]:
                return [await get("/child-1"), await get("/child-2")]

            return asyncio.run(requests())

        assert in_child(child) == ["200 2 /child-1", "200 2 /child-2"]
        assert parent.run(get("/parent-2")) == "200 1 /parent-2"
        assert client.pool_stats.connections == 1
        parent.run(client.aclose())
    finally:
        parent.close()
    assert server.connections == 2
