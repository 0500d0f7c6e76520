"""What every backend promises (base.py), checked on sync, asyncio and trio alike.

Each test takes ``net``, so it runs three times: ``[sync]``, ``[asyncio]``, ``[trio]``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flext_api._exceptions import (
    ConnectError,
    ConnectTimeout,
    DNSError,
    ReadError,
    ReadTimeout,
    TLSHandshakeError,
    TLSHostnameMismatch,
    TLSVerifyError,
    WriteError,
    WriteTimeout,
)
from flext_api._ssl import create_ssl_context
from tests.backends.conftest import (
    Net,
    Server,
    Stream,
    close_at_once,
    echo,
    echo_once_then_close,
    reset_after_echo,
    send_unprompted,
    sink,
    speak_plain_http,
)

pytestmark = pytest.mark.anyio

Serve = Callable[..., Server]


@pytest.fixture
def anyio_backend(net_name: str) -> str:
    # One run per backend, not per (backend, loop) pair: the sync backend runs under
    # asyncio's test runner, where its coroutines never await (the loop is only a host).
    return "trio" if net_name == "trio" else "asyncio"


async def _wait_until_readable(net: Net, stream: Stream, limit: float = 3.0) -> bool:
    deadline = time.monotonic() + limit
    while not stream.is_readable():
        if time.monotonic() > deadline:
            return False
        await net.sleep(0.01)
    return True


# --- plain TCP -------------------------------------------------------------------------------


async def test_echo_round_trip(net: Net, serve: Serve) -> None:
    server = serve(echo)
    stream = await net.connect_tcp(server.host, server.port)
    await stream.write(b"hello", timeout=1)
    assert await stream.read(1024, timeout=1) == b"hello"
    assert stream.alpn_protocol is None


async def test_read_returns_at_most_max_bytes(net: Net, serve: Serve) -> None:
    server = serve(echo)
    stream = await net.connect_tcp(server.host, server.port)
    await stream.write(b"abcdef", timeout=1)
    received = b""
    while len(received) < 6:
        chunk = await stream.read(4, timeout=1)
        assert 0 < len(chunk) <= 4
        received += chunk
    assert received == b"abcdef"


async def test_large_transfer_arrives_intact(net: Net, serve: Serve) -> None:
    # Past the asyncio backend's pause/resume thresholds, with a slow reader.
    server = serve(echo)
    stream = await net.connect_tcp(server.host, server.port)
    payload = bytes(range(256)) * 4096  # 1 MiB
    await stream.write(payload, timeout=5)
    await net.sleep(0.05)  # let a backlog build up on our side
    received = bytearray()
    while len(received) < len(payload):
        received += await stream.read(65536, timeout=5)
    assert received == payload


async def test_eof_reads_empty(net: Net, serve: Serve) -> None:
    server = serve(close_at_once)
    stream = await net.connect_tcp(server.host, server.port)
    assert await stream.read(1024, timeout=2) == b""
    assert stream.is_readable()


async def test_read_timeout(net: Net, silent_server: Server) -> None:
    stream = await net.connect_tcp(silent_server.host, silent_server.port)
    started = time.monotonic()
    with pytest.raises(ReadTimeout, match=r"0\.3 s .*127\.0\.0\.1:\d+"):
        await stream.read(1024, timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 2


async def test_read_times_out_at_once_when_the_deadline_has_passed(
    net: Net, silent_server: Server
) -> None:
    stream = await net.connect_tcp(silent_server.host, silent_server.port)
    started = time.monotonic()
    with pytest.raises(ReadTimeout):
        await stream.read(1024, timeout=-1)
    assert time.monotonic() - started < 1


async def test_write_timeout_when_the_server_does_not_read(net: Net, silent_server: Server) -> None:
    stream = await net.connect_tcp(silent_server.host, silent_server.port)
    chunk = b"x" * (4 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(WriteTimeout, match="not reading"):
        for _ in range(16):  # 64 MiB at most: more than any loopback buffer holds
            await stream.write(chunk, timeout=0.3)
    assert time.monotonic() - started < 5


async def test_large_write_waits_for_a_reading_server(net: Net, serve: Serve) -> None:
    server = serve(sink)
    stream = await net.connect_tcp(server.host, server.port)
    for timeout in (None, 5.0):  # more than the send buffers hold: the write must wait
        await stream.write(b"z" * (16 * 1024 * 1024), timeout=timeout)


async def test_reset_by_the_server(net: Net, serve: Serve) -> None:
    server = serve(reset_after_echo)
    stream = await net.connect_tcp(server.host, server.port)
    await stream.write(b"ping", timeout=1)
    assert await stream.read(1024, timeout=1) == b"ping"
    await stream.write(b"bye", timeout=1)
    assert await _wait_until_readable(net, stream)
    with pytest.raises(ReadError, match="the connection is lost") as info:
        await stream.read(1024, timeout=1)
    assert info.value.__cause__ is not None


async def test_connect_with_no_time_left(net: Net, silent_server: Server) -> None:
    with pytest.raises(ConnectTimeout):
        await net.connect_tcp(silent_server.host, silent_server.port, timeout=0)


async def test_connect_refused(net: Net, refused_port: int) -> None:
    with pytest.raises(ConnectError, match=rf"127\.0\.0\.1:{refused_port} refused") as info:
        await net.connect_tcp("127.0.0.1", refused_port, timeout=2)
    assert isinstance(info.value.__cause__, OSError)


async def test_dns_failure(net: Net) -> None:
    with pytest.raises(DNSError, match=r"'nonexistent\.invalid'.*check the hostname") as info:
        await net.connect_tcp("nonexistent.invalid", 80, timeout=5)
    assert info.value.code == "DNS_RESOLUTION_FAILED"


async def test_connect_timeout(net: Net, full_backlog: tuple[str, int]) -> None:
    host, port = full_backlog
    started = time.monotonic()
    with pytest.raises(ConnectTimeout, match=rf"0\.3 s connecting to 127\.0\.0\.1:{port}"):
        await net.connect_tcp(host, port, timeout=0.3)
    assert 0.25 <= time.monotonic() - started < 2


async def test_connect_by_name(net: Net, serve: Serve) -> None:
    server = serve(echo)
    stream = await net.connect_tcp("localhost", server.port, timeout=5)
    await stream.write(b"named", timeout=1)
    assert await stream.read(1024, timeout=1) == b"named"


async def test_is_readable_false_on_an_idle_connection(net: Net, serve: Serve) -> None:
    server = serve(echo)
    stream = await net.connect_tcp(server.host, server.port)
    await stream.write(b"ping", timeout=1)
    assert await stream.read(1024, timeout=1) == b"ping"
    await net.sleep(0.05)
    assert not stream.is_readable()


async def test_is_readable_true_after_the_server_closed(net: Net, serve: Serve) -> None:
    server = serve(echo_once_then_close)
    stream = await net.connect_tcp(server.host, server.port)
    await stream.write(b"ping", timeout=1)
    assert await stream.read(1024, timeout=1) == b"ping"
    assert await _wait_until_readable(net, stream)


async def test_is_readable_true_on_unexpected_data(net: Net, serve: Serve) -> None:
    server = serve(send_unprompted)
    stream = await net.connect_tcp(server.host, server.port)
    await stream.write(b"ping", timeout=1)
    assert await stream.read(4, timeout=1) == b"ping"
    assert await _wait_until_readable(net, stream)


async def test_close_is_idempotent_and_final(net: Net, serve: Serve) -> None:
    server = serve(echo)
    stream = await net.connect_tcp(server.host, server.port)
    stream.close()
    stream.close()
    assert stream.is_readable()
    with pytest.raises(ReadError, match="closed on this side"):
        await stream.read(1024, timeout=1)
    with pytest.raises(WriteError, match="is closed"):
        await stream.write(b"late", timeout=1)


async def test_write_after_the_server_reset(net: Net, serve: Serve) -> None:
    server = serve(close_at_once)
    stream = await net.connect_tcp(server.host, server.port)
    assert await stream.read(1024, timeout=2) == b""
    with pytest.raises(WriteError):
        for _ in range(50):  # the first writes may still land in the kernel buffer
            await stream.write(b"x" * 65536, timeout=1)
            await net.sleep(0.01)


# --- Unix sockets ----------------------------------------------------------------------------


async def test_unix_socket(net: Net, serve: Serve, short_tmp: Path) -> None:
    path = str(short_tmp / "s")
    serve(echo, unix_path=path)
    stream = await net.connect_unix(path)
    await stream.write(b"over uds", timeout=1)
    assert await stream.read(1024, timeout=1) == b"over uds"


async def test_unix_socket_missing(net: Net, short_tmp: Path) -> None:
    with pytest.raises(ConnectError, match=r"no socket at unix:.*check the path"):
        await net.connect_unix(str(short_tmp / "nobody"))


async def test_unix_socket_path_too_long(net: Net) -> None:
    with pytest.raises(ConnectError, match="could not connect to unix:"):
        await net.connect_unix("/tmp/" + "x" * 200)


async def test_unix_socket_with_tls(
    net: Net,
    serve: Serve,
    short_tmp: Path,
    tls_server_context: ssl.SSLContext,
    client_context: ssl.SSLContext,
) -> None:
    path = str(short_tmp / "t")
    serve(echo, unix_path=path, tls=tls_server_context)
    stream = await net.connect_unix(path, ssl_context=client_context, server_hostname="localhost")
    await stream.write(b"tls over uds", timeout=1)
    assert await stream.read(1024, timeout=1) == b"tls over uds"


async def test_unix_socket_with_tls_needs_a_hostname(
    net: Net, short_tmp: Path, client_context: ssl.SSLContext
) -> None:
    with pytest.raises(ValueError, match="server_hostname="):
        await net.connect_unix(str(short_tmp / "t"), ssl_context=client_context)


# --- TLS ---------------------------------------------------------------------------------------


async def test_tls_round_trip_with_alpn(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=tls_server_context)
    stream = await net.connect_tcp(
        server.host, server.port, ssl_context=client_context, server_hostname="localhost"
    )
    assert stream.alpn_protocol == "h2"
    await stream.write(b"secret", timeout=1)
    assert await stream.read(1024, timeout=1) == b"secret"


async def test_tls_to_an_ip_address(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, ca_file: str
) -> None:
    server = serve(echo, tls=tls_server_context)
    context = create_ssl_context(verify=ca_file)  # offers http/1.1 only
    stream = await net.connect_tcp(server.host, server.port, ssl_context=context, timeout=None)
    assert stream.alpn_protocol == "http/1.1"
    await stream.write(b"by ip", timeout=1)
    assert await stream.read(1024, timeout=1) == b"by ip"


async def test_tls_untrusted_ca(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, tmp_path: Path
) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    server = serve(echo, tls=tls_server_context)
    with pytest.raises(TLSVerifyError, match=r"not trusted.*pass verify="):
        await net.connect_tcp(
            server.host,
            server.port,
            ssl_context=create_ssl_context(verify=str(other)),
            server_hostname="localhost",
        )


async def test_tls_default_trust_store_rejects_a_private_ca(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=tls_server_context)
    with pytest.raises(TLSVerifyError) as info:
        await net.connect_tcp(
            server.host, server.port, ssl_context=create_ssl_context(), server_hostname="localhost"
        )
    assert info.value.code == "TLS_VERIFY_FAILED"
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


async def test_tls_hostname_mismatch(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=tls_server_context)
    with pytest.raises(TLSHostnameMismatch, match=r"not valid for 'wrong\.example'"):
        await net.connect_tcp(
            server.host, server.port, ssl_context=client_context, server_hostname="wrong.example"
        )


async def test_tls_expired_certificate(
    net: Net, serve: Serve, expired_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=expired_server_context)
    with pytest.raises(TLSVerifyError, match="has expired"):
        await net.connect_tcp(
            server.host, server.port, ssl_context=client_context, server_hostname="localhost"
        )


async def test_tls_against_a_plain_http_server(
    net: Net, serve: Serve, client_context: ssl.SSLContext
) -> None:
    server = serve(speak_plain_http)
    with pytest.raises(TLSHandshakeError, match="speaks TLS"):
        await net.connect_tcp(
            server.host, server.port, ssl_context=client_context, server_hostname="localhost"
        )


async def test_tls_handshake_timeout(
    net: Net, silent_server: Server, client_context: ssl.SSLContext
) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectTimeout):
        await net.connect_tcp(
            silent_server.host,
            silent_server.port,
            timeout=0.3,
            ssl_context=client_context,
            server_hostname="localhost",
        )
    assert 0.25 <= time.monotonic() - started < 2


async def test_tls_is_readable(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    idle_server = serve(echo, tls=tls_server_context)
    closing_server = serve(echo_once_then_close, tls=tls_server_context)
    idle, closing = [
        await net.connect_tcp(
            server.host, server.port, ssl_context=client_context, server_hostname="localhost"
        )
        for server in (idle_server, closing_server)
    ]
    for stream in (idle, closing):
        await stream.write(b"ping", timeout=1)
        assert await stream.read(1024, timeout=1) == b"ping"
    await net.sleep(0.05)
    assert not idle.is_readable()
    assert await _wait_until_readable(net, closing)
    assert await closing.read(1024, timeout=1) == b""
    idle.close()
    idle.close()
    assert idle.is_readable()


async def test_tls_reset_by_the_server(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(reset_after_echo, tls=tls_server_context)
    probed, read = [
        await net.connect_tcp(
            server.host, server.port, ssl_context=client_context, server_hostname="localhost"
        )
        for _ in range(2)
    ]
    for stream in (probed, read):
        await stream.write(b"ping", timeout=1)
        assert await stream.read(1024, timeout=1) == b"ping"
        await stream.write(b"bye", timeout=1)
    # The probe notices the reset. A read ends the stream: with ReadError, or with b"" where
    # the ssl module reports the reset as an unexpected EOF (blocking sockets do).
    assert await _wait_until_readable(net, probed)
    await net.sleep(0.1)
    try:
        data = await read.read(1024, timeout=1)
    except ReadError:
        data = b""
    assert data == b""


async def test_tls_read_timeout(
    net: Net, serve: Serve, tls_server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    server = serve(echo, tls=tls_server_context)
    stream = await net.connect_tcp(
        server.host, server.port, ssl_context=client_context, server_hostname="localhost"
    )
    with pytest.raises(ReadTimeout):
        await stream.read(1024, timeout=0.2)


async def test_dns_time_counts_against_the_connect_timeout(
    net: Net, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import threading

    server = serve(echo)
    release = threading.Event()
    real_getaddrinfo = socket.getaddrinfo

    def slow_getaddrinfo(host: str, port: int, *args: int, **kwargs: int) -> object:
        flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
        if not flags & socket.AI_NUMERICHOST:  # a name lookup: the resolver hangs
            release.wait(5)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectTimeout):
            await net.connect_tcp("localhost", server.port, timeout=0.3)
        assert time.monotonic() - started < 2
    finally:
        release.set()  # let the abandoned lookup finish
