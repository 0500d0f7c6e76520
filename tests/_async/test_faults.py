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
from pathlib import Path
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
    wait_stopped,
)
from tests.servers.runners import RunningServer
from tests.servers.tls import CertFiles, TLSCertificates

pytestmark = pytest.mark.anyio  # unasync: remove

# A raw server answers "hello, world\n"; the ASGI app answers "hello, world".
RAW_HELLO = b"hello, world\n"


def error_of(result: Success[Any] | Failure[FlextApiError]) -> FlextApiError:
    """The error of a result that must be a Failure (the Success is shown otherwise)."""
    assert isinstance(result, Failure), f"expected a Failure, got {result!r}"
    return result.error


def response_of(result: Success[Response] | Failure[FlextApiError]) -> Response:
    assert isinstance(result, Success), f"expected a Success, got {result!r}"
    return result.value


async def assert_still_works(client: AsyncFlextApiClient, healthy: RunningServer) -> None:
    """The client that just failed serves the next request and holds no connection."""
    response = response_of(await client.get(healthy.url + "/"))
    assert response.status_code == 200
    assert response.content == HELLO
    stats = client.pool_stats
    assert stats.in_use == 0, stats
    assert stats.waiters == 0, stats


def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- the request itself is wrong: nothing is sent ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("http://exa mple.com/", "space"),
        ("http://127.0.0.1:99999/", "port"),
        ("http://[::1/", "["),
        ("/no/scheme", "scheme"),
        ("http:///no-host", "host"),
    ],
)
async def test_malformed_url_is_invalid_url(
    uvicorn_h11: RunningServer, url: str, hint: str
) -> None:
    async with AsyncFlextApiClient() as client:
        error = error_of(await client.get(url))
        assert error.error_code if False else error.code == "INVALID_URL", error  # noqa: SIM222
        assert hint in str(error)
        await assert_still_works(client, uvicorn_h11)
