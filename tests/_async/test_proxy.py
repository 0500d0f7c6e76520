"""Requests through a forward proxy: forwarding for http://, CONNECT tunnels for https://.

Written once as async tests; ``tests/_sync/test_proxy.py`` is generated from this file, so
every case runs on the blocking client, on asyncio and on trio. The proxy is
``tests.servers.proxy.ForwardProxy`` (threads on 127.0.0.1); origins are uvicorn (http) and
hypercorn with the trustme certificate (https).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flext_api import (
    AsyncFlextApiClient,
    Failure,
    Proxy,
    ProxyAuthRequired,
    ProxyError,
    Response,
    Success,
    Timeout,
)
from tests.servers.proxy import ForwardProxy
from tests.servers.raw import RawServerFactory, read_request, wait_stopped
from tests.servers.runners import RunningServer
from tests.servers.tls import TLSCertificates

pytestmark = pytest.mark.anyio  # unasync: remove

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the proxy variables it means (none by default)."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def auth_proxy() -> Iterator[ForwardProxy]:
    """The proxy requiring Basic credentials user / p@ss:word."""
    with ForwardProxy(credentials=("user", "p@ss:word")) as running:
        yield running


@pytest.fixture
def refusing_proxy() -> Iterator[ForwardProxy]:
    """The proxy answering 403 to every CONNECT."""
    with ForwardProxy(refuse_connect=True) as running:
        yield running


@pytest.fixture
def tls_proxy(tls_certs: TLSCertificates) -> Iterator[ForwardProxy]:
    """The proxy behind TLS, with the trustme server certificate (valid for 127.0.0.1)."""
    with ForwardProxy(ssl_context=tls_certs.server.server_context()) as running:
        yield running


def ok(result: Success[Response] | Failure[Any]) -> Response:
    assert result.is_success, f"expected success, got {result!r}"
    return result.value


def echoed_headers(response: Response) -> dict[str, str]:
    data: dict[str, Any] = json.loads(response.content)
    return dict(data["headers"])


async def test_http_request_is_forwarded_in_absolute_form(
    proxy: ForwardProxy, uvicorn_h11: RunningServer
) -> None:
    async with AsyncFlextApiClient(proxy=proxy.url) as client:
        response = ok(await client.get(uvicorn_h11.url + "/echo?x=1"))
        assert response.status_code == 200
        assert str(response.request.url) == uvicorn_h11.url + "/echo?x=1"
        ok(await client.get(uvicorn_h11.url + "/"))
        stats = client.pool_stats
    assert echoed_headers(response)["host"] == f"127.0.0.1:{uvicorn_h11.port}"
    targets = [target for target, _ in proxy.log.forwarded]
    assert targets == [f"{uvicorn_h11.url}/echo?x=1".encode(), f"{uvicorn_h11.url}/".encode()]
    assert proxy.log.connections == 1  # kept alive between the two requests
    assert proxy.log.tunnels == []
    assert ("http", "127.0.0.1", proxy.port) in stats.origins


async def test_http_origins_share_the_connection_to_the_proxy(
    proxy: ForwardProxy, uvicorn_h11: RunningServer, uvicorn_httptools: RunningServer
) -> None:
    async with AsyncFlextApiClient(proxy=Proxy(proxy.url)) as client:
        ok(await client.get(uvicorn_h11.url + "/"))
        ok(await client.get(uvicorn_httptools.url + "/"))
    assert len(proxy.log.forwarded) == 2
    assert proxy.log.connections == 1


async def test_https_goes_through_a_connect_tunnel_with_tls_to_the_origin(
    proxy: ForwardProxy, hypercorn_tls: RunningServer
) -> None:
    async with AsyncFlextApiClient(proxy=proxy.url, verify=str(hypercorn_tls.ca_pem)) as client:
        first = ok(await client.get(hypercorn_tls.url + "/echo"))
        second = ok(await client.get(hypercorn_tls.url + "/json"))
    assert first.status_code == second.status_code == 200
    assert echoed_headers(first)["host"] == f"127.0.0.1:{hypercorn_tls.port}"
    assert proxy.log.tunnels == [f"127.0.0.1:{hypercorn_tls.port}".encode()]  # one, reused
    assert proxy.log.forwarded == []


async def test_tunnel_checks_the_origin_certificate_not_the_proxy(
    proxy: ForwardProxy, hypercorn_tls: RunningServer, tls_certs: TLSCertificates
) -> None:
    async with AsyncFlextApiClient(
        proxy=proxy.url, verify=str(tls_certs.untrusted_ca_pem)
    ) as client:
        result = await client.get(hypercorn_tls.url + "/")
    assert isinstance(result, Failure)
    assert result.error.code == "TLS_VERIFY_FAILED"
    assert "127.0.0.1" in str(result.error)


async def test_streaming_through_the_tunnel(
    proxy: ForwardProxy, hypercorn_tls: RunningServer
) -> None:
    async with (
        AsyncFlextApiClient(proxy=proxy.url, verify=str(hypercorn_tls.ca_pem)) as client,
        client.stream("GET", hypercorn_tls.url + "/json") as result,
    ):
        assert isinstance(result, Success)
        body = await result.value.aread()
    assert body.is_success
    assert json.loads(body.value) == {"hello": "world", "n": 1}


async def test_proxy_credentials_are_sent_as_basic_auth(
    auth_proxy: ForwardProxy, uvicorn_h11: RunningServer, hypercorn_tls: RunningServer
) -> None:
    url = f"http://user:p%40ss%3Aword@127.0.0.1:{auth_proxy.port}"
    async with AsyncFlextApiClient(proxy=url, verify=str(hypercorn_tls.ca_pem)) as client:
        plain = ok(await client.get(uvicorn_h11.url + "/echo"))
        tunneled = ok(await client.get(hypercorn_tls.url + "/echo"))
    assert plain.status_code == tunneled.status_code == 200
    assert len(auth_proxy.log.tunnels) == 1
    # The origin never sees the proxy's credentials.
    assert "proxy-authorization" not in echoed_headers(plain)
    assert "proxy-authorization" not in echoed_headers(tunneled)


async def test_connect_refused_for_bad_credentials_is_proxy_auth_required(
    auth_proxy: ForwardProxy, hypercorn_tls: RunningServer
) -> None:
    url = f"http://user:wrong-secret@127.0.0.1:{auth_proxy.port}"
    async with AsyncFlextApiClient(proxy=url, verify=str(hypercorn_tls.ca_pem)) as client:
        result = await client.get(hypercorn_tls.url + "/")
    assert isinstance(result, Failure)
    error = result.error
    assert isinstance(error, ProxyAuthRequired)
    assert error.code == "PROXY_AUTH_REQUIRED"
    assert error.status_code == 407
    assert error.proxy == f"http://127.0.0.1:{auth_proxy.port}/"
    assert "wrong-secret" not in str(error) + repr(error) + repr(result)
    assert "check them" in str(error)


async def test_forwarded_request_without_credentials_gets_the_407_response(
    auth_proxy: ForwardProxy, uvicorn_h11: RunningServer
) -> None:
    async with AsyncFlextApiClient(proxy=auth_proxy.url) as client:
        response = ok(await client.get(uvicorn_h11.url + "/"))
    assert response.status_code == 407  # a completed exchange: the status is data


async def test_connect_refused_by_the_proxy_is_proxy_error(
    refusing_proxy: ForwardProxy, hypercorn_tls: RunningServer
) -> None:
    proxy = refusing_proxy
    async with AsyncFlextApiClient(proxy=proxy.url, verify=str(hypercorn_tls.ca_pem)) as client:
        result = await client.get(hypercorn_tls.url + "/")
    assert isinstance(result, Failure)
    assert isinstance(result.error, ProxyError)
    assert result.error.code == "PROXY_ERROR"
    assert result.error.status_code == 403
    assert f"127.0.0.1:{proxy.port}" in str(result.error)
    assert "403" in str(result.error)


async def test_environment_proxy_and_no_proxy(
    proxy: ForwardProxy, uvicorn_h11: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with AsyncFlextApiClient() as client:
        ok(await client.get(uvicorn_h11.url + "/"))
    assert len(proxy.log.forwarded) == 1

    monkeypatch.setenv("no_proxy", f"localhost, 127.0.0.0/8:{uvicorn_h11.port}")
    async with AsyncFlextApiClient() as client:
        ok(await client.get(uvicorn_h11.url + "/"))
    assert len(proxy.log.forwarded) == 1  # bypassed

    monkeypatch.delenv("no_proxy")
    async with AsyncFlextApiClient(trust_env=False) as client:
        ok(await client.get(uvicorn_h11.url + "/"))
    assert len(proxy.log.forwarded) == 1  # the environment was not read


async def test_per_origin_selection(
    proxy: ForwardProxy, uvicorn_h11: RunningServer, uvicorn_httptools: RunningServer
) -> None:
    proxies: dict[str, str | Proxy | None] = {
        "all://": proxy.url,
        f"http://127.0.0.1:{uvicorn_httptools.port}": None,
    }
    async with AsyncFlextApiClient(proxies=proxies) as client:
        ok(await client.get(uvicorn_h11.url + "/"))
        ok(await client.get(uvicorn_httptools.url + "/"))
    assert [target for target, _ in proxy.log.forwarded] == [f"{uvicorn_h11.url}/".encode()]


async def test_https_proxy_forwards_http(
    tls_proxy: ForwardProxy, uvicorn_h11: RunningServer, tls_certs: TLSCertificates
) -> None:
    async with AsyncFlextApiClient(proxy=tls_proxy.url, verify=str(tls_certs.ca_pem)) as client:
        response = ok(await client.get(uvicorn_h11.url + "/echo"))
        ok(await client.get(uvicorn_h11.url + "/"))
    assert response.status_code == 200
    assert len(tls_proxy.log.forwarded) == 2
    assert tls_proxy.log.connections == 1


async def test_tls_inside_the_tls_of_an_https_proxy(
    tls_proxy: ForwardProxy, hypercorn_tls: RunningServer
) -> None:
    async with AsyncFlextApiClient(proxy=tls_proxy.url, verify=str(hypercorn_tls.ca_pem)) as client:
        first = ok(await client.get(hypercorn_tls.url + "/echo"))
        second = ok(await client.get(hypercorn_tls.url + "/json"))
    assert first.status_code == second.status_code == 200
    assert echoed_headers(first)["host"] == f"127.0.0.1:{hypercorn_tls.port}"
    assert len(tls_proxy.log.tunnels) == 1


async def test_unreachable_proxy_is_a_connect_error(uvicorn_h11: RunningServer) -> None:
    with ForwardProxy() as proxy:
        port = proxy.port
    async with AsyncFlextApiClient(proxy=f"http://u:secret@127.0.0.1:{port}") as client:
        result = await client.get(uvicorn_h11.url + "/")
    assert isinstance(result, Failure)
    assert result.error.code == "CONNECT_ERROR"
    assert f"127.0.0.1:{port}" in str(result.error)
    assert "secret" not in str(result.error)


async def test_http2_inside_the_tunnel(proxy: ForwardProxy, hypercorn_tls: RunningServer) -> None:
    async with AsyncFlextApiClient(
        proxy=proxy.url, verify=str(hypercorn_tls.ca_pem), http2=True
    ) as client:
        response = ok(await client.get(hypercorn_tls.url + "/json"))
    assert response.http_version == "HTTP/2"
    assert len(proxy.log.tunnels) == 1


def _answers(answer: bytes) -> Callable[[socket.socket], None]:
    """A fake proxy: read the CONNECT, send ``answer``, keep the connection until stopped."""

    def script(conn: socket.socket) -> None:
        read_request(conn)
        if answer:
            conn.sendall(answer)
        wait_stopped()

    return script


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "PROXY_ERROR", "invalid answer"),
        (b"", "CONNECT_TIMEOUT", "to answer CONNECT"),
        (b"HTTP/1.1 200 OK\r\n\r\nhello", "PROXY_ERROR", "sent data after"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
            "PROXY_ERROR",
            "502 Bad Gateway",
        ),
    ],
)
async def test_misbehaving_proxy_answers(
    raw_server: RawServerFactory, answer: bytes, code: str, says: str
) -> None:
    server = raw_server(_answers(answer))
    async with AsyncFlextApiClient(proxy=server.url, timeout=Timeout(1.0, connect=0.3)) as client:
        result = await client.get("https://127.0.0.1:1/")
    assert isinstance(result, Failure)
    assert result.error.code == code
    assert says in str(result.error)


async def test_proxy_closing_before_it_answers(raw_server: RawServerFactory) -> None:
    def script(conn: socket.socket) -> None:
        read_request(conn)

    server = raw_server(script)
    async with AsyncFlextApiClient(proxy=server.url) as client:
        result = await client.get("https://127.0.0.1:1/")
    assert isinstance(result, Failure)
    assert result.error.code == "PROXY_ERROR"
    assert "without answering" in str(result.error)
