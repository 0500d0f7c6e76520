"""HTTP/2 downloads: the windows and frame size the client advertises, WINDOW_UPDATE batching,
backpressure on a stream nobody reads, and many streams interleaved on one connection.

The peers are real h2 servers: :class:`tests.servers.h2flood.FloodServer` (sends as fast as
flow control allows and records what the client advertised) and nghttpd. Written once as async
tests; ``tests/_sync/test_http2_flow.py`` is generated from this file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import partial
from typing import Any, Final, TypeVar

import h2.settings
import pytest

from flext_api import AsyncFlextApiClient, Failure, Success, Timeout
from flext_api._async.http2 import CONNECTION_WINDOW, MAX_FRAME_SIZE, STREAM_WINDOW

# unasync: begin-async-only
from tests.concurrency import agather as gather

# unasync: end-async-only
# unasync: sync-only: from tests.concurrency import gather
from tests.servers.h2flood import FloodServer, body
from tests.servers.h2peers import H2Peer, run_nghttpd, server_tls_context
from tests.servers.tls import TLSCertificates

pytestmark = pytest.mark.anyio  # unasync: remove

T = TypeVar("T")
MIB: Final = 1024 * 1024
DEFAULT_WINDOW: Final = 65535


@pytest.fixture
def flood(tls_certs: TLSCertificates) -> Iterator[FloodServer]:
    with FloodServer(server_tls_context(tls_certs.server)) as server:
        yield server


@pytest.fixture(scope="module")
def nghttpd(tls_certs: TLSCertificates) -> Iterator[H2Peer]:
    with run_nghttpd(tls_certs.server, tls_certs.ca_pem, big_size=1024 * 1024) as peer:
        yield peer


def ok(result: Success[T] | Failure[Any]) -> T:
    assert result.is_success, f"expected success, got {result!r}"
    return result.value


def h2_client(ca: Any) -> AsyncFlextApiClient:
    return AsyncFlextApiClient(verify=str(ca), http2=True, timeout=Timeout(60.0))


def test_the_advertised_limits_are_large() -> None:
    # The figures the rest of this file checks on the wire: a download must not wait for a
    # WINDOW_UPDATE round trip every 64 KiB, and may use frames larger than 16 KiB.
    assert STREAM_WINDOW >= 4 * MIB
    assert CONNECTION_WINDOW >= 4 * STREAM_WINDOW
    assert MAX_FRAME_SIZE >= MIB


async def test_client_advertises_its_windows_and_frame_size(
    flood: FloodServer, tls_certs: TLSCertificates
) -> None:
    async with h2_client(tls_certs.ca_pem) as client:
        response = ok(await client.get(flood.url + "/bytes/1000/1"))
    assert response.http_version == "HTTP/2"
    assert response.content == body(1000, 1)
    settings = flood.client_settings
    assert settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] == STREAM_WINDOW
    assert settings[h2.settings.SettingCodes.MAX_FRAME_SIZE] == MAX_FRAME_SIZE
    assert settings[h2.settings.SettingCodes.ENABLE_PUSH] == 0
    # The connection window is opened at once, before any data arrives.
    assert flood.window_updates[0][0] == CONNECTION_WINDOW - DEFAULT_WINDOW


async def test_frames_as_large_as_advertised_are_accepted(tls_certs: TLSCertificates) -> None:
    size = 8 * MIB + 5
    server = FloodServer(server_tls_context(tls_certs.server), frame_size=MAX_FRAME_SIZE)
    with server:
        async with h2_client(tls_certs.ca_pem) as client:
            response = ok(await client.get(server.url + f"/bytes/{size}/2"))
    assert response.content == body(size, 2)


async def test_window_updates_are_batched(flood: FloodServer, tls_certs: TLSCertificates) -> None:
    size = 24 * MIB
    digest = hashlib.sha256()
    client = h2_client(tls_certs.ca_pem)
    async with client, client.stream("GET", flood.url + f"/bytes/{size}/5") as result:
        async for chunk in ok(result).aiter_bytes():
            digest.update(chunk)
    assert digest.digest() == hashlib.sha256(body(size, 5)).digest()
    # h2 opens a window again once half of it was consumed: about one update per half
    # window, never one per frame (24 MiB is 1,536 frames of 16 KiB here).
    stream_updates = flood.window_updates.get(1, [])
    assert 1 <= len(stream_updates) <= size // (STREAM_WINDOW // 2) + 2
    assert min(stream_updates) >= STREAM_WINDOW // 2
    connection_updates = flood.window_updates[0][1:]  # after the initial opening
    assert len(connection_updates) <= size // (CONNECTION_WINDOW // 2) + 2


async def test_a_stream_nobody_reads_holds_at_most_its_window(
    flood: FloodServer, tls_certs: TLSCertificates
) -> None:
    slow_size, fast_size = 32 * MIB, 24 * MIB
    client = h2_client(tls_certs.ca_pem)
    async with client, client.stream("GET", flood.url + f"/bytes/{slow_size}/3") as slow:
        chunks = ok(slow).aiter_bytes()
        first = await chunks.__anext__()
        consumed = len(first)
        # Another stream's download makes this connection's reader take every frame the
        # server sends, the unread stream's included: they queue in the client...
        fast = ok(await client.get(flood.url + f"/bytes/{fast_size}/4"))
        assert fast.content == body(fast_size, 4)
        # ... but no more than its window: the server ran out of window for it (stream 1)
        # long before the 24 MiB of the other stream were through.
        assert 1 in flood.blocked
        assert flood.sent_on(1) <= consumed + STREAM_WINDOW
        assert flood.sent_on(3) == fast_size
        # Reading again opens the window: the rest arrives, every byte in place.
        digest = hashlib.sha256(first)
        async for chunk in chunks:
            digest.update(chunk)
            consumed += len(chunk)
    assert consumed == slow_size
    assert digest.digest() == hashlib.sha256(body(slow_size, 3)).digest()


async def test_many_interleaved_streams_each_get_their_own_bytes(
    tls_certs: TLSCertificates,
) -> None:
    # Frames of 1,000 bytes, round robin: every read holds pieces of several streams, and
    # half the streams use padded frames (h2's own path) beside plain ones (the short path).
    sizes = [0, 1, 999, 1000, 1001, 65535, 100_000, 1_048_583]
    cases = [(sizes[index % len(sizes)], index) for index in range(40)]
    server = FloodServer(server_tls_context(tls_certs.server), frame_size=1000)

    async def fetch(client: AsyncFlextApiClient, size: int, seed: int) -> None:
        kind = "padded" if seed % 2 else "bytes"
        response = ok(await client.get(server.url + f"/{kind}/{size}/{seed}"))
        assert response.content == body(size, seed), (size, seed)

    with server:
        async with h2_client(tls_certs.ca_pem) as client:
            await gather([partial(fetch, client, size, seed) for size, seed in cases])
            assert client.pool_stats.connections == 1


async def test_concurrent_downloads_from_nghttpd(
    nghttpd: H2Peer, tls_certs: TLSCertificates
) -> None:
    expected = (nghttpd.root / "big.bin").read_bytes()

    async def fetch(client: AsyncFlextApiClient) -> bytes:
        return ok(await client.get(nghttpd.url + "/big.bin")).content

    async with h2_client(nghttpd.ca_pem) as client:
        bodies = await gather([partial(fetch, client) for _ in range(20)])
        assert client.pool_stats.connections == 1
    assert all(content == expected for content in bodies)
