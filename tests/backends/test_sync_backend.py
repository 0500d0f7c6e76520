"""Sync-only details: the resolver thread, address fallback, and the TLS readability probe."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable

import pytest

from flext_api._backends import origin_of
from flext_api._backends.sync import SyncBackend, default_sync_backend
from flext_api._exceptions import ConnectError
from tests.backends.conftest import Server, echo, echo_once_then_close

Serve = Callable[..., Server]


def test_default_backend_is_shared() -> None:
    assert default_sync_backend() is default_sync_backend()
    assert isinstance(default_sync_backend(), SyncBackend)


def test_name_lookup_without_a_timeout(serve: Serve) -> None:
    server = serve(echo)
    stream = SyncBackend().connect_tcp("localhost", server.port, timeout=None)
    stream.write(b"no deadline", None)
    assert stream.read(1024, None) == b"no deadline"
    stream.close()


def test_falls_through_to_the_next_address(
    serve: Serve, refused_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(echo)
    dead = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", refused_port))
    alive = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", server.port))
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [dead, alive])
    stream = SyncBackend().connect_tcp("service.test", server.port, timeout=2)
    stream.write(b"second address", 1)
    assert stream.read(1024, 1) == b"second address"
    stream.close()


def test_no_address_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [])
    with pytest.raises(ConnectError, match=r"no address for 'service\.test'"):
        SyncBackend().connect_tcp("service.test", 80, timeout=2)


def test_tls_probe_ignores_session_tickets(
    serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    # A TLS 1.3 server sends session tickets right after the handshake: the socket is
    # readable, yet the connection is healthy and idle.
    server = serve(echo, tls=tls_server_context)
    stream = SyncBackend().connect_tcp(
        server.host, server.port, timeout=2, ssl_context=client_context, server_hostname="localhost"
    )
    time.sleep(0.05)
    assert not stream.is_readable()
    stream.write(b"still works", 1)
    assert stream.read(1024, 1) == b"still works"
    stream.close()


def test_tls_probe_sees_decrypted_bytes_nobody_read(
    serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=tls_server_context)
    stream = SyncBackend().connect_tcp(
        server.host, server.port, timeout=2, ssl_context=client_context, server_hostname="localhost"
    )
    stream.write(b"0123456789" * 10, 1)
    assert stream.read(10, 1) == b"0123456789"
    time.sleep(0.05)
    assert stream.is_readable()  # 90 bytes wait inside the TLS layer, not in the socket
    stream.close()


def test_origin_names_ipv6_in_brackets() -> None:
    assert origin_of("::1", 443) == "[::1]:443"
    assert origin_of("example.test", 80) == "example.test:80"


def test_read_available_takes_the_tls_records_already_there(
    serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=tls_server_context)
    stream = SyncBackend().connect_tcp(
        server.host, server.port, timeout=2, ssl_context=client_context, server_hostname="localhost"
    )
    payload = bytes(range(256)) * 256  # 64 KiB: four TLS records at least
    stream.write(payload, 2)
    first = stream.read(65536, 2)  # one record (16 KiB at most)
    assert len(first) <= 16384
    received = first
    deadline = time.monotonic() + 5
    while len(received) < len(payload) and time.monotonic() < deadline:
        pieces = stream.read_available(1 << 20)  # never waits: [] until more arrives
        received += b"".join(pieces)
    assert received == payload
    # Bounded by max_bytes, and nothing when nothing arrived.
    stream.write(payload, 2)
    time.sleep(0.1)
    taken = b"".join(stream.read_available(20000))
    assert 0 < len(taken) < 20000 + 16384
    rest = b""
    while len(taken) + len(rest) < len(payload):
        rest += stream.read(65536, 2)
    assert taken + rest == payload
    assert stream.read_available(1024) == []
    stream.close()
    assert stream.read_available(1024) == []


def test_read_available_leaves_eof_to_read(
    serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo_once_then_close, tls=tls_server_context)
    stream = SyncBackend().connect_tcp(
        server.host, server.port, timeout=2, ssl_context=client_context, server_hostname="localhost"
    )
    stream.write(b"bye", 2)
    assert stream.read(1024, 2) == b"bye"
    time.sleep(0.1)  # the server closed: EOF waits in the socket
    assert stream.read_available(1024) == []
    assert stream.read(1024, 2) == b""  # the next read still sees the end
    stream.close()


def test_read_available_on_a_plain_socket_takes_nothing(serve: Serve) -> None:
    # One plain read already takes everything the kernel holds.
    server = serve(echo)
    stream = SyncBackend().connect_tcp(server.host, server.port, timeout=2)
    stream.write(b"plain", 1)
    time.sleep(0.05)
    assert stream.read_available(1024) == []
    assert stream.read(1024, 1) == b"plain"
    stream.close()
