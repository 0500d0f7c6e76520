"""Faults a user meets, one test each: the failure code, a message that helps, and a client
that still works afterwards (a follow-up request succeeds and no connection is left in use).

Written once as async code; ``tests/_sync/test_faults.py`` is generated from it, so every test
here runs on the blocking client, on asyncio and on trio. Nothing here may name an event loop
library: async-only tests live in ``tests/async_only``.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import pytest

from flext_api import (
    AsyncFlextApiClient,
    Failure,
    FlextApiError,
    InsecureTLSWarning,
    Limits,
    Response,
    Success,
    Timeout,
    TransportError,
)
from tests.servers.app import HELLO
from tests.servers.raw import (
    HELLO_RESPONSE,
    RawServer,
    RawServerFactory,
    RequestReader,
    body_longer_than_content_length,
    close_mid_body,
    garbage_status_line,
    never_respond,
    oversized_headers,
    read_request,
    respond_ok,
    slow_reader,
)
from tests.servers.runners import RunningServer
from tests.servers.tls import TLSCertificates

pytestmark = pytest.mark.anyio  # unasync: remove

# What the raw scripts answer (the ASGI app answers HELLO, without the newline).
RAW_HELLO = b"hello, world\n"
# Long enough for any loopback exchange on a busy machine, short enough to fail fast.
EVENT_TIMEOUT = 10.0


def failed(result: Success[Any] | Failure[FlextApiError]) -> Failure[FlextApiError]:
    """The result, which must be a Failure (the Success is shown otherwise)."""
    assert isinstance(result, Failure), f"expected a Failure, got {result!r}"
    return result


def succeeded(result: Success[Response] | Failure[FlextApiError]) -> Response:
    """The response of a result that must be a Success (the error is shown otherwise)."""
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


def assert_pool_idle(client: AsyncFlextApiClient) -> None:
    stats = client.pool_stats
    assert stats.in_use == 0, stats
    assert stats.waiters == 0, stats
    assert 0 <= stats.idle <= stats.connections, stats


async def assert_still_works(client: AsyncFlextApiClient, healthy: RunningServer) -> None:
    """The client that just failed serves the next request and leaks no connection."""
    assert_pool_idle(client)
    response = succeeded(await client.get(healthy.url + "/"))
    assert response.status_code == 200
    assert response.content == HELLO
    assert_pool_idle(client)


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class RequestLog:
    """Counts the requests a raw script has read, across its connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.heads: list[bytes] = []

    def add(self, head: bytes) -> int:
        with self._lock:
            self.heads.append(head)
            return len(self.heads)

    @property
    def methods(self) -> list[str]:
        with self._lock:
            return [head.split(b" ", 1)[0].decode("ascii") for head in self.heads]


# --- the request itself is wrong: refused before anything is sent ----------------------------


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://exa mple.com/", "space"),
        ("http://127.0.0.1:99999/", "port"),
        ("http://[::1/", "http://[::1/"),
        ("/no/scheme", "scheme"),
    ],
)
async def test_malformed_url_fails_with_invalid_url(
    uvicorn_h11: RunningServer, url: str, hint: str
) -> None:
    async with AsyncFlextApiClient() as client:
        result = failed(await client.get(url))
        assert result.error_code == "INVALID_URL", result.error
        assert hint in str(result.error)
        await assert_still_works(client, uvicorn_h11)


@pytest.mark.parametrize("scheme", ["ftp", "ws", "file"])
async def test_unsupported_scheme_names_the_schemes_that_work(
    uvicorn_h11: RunningServer, scheme: str
) -> None:
    async with AsyncFlextApiClient() as client:
        result = failed(await client.get(f"{scheme}://127.0.0.1/x"))
        assert result.error_code == "UNSUPPORTED_SCHEME"
        assert scheme in str(result.error)
        assert "http://" in str(result.error) and "https://" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("X-Bad\r\nInjected", "1", "CR"),
        ("X-Bad\nInjected", "1", "LF"),
        ("X-Bad\x00", "1", "NUL"),
        ("X-Bad", "a\r\nInjected: 1", "CR"),
        ("X-Bad", "a\nInjected: 1", "LF"),
        ("X-Bad", "a\x00b", "NUL"),
    ],
)
async def test_cr_lf_or_nul_in_a_header_is_refused_before_sending(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer, name: str, value: str, what: str
) -> None:
    server = raw_server(respond_ok)
    async with AsyncFlextApiClient() as client:
        result = failed(await client.get(server.url + "/", headers={name: value}))
        assert result.error_code == "HEADER_INVALID"
        assert what in str(result.error)
        assert "X-Bad" in str(result.error)
        # POST goes through the same check, body or not.
        result = failed(await client.post(server.url + "/", headers={name: value}, content=b"x"))
        assert result.error_code == "HEADER_INVALID"
        assert server.connections == 0
        await assert_still_works(client, uvicorn_h11)


# --- connecting --------------------------------------------------------------------------------


async def test_connection_refused_fails_with_connect_error(uvicorn_h11: RunningServer) -> None:
    port = unused_port()
    async with AsyncFlextApiClient() as client:
        result = failed(await client.get(f"http://127.0.0.1:{port}/"))
        assert result.error_code == "CONNECT_ERROR"
        assert f"127.0.0.1:{port}" in str(result.error)
        assert "refused" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


async def test_unknown_host_fails_with_dns_resolution_failed(uvicorn_h11: RunningServer) -> None:
    # RFC 6761: ".invalid" never resolves, so no resolver ever sends it beyond this machine.
    async with AsyncFlextApiClient(timeout=Timeout(10)) as client:
        result = failed(await client.get("http://nonexistent.invalid/"))
        assert result.error_code == "DNS_RESOLUTION_FAILED"
        assert "nonexistent.invalid" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


async def test_tls_handshake_that_never_completes_is_a_connect_timeout(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    # A plain TCP server that accepts and never answers: the TLS handshake waits forever.
    server = raw_server(never_respond)
    async with AsyncFlextApiClient(timeout=Timeout(10, connect=0.3)) as client:
        result = failed(await client.get(f"https://127.0.0.1:{server.port}/"))
        assert result.error_code == "CONNECT_TIMEOUT"
        assert "127.0.0.1" in str(result.error)
        assert "0.3" in str(result.error)
        assert server.connections == 1
        await assert_still_works(client, uvicorn_h11)


# --- timeouts during the exchange -------------------------------------------------------------


async def test_slow_response_fails_with_read_timeout(uvicorn_h11: RunningServer) -> None:
    async with AsyncFlextApiClient(timeout=Timeout(10, read=0.2)) as client:
        result = failed(await client.get(uvicorn_h11.url + "/delay/2"))
        assert result.error_code == "READ_TIMEOUT"
        assert "127.0.0.1" in str(result.error)
        assert "read timeout" in str(result.error)
        # The timed-out connection is not reused: its late response would answer the wrong
        # request.
        assert client.pool_stats.connections == 0
        await assert_still_works(client, uvicorn_h11)


async def test_server_that_stops_reading_fails_with_write_timeout(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    server = raw_server(slow_reader, recv_buffer=4096)
    body = b"x" * (64 * 1024 * 1024)
    async with AsyncFlextApiClient(timeout=Timeout(10, write=0.3)) as client:
        result = failed(await client.post(server.url + "/upload", content=body))
        assert result.error_code == "WRITE_TIMEOUT"
        assert "127.0.0.1" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


async def test_exhausted_pool_fails_with_pool_timeout_and_recovers(
    uvicorn_h11: RunningServer,
) -> None:
    async with AsyncFlextApiClient(limits=Limits(max_connections=1)) as client:
        async with client.stream("GET", uvicorn_h11.url + "/drip?chunks=3&delay=0.01") as held:
            assert held.is_success
            assert client.pool_stats.in_use == 1
            result = failed(await client.get(uvicorn_h11.url + "/", timeout=Timeout(10, pool=0.2)))
            assert result.error_code == "POOL_TIMEOUT"
            assert "127.0.0.1" in str(result.error)
            assert "max_connections" in str(result.error)
            # The timed-out request left the queue.
            assert client.pool_stats.waiters == 0
            assert client.pool_stats.in_use == 1
            # The held stream is unharmed by the other request's timeout.
            assert succeeded_bytes(await held.value.aread()) == b"***"
        await assert_still_works(client, uvicorn_h11)
        assert client.pool_stats.connections == 1


def succeeded_bytes(result: Success[bytes] | Failure[FlextApiError]) -> bytes:
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


# --- the server breaks HTTP -------------------------------------------------------------------


def close_mid_chunked_body(conn: socket.socket) -> None:
    """A chunked body that stops after its first chunk: the server closes mid-body."""
    if read_request(conn) is not None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")


@pytest.mark.parametrize(
    "script",
    [
        close_mid_chunked_body,
        close_mid_body,
        body_longer_than_content_length,
        garbage_status_line,
        oversized_headers,
    ],
    ids=[
        "closes-mid-body",
        "body-shorter-than-content-length",
        "body-longer-than-content-length",
        "garbage-status-line",
        "headers-over-64KiB",
    ],
)
async def test_broken_response_fails_with_remote_protocol_error(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer, script: Any
) -> None:
    server = raw_server(script)
    async with AsyncFlextApiClient() as client:
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "REMOTE_PROTOCOL_ERROR", result.error
        assert "127.0.0.1" in str(result.error)
        # Nothing of that connection is kept: the next request to a good server works.
        assert client.pool_stats.connections == 0
        await assert_still_works(client, uvicorn_h11)


async def test_broken_streamed_body_raises_remote_protocol_error_from_the_iterator(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    server = raw_server(close_mid_body)
    async with AsyncFlextApiClient() as client:
        async with client.stream("GET", server.url + "/") as result:
            response = result.unwrap()
            read = failed(await response.aread())
            assert read.error_code == "REMOTE_PROTOCOL_ERROR"
            assert "127.0.0.1" in str(read.error)
        await assert_still_works(client, uvicorn_h11)


# --- stale keep-alive connections -------------------------------------------------------------


async def test_idle_connection_closed_by_the_server_is_replaced(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    closed = threading.Event()

    def answer_once_then_close(conn: socket.socket) -> None:
        # Keep-alive response, then the server drops the idle connection (a keep-alive timeout).
        if read_request(conn) is None:
            return
        conn.sendall(HELLO_RESPONSE)
        if not closed.is_set():
            conn.shutdown(socket.SHUT_RDWR)
            closed.set()
            return
        respond_ok(conn)

    server = raw_server(answer_once_then_close)
    async with AsyncFlextApiClient() as client:
        first = succeeded(await client.get(server.url + "/"))
        assert first.content == RAW_HELLO
        assert client.pool_stats.idle == 1
        assert closed.wait(EVENT_TIMEOUT)
        second = succeeded(await client.get(server.url + "/"))
        assert second.content == RAW_HELLO
        assert server.connections == 2
        await assert_still_works(client, uvicorn_h11)


def drop_second_request(log: RequestLog) -> Any:
    """First connection: answer one request keep-alive, read the second, close without an
    answer. Later connections: answer everything."""
    first_connection = threading.Event()

    def script(conn: socket.socket) -> None:
        reader = RequestReader(conn)
        is_first = not first_connection.is_set()
        first_connection.set()
        while (head := reader.next_request()) is not None:
            number = log.add(head)
            if is_first and number == 2:
                return  # the server closes the reused connection, nothing answered
            conn.sendall(HELLO_RESPONSE)

    return script


async def test_get_on_a_dropped_reused_connection_is_retried_once(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    log = RequestLog()
    server = raw_server(drop_second_request(log))
    async with AsyncFlextApiClient() as client:
        assert succeeded(await client.get(server.url + "/")).content == RAW_HELLO
        second = succeeded(await client.get(server.url + "/again"))
        assert second.content == RAW_HELLO
        # The server saw the second GET twice: dropped, then retried on a new connection.
        assert log.methods == ["GET", "GET", "GET"]
        assert server.connections == 2
        await assert_still_works(client, uvicorn_h11)


async def test_post_on_a_dropped_reused_connection_is_not_retried(
    raw_server: RawServerFactory, uvicorn_h11: RunningServer
) -> None:
    log = RequestLog()
    server = raw_server(drop_second_request(log))
    async with AsyncFlextApiClient() as client:
        assert succeeded(await client.get(server.url + "/")).content == RAW_HELLO
        result = failed(await client.post(server.url + "/orders", content=b"one order"))
        assert result.error_code in {"REMOTE_PROTOCOL_ERROR", "READ_ERROR"}, result.error
        assert "127.0.0.1" in str(result.error)
        # A POST may have had an effect: it is sent once, never again behind the caller's back.
        assert log.methods == ["GET", "POST"]
        assert server.connections == 1
        assert client.pool_stats.connections == 0
        # The caller may retry it deliberately, on a fresh connection.
        retried = succeeded(await client.post(server.url + "/orders", content=b"one order"))
        assert retried.content == RAW_HELLO
        assert log.methods == ["GET", "POST", "POST"]
        await assert_still_works(client, uvicorn_h11)


# --- TLS --------------------------------------------------------------------------------------


async def test_https_with_the_ca_bundle_succeeds(
    hypercorn_tls: RunningServer, tls_certs: TLSCertificates
) -> None:
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem)) as client:
        for _ in range(2):
            response = succeeded(await client.get(hypercorn_tls.url + "/"))
            assert response.status_code == 200
            assert response.content == HELLO
        assert response.url.scheme == "https"
        # Both requests shared one TLS connection.
        assert client.pool_stats.connections == 1
        assert_pool_idle(client)


async def test_default_trust_store_refuses_the_test_ca(
    hypercorn_tls: RunningServer, uvicorn_h11: RunningServer
) -> None:
    async with AsyncFlextApiClient() as client:
        result = failed(await client.get(hypercorn_tls.url + "/"))
        assert result.error_code == "TLS_VERIFY_FAILED"
        assert "127.0.0.1" in str(result.error)
        assert "verify=" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


def tls_server(raw_server: RawServerFactory, context: ssl.SSLContext) -> RawServer:
    return raw_server(respond_ok, ssl_context=context)


async def test_certificate_from_an_unknown_ca_fails_verification(
    raw_server: RawServerFactory, tls_certs: TLSCertificates, uvicorn_h11: RunningServer
) -> None:
    server = tls_server(raw_server, tls_certs.untrusted.server_context())
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem)) as client:
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "TLS_VERIFY_FAILED"
        assert "127.0.0.1" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


async def test_certificate_for_another_host_fails_with_hostname_mismatch(
    raw_server: RawServerFactory, tls_certs: TLSCertificates, uvicorn_h11: RunningServer
) -> None:
    server = tls_server(raw_server, tls_certs.wrong_host.server_context())
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem)) as client:
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "TLS_HOSTNAME_MISMATCH"
        assert "127.0.0.1" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


async def test_expired_certificate_fails_verification_and_says_expired(
    raw_server: RawServerFactory, tls_certs: TLSCertificates, uvicorn_h11: RunningServer
) -> None:
    server = tls_server(raw_server, tls_certs.expired.server_context())
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem)) as client:
        result = failed(await client.get(server.url + "/"))
        assert result.error_code == "TLS_VERIFY_FAILED"
        assert "expired" in str(result.error)
        assert "127.0.0.1" in str(result.error)
        await assert_still_works(client, uvicorn_h11)


async def test_verify_false_connects_and_warns(
    raw_server: RawServerFactory, tls_certs: TLSCertificates
) -> None:
    # Even a certificate from an unknown CA is accepted: the point, and the danger, of False.
    server = tls_server(raw_server, tls_certs.untrusted.server_context())
    with pytest.warns(InsecureTLSWarning, match="verify=False"):
        client = AsyncFlextApiClient(verify=False)
    async with client:
        response = succeeded(await client.get(server.url + "/"))
        assert response.content == RAW_HELLO
        assert succeeded(await client.get(server.url + "/")).content == RAW_HELLO
        assert server.connections == 1
        assert_pool_idle(client)


async def test_ssl_context_passed_as_verify_is_the_one_used(
    hypercorn_tls: RunningServer, tls_certs: TLSCertificates, uvicorn_h11: RunningServer
) -> None:
    trusting = ssl.create_default_context(cafile=str(tls_certs.ca_pem))
    async with AsyncFlextApiClient(verify=trusting) as client:
        assert succeeded(await client.get(hypercorn_tls.url + "/")).content == HELLO
        assert_pool_idle(client)
    # A context that trusts another CA refuses the same server: the context decides.
    distrusting = ssl.create_default_context(cafile=str(tls_certs.untrusted_ca_pem))
    async with AsyncFlextApiClient(verify=distrusting) as client:
        result = failed(await client.get(hypercorn_tls.url + "/"))
        assert result.error_code == "TLS_VERIFY_FAILED"
        await assert_still_works(client, uvicorn_h11)


async def test_client_certificate_is_presented_to_a_server_that_requires_one(
    raw_server: RawServerFactory, tls_certs: TLSCertificates, uvicorn_h11: RunningServer
) -> None:
    context = tls_certs.server.server_context()
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(tls_certs.ca_pem))
    peers: list[Any] = []

    def record_peer_and_answer(conn: socket.socket) -> None:
        assert isinstance(conn, ssl.SSLSocket)
        peers.append(conn.getpeercert())
        respond_ok(conn)

    server = raw_server(record_peer_and_answer, ssl_context=context)
    client_cert = (str(tls_certs.client.chain_pem), str(tls_certs.client.key_pem))
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem), cert=client_cert) as client:
        assert succeeded(await client.get(server.url + "/")).content == RAW_HELLO
        assert_pool_idle(client)
    assert len(peers) == 1
    assert "client@flext-api.test" in str(peers[0])
    # Without the certificate the server refuses the client.
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem)) as client:
        refused = failed(await client.get(server.url + "/"))
        # With TLS 1.3 the server rejects the client after the client's side of the handshake
        # is done, so the refusal surfaces on the first write or read; when the server's
        # reset overtakes its alert, only the reset is left to report.
        assert isinstance(refused.error, TransportError), refused
        assert "127.0.0.1" in str(refused.error)
        if refused.error_code.startswith("TLS_"):
            assert refused.error_code == "TLS_HANDSHAKE_FAILED"
            assert REFUSED_CERT in str(refused.error)
        await assert_still_works(client, uvicorn_h11)
    assert len(peers) == 1


REFUSED_CERT = "the server refused the client certificate (or asked for one and none was given)"


@pytest.mark.parametrize("given", ["none", "untrusted"])
async def test_a_refused_client_certificate_says_so(
    raw_server: RawServerFactory,
    tls_certs: TLSCertificates,
    uvicorn_h11: RunningServer,
    given: str,
) -> None:
    # TLS 1.2: the refusal is part of the handshake, so every backend sees the server's alert.
    context = tls_certs.server.server_context()
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(tls_certs.ca_pem))
    server = raw_server(respond_ok, ssl_context=context)
    cert = None
    if given == "untrusted":
        # A certificate from a CA the server does not trust.
        leaf = tls_certs.untrusted
        cert = (str(leaf.chain_pem), str(leaf.key_pem))
    async with AsyncFlextApiClient(verify=str(tls_certs.ca_pem), cert=cert) as client:
        refused = failed(await client.get(server.url + "/"))
        assert refused.error_code == "TLS_HANDSHAKE_FAILED", refused.error
        assert REFUSED_CERT in str(refused.error)
        assert "127.0.0.1" in str(refused.error)
        assert server.connections == 1
        await assert_still_works(client, uvicorn_h11)


# --- lifecycle and transports -----------------------------------------------------------------


async def test_request_on_a_closed_client_fails_with_pool_closed(
    uvicorn_h11: RunningServer,
) -> None:
    client = AsyncFlextApiClient()
    assert succeeded(await client.get(uvicorn_h11.url + "/")).content == HELLO
    await client.aclose()
    assert client.pool_stats.connections == 0
    result = failed(await client.get(uvicorn_h11.url + "/"))
    assert result.error_code == "POOL_CLOSED"
    assert "closed" in str(result.error)
    assert "new client" in str(result.error)
    async with client.stream("GET", uvicorn_h11.url + "/") as streamed:
        assert failed(streamed).error_code == "POOL_CLOSED"
    assert client.pool_stats.connections == 0


async def test_unix_domain_socket(uds_server: RunningServer) -> None:
    assert uds_server.uds is not None
    async with AsyncFlextApiClient(uds=uds_server.uds) as client:
        for _ in range(2):
            response = succeeded(await client.get(uds_server.url + "/"))
            assert response.status_code == 200
            assert response.content == HELLO
        assert client.pool_stats.connections == 1
        assert_pool_idle(client)
