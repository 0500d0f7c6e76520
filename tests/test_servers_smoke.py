"""The test peers answer, with the stdlib as client, and the network guard holds.

These tests check the fixtures themselves, so that a failing client test points at the client.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time

import anyio
import pytest

from tests.servers.app import CHARSET_TEXT, HELLO, pattern_bytes, stream_chunk
from tests.servers.guard import NetworkAccessDenied, is_loopback
from tests.servers.raw import (
    RawServer,
    RawServerFactory,
    body_longer_than_content_length,
    close_after_response,
    close_immediately,
    close_mid_body,
    garbage_status_line,
    never_respond,
    oversized_headers,
    respond_ok,
    slow_reader,
)
from tests.servers.runners import RunningServer, run_hypercorn_tls, run_uvicorn
from tests.servers.tls import TLSCertificates


class UDSConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        sock.connect(self.path)
        self.sock = sock


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.headers, response.read()


@pytest.fixture(params=["uvicorn_h11", "uvicorn_httptools"])
def http_server(request: pytest.FixtureRequest) -> RunningServer:
    server: RunningServer = request.getfixturevalue(request.param)
    return server


def test_http_servers_answer_every_route(http_server: RunningServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=5)
    try:
        assert get(conn, "/")[::2] == (200, HELLO)
        status, headers, body = get(conn, "/json")
        assert (status, headers["content-type"]) == (200, "application/json")
        assert json.loads(body) == {"hello": "world", "n": 1}

        conn.request("POST", "/echo?a=1", body=b"caf\xe9", headers={"X-Test": "yes"})
        echo = json.loads(conn.getresponse().read())
        assert (echo["method"], echo["path"], echo["query"]) == ("POST", "/echo", "a=1")
        assert ["x-test", "yes"] in echo["headers"]
        assert echo["body"] == "caf\xe9"

        conn.request("PUT", "/echo/raw", body=b"\x00\x01", headers={"Content-Type": "x/y"})
        response = conn.getresponse()
        assert (response.getheader("content-type"), response.read()) == ("x/y", b"\x00\x01")

        assert get(conn, "/status/418")[0] == 418
        assert get(conn, "/status/204")[::2] == (204, b"")
        assert get(conn, "/bytes/70000")[2] == pattern_bytes(70000)
        status, headers, body = get(conn, "/stream/3")
        assert headers["transfer-encoding"] == "chunked"
        assert body == b"".join(stream_chunk(i) for i in range(3))
        status, headers, body = get(conn, "/redirect/2")
        assert (status, headers["location"]) == (302, "/redirect/1")
        assert get(conn, "/redirect/1")[1]["location"] == "/"
        status, headers, body = get(conn, "/charset/iso-8859-1")
        assert headers["content-type"] == "text/plain; charset=iso-8859-1"
        assert body.decode("iso-8859-1") == CHARSET_TEXT
        assert get(conn, "/set-cookie?a=1")[1]["set-cookie"] == "a=1; Path=/"
        assert json.loads(get(conn, "/headers")[2])["host"] == f"127.0.0.1:{http_server.port}"
        assert get(conn, "/drip?chunks=3&delay=0.01")[2] == b"***"
        started = time.monotonic()
        assert get(conn, "/delay/0.05")[0] == 200
        assert time.monotonic() - started >= 0.05
        assert get(conn, "/nope")[0] == 404
    finally:
        conn.close()


@pytest.mark.anyio
async def test_servers_answer_on_each_event_loop(uvicorn_h11: RunningServer) -> None:
    # The guard wraps socket.connect: asyncio and trio both connect through it.
    async with await anyio.connect_tcp("127.0.0.1", uvicorn_h11.port) as stream:
        await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        with anyio.fail_after(5):
            async for chunk in stream:
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(HELLO)


def test_uds_server_answers(uds_server: RunningServer) -> None:
    assert uds_server.uds is not None
    conn = UDSConnection(uds_server.uds)
    try:
        assert get(conn, "/")[::2] == (200, HELLO)
    finally:
        conn.close()


@pytest.mark.parametrize("alpn", ["h2", "http/1.1"])
def test_hypercorn_tls_negotiates_alpn(
    hypercorn_tls: RunningServer, tls_certs: TLSCertificates, alpn: str
) -> None:
    context = tls_certs.client_context()
    context.set_alpn_protocols([alpn])
    with (
        socket.create_connection(("127.0.0.1", hypercorn_tls.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == alpn


def test_hypercorn_tls_serves_http11(
    hypercorn_tls: RunningServer, tls_certs: TLSCertificates
) -> None:
    context = tls_certs.client_context()
    conn = http.client.HTTPSConnection("localhost", hypercorn_tls.port, context=context, timeout=5)
    try:
        assert get(conn, "/")[::2] == (200, HELLO)
    finally:
        conn.close()
    assert hypercorn_tls.insecure_url is not None
    plain = http.client.HTTPConnection(hypercorn_tls.insecure_url[len("http://") :], timeout=5)
    try:
        assert get(plain, "/json")[0] == 200
    finally:
        plain.close()


@pytest.mark.parametrize("kind", ["uvicorn", "hypercorn"])
def test_servers_stop_within_2s_with_open_connections(
    tls_certs: TLSCertificates, kind: str
) -> None:
    """An idle keep-alive connection and a request still in flight do not hold stop()."""
    runner = (
        run_uvicorn("h11")
        if kind == "uvicorn"
        else run_hypercorn_tls(tls_certs.server, tls_certs.ca_pem)
    )
    context = tls_certs.client_context() if kind == "hypercorn" else None

    def connect(port: int) -> http.client.HTTPConnection:
        if context is None:
            return http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        return http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=5)

    outcomes: list[object] = []

    def slow_request(conn: http.client.HTTPConnection) -> None:
        try:
            conn.request("GET", "/delay/30")
            outcomes.append(conn.getresponse().status)
        except (OSError, http.client.HTTPException) as error:
            outcomes.append(error)

    with runner as server:
        idle, busy = connect(server.port), connect(server.port)
        assert get(idle, "/")[0] == 200
        thread = threading.Thread(target=slow_request, args=(busy,))
        thread.start()
        time.sleep(0.1)
        started = time.monotonic()
    elapsed = time.monotonic() - started
    thread.join(5)
    idle.close()
    busy.close()
    assert elapsed < 2
    assert outcomes and outcomes[0] != 200  # the slow request was cut short, not served


@pytest.mark.parametrize(
    ("leaf", "reason"),
    [
        ("expired", "certificate has expired"),
        ("wrong_host", "mismatch"),
        ("untrusted", "unable to get local issuer certificate"),
    ],
)
def test_bad_certificates_are_refused(
    raw_server: RawServerFactory, tls_certs: TLSCertificates, leaf: str, reason: str
) -> None:
    cert = getattr(tls_certs, leaf)
    server = raw_server(respond_ok, ssl_context=cert.server_context())
    with (
        socket.create_connection(server.address, timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match=reason),
    ):
        tls_certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_raw_server_scripts(raw_server: RawServerFactory) -> None:
    def exchange(server: RawServer) -> bytes:
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            chunks = []
            while data := sock.recv(65536):
                chunks.append(data)
            return b"".join(chunks)

    assert exchange(raw_server(close_mid_body)).endswith(b"\r\n\r\n0123456789")
    assert exchange(raw_server(garbage_status_line)) == b"HELLO\r\n\r\n"
    assert len(exchange(raw_server(oversized_headers))) > 100 * 1024
    try:
        reply = exchange(raw_server(close_immediately))
    except ConnectionResetError:
        reply = b""
    assert reply == b""

    server = raw_server(body_longer_than_content_length)
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.05)
        assert sock.recv(65536).endswith(b"\r\n\r\nhelloJUNKJUNKJUNKJUN")


def test_raw_server_counts_connections_and_keeps_alive(raw_server: RawServerFactory) -> None:
    server = raw_server(respond_ok)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for _ in range(3):
            assert get(conn, "/")[::2] == (200, b"hello, world\n")
    finally:
        conn.close()
    assert server.connections == 1


def test_raw_server_stale_connection(raw_server: RawServerFactory) -> None:
    server = raw_server(close_after_response(0.05))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        assert get(conn, "/")[0] == 200
        time.sleep(0.2)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            get(conn, "/")
    finally:
        conn.close()


def test_raw_server_stops_idle_scripts_quickly(raw_server: RawServerFactory) -> None:
    silent = raw_server(never_respond)
    sink = raw_server(slow_reader, recv_buffer=4096)
    sockets = [socket.create_connection(s.address, timeout=5) for s in (silent, sink)]
    try:
        sockets[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets[0].settimeout(0.1)
        with pytest.raises(TimeoutError):
            sockets[0].recv(1)
        sockets[1].setblocking(False)
        with pytest.raises(BlockingIOError):  # the server never reads: our buffer fills
            while True:
                sockets[1].send(b"x" * 65536)
        started = time.monotonic()
        silent.stop()
        sink.stop()
        assert time.monotonic() - started < 2
    finally:
        for sock in sockets:
            sock.close()


def test_guard_refuses_non_loopback_before_the_syscall(raw_server: RawServerFactory) -> None:
    server = raw_server(respond_ok)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Non-blocking: had connect(2) run, it would raise BlockingIOError (EINPROGRESS) or
        # ENETUNREACH, and the socket could not be connected again.
        sock.setblocking(False)
        with pytest.raises(NetworkAccessDenied, match=r"10\.0\.0\.1"):
            sock.connect(("10.0.0.1", 80))
        with pytest.raises(NetworkAccessDenied):
            sock.connect_ex(("10.0.0.1", 80))
        sock.setblocking(True)
        sock.settimeout(5)
        sock.connect(server.address)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    with (
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock6,
        pytest.raises(NetworkAccessDenied),
    ):
        sock6.connect_ex(("2001:db8::1", 80, 0, 0))


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_guard_loopback_rule(host: str, allowed: bool) -> None:
    assert is_loopback(host) is allowed
