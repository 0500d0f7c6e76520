"""Opening connections through a forward proxy: to the proxy, then (for https) the tunnel.

Job: connect to the proxy (TLS to it for an ``https://`` proxy); for an ``http://`` origin
that connection is the result (requests then go in absolute form, see
:class:`AsyncHTTP11Connection`); for an ``https://`` origin send ``CONNECT host:port``, read
the proxy's answer, and run the origin's TLS inside the tunnel, verified against the origin's
name, so the proxy sees only ciphertext. A SOCKS5 proxy tunnels every origin (the handshake
of :mod:`flext_api._sansio.socks`, the name resolved by the proxy). The connect timeout covers
all of it.

Never: put proxy credentials in a message (``Proxy.url`` has none), reuse a tunnel for another
origin (the pool keys tunnels by origin), or wait for the pool: this runs inside ``_open``.
"""

from __future__ import annotations

import ssl
import time

import h11

from flext_api._backends.base import AsyncNetworkBackend, AsyncNetworkStream
from flext_api._exceptions import ConnectTimeout, ProxyAuthRequired, ProxyError, ReadTimeout
from flext_api._sansio import socks
from flext_api._sansio.proxy import Proxy

__all__ = ["connect_through_proxy"]

Origin = tuple[str, str, int]

_READ_SIZE = 64 * 1024
_MAX_ANSWER_BYTES = 64 * 1024


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def connect_through_proxy(
    backend: AsyncNetworkBackend,
    proxy: Proxy,
    origin: Origin,
    *,
    ssl_context: ssl.SSLContext | None,
    proxy_ssl_context: ssl.SSLContext | None,
    timeout: float | None,
    tunnel: bool = False,
) -> AsyncNetworkStream:
    """A stream to ``origin`` through ``proxy``: the proxy connection itself for an http
    origin (requests are forwarded), a tunnel for an https one (TLS inside it) or whenever
    ``tunnel`` asks for one (a WebSocket: a forwarding proxy cannot upgrade)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    proxy_scheme, proxy_host, proxy_port = proxy.origin
    if proxy.is_socks:
        return await _connect_through_socks(
            backend, proxy, origin, ssl_context=ssl_context, deadline=deadline
        )
    tls_to_proxy = proxy_ssl_context if proxy_scheme == "https" else None
    stream = await backend.connect_tcp(
        proxy_host,
        proxy_port,
        timeout=timeout,
        ssl_context=tls_to_proxy,
        server_hostname=proxy_host if tls_to_proxy is not None else None,
    )
    if stream.alpn_protocol not in (None, "http/1.1"):
        stream.close()
        raise ProxyError(
            f"the proxy {proxy.url} chose {stream.alpn_protocol!r} in ALPN; proxies are "
            "spoken to in HTTP/1.1: pass verify= a context offering only 'http/1.1'",
            proxy=str(proxy.url),
        )
    try:
        scheme, host, port = origin
        if scheme == "http" and not tunnel:
            return stream
        await _open_tunnel(stream, proxy, _authority(host, port), deadline)
        if ssl_context is None:
            return stream
        return await stream.start_tls(ssl_context, host, _remaining(deadline))
    except BaseException:
        stream.close()
        raise


async def _connect_through_socks(
    backend: AsyncNetworkBackend,
    proxy: Proxy,
    origin: Origin,
    *,
    ssl_context: ssl.SSLContext | None,
    deadline: float | None,
) -> AsyncNetworkStream:
    """A SOCKS5 tunnel to ``origin`` (TLS to the origin inside it for https)."""
    _, proxy_host, proxy_port = proxy.origin
    stream = await backend.connect_tcp(proxy_host, proxy_port, timeout=_remaining(deadline))
    try:
        scheme, host, port = origin
        await _socks_handshake(stream, proxy, host, port, deadline)
        if ssl_context is None or scheme != "https":
            return stream
        return await stream.start_tls(ssl_context, host, _remaining(deadline))
    except BaseException:
        stream.close()
        raise


async def _read_exactly(
    stream: AsyncNetworkStream, size: int, proxy: Proxy, deadline: float | None, after: str
) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.read(size - len(data), _remaining(deadline))
        if not chunk:
            raise _socks_closed(proxy, after)
        data += chunk
    return data


def _socks_closed(proxy: Proxy, after: str) -> ProxyError:
    """A proxy that hangs up says no without saying why; the phase tells what it refused."""
    url = str(proxy.url)
    if after == "credentials":
        return ProxyAuthRequired(
            f"the SOCKS proxy {url} closed the connection when it got the credentials: "
            "check the username and password in the proxy URL",
            proxy=url,
        )
    if after == "greeting" and proxy.socks_credentials is None:
        return ProxyAuthRequired(
            f"the SOCKS proxy {url} closed the connection at the greeting: it may require "
            "credentials (socks5://user:password@host:port)",
            proxy=url,
        )
    return ProxyError(
        f"the SOCKS proxy {url} closed the connection after the {after}; check the proxy's "
        "logs and its rules for this destination",
        proxy=url,
    )


async def _socks_handshake(
    stream: AsyncNetworkStream, proxy: Proxy, host: str, port: int, deadline: float | None
) -> None:
    """RFC 1928/1929: methods, credentials if asked, CONNECT; reads exactly the reply."""
    credentials = proxy.socks_credentials
    authority = _authority(host, port)
    try:
        await stream.write(socks.greeting(credentials is not None), _remaining(deadline))
        choice = await _read_exactly(stream, 2, proxy, deadline, "greeting")
        method = socks.parse_method_choice(choice, credentials is not None)
        if method == socks.USERNAME_PASSWORD:
            assert credentials is not None
            await stream.write(socks.auth_request(*credentials), _remaining(deadline))
            socks.parse_auth_reply(await _read_exactly(stream, 2, proxy, deadline, "credentials"))
        await stream.write(socks.connect_request(host, port), _remaining(deadline))
        head = await _read_exactly(stream, 5, proxy, deadline, "CONNECT request")
        rest = socks.reply_length(head) - 5
        await _read_exactly(stream, rest, proxy, deadline, "CONNECT request")
    except ReadTimeout as exc:
        raise ConnectTimeout(
            f"timed out in the SOCKS5 handshake with {proxy.url} for {authority}: the proxy "
            "is slow or stuck; raise the connect timeout if it needs longer"
        ) from exc
    except socks.SocksRefused as exc:
        error = ProxyAuthRequired if exc.auth else ProxyError
        raise error(
            f"the SOCKS proxy {proxy.url} refused to open {authority}: {exc.message}",
            proxy=str(proxy.url),
        ) from None


async def _open_tunnel(
    stream: AsyncNetworkStream, proxy: Proxy, authority: str, deadline: float | None
) -> None:
    """Send ``CONNECT authority`` and read the answer; return on 2xx, raise otherwise."""
    h = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_ANSWER_BYTES)
    headers = [(b"Host", authority.encode("ascii"))]
    headers += [(name, value) for name, _, value in proxy.header_fields]
    data = h.send(h11.Request(method="CONNECT", target=authority, headers=headers))
    data += h.send(h11.EndOfMessage())
    try:
        await stream.write(data, _remaining(deadline))
        while True:
            event = h.next_event()
            if event is h11.NEED_DATA:
                data = await stream.read(_READ_SIZE, _remaining(deadline))
                if not data:
                    raise ProxyError(
                        f"the proxy {proxy.url} closed the connection without answering "
                        f"CONNECT {authority}; check the proxy's logs",
                        proxy=str(proxy.url),
                    )
                h.receive_data(data)
                continue
            if type(event) is h11.InformationalResponse:
                continue
            break
    except ReadTimeout as exc:
        raise ConnectTimeout(
            f"timed out waiting for the proxy {proxy.url} to answer CONNECT {authority}: "
            "the proxy is slow or stuck; raise the connect timeout if it needs longer"
        ) from exc
    except h11.RemoteProtocolError as exc:
        raise ProxyError(
            f"the proxy {proxy.url} sent an invalid answer to CONNECT {authority} ({exc}); "
            "check that the proxy URL names an HTTP proxy",
            proxy=str(proxy.url),
        ) from exc
    # h11 yields nothing else before a final response (EOF was handled above).
    assert type(event) is h11.Response
    status = event.status_code
    if 200 <= status < 300:
        if h.trailing_data[0]:
            raise ProxyError(
                f"the proxy {proxy.url} sent data after its answer to CONNECT {authority}, "
                "before the TLS handshake; the proxy is misbehaving",
                proxy=str(proxy.url),
                status_code=status,
            )
        return
    reason = event.reason.decode("latin-1")
    if status == 407:
        advice = (
            "the proxy refused the credentials in the proxy URL; check them"
            if proxy.has_credentials
            else "put credentials in the proxy URL (http://user:password@host:port)"
        )
        raise ProxyAuthRequired(
            f"the proxy {proxy.url} requires authentication to CONNECT {authority} "
            f"(407 {reason}): {advice}",
            proxy=str(proxy.url),
            status_code=status,
        )
    raise ProxyError(
        f"the proxy {proxy.url} refused to CONNECT {authority} ({status} {reason}); check "
        "that the proxy allows tunnels to this host and port",
        proxy=str(proxy.url),
        status_code=status,
    )
