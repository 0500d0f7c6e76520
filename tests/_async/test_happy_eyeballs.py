"""Happy Eyeballs (RFC 8305) and the pluggable resolver on sync, asyncio and trio: a host whose
first address never answers (a full accept queue drops the SYN) or refuses is still reached
on its second address within a connect timeout that a one-address-at-a-time client would
spend on the first; every losing socket is closed; lookups fail with their own words.
Generated into tests/_sync/test_happy_eyeballs.py."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

import pytest

from flext_api import (
    AsyncFlextApiClient,
    Failure,
    ResolvedAddress,
    StaticResolver,
    SystemResolver,
    Timeout,
)
from tests.servers.blackhole import blackhole
from tests.servers.runners import RunningServer

pytestmark = pytest.mark.anyio  # unasync: remove


def _connects_in_flight(port: int) -> int:
    """TCP sockets of this machine still trying to connect (SYN_SENT) to IPv6 ``port``."""
    with open("/proc/net/tcp6") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[2].endswith(f":{port:04X}") and row[3] == "02")


async def test_a_silent_first_address_costs_one_attempt_delay_not_the_timeout(
    uvicorn_h11: RunningServer,
) -> None:
    port = uvicorn_h11.port
    resolver = StaticResolver({"dual.test": ["::1", "127.0.0.1"]})
    with blackhole("::1", port):
        stuck = _connects_in_flight(port)  # the blackhole's own queue fillers
        # One address at a time, the whole 2 s connect timeout would go to ::1 and fail.
        async with AsyncFlextApiClient(resolver=resolver, timeout=Timeout(connect=2.0)) as client:
            for _ in range(3):
                answer = (await client.get(f"http://dual.test:{port}/json")).unwrap()
                assert answer.status_code == 200
            assert client.pool_stats.connections == 1  # the winner was pooled and reused
            assert _connects_in_flight(port) == stuck  # the attempt on ::1 was closed, not leaked


async def test_a_refused_first_address_lets_the_next_start_at_once(
    uvicorn_h11: RunningServer,
) -> None:
    # Nothing listens on [::1]:port: the refusal starts 127.0.0.1 without waiting.
    resolver = StaticResolver({"dual.test": ["::1", "127.0.0.1"]})
    async with AsyncFlextApiClient(resolver=resolver, timeout=Timeout(connect=2.0)) as client:
        answer = (await client.get(f"http://dual.test:{uvicorn_h11.port}/json")).unwrap()
    assert answer.json().unwrap() == {"hello": "world", "n": 1}


async def test_every_address_failing_names_the_last_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connects are refused
        resolver = StaticResolver({"down.test": ["::1", "127.0.0.1"]})
        async with AsyncFlextApiClient(resolver=resolver) as client:
            failed = await client.get(f"http://down.test:{port}/")
            assert isinstance(failed, Failure)
            assert failed.error_code == "CONNECT_ERROR"
            assert "refused" in str(failed.error).lower()
            assert client.pool_stats.connections == 0


async def test_a_name_missing_from_the_static_map_is_an_unknown_host() -> None:
    resolver = StaticResolver({"known.test": "127.0.0.1"})
    async with AsyncFlextApiClient(resolver=resolver) as client:
        failed = await client.get("http://unknown.test/")
    assert isinstance(failed, Failure)
    assert failed.error_code == "DNS_RESOLUTION_FAILED"
    assert "unknown.test" in str(failed.error)
    assert "StaticResolver" in str(failed.error)


async def test_the_static_map_falls_back_to_another_resolver(uvicorn_h11: RunningServer) -> None:
    resolver = StaticResolver({"pinned.test": "127.0.0.1"}, fallback=SystemResolver())
    async with AsyncFlextApiClient(resolver=resolver) as client:
        pinned = await client.get(f"http://pinned.test:{uvicorn_h11.port}/json")
        by_system = await client.get(f"http://localhost:{uvicorn_h11.port}/json")
    assert pinned.unwrap().status_code == by_system.unwrap().status_code == 200


class _SlowResolver:
    """A lookup that takes far longer than its own timeout (a stuck DNS server)."""

    in_memory = False

    def __init__(self, timeout: float) -> None:
        self.timeout: float | None = timeout
        self.calls = 0

    def resolve(self, host: str, port: int) -> Sequence[ResolvedAddress]:
        self.calls += 1
        time.sleep(1.5)
        return [(socket.AF_INET, ("127.0.0.1", port))]


async def test_the_resolvers_own_timeout_applies_inside_the_connect_timeout() -> None:
    resolver = _SlowResolver(timeout=0.2)
    async with AsyncFlextApiClient(resolver=resolver, timeout=Timeout(connect=30.0)) as client:
        failed = await client.get("http://slow.test/")
    assert isinstance(failed, Failure)
    assert failed.error_code == "CONNECT_TIMEOUT"
    assert "slow.test" in str(failed.error)
    assert resolver.calls == 1


async def test_ip_literals_never_reach_the_resolver(uvicorn_h11: RunningServer) -> None:
    resolver = _SlowResolver(timeout=0.2)
    async with AsyncFlextApiClient(resolver=resolver) as client:
        answer = (await client.get(f"http://127.0.0.1:{uvicorn_h11.port}/json")).unwrap()
    assert answer.status_code == 200
    assert resolver.calls == 0


def test_settings_are_checked_when_given() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        StaticResolver({"bad.test": "example.com"})
    with pytest.raises(ValueError, match="maps to no address"):
        StaticResolver({"bad.test": []})
    with pytest.raises(ValueError, match="above 0"):
        SystemResolver(timeout=0)
    with pytest.raises(ValueError, match="not to the client"):
        AsyncFlextApiClient(resolver=SystemResolver(), backend=object())  # type: ignore[arg-type]
