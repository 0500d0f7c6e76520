"""asyncio-only promises: cancellation leaves nothing behind, flow control, one reader."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

import pytest

from flext_api._backends.asyncio import AsyncioBackend, AsyncioStream, _deadlines
from flext_api._backends.auto import AutoBackend, default_async_backend
from flext_api._exceptions import ReadError, ReadTimeout, WriteError
from tests.backends.conftest import Server, echo

Serve = Callable[..., Server]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _connect(server: Server) -> AsyncioStream:
    return await AsyncioBackend().connect_tcp(server.host, server.port, timeout=5)


def _pending_timers() -> int:
    # Deadlines of waiting reads and writes live in the loop's one deadline registry; these
    # tests are about exactly that registry (nothing may outlive a wait).
    return len(_deadlines(asyncio.get_running_loop())._waiting)


async def test_cancelled_read_propagates_and_leaves_no_timer(silent_server: Server) -> None:
    stream = await _connect(silent_server)
    timers_before = _pending_timers()
    task = asyncio.create_task(stream.read(1024, timeout=30))
    await asyncio.sleep(0.05)
    assert _pending_timers() == timers_before + 1  # the read's one deadline
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _pending_timers() == timers_before
    # The stream is still usable for a new wait, then closes cleanly.
    with pytest.raises(ReadTimeout):
        await stream.read(1024, timeout=0.05)
    stream.close()


async def test_read_after_a_cancelled_read_gets_the_data(serve: Serve) -> None:
    release = threading.Event()

    def late_echo(sock: socket.socket) -> None:
        release.wait(5)
        echo(sock)

    server = serve(late_echo)
    stream = await _connect(server)
    task = asyncio.create_task(stream.read(1024, timeout=None))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await stream.write(b"after", timeout=1)
    assert await stream.read(1024, timeout=2) == b"after"
    stream.close()


async def test_close_during_a_read_fails_the_read(silent_server: Server) -> None:
    stream = await _connect(silent_server)
    task = asyncio.create_task(stream.read(1024, timeout=None))
    await asyncio.sleep(0.02)
    stream.close()
    with pytest.raises(ReadError, match="closed on this side"):
        await task


async def test_two_concurrent_readers_fail_loudly(silent_server: Server) -> None:
    stream = await _connect(silent_server)
    first = asyncio.create_task(stream.read(1024, timeout=None))
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="already reading"):
        await stream.read(1024, timeout=None)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    stream.close()


async def test_cancelled_write_leaves_no_timer(silent_server: Server) -> None:
    stream = await _connect(silent_server)
    timers_before = _pending_timers()
    chunk = b"x" * (4 * 1024 * 1024)

    async def write_forever() -> None:
        for _ in range(16):
            await stream.write(chunk, timeout=30)

    task = asyncio.create_task(write_forever())
    await asyncio.sleep(0.2)
    assert not task.done()  # blocked on the drain
    with pytest.raises(RuntimeError, match="already writing"):
        await stream._drain(timeout=1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _pending_timers() == timers_before
    stream.close()


async def test_close_during_a_blocked_write_fails_the_write(silent_server: Server) -> None:
    stream = await _connect(silent_server)

    async def write_forever() -> None:
        for _ in range(16):
            await stream.write(b"x" * (4 * 1024 * 1024), timeout=None)

    task = asyncio.create_task(write_forever())
    await asyncio.sleep(0.2)
    stream.close()
    with pytest.raises(WriteError, match="is closed"):
        await task


def _paused(stream: AsyncioStream) -> bool:
    return stream._reading_paused


async def test_reading_pauses_and_resumes_the_transport(serve: Serve) -> None:
    size = 2 * 1024 * 1024

    def flood(sock: socket.socket) -> None:
        sock.sendall(b"y" * size)
        sock.recv(1)

    server = serve(flood)
    stream = await _connect(server)
    await asyncio.sleep(0.3)
    # Unread, the buffer stops growing a little past the pause threshold.
    assert _paused(stream)
    assert stream._buffered < size
    received = 0
    while received < size:
        received += len(await stream.read(1 << 20, timeout=2))
    assert not _paused(stream)
    stream.close()


async def test_auto_backend_picks_asyncio(serve: Serve) -> None:
    server = serve(echo)
    stream = await default_async_backend().connect_tcp(server.host, server.port, timeout=5)
    assert isinstance(stream, AsyncioStream)
    stream.close()


async def test_auto_backend_refuses_other_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    import sniffio

    monkeypatch.setattr(sniffio, "current_async_library", lambda: "curio")
    with pytest.raises(RuntimeError, match="asyncio or trio, not on 'curio'"):
        await AutoBackend().connect_unix("/nonexistent", timeout=1)


async def test_many_waits_share_one_timer_and_each_expires(silent_server: Server) -> None:
    streams = [await _connect(silent_server) for _ in range(5)]
    results = await asyncio.gather(
        *(stream.read(1024, timeout=0.05 * (index + 1)) for index, stream in enumerate(streams)),
        return_exceptions=True,
    )
    assert all(isinstance(result, ReadTimeout) for result in results)
    assert _pending_timers() == 0  # every expired wait left the registry
    for stream in streams:
        stream.close()


async def test_read_available_takes_what_was_received_without_waiting(serve: Serve) -> None:
    server = serve(echo)
    stream = await _connect(server)
    assert stream.read_available(1024) == []  # nothing yet: no wait either
    payload = bytes(range(256)) * 1024
    await stream.write(payload, timeout=2)
    received = await stream.read(1024, timeout=2)
    deadline = asyncio.get_running_loop().time() + 5
    while len(received) < len(payload) and asyncio.get_running_loop().time() < deadline:
        pieces = stream.read_available(10_000)
        assert sum(map(len, pieces)) <= 10_000
        received += b"".join(pieces)
        await asyncio.sleep(0.001)
    assert received == payload
    stream.close()
