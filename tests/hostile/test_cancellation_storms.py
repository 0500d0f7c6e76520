"""Cancellation storms: 200 requests in flight, each carrying its id in the path, which the
server echoes after a random short delay; a random third is cancelled at random moments, and a
few are uploads whose body write is blocked (the server stops reading, or never opens the HTTP/2
flow-control window) and are always cancelled.

What a user would notice if cancellation tore the client: a request that completes with
ANOTHER request's answer, a connection left counted in use, or a client that no longer works.
So every request that completes must carry its own id, the pool must have nothing in use
afterwards, and 20 more requests must succeed with their own ids.

Each runtime cancels its own way: asyncio with ``task.cancel()``, trio with cancel scopes, the
blocking client with threads whose per-call timeouts are short (it cannot be cancelled). Runs on
HTTP/1.1 and on HTTP/2 (h2c, prior knowledge). The random choices come from a seeded generator,
so a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

import anyio
import pytest
import trio

from flext_api import (
    AsyncFlextApiClient,
    Failure,
    FlextApiClient,
    FlextApiError,
    Response,
    Success,
    Timeout,
    WriteTimeout,
)
from flext_api._backends.auto import default_async_backend
from flext_api._backends.base import AsyncNetworkStream
from tests.servers.hostile_h1 import StallLog, echo_ids
from tests.servers.hostile_h2 import HostileH2Server
from tests.servers.raw import RawServerFactory

from .conftest import H2ServerFactory

REQUESTS: Final = 200
STALLED: Final = 5  # of the 200, uploads whose write blocks; always cancelled
AFTERWARDS: Final = 20
# Every request of a storm takes milliseconds on loopback: this long means stuck.
STORM_TIMEOUT: Final = Timeout(5)
MAX_DELAY_MS: Final = 30
SEED: Final = 20261204
# How long the storm waits for the server to hold a stalled upload before cancelling them anyway.
STALL_WAIT: Final = 10.0
# HTTP/1.1: more than loopback's socket buffers hold, so the write blocks; HTTP/2: more than
# the 65,535-byte window the server never opens.
STALLED_BODY: Final = b"s" * (16 * 1024 * 1024)

AnyResult = Success[Response] | Failure[FlextApiError]

# The hang guard: a storm that wedges the client fails here instead of stalling the run.
pytestmark = pytest.mark.timeout(90)


@dataclass
class Plan:
    """Who is asked for what, who is cancelled and when (seconds after the start)."""

    paths: list[str]
    stalled: set[int]
    cancel_at: dict[int, float]


def make_plan(seed: int, stall_path: str) -> Plan:
    """``stall_path`` is a template: ``{index}`` becomes the request's id."""
    rng = random.Random(seed)
    stalled = set(rng.sample(range(REQUESTS), STALLED))
    paths = [
        stall_path.format(index=index)
        if index in stalled
        else f"/echo/{index}?delay={rng.randint(0, MAX_DELAY_MS)}"
        for index in range(REQUESTS)
    ]
    echoed = [index for index in range(REQUESTS) if index not in stalled]
    cancel_at = {index: rng.uniform(0.0, 0.05) for index in rng.sample(echoed, REQUESTS // 3)}
    # The stalled uploads are cancelled once their write has had time to block.
    cancel_at.update({index: rng.uniform(0.3, 0.5) for index in sorted(stalled)})
    return Plan(paths, stalled, cancel_at)


@dataclass
class Origin:
    url: str
    http2: bool | str
    stall_path: str  # a template, see make_plan
    # What the server saw of the stalled uploads (requests / bytes it held): a storm whose
    # uploads never stalled would test nothing about blocked writes.
    stalls: Callable[[], int]


@pytest.fixture(params=["http/1.1", "h2c"])
def origin(
    request: pytest.FixtureRequest, raw_server: RawServerFactory, h2_server: H2ServerFactory
) -> Origin:
    if request.param == "http/1.1":
        # A small receive buffer on the server side: a stalled upload blocks sooner.
        log = StallLog()
        server = raw_server(echo_ids(log), recv_buffer=4096)
        return Origin(server.url, False, "/stall/{index}", lambda: log.count)
    h2 = h2_server()
    # The HTTP/2 server withholds the window of the path "/no-window" exactly: the id goes in
    # the query (a "/no-window/<id>" path would be read in full and never answered).
    return Origin(h2.url, "prior-knowledge", "/no-window?id={index}", lambda: h2.stalled_bytes)


def check_own_ids(plan: Plan, outcomes: dict[int, Any]) -> None:
    """Every completed request got its own id; only cancelled ones may be missing."""
    for index, path in enumerate(plan.paths):
        outcome = outcomes.get(index)
        if outcome is None:
            assert index in plan.cancel_at, f"request {index} vanished without being cancelled"
            continue
        assert index not in plan.stalled, f"stalled upload {index} completed: {outcome!r}"
        assert isinstance(outcome, Success), f"request {index} ({path}): {outcome!r}"
        assert outcome.value.content == str(index).encode(), (index, outcome.value.content)


def assert_nothing_in_use(client: AsyncFlextApiClient | FlextApiClient) -> None:
    stats = client.pool_stats
    assert stats.in_use == 0, stats
    assert stats.waiters == 0, stats


async def afterwards(client: AsyncFlextApiClient, url: str) -> None:
    """20 more requests at once, each with its own id, all succeed."""
    results: dict[int, AnyResult] = {}

    async def one(index: int) -> None:
        results[index] = await client.get(f"{url}/echo/{1000 + index}?delay=1")

    async with anyio.create_task_group() as group:
        for index in range(AFTERWARDS):
            group.start_soon(one, index)
    for index in range(AFTERWARDS):
        result = results[index]
        assert isinstance(result, Success), result
        assert result.value.content == str(1000 + index).encode()
    assert_nothing_in_use(client)


def call(client: AsyncFlextApiClient, url: str, plan: Plan, index: int) -> Any:
    if index in plan.stalled:
        return client.post(url + plan.paths[index], content=STALLED_BODY)
    return client.get(url + plan.paths[index])


async def first_stall(stalls: Callable[[], int]) -> None:
    """Returns once the server holds a stalled upload (at most STALL_WAIT seconds). On a busy
    machine 200 connections may take longer to reach the server than the planned 0.3-0.5 s:
    cancelling the stalled uploads before any of them blocked would test no blocked write."""
    with anyio.move_on_after(STALL_WAIT):
        while stalls() == 0:
            await anyio.sleep(0.01)


async def storm_asyncio(
    client: AsyncFlextApiClient, url: str, plan: Plan, stalls: Callable[[], int]
) -> dict[int, Any]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = [asyncio.create_task(call(client, url, plan, i)) for i in range(REQUESTS)]
    for index, delay in plan.cancel_at.items():
        if index not in plan.stalled:
            loop.call_later(delay, tasks[index].cancel)
    # The stalled uploads: at their planned moment, but not before the server holds one.
    await first_stall(stalls)
    for index in plan.stalled:
        loop.call_at(max(loop.time(), start + plan.cancel_at[index]), tasks[index].cancel)
    done = await asyncio.gather(*tasks, return_exceptions=True)
    outcomes: dict[int, Any] = {}
    for index, outcome in enumerate(done):
        if isinstance(outcome, asyncio.CancelledError):
            continue
        assert not isinstance(outcome, BaseException), (index, outcome)
        outcomes[index] = outcome
    return outcomes


async def storm_trio(
    client: AsyncFlextApiClient, url: str, plan: Plan, stalls: Callable[[], int]
) -> dict[int, Any]:
    outcomes: dict[int, Any] = {}
    start = trio.current_time()
    stalled_scopes = {index: trio.CancelScope() for index in plan.stalled}

    async def one(index: int) -> None:
        with stalled_scopes.get(index) or trio.CancelScope() as scope:
            delay = plan.cancel_at.get(index)
            if delay is not None and index not in plan.stalled:
                scope.deadline = start + delay
            outcomes[index] = await call(client, url, plan, index)

    async def cancel_stalled() -> None:
        # The stalled uploads: at their planned moment, but not before the server holds one.
        await first_stall(stalls)
        for index, scope in stalled_scopes.items():
            scope.deadline = max(trio.current_time(), start + plan.cancel_at[index])

    async with trio.open_nursery() as nursery:
        for index in range(REQUESTS):
            nursery.start_soon(one, index)
        nursery.start_soon(cancel_stalled)
    return outcomes


@pytest.mark.anyio
async def test_cancellation_storm_every_answer_reaches_its_own_request_async(
    anyio_backend: str, origin: Origin
) -> None:
    plan = make_plan(SEED, origin.stall_path)
    storm: Callable[..., Any] = storm_asyncio if anyio_backend == "asyncio" else storm_trio
    async with AsyncFlextApiClient(
        http2=origin.http2,  # type: ignore[arg-type]
        timeout=STORM_TIMEOUT,
    ) as client:
        with anyio.fail_after(60):
            outcomes = await storm(client, origin.url, plan, origin.stalls)
        check_own_ids(plan, outcomes)
        assert origin.stalls() > 0, "no upload ever stalled: the storm tested no blocked write"
        # Cancellation happened: at least the stalled uploads never completed.
        assert len(outcomes) <= REQUESTS - STALLED
        assert_nothing_in_use(client)
        await afterwards(client, origin.url)


def test_cancellation_storm_every_answer_reaches_its_own_request_sync(origin: Origin) -> None:
    """The blocking client cannot be cancelled: "cancelled" requests get short timeouts (a read
    timeout inside the server's delay; a write timeout for the stalled uploads)."""
    plan = make_plan(SEED, origin.stall_path)
    with FlextApiClient(http2=origin.http2, timeout=STORM_TIMEOUT) as client:  # type: ignore[arg-type]

        def one(index: int) -> AnyResult:
            url = origin.url + plan.paths[index]
            if index in plan.stalled:
                return client.post(url, content=STALLED_BODY, timeout=Timeout(5, write=0.2))
            delay = plan.cancel_at.get(index)
            if delay is None:
                return client.get(url)
            return client.get(url, timeout=Timeout(5, read=max(delay / 5, 0.001)))

        with ThreadPoolExecutor(max_workers=REQUESTS) as executor:
            done = list(executor.map(one, range(REQUESTS)))
        outcomes: dict[int, Any] = {}
        for index, result in enumerate(done):
            if isinstance(result, Failure) and index in plan.cancel_at:
                expected = "WRITE_TIMEOUT" if index in plan.stalled else "READ_TIMEOUT"
                assert result.error_code == expected, (index, result.error)
                continue
            outcomes[index] = result
        check_own_ids(plan, outcomes)
        assert origin.stalls() > 0, "no upload ever stalled: the storm tested no blocked write"
        assert_nothing_in_use(client)
        with ThreadPoolExecutor(max_workers=AFTERWARDS) as executor:
            again = list(
                executor.map(
                    lambda i: client.get(f"{origin.url}/echo/{1000 + i}?delay=1"),
                    range(AFTERWARDS),
                )
            )
        for index, result in enumerate(again):
            assert isinstance(result, Success), result
            assert result.value.content == str(1000 + index).encode()
        assert_nothing_in_use(client)


# --- a cancelled HTTP/2 write never leaks into another request -----------------------------------


@pytest.mark.anyio
async def test_cancelled_http2_upload_never_hands_its_body_to_a_later_request(
    anyio_backend: str, h2_server: H2ServerFactory
) -> None:
    """Upload A (1 MiB of b"A", paced by flow control) is cancelled at a random moment while
    upload B (b"B") runs on the same connection; the server echoes what it received on each
    stream, so B must get back exactly its own body, round after round."""
    server = h2_server()
    rng = random.Random(SEED)
    big = b"A" * (1024 * 1024)
    # Each upload takes milliseconds on loopback: 3 s means stuck.
    async with AsyncFlextApiClient(http2="prior-knowledge", timeout=Timeout(3)) as client:
        for round_ in range(15):
            body_b = b"B%d-" % round_ * 5000
            answers: dict[str, AnyResult] = {}

            async def upload_a(
                round_: int = round_, answers: dict[str, AnyResult] = answers
            ) -> None:
                with anyio.CancelScope() as scope:
                    scope.deadline = anyio.current_time() + rng.uniform(0.0, 0.03)
                    answers["a"] = await client.post(server.url + f"/echo/a{round_}", content=big)

            async def upload_b(
                round_: int = round_,
                body_b: bytes = body_b,
                answers: dict[str, AnyResult] = answers,
            ) -> None:
                await anyio.sleep(rng.uniform(0.0, 0.02))
                answers["b"] = await client.post(server.url + f"/echo/b{round_}", content=body_b)

            with anyio.fail_after(10):
                async with anyio.create_task_group() as group:
                    group.start_soon(upload_a)
                    group.start_soon(upload_b)
            result_b = answers["b"]
            assert isinstance(result_b, Success), result_b
            assert result_b.value.content == b"b%d:" % round_ + body_b
            if "a" in answers:
                result_a = answers["a"]
                assert isinstance(result_a, Success), result_a
                assert result_a.value.content == b"a%d:" % round_ + big
            assert_nothing_in_use(client)
        after = await client.post(server.url + "/echo/last", content=b"mine")
        assert isinstance(after, Success), after
        assert after.value.content == b"last:mine"
        assert_nothing_in_use(client)


# --- frames a cancelled writer leaves behind reach the wire while a reader blocks ----------------


class HeldStream:
    """A real network stream whose writes wait while ``hold`` is set: a socket buffer that is
    full for as long as the test says. A write cancelled while held keeps its bytes for the
    next write, as every backend must (``flext_api._backends.base``)."""

    def __init__(self, inner: AsyncNetworkStream) -> None:
        self.inner = inner
        self.hold: anyio.Event | None = None
        self.writer_held = anyio.Event()  # a write is waiting on ``hold``
        self.reader_blocked = anyio.Event()  # a read started while a write was held
        self.pending = b""

    async def write(self, data: bytes, timeout: float | None) -> None:
        data, self.pending = self.pending + data, b""
        if self.hold is not None:
            self.writer_held.set()
            try:
                with anyio.move_on_after(math.inf if timeout is None else timeout) as waited:
                    await self.hold.wait()
            except BaseException:
                self.pending = data  # cancelled before anything went out
                raise
            if waited.cancelled_caught:
                raise WriteTimeout(f"timed out after {timeout} s (held by the test)")
        await self.inner.write(data, timeout)

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if self.hold is not None and self.writer_held.is_set():
            self.reader_blocked.set()
        return await self.inner.read(max_bytes, timeout)

    def close(self) -> None:
        self.inner.close()

    def is_readable(self) -> bool:
        return self.inner.is_readable()

    async def start_tls(self, *args: Any, **kwargs: Any) -> AsyncNetworkStream:
        raise AssertionError("h2c only")

    @property
    def alpn_protocol(self) -> str | None:
        return self.inner.alpn_protocol


class HeldBackend:
    def __init__(self) -> None:
        self.inner = default_async_backend()
        self.streams: list[HeldStream] = []

    async def connect_tcp(self, host: str, port: int, **kwargs: Any) -> HeldStream:
        stream = HeldStream(await self.inner.connect_tcp(host, port, **kwargs))
        self.streams.append(stream)
        return stream

    async def connect_unix(self, path: str, **kwargs: Any) -> HeldStream:
        raise AssertionError("TCP only")


@pytest.mark.anyio
async def test_frames_a_cancelled_writer_left_reach_the_server_while_another_request_reads(
    anyio_backend: str, h2_server: H2ServerFactory
) -> None:
    """Request A is the connection's writer, its write blocked (a full socket buffer); request B
    queues its HEADERS for A to send and becomes the reader; then A is cancelled. Nobody else
    will write: B's own read must send what A left (A's request and reset, B's HEADERS), or B
    waits for an answer to a request the server never received, until its timeout."""
    server = h2_server()
    backend = HeldBackend()
    async with AsyncFlextApiClient(
        http2="prior-knowledge",
        timeout=Timeout(3),
        backend=backend,
    ) as client:
        warm = await client.get(server.url + "/echo/warm")
        assert isinstance(warm, Success), warm
        (stream,) = backend.streams
        stream.hold = anyio.Event()
        answers: dict[str, AnyResult] = {}
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                scope = anyio.CancelScope()

                async def request_a() -> None:
                    with scope:
                        answers["a"] = await client.post(server.url + "/echo/a", content=b"a")

                async def request_b() -> None:
                    answers["b"] = await client.get(server.url + "/echo/b")

                group.start_soon(request_a)
                await stream.writer_held.wait()
                group.start_soon(request_b)
                await stream.reader_blocked.wait()
                scope.cancel()
                stream.hold = None  # the socket drains; nobody but B is left to write
        assert "a" not in answers
        result_b = answers["b"]
        assert isinstance(result_b, Success), result_b
        assert result_b.value.content == b"b"
        assert_nothing_in_use(client)
    # A's request went out whole and was then reset: the server holds nothing for it.
    assert server.requests == ["/echo/warm", "/echo/a", "/echo/b"]
    assert server.resets == 1


@pytest.mark.anyio
async def test_a_write_timeout_is_reported_by_its_own_request_only(
    anyio_backend: str, h2_server: H2ServerFactory
) -> None:
    """Request A (write timeout 0.2 s) is the connection's writer when the socket stops taking
    bytes; request B's HEADERS wait behind that write. The connection is lost for both, but
    only A timed out: B reports the lost connection, not A's timeout."""
    server = h2_server()
    backend = HeldBackend()
    async with AsyncFlextApiClient(
        http2="prior-knowledge", timeout=Timeout(5), backend=backend
    ) as client:
        warm = await client.get(server.url + "/echo/warm")
        assert isinstance(warm, Success), warm
        (stream,) = backend.streams
        stream.hold = anyio.Event()
        answers: dict[str, AnyResult] = {}

        async def request_a() -> None:
            answers["a"] = await client.post(
                server.url + "/echo/a", content=b"a", timeout=Timeout(5, write=0.2)
            )

        async def request_b() -> None:
            answers["b"] = await client.get(server.url + "/echo/b")

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(request_a)
                await stream.writer_held.wait()
                group.start_soon(request_b)
        result_a, result_b = answers["a"], answers["b"]
        assert isinstance(result_a, Failure) and result_a.error_code == "WRITE_TIMEOUT", result_a
        assert isinstance(result_b, Failure) and result_b.error_code == "WRITE_ERROR", result_b
        assert "another request's write timed out" in str(result_b.error)
        assert_nothing_in_use(client)
        stream.hold = None
        after = await client.get(server.url + "/echo/after")
        assert isinstance(after, Success), after
        assert after.value.content == b"after"


# --- a reset nobody is left to send never holds the server's stream --------------------------

STALL_UPLOAD: Final = b"u" * (1024 * 1024)  # more than the 65,535-byte window /no-window gives


def server_released_the_stream(server: HostileH2Server) -> bool:
    """The server got the reset of its one stream, or its connection ended (it waits at most
    5 s for that): either way it no longer holds the stream, nor the window it used."""
    (thread,) = server._threads
    for _ in range(500):
        if server.resets == 1 or not thread.is_alive():
            return True
        thread.join(0.01)
    return False


@pytest.mark.anyio
async def test_cancelled_upload_alone_on_its_connection_does_not_hold_the_server_stream(
    anyio_backend: str, h2_server: H2ServerFactory
) -> None:
    """The upload's body waits for window the server never gives; it is cancelled, and no other
    request uses the connection: its RST_STREAM has nobody to send it."""
    server = h2_server()
    async with AsyncFlextApiClient(http2="prior-knowledge", timeout=Timeout(5)) as client:
        warm = await client.get(server.url + "/echo/warm")
        assert isinstance(warm, Success), warm
        with anyio.move_on_after(0.3) as scope:
            await client.post(server.url + "/no-window", content=STALL_UPLOAD)
        assert scope.cancelled_caught
        assert server.stalled_bytes == 65535  # the upload did block on the window
        assert_nothing_in_use(client)
        assert await anyio.to_thread.run_sync(server_released_the_stream, server)
        after = await client.get(server.url + "/echo/after")
        assert isinstance(after, Success), after
        assert after.value.content == b"after"
        assert_nothing_in_use(client)


def test_upload_that_timed_out_alone_on_its_connection_does_not_hold_the_server_stream(
    h2_server: H2ServerFactory,
) -> None:
    """The blocking client's version: the upload ends in its write timeout (no window). The
    call that times out sends the reset itself, so the connection serves the next request."""
    server = h2_server()
    with FlextApiClient(http2="prior-knowledge", timeout=Timeout(5)) as client:
        warm = client.get(server.url + "/echo/warm")
        assert isinstance(warm, Success), warm
        result = client.post(
            server.url + "/no-window", content=STALL_UPLOAD, timeout=Timeout(5, write=0.2)
        )
        assert isinstance(result, Failure) and result.error_code == "WRITE_TIMEOUT", result
        assert server.stalled_bytes == 65535
        assert_nothing_in_use(client)
        assert server_released_the_stream(server)
        after = client.get(server.url + "/echo/after")
        assert isinstance(after, Success), after
        assert after.value.content == b"after"
        assert_nothing_in_use(client)
    assert server.resets == 1 and server.connections == 1
