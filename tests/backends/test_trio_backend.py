"""trio-only promises: cancel scopes cancel reads and connects, and Cancelled is never caught."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable

import pytest
import trio

from flext_api._backends.auto import default_async_backend
from flext_api._backends.trio import TrioBackend, TrioStream
from flext_api._exceptions import ReadTimeout
from tests.backends.conftest import Server, echo

Serve = Callable[..., Server]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


async def test_cancel_scope_cancels_a_read(silent_server: Server) -> None:
    stream = await TrioBackend().connect_tcp(silent_server.host, silent_server.port, timeout=5)
    with trio.move_on_after(0.05) as scope:
        await stream.read(1024, timeout=None)
    assert scope.cancelled_caught
    with pytest.raises(ReadTimeout):
        await stream.read(1024, timeout=0.05)
    stream.close()


async def test_cancelled_is_not_caught_by_a_read_timeout(silent_server: Server) -> None:
    stream = await TrioBackend().connect_tcp(silent_server.host, silent_server.port, timeout=5)
    # The outer scope's deadline comes first: the Cancelled must reach it, not turn into
    # the read's ReadTimeout.
    with trio.move_on_after(0.05) as scope:
        await stream.read(1024, timeout=10)
    assert scope.cancelled_caught
    stream.close()


async def test_cancel_scope_cancels_a_tls_handshake(
    silent_server: Server, client_context: ssl.SSLContext
) -> None:
    with trio.move_on_after(0.1) as scope:
        await TrioBackend().connect_tcp(
            silent_server.host,
            silent_server.port,
            timeout=10,
            ssl_context=client_context,
            server_hostname="localhost",
        )
    assert scope.cancelled_caught


async def test_close_wakes_a_blocked_reader(silent_server: Server) -> None:
    stream = await TrioBackend().connect_tcp(silent_server.host, silent_server.port, timeout=5)
    errors: list[BaseException] = []

    async def reader() -> None:
        try:
            await stream.read(1024, timeout=None)
        except Exception as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.sleep(0.02)
        stream.close()
    assert len(errors) == 1
    assert "closed on this side" in str(errors[0])


async def test_auto_backend_picks_trio(serve: Serve) -> None:
    server = serve(echo)
    stream = await default_async_backend().connect_tcp(server.host, server.port, timeout=5)
    assert isinstance(stream, TrioStream)
    stream.close()


def test_close_outside_trio_releases_the_socket(serve: Serve) -> None:
    server = serve(echo)

    async def connect() -> TrioStream:
        return await TrioBackend().connect_tcp(server.host, server.port, timeout=5)

    stream = trio.run(connect)
    stream.close()  # no trio run active: must still release the descriptor
    assert stream.is_readable()


def test_asyncio_users_do_not_import_trio() -> None:
    import subprocess

    code = (
        "import sys, flext_api._backends.auto, flext_api._backends.asyncio; "
        "sys.exit('trio' in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_a_cancelled_write_keeps_its_unsent_bytes_for_the_next_write() -> None:
    # A listener that reads nothing until told: the write blocks once the buffers are full.
    import socket
    import threading

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    received = bytearray()
    release = threading.Event()

    def drain() -> None:
        conn, _ = listener.accept()
        with conn:
            release.wait(30)
            while data := conn.recv(65536):
                received.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        stream = await TrioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        data = bytes(range(256)) * (32 * 1024)  # 8 MiB: more than every buffer on the way
        with trio.move_on_after(0.3) as scope:
            await stream.write(data, timeout=None)
        assert scope.cancelled_caught
        release.set()
        await stream.write(b"tail", timeout=10)
        stream.close()
        await trio.to_thread.run_sync(reader.join, 30)
    finally:
        release.set()
        listener.close()
    # Nothing lost, nothing sent twice: the rest of the cancelled write went out first.
    assert len(received) == len(data) + 4
    assert bytes(received) == data + b"tail"


async def test_a_write_cancelled_before_it_starts_keeps_its_bytes() -> None:
    # The direct send of a plain socket checks cancellation first: the bytes are then kept
    # for the next write, as when trio's own send is cancelled.
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = bytearray()

    def drain() -> None:
        conn, _ = listener.accept()
        with conn:
            while data := conn.recv(65536):
                received.extend(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        stream = await TrioBackend().connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=5)
        with trio.CancelScope() as scope:
            scope.cancel()
            await stream.write(b"first,", timeout=None)
        assert scope.cancelled_caught
        await stream.write(b"second", timeout=10)
        stream.close()
        await trio.to_thread.run_sync(reader.join, 30)
    finally:
        listener.close()
    assert bytes(received) == b"first,second"
