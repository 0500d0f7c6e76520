"""Misuse is loud: an async client carried from one event loop to another fails with a code
that names the mistake, before it touches a connection of the first loop; a blocking call
interrupted by Ctrl-C (a real SIGINT to a child process) leaves the pool consistent."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import trio

from flext_api import AsyncFlextApiClient, Failure
from tests.servers.runners import RunningServer

ROOT = Path(__file__).resolve().parents[2]


def test_an_async_client_refuses_a_second_event_loop(uvicorn_h11: RunningServer) -> None:
    client = AsyncFlextApiClient(base_url=uvicorn_h11.url)

    async def call() -> object:
        return await client.get("/json")

    with asyncio.Runner() as first_loop:
        assert not isinstance(first_loop.run(call()), Failure)
        for moved in (asyncio.run(call()), trio.run(call)):
            assert isinstance(moved, Failure)
            assert moved.error_code == "EVENT_LOOP_MISMATCH"
            assert "one client per event loop" in str(moved.error)
        # The first loop's connection is still in the pool, untouched by the refused calls,
        # and the first loop can still use and close the client.
        assert client.pool_stats.connections == 1
        assert not isinstance(first_loop.run(call()), Failure)
        first_loop.run(client.aclose())


def test_a_client_with_no_connections_follows_the_loop_that_uses_it(
    uvicorn_h11: RunningServer,
) -> None:
    async def call_and_close() -> int:
        async with AsyncFlextApiClient(base_url=uvicorn_h11.url) as client:
            return (await client.get("/json")).unwrap().status_code

    assert asyncio.run(call_and_close()) == trio.run(call_and_close) == 200

    shared = AsyncFlextApiClient(base_url=uvicorn_h11.url, http2=False)

    async def refused() -> object:  # nothing connected yet: no connection to strand
        return await shared.get("http://127.0.0.1:1/")

    assert isinstance(asyncio.run(refused()), Failure)
    second = trio.run(refused)
    assert isinstance(second, Failure) and second.error_code != "EVENT_LOOP_MISMATCH"


CHILD = textwrap.dedent(
    """
    import socket, sys, threading, time
    from flext_api import FlextApiClient

    server = socket.create_server(("127.0.0.1", 0))
    def serve():
        while True:
            conn, _ = server.accept()
            def answer(conn=conn):
                pending = b""
                while data := conn.recv(65536):
                    pending += data
                    while b"\\r\\n\\r\\n" in pending:
                        head, pending = pending.split(b"\\r\\n\\r\\n", 1)
                        if b" /stall " in head:
                            print("stalled", flush=True)
                            time.sleep(3600)  # read the request, never answers
                        conn.sendall(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nok")
            threading.Thread(target=answer, daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()

    client = FlextApiClient(base_url=f"http://127.0.0.1:{server.getsockname()[1]}")
    print(client.get("/warm").unwrap().text, flush=True)
    print("calling", flush=True)
    try:
        client.get("/stall")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    stats = client.pool_stats
    print("pool", stats.connections, stats.idle, stats.in_use, stats.waiters, flush=True)
    print(client.get("/after").unwrap().text, flush=True)
    stats = client.pool_stats
    print("pool", stats.connections, stats.idle, stats.in_use, stats.waiters, flush=True)
    """
)


def test_ctrl_c_during_a_blocking_call_leaves_the_pool_consistent() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    lines = [child.stdout.readline().strip() for _ in range(3)]
    assert lines == ["ok", "calling", "stalled"]
    # The server has the request and the client is blocked reading the answer: Ctrl-C now.
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    # The interrupted connection was dropped, not given back half-read; the next call works
    # on a new connection, which then waits idle.
    assert out.splitlines() == ["interrupted", "pool 0 0 0 0", "ok", "pool 1 1 0 0"]
