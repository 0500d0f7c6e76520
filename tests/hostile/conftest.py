"""Fixtures of the hostile-server suite: the scripted HTTP/2 server, started and stopped per test.

The HTTP/1.1 attacks use the suite-wide `raw_server` factory (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import pytest

from tests.servers.hostile_h2 import HostileH2Server


class H2ServerFactory(Protocol):
    def __call__(
        self,
        *,
        max_concurrent_streams: int = 100,
        goaway_after: int = 3,
        bodies: dict[str, tuple[bytes, str]] | None = None,
        streams_after_first: int | None = None,
    ) -> HostileH2Server: ...


@pytest.fixture
def h2_server() -> Iterator[H2ServerFactory]:
    """A factory: `h2_server(...)` starts a HostileH2Server (h2c on 127.0.0.1), stopped after."""
    started: list[HostileH2Server] = []

    def factory(
        *,
        max_concurrent_streams: int = 100,
        goaway_after: int = 3,
        bodies: dict[str, tuple[bytes, str]] | None = None,
        streams_after_first: int | None = None,
    ) -> HostileH2Server:
        server = HostileH2Server(
            max_concurrent_streams=max_concurrent_streams,
            goaway_after=goaway_after,
            bodies=bodies,
            streams_after_first=streams_after_first,
        ).start()
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
