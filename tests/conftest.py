"""Session fixtures shared by the whole test suite: real servers on loopback and the network guard.

Servers are session-scoped (started once, on first use) because they are stateless; the raw
scripted server is per test because its script and connection counter belong to one test.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from tests.servers.guard import refuse_non_loopback
from tests.servers.raw import Handler, RawServer, RawServerFactory
from tests.servers.runners import RunningServer, run_hypercorn_tls, run_uvicorn, run_uvicorn_uds
from tests.servers.tls import TLSCertificates, make_certificates


@pytest.fixture(scope="session", autouse=True)
def _refuse_non_loopback() -> Iterator[None]:
    """No test reaches beyond 127.0.0.0/8 and ::1 (see tests.servers.guard)."""
    with refuse_non_loopback():
        yield


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's proxy settings must not route the tests' loopback traffic."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every `@pytest.mark.anyio` test on asyncio and on trio."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCertificates:
    """The trustme CA and certificates, written as PEM files (see tests.servers.tls)."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def uvicorn_h11() -> Iterator[RunningServer]:
    """uvicorn with the h11 parser serving tests.servers.app on http://127.0.0.1:PORT."""
    with run_uvicorn("h11") as server:
        yield server


@pytest.fixture(scope="session")
def uvicorn_httptools() -> Iterator[RunningServer]:
    """uvicorn with the httptools parser serving tests.servers.app on http://127.0.0.1:PORT."""
    with run_uvicorn("httptools") as server:
        yield server


@pytest.fixture(scope="session")
def uds_server() -> Iterator[RunningServer]:
    """uvicorn (h11) on a Unix socket: `server.uds` is the path, `server.url` http://localhost."""
    with run_uvicorn_uds("h11") as server:
        yield server


@pytest.fixture(scope="session")
def hypercorn_tls(tls_certs: TLSCertificates) -> Iterator[RunningServer]:
    """hypercorn serving tests.servers.app over TLS (ALPN h2, http/1.1) at `url`, verify with
    `ca_pem`; clear-text HTTP/1.1 and h2c at `insecure_url`."""
    with run_hypercorn_tls(tls_certs.server, tls_certs.ca_pem) as server:
        yield server


@pytest.fixture
def raw_server() -> Iterator[RawServerFactory]:
    """A factory: `raw_server(script, ssl_context=None, recv_buffer=None)` starts a RawServer
    on 127.0.0.1; every server it started is stopped after the test, and a script that failed
    with anything but OSError fails the test there."""
    started: list[RawServer] = []

    def factory(
        handler: Handler,
        *,
        ssl_context: ssl.SSLContext | None = None,
        recv_buffer: int | None = None,
    ) -> RawServer:
        server = RawServer(handler, ssl_context=ssl_context, recv_buffer=recv_buffer).start()
        started.append(server)
        return server

    yield factory
    errors: list[BaseException] = []
    for server in started:
        try:
            server.stop()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]
