"""The pure parts of name resolution: RFC 8305's address order, IP literals, the static map."""

from __future__ import annotations

import socket

import pytest

from flext_api import StaticResolver, SystemResolver
from flext_api._resolver import (
    checked,
    connect_failure,
    interleave,
    literal_address,
    resolve_limit,
)

V6A = (socket.AF_INET6, ("2001:db8::1", 443, 0, 0))
V6B = (socket.AF_INET6, ("2001:db8::2", 443, 0, 0))
V4A = (socket.AF_INET, ("192.0.2.1", 443))
V4B = (socket.AF_INET, ("192.0.2.2", 443))
V4C = (socket.AF_INET, ("192.0.2.3", 443))


@pytest.mark.parametrize(
    ("answer", "order"),
    [
        ([], []),
        ([V4A], [V4A]),
        ([V6A, V6B, V4A, V4B], [V6A, V4A, V6B, V4B]),  # RFC 8305 section 4's example shape
        ([V4A, V4B, V4C, V6A], [V4A, V6A, V4B, V4C]),  # the first family leads
        ([V6A, V4A, V4B, V4C], [V6A, V4A, V4B, V4C]),
        ([V4A, V4B], [V4A, V4B]),  # one family: the system's order is kept
    ],
)
def test_interleave_alternates_families_starting_with_the_first(
    answer: list[tuple[socket.AddressFamily, tuple[object, ...]]],
    order: list[tuple[socket.AddressFamily, tuple[object, ...]]],
) -> None:
    assert interleave(answer) == order


def test_ip_literals_are_their_own_answer() -> None:
    assert literal_address("192.0.2.1", 80) == [(socket.AF_INET, ("192.0.2.1", 80))]
    assert literal_address("[::1]", 80) == [(socket.AF_INET6, ("::1", 80, 0, 0))]
    assert literal_address("example.com", 80) is None
    assert literal_address("fe80::1%nonexistent0", 80) is None
    scoped = literal_address("fe80::1%lo", 80)
    assert scoped is not None and scoped[0][0] == socket.AF_INET6


def test_the_static_map_answers_in_the_order_given_without_case_or_trailing_dot() -> None:
    resolver = StaticResolver({"API.test.": ["::1", "127.0.0.1"], "one.test": "10.0.0.1"})
    assert resolver.in_memory
    assert resolver.resolve("api.TEST", 8080) == [
        (socket.AF_INET6, ("::1", 8080, 0, 0)),
        (socket.AF_INET, ("127.0.0.1", 8080)),
    ]
    assert resolver.resolve("one.test.", 1) == [(socket.AF_INET, ("10.0.0.1", 1))]
    assert resolver.resolve("10.9.8.7", 1) == [(socket.AF_INET, ("10.9.8.7", 1))]
    with pytest.raises(socket.gaierror, match="not in the StaticResolver's map"):
        resolver.resolve("other.test", 1)
    assert "2 names" in repr(resolver)


def test_a_fallback_that_may_block_makes_the_map_a_blocking_resolver() -> None:
    resolver = StaticResolver({"a.test": "127.0.0.1"}, fallback=SystemResolver(timeout=3))
    assert not resolver.in_memory
    assert resolver.resolve("localhost", 5)[0][1][1] == 5
    assert "SystemResolver(timeout=3)" in repr(resolver)


def test_limits_errors_and_the_empty_answer() -> None:
    assert resolve_limit(SystemResolver(), None) is None
    assert resolve_limit(SystemResolver(), 5.0) == 5.0
    assert resolve_limit(SystemResolver(timeout=1.0), None) == 1.0
    assert resolve_limit(SystemResolver(timeout=1.0), 0.5) == 0.5
    with pytest.raises(OSError, match=r"no address for 'x\.test'"):
        checked("x.test", [])
    assert "[::1]:443" in str(connect_failure(111, (socket.AF_INET6, ("::1", 443, 0, 0))))
    assert "127.0.0.1:80" in str(connect_failure(111, (socket.AF_INET, ("127.0.0.1", 80))))


def test_the_attempt_delay_stays_within_rfc_8305s_range() -> None:
    from flext_api._backends.sync import SyncBackend

    assert SyncBackend(happy_eyeballs_delay=0.1) is not None
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="happy_eyeballs_delay"):
            SyncBackend(happy_eyeballs_delay=bad)
