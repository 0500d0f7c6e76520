"""SOCKS5 proxies (RFC 1928/1929) on sync, asyncio and trio: through pproxy (a peer that is
not ours) for the working paths, through a scripted hostile proxy for every refusal, and the
bytes of the handshake as the proxy received them. Generated into tests/_sync/test_socks.py."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from flext_api import AsyncFlextApiClient, Failure, Timeout
from tests.servers.raw import RawServerFactory, idle_until_closed
from tests.servers.runners import RunningServer
from tests.servers.socks import PASSWORD, USER, SocksProxies, run_pproxy

pytestmark = pytest.mark.anyio  # unasync: remove


@pytest.fixture(scope="module")
def pproxy() -> Iterator[SocksProxies]:
    with run_pproxy() as proxies:
        yield proxies


def _with_credentials(url: str, user: str, password: str) -> str:
    return url.replace("socks5://", f"socks5://{user}:{password}@")


async def test_requests_go_through_a_socks5_proxy(
    pproxy: SocksProxies, uvicorn_h11: RunningServer
) -> None:
    port = uvicorn_h11.port
    async with AsyncFlextApiClient(proxy=pproxy.open_url) as client:
        # A name the proxy resolves, and an IP literal.
        by_name = (await client.get(f"http://localhost:{port}/json")).unwrap()
        by_ip = (await client.get(f"http://127.0.0.1:{port}/json?again=1")).unwrap()
        assert by_name.json().unwrap() == by_ip.json().unwrap()
        # One tunnel per origin: both requests to the IP reused the same one.
        (await client.get(f"http://127.0.0.1:{port}/json?third=1")).unwrap()
        assert client.pool_stats.connections == 2


async def test_username_and_password_are_sent_when_the_proxy_asks(
    pproxy: SocksProxies, uvicorn_h11: RunningServer
) -> None:
    good = _with_credentials(pproxy.auth_url, USER, PASSWORD)
    async with AsyncFlextApiClient(proxy=good) as client:
        assert (await client.get(f"{uvicorn_h11.url}/json")).unwrap().status_code == 200
    for proxy in (_with_credentials(pproxy.auth_url, USER, "wrong"), pproxy.auth_url):
        async with AsyncFlextApiClient(proxy=proxy) as client:
            refused = await client.get(f"{uvicorn_h11.url}/json")
        assert isinstance(refused, Failure), proxy
        assert refused.error_code == "PROXY_AUTH_REQUIRED"
        assert "s3cret" not in str(refused.error) and "wrong" not in str(refused.error)


async def test_https_origins_get_tls_inside_the_tunnel(
    pproxy: SocksProxies, hypercorn_tls: RunningServer
) -> None:
    assert hypercorn_tls.ca_pem is not None
    async with AsyncFlextApiClient(proxy=pproxy.open_url, verify=hypercorn_tls.ca_pem) as client:
        reply = (await client.get(f"{hypercorn_tls.url}/json")).unwrap()
    assert reply.status_code == 200


def socks_script(replies: list[bytes], seen: list[bytes]) -> Callable[[socket.socket], None]:
    """A proxy that records what it gets and answers each client message with the next reply
    (an empty reply: hang up; ``b"wait"``: say nothing until the test ends)."""

    def script(conn: socket.socket) -> None:
        for reply in replies:
            seen.append(conn.recv(1024))
            if reply == b"wait":
                idle_until_closed(conn)
                return
            if not reply:
                return
            conn.sendall(reply)

    return script


REFUSED_BY_DESTINATION = b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"


@pytest.mark.parametrize(
    ("replies", "code", "words"),
    [
        (
            [b"\x05\x00", REFUSED_BY_DESTINATION],
            "PROXY_ERROR",
            "connection refused by the destination",
        ),
        ([b"\x05\xff"], "PROXY_AUTH_REQUIRED", "none of the offered authentication methods"),
        ([b"\x05\x02"], "PROXY_ERROR", "which was not offered"),
        ([b"\x04\x00"], "PROXY_ERROR", "not answer as a SOCKS5 server"),
        ([b"\x05\x00", b"\x05\x00\x00\x09\x00"], "PROXY_ERROR", "unknown address type 9"),
        ([b"\x05\x00", b""], "PROXY_ERROR", "closed the connection after the CONNECT request"),
        ([b"\x05\x00", b"wait"], "CONNECT_TIMEOUT", "timed out in the SOCKS5 handshake"),
    ],
)
async def test_every_refusal_is_a_clear_failure(
    raw_server: RawServerFactory, replies: list[bytes], code: str, words: str
) -> None:
    seen: list[bytes] = []
    proxy = raw_server(socks_script(replies, seen))
    async with AsyncFlextApiClient(
        proxy=f"socks5://127.0.0.1:{proxy.port}", timeout=Timeout(connect=0.5)
    ) as client:
        result = await client.get("http://api.example:8080/")
        assert isinstance(result, Failure)
        assert result.error_code == code and words in str(result.error), str(result.error)
        assert client.pool_stats.connections == 0  # nothing half-open is kept
    assert seen[0] == b"\x05\x01\x00"  # no credentials, so only "no authentication" offered
    if len(seen) > 1:
        # The destination's name travels as a name: the proxy resolves it (remote DNS).
        assert seen[1] == b"\x05\x01\x00\x03\x0bapi.example\x1f\x90"


async def test_refused_credentials_per_rfc_1929(raw_server: RawServerFactory) -> None:
    seen: list[bytes] = []
    proxy = raw_server(socks_script([b"\x05\x02", b"\x01\x01"], seen))
    async with AsyncFlextApiClient(proxy=f"socks5://bob:pw@127.0.0.1:{proxy.port}") as client:
        result = await client.get("http://10.1.2.3/")
    assert isinstance(result, Failure) and result.error_code == "PROXY_AUTH_REQUIRED"
    assert "refused the credentials" in str(result.error)
    assert seen == [b"\x05\x02\x02\x00", b"\x01\x03bob\x02pw"]
