"""HTTP/2 against real servers: hypercorn, nghttpd and nginx, plus a scripted h2 server for
the faults real servers do not produce on demand (GOAWAY mid-flight, RST_STREAM, a shrinking
stream limit).

Written once as async tests; ``tests/_sync/test_http2.py`` is generated from this file, so every
case runs on the blocking client (concurrency: one thread per request), on asyncio and on trio.
nghttpd and nginx are Debian packages: a missing one fails with the apt line to install it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from functools import partial
from typing import Any, Final

import h2.errors
import pytest

from flext_api import AsyncFlextApiClient, Failure, Limits, ReadTimeout, Response, Success, Timeout
from flext_api._async.http2 import AsyncHTTP2Connection

# unasync: begin-async-only
from flext_api._backends.auto import default_async_backend

# unasync: end-async-only
# unasync: sync-only: from flext_api._backends.sync import default_sync_backend
from flext_api._headers import Headers
from flext_api._models import Request
from flext_api._urls import URL

# unasync: begin-async-only
from tests.concurrency import agather as gather

# unasync: end-async-only
# unasync: sync-only: from tests.concurrency import gather
from tests.servers.h2peers import (
    H2Peer,
    H2Script,
    ScriptedH2Server,
    run_nghttpd,
    run_nginx,
    server_tls_context,
)
from tests.servers.raw import HELLO_RESPONSE, RawServerFactory, respond_ok
from tests.servers.runners import RunningServer
from tests.servers.stall import BAD_HEADS, StallingEcho, bad_heads_h2
from tests.servers.tls import TLSCertificates

pytestmark = pytest.mark.anyio  # unasync: remove

BIG: Final = 64 * 1024 * 1024
HELLO: Final = b"hello, world"
RAW_HELLO: Final = HELLO_RESPONSE.split(b"\r\n\r\n", 1)[1]


@pytest.fixture(scope="module")
def nghttpd(tls_certs: TLSCertificates) -> Iterator[H2Peer]:
    with run_nghttpd(tls_certs.server, tls_certs.ca_pem, big_size=1024 * 1024) as peer:
        yield peer


@pytest.fixture(scope="module")
def nginx(tls_certs: TLSCertificates) -> Iterator[H2Peer]:
    with run_nginx(tls_certs.server, tls_certs.ca_pem, big_size=BIG) as peer:
        yield peer


@pytest.fixture
def scripted(tls_certs: TLSCertificates) -> Iterator[Any]:
    """A factory: ``scripted(H2Script(...))`` starts a TLS scripted server (stopped after)."""
    servers: list[ScriptedH2Server] = []

    def start(script: H2Script) -> ScriptedH2Server:
        server = ScriptedH2Server(script, server_tls_context(tls_certs.server)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def ok(result: Success[Response] | Failure[Any]) -> Response:
    assert result.is_success, f"expected success, got {result!r}"
    return result.value


def h2_client(ca: Any, **kwargs: Any) -> AsyncFlextApiClient:
    return AsyncFlextApiClient(verify=str(ca), http2=True, timeout=Timeout(20.0), **kwargs)


# -- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize("peer", ["hypercorn", "nghttpd", "nginx"])
async def test_alpn_selects_h2(
    peer: str, hypercorn_tls: RunningServer, nghttpd: H2Peer, nginx: H2Peer
) -> None:
    url, ca = {
        "hypercorn": (hypercorn_tls.url + "/", hypercorn_tls.ca_pem),
        "nghttpd": (nghttpd.url + "/index.html", nghttpd.ca_pem),
        "nginx": (nginx.url + "/index.html", nginx.ca_pem),
    }[peer]
    async with h2_client(ca) as client:
        first = ok(await client.get(url))
        second = ok(await client.get(url))
        assert client.pool_stats.connections == 1
    for response in (first, second):
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200
        assert response.content == HELLO
        assert response.reason_phrase == ""


@pytest.mark.parametrize("peer", ["hypercorn", "nghttpd"])
async def test_prior_knowledge_h2c(
    peer: str, hypercorn_tls: RunningServer, nghttpd: H2Peer
) -> None:
    url = {
        "hypercorn": f"{hypercorn_tls.insecure_url}/",
        "nghttpd": f"{nghttpd.clear_url}/index.html",
    }[peer]
    async with AsyncFlextApiClient(http2="prior-knowledge") as client:
        response = ok(await client.get(url))
    assert response.http_version == "HTTP/2"
    assert response.content == HELLO


async def test_http1_stays_default_and_http_urls_need_prior_knowledge(
    hypercorn_tls: RunningServer, nginx: H2Peer
) -> None:
    async with AsyncFlextApiClient(verify=str(hypercorn_tls.ca_pem)) as client:
        assert ok(await client.get(hypercorn_tls.url + "/")).http_version == "HTTP/1.1"
    async with h2_client(nginx.ca_pem) as client:
        # http2=True offers h2 through ALPN only: a clear-text URL stays HTTP/1.1.
        assert ok(await client.get(f"{nginx.clear_url}/index.html")).http_version == "HTTP/1.1"


async def test_alpn_falls_back_to_http1_when_the_server_does_not_offer_h2(
    raw_server: RawServerFactory, tls_certs: TLSCertificates
) -> None:
    server = raw_server(respond_ok, ssl_context=tls_certs.server.server_context())
    async with h2_client(tls_certs.ca_pem) as client:
        # Requests that start together wait for the first connection's ALPN answer, then
        # (HTTP/1.1) each open a connection of their own.
        results = await gather([lambda: client.get(server.url + "/") for _ in range(5)])
        stats = client.pool_stats
    for result in results:
        response = ok(result)
        assert response.http_version == "HTTP/1.1"
        assert response.content == RAW_HELLO
    assert 1 <= stats.connections <= 5
    assert stats.waiters == 0


async def test_invalid_http2_option_is_refused() -> None:
    with pytest.raises(ValueError, match="http2="):
        AsyncFlextApiClient(http2="yes")  # type: ignore[arg-type]


# -- multiplexing and pool capacity ----------------------------------------------------------


async def test_200_requests_over_streams_limit_100_open_exactly_two_connections(
    hypercorn_tls: RunningServer,
) -> None:
    # hypercorn allows 100 concurrent streams; each response waits 0.5 s, so all 200
    # requests are in flight together (threads start slowly on the sync side).
    async with h2_client(hypercorn_tls.ca_pem) as client:
        url = hypercorn_tls.url + "/delay/0.5"
        responses = await gather([lambda: client.get(url) for _ in range(200)])
        stats = client.pool_stats
    assert all(ok(result).content == HELLO for result in responses)
    assert stats.connections == 2, stats
    assert stats.waiters == 0


async def test_200_requests_queue_on_one_connection_when_max_connections_is_1(
    nghttpd: H2Peer,
) -> None:
    limits = Limits(max_connections=1)
    async with h2_client(nghttpd.ca_pem, limits=limits) as client:
        url = nghttpd.url + "/index.html"
        responses = await gather([lambda: client.get(url) for _ in range(200)])
        stats = client.pool_stats
    assert all(ok(result).content == HELLO for result in responses)
    assert stats.connections == 1, stats
    assert stats.waiters == 0


async def test_20_concurrent_callers_share_one_connection(hypercorn_tls: RunningServer) -> None:
    async with h2_client(hypercorn_tls.ca_pem) as client:

        async def caller() -> int:
            done = 0
            for _ in range(10):
                response = ok(await client.get(hypercorn_tls.url + "/"))
                assert response.content == HELLO
                done += 1
            return done

        counts = await gather([caller for _ in range(20)])
        assert client.pool_stats.connections == 1
    assert counts == [10] * 20


async def test_shrinking_stream_limit_is_respected(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script(max_concurrent_streams=100, shrink_to=2))
    async with h2_client(tls_certs.ca_pem, limits=Limits(max_connections=1)) as client:
        ok(await client.get(server.url + "/"))
        responses = await gather([lambda: client.get(server.url + "/") for _ in range(20)])
    assert all(ok(result).content == HELLO for result in responses)
    assert server.connections == 1


# -- bodies ---------------------------------------------------------------------------------


async def test_64mib_download_over_one_stream(nginx: H2Peer) -> None:
    expected = hashlib.sha256((nginx.root / "big.bin").read_bytes()).hexdigest()
    async with h2_client(nginx.ca_pem) as client:
        digest = hashlib.sha256()
        size = 0
        async with client.stream("GET", nginx.url + "/big.bin") as result:
            assert result.is_success, result
            response = result.value
            assert response.http_version == "HTTP/2"
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
                size += len(chunk)
        assert client.pool_stats.connections == 1
    assert size == BIG
    assert digest.hexdigest() == expected


async def test_64mib_upload_over_one_stream(nginx: H2Peer) -> None:
    body = bytes(range(256)) * (BIG // 256)
    async with h2_client(nginx.ca_pem) as client:
        response = ok(await client.put(nginx.url + "/upload/big.bin", content=body))
        assert response.http_version == "HTTP/2"
        assert response.status_code in (201, 204), response
        assert client.pool_stats.connections == 1
    stored = nginx.root / "upload" / "big.bin"
    assert stored.stat().st_size == BIG
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(body).digest()


async def test_streamed_upload_is_echoed(nghttpd: H2Peer) -> None:
    parts = [bytes([index]) * 100_000 for index in range(20)]
    async with h2_client(nghttpd.ca_pem) as client:
        response = ok(await client.post(nghttpd.url + "/index.html", content=iter(parts)))
    assert response.content == b"".join(parts)


async def test_trailers_are_exposed(
    nghttpd: H2Peer, scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script())
    async with h2_client(nghttpd.ca_pem) as client:
        response = ok(await client.get(nghttpd.url + "/index.html"))
        assert response.trailers is not None
        assert response.trailers["x-trailer"] == "done"
    async with h2_client(tls_certs.ca_pem) as client:
        response = ok(await client.get(server.url + "/trailers"))
        assert response.content == b"body"
        assert response.trailers is not None and response.trailers["x-checksum"] == "42"
        async with client.stream("GET", server.url + "/trailers") as result:
            assert result.is_success, result
            streamed = result.value
            before_body = streamed.trailers
            assert before_body is None
            assert (await streamed.aread()).unwrap() == b"body"
            assert streamed.trailers is not None and streamed.trailers["x-checksum"] == "42"


# -- faults ---------------------------------------------------------------------------------


async def test_server_reset_fails_one_stream_only(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script())
    async with h2_client(tls_certs.ca_pem) as client:
        reset, fine = await gather(
            [lambda: client.get(server.url + "/reset"), lambda: client.get(server.url + "/")]
        )
        again = ok(await client.get(server.url + "/"))
    assert isinstance(reset, Failure)
    assert reset.error_code == "REMOTE_PROTOCOL_ERROR"
    assert "stream reset by server (INTERNAL_ERROR)" in str(reset.error)
    assert ok(fine).content == HELLO and again.content == HELLO
    assert server.connections == 1


async def test_refused_stream_is_retried_once_for_idempotent_requests(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script(reset_code=h2.errors.ErrorCodes.REFUSED_STREAM))
    async with h2_client(tls_certs.ca_pem) as client:
        result = await client.get(server.url + "/reset")
    assert isinstance(result, Failure)
    assert "REFUSED_STREAM" in str(result.error)
    assert [path for _, _, path in server.streams_seen] == ["/reset", "/reset"]


async def test_goaway_mid_flight_finishes_lower_streams_and_retries_the_rest(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script(goaway_after=10, goaway_keep=4))
    async with h2_client(tls_certs.ca_pem) as client:
        results = await gather([lambda: client.get(server.url + "/hold") for _ in range(10)])
    assert all(ok(result).content == HELLO for result in results)
    assert server.connections == 2
    first = [stream for number, stream, _ in server.streams_seen if number == 1]
    second = [stream for number, stream, _ in server.streams_seen if number == 2]
    assert len(first) == 10 and len(second) == 6


async def test_goaway_fails_non_idempotent_requests_above_last_stream_id(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script(goaway_after=3, goaway_keep=0))
    async with h2_client(tls_certs.ca_pem) as client:
        results = await gather(
            [lambda: client.post(server.url + "/hold", content=b"x") for _ in range(3)]
        )
    for result in results:
        assert isinstance(result, Failure)
        assert result.error_code == "REMOTE_PROTOCOL_ERROR"
        assert "GOAWAY" in str(result.error)
    assert server.connections == 1


async def test_connection_loss_fails_every_open_stream(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    server = scripted(H2Script())
    async with h2_client(tls_certs.ca_pem) as client:
        ok(await client.get(server.url + "/"))

        async def hold() -> Any:
            return await client.post(server.url + "/hold", content=b"x")

        async def kill() -> None:
            # Stop the server once the held requests are on the wire.
            while sum(1 for _, _, path in server.streams_seen if path == "/hold") < 5:
                await _pause()
            server.stop()

        results = await gather([hold for _ in range(5)] + [kill])
    for result in results[:5]:
        assert isinstance(result, Failure), result
        assert result.error_code in ("REMOTE_PROTOCOL_ERROR", "READ_ERROR", "NETWORK_ERROR")


@pytest.mark.parametrize("case", sorted(BAD_HEADS))
async def test_invalid_response_head_fails_its_stream_only(
    case: str, raw_server: RawServerFactory
) -> None:
    resets: list[int] = []
    server = raw_server(partial(bad_heads_h2, resets=resets))
    async with AsyncFlextApiClient(http2="prior-knowledge", timeout=Timeout(20.0)) as client:
        bad = await client.get(f"{server.url}/bad/{case}")
        fine = ok(await client.get(server.url + "/"))
        stats = client.pool_stats
    assert isinstance(bad, Failure), bad
    assert bad.error_code == "REMOTE_PROTOCOL_ERROR"
    assert "127.0.0.1 sent an invalid HTTP/2 response head" in str(bad.error)
    # The stream was reset; the connection went on serving the next request.
    assert resets == [1]
    assert fine.content == b"fine"
    assert server.connections == 1 and stats.connections == 1


WRITE_FAILURES: Final = frozenset({"WRITE_TIMEOUT", "WRITE_ERROR", "READ_ERROR", "NETWORK_ERROR"})


@pytest.mark.parametrize("mode", ["h2c", "http1"])
async def test_writes_that_time_out_never_cost_a_later_request_its_response(
    mode: str, raw_server: RawServerFactory
) -> None:
    echo = StallingEcho()
    server = raw_server(echo.http1 if mode == "http1" else echo.h2, recv_buffer=4096)
    url = server.url + "/echo"
    timeout = Timeout(20.0, write=0.5)
    http2: Any = "prior-knowledge" if mode == "h2c" else False
    async with AsyncFlextApiClient(http2=http2, timeout=timeout) as client:
        assert ok(await client.get(url, headers={"x-id": "warm-up"})).content == b"warm-up"
        echo.reading.clear()

        async def post(index: int) -> Any:
            body = f"{index:06d}".encode() * (8 * 1024 * 1024 // 6)
            return await client.post(url, content=body, headers={"x-id": f"id-{index}"})

        blocked = await gather([partial(post, index) for index in range(4)])
        echo.reading.set()
        later = [await client.get(url, headers={"x-id": f"later-{n}"}) for n in range(5)]
    codes = [result.error_code for result in blocked if isinstance(result, Failure)]
    assert len(codes) == 4 and set(codes) <= WRITE_FAILURES, blocked
    assert "WRITE_TIMEOUT" in codes
    for number, result in enumerate(later):
        assert ok(result).content == f"later-{number}".encode()
    assert echo.protocol_errors == []


async def test_total_budget_bounds_the_wait_for_the_response_head(
    raw_server: RawServerFactory,
) -> None:
    echo = StallingEcho()
    echo.reading.clear()  # the request is never read, so never answered
    server = raw_server(echo.h2)
    backend = default_async_backend()
    stream = await backend.connect_tcp("127.0.0.1", server.port, timeout=10.0)
    connection = AsyncHTTP2Connection(("http", "127.0.0.1", server.port), stream)
    try:
        assert connection.try_reserve_stream()
        exchange = connection.open_stream()
        request = Request(
            "GET",
            URL(server.url + "/"),
            Headers({"x-id": "never"}),
            timeout=Timeout(30.0),
            deadline=time.monotonic() + 0.5,
        )
        # Under pytest's --timeout: returning at all (long before the 30 s read timeout)
        # with a read timeout is the point.
        with pytest.raises(ReadTimeout) as caught:
            await exchange.round_trip(request)
        exchange.close()
    finally:
        connection.close()
    assert caught.value.code == "READ_TIMEOUT"


# -- idle connections -------------------------------------------------------------------------


async def test_idle_connection_is_evicted_for_another_origin_when_the_pool_is_full(
    hypercorn_tls: RunningServer,
) -> None:
    events: list[str] = []
    async with AsyncFlextApiClient(
        verify=str(hypercorn_tls.ca_pem),
        http2="prior-knowledge",
        limits=Limits(max_connections=1),
        timeout=Timeout(20.0, pool=10.0),
        trace=lambda name, _: events.append(name),
    ) as client:
        clear = f"{hypercorn_tls.insecure_url}/delay/0.2"
        tls = f"{hypercorn_tls.url}/delay/0.2"
        # One after the other: the idle h2c connection makes room for the https origin.
        assert ok(await client.get(clear)).http_version == "HTTP/2"
        assert ok(await client.get(tls)).http_version == "HTTP/2"
        # At once: one waits for the pool, and gets the slot when the other's h2
        # connection goes idle.
        results = await gather([lambda: client.get(clear), lambda: client.get(tls)])
        stats = client.pool_stats
    assert all(ok(result).content == HELLO for result in results)
    # 4, or 3 when the https request came first and reused the idle https connection.
    assert events.count("connect.start") in (3, 4)
    assert stats.connections == 1 and stats.waiters == 0


@pytest.mark.parametrize("goaway", [True, False], ids=["goaway", "eof"])
async def test_connection_the_server_closed_while_idle_is_replaced_transparently(
    goaway: bool, scripted: Any, tls_certs: TLSCertificates
) -> None:
    script = H2Script(close_idle_goaway=goaway)
    server = scripted(script)
    async with h2_client(tls_certs.ca_pem) as client:
        ok(await client.get(server.url + "/"))
        script.close_idle.set()
        while not server.idle_closed.is_set():
            await _pause()
        # Not idempotent: it must not be sent on the dead connection at all.
        posted = ok(await client.post(server.url + "/", content=b"x"))
        again = ok(await client.get(server.url + "/"))
        stats = client.pool_stats
    assert posted.content == HELLO and again.content == HELLO
    assert server.connections == 2
    assert [number for number, _, _ in server.streams_seen] == [1, 2, 2]
    assert stats.connections == 1


async def test_frames_on_an_idle_connection_do_not_make_it_dead(
    scripted: Any, tls_certs: TLSCertificates
) -> None:
    script = H2Script()
    server = scripted(script)
    async with h2_client(tls_certs.ca_pem) as client:
        ok(await client.get(server.url + "/"))
        script.ping_idle.set()
        while not server.pinged.is_set():
            await _pause()
        await _sleep(0.05)  # the PING reaches the client
        posted = ok(await client.post(server.url + "/", content=b"x"))
        again = ok(await client.get(server.url + "/"))
    assert posted.content == HELLO and again.content == HELLO
    assert server.connections == 1
    assert [number for number, _, _ in server.streams_seen] == [1, 1, 1]


async def _sleep(seconds: float) -> None:
    # unasync: begin-async-only
    import anyio

    await anyio.sleep(seconds)
    # unasync: end-async-only
    # unasync: sync-only: import time
    # unasync: sync-only: time.sleep(seconds)


async def _pause() -> None:
    # unasync: begin-async-only
    import anyio

    await anyio.sleep(0.01)
    # unasync: end-async-only
    # unasync: sync-only: import time
    # unasync: sync-only: time.sleep(0.01)
