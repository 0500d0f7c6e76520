"""HTTP/2 attacks the transport already survives (h2c, prior knowledge): megabyte header blocks,
CONTINUATION floods, a peer that never opens the flow-control window, RST_STREAM on one stream
among many, GOAWAY mid-flight. Each ends in a stable error code with nothing left in use, and
the same client then gets a normal answer from the same origin.

Written once as async code; ``tests/hostile/_sync/test_h2_framing.py`` is generated from it.
"""

from __future__ import annotations

import functools

import pytest

from flext_api import AsyncFlextApiClient, Failure, FlextApiError, Response, Success, Timeout

# unasync: begin-async-only
from tests.concurrency import agather as gather

# unasync: end-async-only
# unasync: sync-only: from tests.concurrency import gather
from tests.servers.hostile_h2 import huge_header_block

from ..conftest import H2ServerFactory
from .checks import HELLO_H2, MIB, assert_recovers, failed, succeeded, traced_peak

# The hang guard: a client that falls for an attack fails here instead of stalling the run.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]  # unasync: remove
# unasync: sync-only: pytestmark = pytest.mark.timeout(60)


def h2c_client() -> AsyncFlextApiClient:
    return AsyncFlextApiClient(http2="prior-knowledge", timeout=Timeout(10))


async def test_megabytes_of_hpack_headers_fail_without_buffering_them(
    h2_server: H2ServerFactory,
) -> None:
    server = h2_server()
    huge_header_block(4 * MIB)  # built before measuring: the server sends it prebuilt
    async with h2c_client() as client:
        with traced_peak() as memory:
            result = failed(await client.get(server.url + f"/huge-hpack?size={4 * MIB}"))
        assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
        assert "127.0.0.1" in str(result.error)
        assert memory.peak < 8 * MIB, memory.peak
        await assert_recovers(client, server.url + "/ok", HELLO_H2)


async def test_continuation_flood_fails_without_buffering_it(
    h2_server: H2ServerFactory,
) -> None:
    server = h2_server()
    async with h2c_client() as client:
        with traced_peak() as memory:
            result = failed(await client.get(server.url + "/continuation-flood?frames=100000"))
        assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
        assert "127.0.0.1" in str(result.error)
        assert memory.peak < 8 * MIB, memory.peak
        await assert_recovers(client, server.url + "/ok", HELLO_H2)


async def test_peer_that_never_opens_the_window_fails_the_upload_with_write_timeout(
    h2_server: H2ServerFactory,
) -> None:
    server = h2_server()
    async with h2c_client() as client:
        result = failed(
            await client.post(
                server.url + "/no-window", content=b"u" * MIB, timeout=Timeout(10, write=0.3)
            )
        )
        assert result.error_code == "WRITE_TIMEOUT", result.error
        assert "127.0.0.1" in str(result.error)
        # The peer took exactly the initial window (65,535 bytes) and nothing more.
        assert server.stalled_bytes == 65535
        await assert_recovers(client, server.url + "/ok", HELLO_H2)


async def test_reset_of_one_stream_fails_only_that_request(h2_server: H2ServerFactory) -> None:
    server = h2_server()
    async with h2c_client() as client:

        async def get(path: str) -> Success[Response] | Failure[FlextApiError]:
            return await client.get(server.url + path)

        paths = ["/rst"] + [f"/echo/{index}?delay=50" for index in range(10)]
        results = await gather([functools.partial(get, path) for path in paths])
        reset = failed(results[0])
        assert reset.error_code == "REMOTE_PROTOCOL_ERROR", reset.error
        assert "INTERNAL_ERROR" in str(reset.error)
        for index, result in enumerate(results[1:]):
            assert succeeded(result).content == str(index).encode()
        await assert_recovers(client, server.url + "/ok", HELLO_H2)
        # All of it, the reset included, on one connection.
        assert server.connections == 1


async def test_goaway_mid_flight_fails_the_unprocessed_posts_and_the_client_recovers(
    h2_server: H2ServerFactory,
) -> None:
    server = h2_server(goaway_after=3)
    async with h2c_client() as client:
        results = await gather(
            [lambda: client.post(server.url + "/goaway", content=b"order") for _ in range(3)]
        )
        for result in results:
            assert isinstance(result, Failure), result
            assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
            assert "GOAWAY" in str(result.error)
        await assert_recovers(client, server.url + "/ok", HELLO_H2)
        # The connection that received GOAWAY is not reused.
        assert server.connections == 2
