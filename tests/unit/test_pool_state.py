"""The pool's decisions, without sockets: table-driven steps on a fake clock.

Each test drives ``PoolState`` the way the I/O pool does and checks what a user of the pool
would notice: which connection a request gets, when a new one is opened, who waits, what gets
closed, and that the counters never drift.
"""

from __future__ import annotations

import pytest

from flext_api._sansio.pool import PoolState, Waiter

A = ("http", "a.test", 80)
B = ("http", "b.test", 80)


class Conn:
    """A stand-in connection: only identity matters to the pool."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def make(
    max_connections: int | None = 2,
    max_keepalive: int | None = 2,
    keepalive_expiry: float | None = 5.0,
) -> PoolState[Conn, str]:
    return PoolState(
        max_connections=max_connections,
        max_keepalive=max_keepalive,
        keepalive_expiry=keepalive_expiry,
    )


def check_invariants(state: PoolState[Conn, str], in_use: int) -> None:
    """``in_use``: connections the test holds, or slots it took to open one."""
    stats = state.stats()
    assert stats.connections == state.total
    assert stats.idle == state.idle_count
    assert stats.in_use + stats.opening == in_use
    assert stats.connections == stats.idle + stats.in_use + stats.opening
    for origin in stats.origins.values():
        assert origin.connections == origin.idle + origin.in_use + origin.opening
    assert sum(o.connections for o in stats.origins.values()) == state.total
    if state.max_connections is not None:
        assert state.total <= state.max_connections


def open_one(state: PoolState[Conn, str], origin: tuple[str, str, int], name: str) -> Conn:
    checkout = state.checkout(origin, now=0.0)
    assert checkout.may_open and checkout.connection is None
    conn = Conn(name)
    state.opened(conn, origin)
    return conn


def test_first_request_opens_then_reuses_the_same_connection() -> None:
    state = make()
    c1 = open_one(state, A, "c1")
    woken, to_close = state.checkin(c1, now=1.0, reusable=True)
    assert (woken, to_close) == ([], [])
    checkout = state.checkout(A, now=2.0)
    assert checkout.connection is c1 and not checkout.may_open
    check_invariants(state, in_use=1)


def test_idle_stack_is_lifo_warmest_first() -> None:
    state = make()
    c1, c2 = open_one(state, A, "c1"), open_one(state, A, "c2")
    state.checkin(c1, now=1.0, reusable=True)
    state.checkin(c2, now=2.0, reusable=True)
    assert state.checkout(A, now=3.0).connection is c2
    assert state.checkout(A, now=3.0).connection is c1


def test_expired_idle_connections_are_closed_not_reused() -> None:
    state = make(keepalive_expiry=5.0)
    c1 = open_one(state, A, "c1")
    state.checkin(c1, now=0.0, reusable=True)
    checkout = state.checkout(A, now=5.0)
    assert checkout.to_close == [c1]
    assert checkout.may_open  # the freed slot is reused for a fresh connection
    check_invariants(state, in_use=1)


@pytest.mark.parametrize(
    ("expiry", "idle_for", "reused"),
    [(5.0, 4.99, True), (5.0, 5.0, False), (None, 1e9, True), (0.0, 0.0, False)],
)
def test_keepalive_expiry_table(expiry: float | None, idle_for: float, reused: bool) -> None:
    state = make(keepalive_expiry=expiry)
    c1 = open_one(state, A, "c1")
    state.checkin(c1, now=100.0, reusable=True)
    checkout = state.checkout(A, now=100.0 + idle_for)
    assert (checkout.connection is c1) is reused


def test_unreusable_connection_is_closed_and_frees_its_slot() -> None:
    state = make(max_connections=1)
    c1 = open_one(state, A, "c1")
    woken, to_close = state.checkin(c1, now=1.0, reusable=False)
    assert to_close == [c1] and woken == []
    assert state.total == 0
    assert state.checkout(A, now=1.0).may_open


def test_full_pool_makes_requests_wait_fifo_and_hands_connections_over() -> None:
    state = make(max_connections=1)
    c1 = open_one(state, A, "c1")
    assert state.checkout(A, now=0.0).must_wait
    w1: Waiter[Conn, str] = Waiter(A, "w1")
    w2: Waiter[Conn, str] = Waiter(A, "w2")
    state.enqueue(w1)
    state.enqueue(w2)
    woken, _ = state.checkin(c1, now=1.0, reusable=True)
    assert woken == [w1] and w1.connection is c1 and not w2.served
    woken, _ = state.checkin(c1, now=2.0, reusable=True)
    assert woken == [w2] and w2.connection is c1
    check_invariants(state, in_use=1)


def test_broken_connection_grants_its_slot_to_the_first_waiter() -> None:
    state = make(max_connections=1)
    c1 = open_one(state, A, "c1")
    waiter: Waiter[Conn, str] = Waiter(B, "w")
    state.enqueue(waiter)
    woken = state.discard(c1)
    assert woken == [waiter] and waiter.may_open
    assert state.total == 1  # the slot now belongs to the waiter's new connection


def test_idle_connection_of_another_origin_is_evicted_for_a_new_origin() -> None:
    state = make(max_connections=1)
    c1 = open_one(state, A, "c1")
    state.checkin(c1, now=0.0, reusable=True)
    checkout = state.checkout(B, now=1.0)
    assert checkout.may_open and checkout.to_close == [c1]
    check_invariants(state, in_use=1)


def test_returned_connection_goes_to_a_waiter_of_its_origin_not_the_head() -> None:
    state = make(max_connections=2)
    ca, cb = open_one(state, A, "ca"), open_one(state, B, "cb")
    wb: Waiter[Conn, str] = Waiter(B, "wb")
    wa: Waiter[Conn, str] = Waiter(A, "wa")
    state.enqueue(wb)
    state.enqueue(wa)
    woken, _ = state.checkin(ca, now=1.0, reusable=True)
    assert woken == [wa] and wa.connection is ca
    assert list(state.waiters) == [wb]
    del cb


def test_waiter_of_other_origin_gets_a_slot_when_an_idle_one_is_evicted() -> None:
    state = make(max_connections=1)
    ca = open_one(state, A, "ca")
    wb: Waiter[Conn, str] = Waiter(B, "wb")
    state.enqueue(wb)
    woken, to_close = state.checkin(ca, now=1.0, reusable=True)
    assert woken == [wb] and wb.may_open and to_close == [ca]
    assert state.total == 1 and state.idle_count == 0


def test_new_request_does_not_jump_the_queue() -> None:
    state = make(max_connections=1)
    c1 = open_one(state, A, "c1")
    state.enqueue(Waiter(A, "w"))
    state.discard(c1)  # the slot goes to the waiter
    assert state.checkout(A, now=0.0).must_wait


def test_max_keepalive_closes_the_oldest_idle_connection() -> None:
    state = make(max_connections=3, max_keepalive=1)
    c1, c2 = open_one(state, A, "c1"), open_one(state, A, "c2")
    state.checkin(c1, now=1.0, reusable=True)
    _, to_close = state.checkin(c2, now=2.0, reusable=True)
    assert to_close == [c1]
    assert state.checkout(A, now=2.5).connection is c2


def test_checkin_prunes_expired_idle_connections_of_other_origins() -> None:
    state = make(max_connections=3)
    cb = open_one(state, B, "cb")
    ca = open_one(state, A, "ca")
    state.checkin(cb, now=0.0, reusable=True)
    _, to_close = state.checkin(ca, now=10.0, reusable=True)
    assert to_close == [cb]
    assert state.prune(now=100.0) == [ca]
    assert state.total == 0


def test_abandoned_waiter_is_removed_only_if_not_served() -> None:
    state = make(max_connections=1)
    c1 = open_one(state, A, "c1")
    w1: Waiter[Conn, str] = Waiter(A, "w1")
    state.enqueue(w1)
    assert state.remove_waiter(w1) is True
    w2: Waiter[Conn, str] = Waiter(A, "w2")
    state.enqueue(w2)
    state.checkin(c1, now=1.0, reusable=True)
    assert state.remove_waiter(w2) is False  # it holds c1 and must give it back


def test_failed_open_frees_the_slot_for_the_next_waiter() -> None:
    state = make(max_connections=1)
    assert state.checkout(A, now=0.0).may_open
    waiter: Waiter[Conn, str] = Waiter(A, "w")
    state.enqueue(waiter)
    assert state.open_failed(A) == [waiter] and waiter.may_open
    assert state.total == 1


def test_unbounded_pool_never_waits() -> None:
    state = make(max_connections=None, max_keepalive=None, keepalive_expiry=None)
    conns = [open_one(state, A, f"c{i}") for i in range(50)]
    for conn in conns:
        state.checkin(conn, now=0.0, reusable=True)
    assert state.stats().idle == 50


def test_close_all_and_stats() -> None:
    state = make(max_connections=3)
    c1, c2 = open_one(state, A, "c1"), open_one(state, B, "c2")
    state.checkin(c1, now=0.0, reusable=True)
    stats = state.stats()
    assert (stats.connections, stats.idle, stats.in_use, stats.waiters) == (2, 1, 1, 0)
    assert stats.origins[A].idle == 1 and stats.origins[B].in_use == 1
    assert "in_use=1" in repr(stats) and "idle=1" in repr(stats.origins[A])
    assert state.close_all() == [c1, c2]  # idle and in use alike
    assert state.total == 0 and state.stats().origins == {}
    state.discard(c2)  # the request that held c2 gives it back afterwards: nothing changes
    assert state.checkin(c2, now=1.0, reusable=False) == ([], [c2])
    assert state.total == 0


# -- multiplexed (HTTP/2) connections ------------------------------------------------------------
#
# The stream count belongs to the connection; this table only learns "full" and "has room N".
# The helper below plays the connection's part with a plain counter per connection.

S = ("https", "s.test", 443)


class Streams:
    """The connection-side stream count the I/O pool would ask (``try_reserve_stream``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[Conn, int] = {}

    def reserve(self, conn: Conn) -> bool:
        if self.open.get(conn, 0) >= self.limit:
            return False
        self.open[conn] = self.open.get(conn, 0) + 1
        return True

    def release(self, conn: Conn) -> None:
        self.open[conn] -= 1

    def free(self, conn: Conn) -> int:
        return max(0, self.limit - self.open.get(conn, 0))


def checkout_shared(
    state: PoolState[Conn, str],
    streams: Streams,
    origin: tuple[str, str, int],
    now: float = 0.0,
    closed: list[Conn] | None = None,
) -> tuple[Conn | None, bool]:
    """What the I/O pool does under its lock: (connection with a reserved stream, may_open).
    Connections the pool closed on the way are appended to ``closed``."""
    checkout = state.checkout(origin, now=now, multiplex=True)
    if closed is not None:
        closed.extend(checkout.to_close)
    while checkout.shared:
        conn = checkout.connection
        assert conn is not None
        if streams.reserve(conn):
            if not streams.free(conn):
                state.multiplexed_full(conn)
            return conn, False
        state.multiplexed_full(conn)
        checkout = state.checkout(origin, now=now, multiplex=True)
        if closed is not None:
            closed.extend(checkout.to_close)
    return checkout.connection, checkout.may_open


def test_requests_wait_for_alpn_instead_of_each_opening_a_connection() -> None:
    state = make(max_connections=10)
    streams = Streams(limit=3)
    assert checkout_shared(state, streams, S) == (None, True)
    waiters = [Waiter[Conn, str](S, f"w{i}", multiplex=True) for i in range(4)]
    for waiter in waiters:
        assert state.checkout(S, now=0.0, multiplex=True).must_wait
        state.enqueue(waiter)
    assert state.stats().waiters == 4
    assert state.total == 1  # one open under way, not five
    h2 = Conn("h2")
    assert streams.reserve(h2)  # the opener's own stream
    woken = state.opened_multiplexed(h2, S, streams.free(h2))
    shared = [waiter for waiter in woken if waiter.shared]
    retry = [waiter for waiter in woken if waiter.retry]
    assert shared == waiters[:2] and all(waiter.connection is h2 for waiter in shared)
    assert retry == waiters[2:] and all(waiter.connection is None for waiter in retry)
    # The I/O pool reserves a stream for each shared waiter; the connection is now full,
    # so a request that looks again takes a new slot (and the next one waits for it).
    for _ in shared:
        assert streams.reserve(h2)
    assert checkout_shared(state, streams, S) == (None, True)
    assert state.checkout(S, now=0.0, multiplex=True).must_wait
    assert state.total == 2
    check_invariants(state, in_use=2)


def test_alpn_http11_result_sends_the_waiters_to_open_their_own() -> None:
    state = make(max_connections=10)
    assert state.checkout(S, now=0.0, multiplex=True).may_open
    waiter = Waiter[Conn, str](S, "w", multiplex=True)
    state.enqueue(waiter)
    h1 = Conn("h1")
    assert state.opened(h1, S, multiplex=True) == [waiter]
    assert waiter.retry and waiter.served and waiter.connection is None
    # The origin is now known to speak HTTP/1.1: nobody waits for an open any more.
    checkout = state.checkout(S, now=0.0, multiplex=True)
    assert checkout.may_open
    state.open_failed(S, multiplex=True)
    check_invariants(state, in_use=1)


def test_failed_multiplexed_open_releases_its_alpn_waiters() -> None:
    state = make(max_connections=10)
    assert state.checkout(S, now=0.0, multiplex=True).may_open
    waiter = Waiter[Conn, str](S, "w", multiplex=True)
    state.enqueue(waiter)
    woken = state.open_failed(S, multiplex=True)
    assert woken == [waiter] and waiter.retry
    assert state.total == 0 and state.stats().waiters == 0


def test_a_multiplexed_connection_counts_once_and_is_found_while_it_has_room() -> None:
    state = make(max_connections=1)
    streams = Streams(limit=2)
    assert checkout_shared(state, streams, S) == (None, True)
    h2 = Conn("h2")
    streams.reserve(h2)
    assert state.opened_multiplexed(h2, S, streams.free(h2)) == []
    assert checkout_shared(state, streams, S) == (h2, False)  # second stream, same connection
    assert state.total == 1
    # Full and max_connections reached: the next request queues (no new slot).
    assert checkout_shared(state, streams, S) == (None, False)
    waiter = Waiter[Conn, str](S, "w", multiplex=True)
    state.enqueue(waiter)
    # A stream ends: its room goes to the waiter, not back to the table.
    streams.open[h2] -= 1
    woken, to_close = state.stream_freed(h2, streams.free(h2), 0.0, idle=False)
    assert woken == [waiter] and to_close == [] and waiter.connection is h2 and waiter.shared
    assert streams.reserve(h2)
    assert checkout_shared(state, streams, S) == (None, False)
    check_invariants(state, in_use=1)


def test_freed_stream_without_waiters_makes_the_connection_available_and_idle() -> None:
    state = make(max_connections=4)
    streams = Streams(limit=1)
    checkout_shared(state, streams, S)
    h2 = Conn("h2")
    streams.reserve(h2)
    state.opened_multiplexed(h2, S, streams.free(h2))
    assert state.stats().idle == 0
    streams.open[h2] = 0
    assert state.stream_freed(h2, streams.free(h2), 0.0, idle=True) == ([], [])
    stats = state.stats()
    assert stats.idle == 1 and stats.in_use == 0 and stats.origins[S].idle == 1
    assert checkout_shared(state, streams, S) == (h2, False)
    assert state.stats().idle == 0


def test_closing_multiplexed_connection_leaves_the_table_and_frees_its_slot() -> None:
    state = make(max_connections=1)
    streams = Streams(limit=5)
    checkout_shared(state, streams, S)
    h2 = Conn("h2")
    streams.reserve(h2)
    state.opened_multiplexed(h2, S, streams.free(h2))
    other = Waiter[Conn, str](B, "b")
    assert state.checkout(B, now=0.0).must_wait
    state.enqueue(other)
    # GOAWAY: the connection refuses streams (room 0) and goes once its last stream ends.
    streams.release(h2)
    assert state.stream_freed(h2, 0, 0.0, idle=True) == ([other], [h2])
    assert other.may_open
    assert not state.is_multiplexed(h2)
    assert state.total == 1  # the slot now belongs to the B request
    assert state.all_waiters() == []
    check_invariants(state, in_use=1)


def test_multiplexed_connection_with_no_room_and_no_stream_is_closed_not_kept_busy() -> None:
    """MAX_CONCURRENT_STREAMS = 0: a connection that can open no stream serves nobody; it must
    not count as in use for ever (the pool would end up exhausted for every origin)."""
    state = make(max_connections=1, keepalive_expiry=5.0)
    streams = Streams(limit=5)
    h2 = open_h2(state, streams, S, "h2")
    streams.limit = 0  # the server's SETTINGS lowered the limit while the stream ran
    streams.release(h2)
    assert state.stream_freed(h2, streams.free(h2), 1.0, idle=True) == ([], [h2])
    assert state.total == 0 and state.stats().in_use == 0
    assert state.checkout(B, now=100.0).may_open  # another origin is not locked out
    check_invariants(state, in_use=1)


# -- idle multiplexed connections: expiry and eviction, like HTTP/1.1 ----------------------------


def open_h2(
    state: PoolState[Conn, str], streams: Streams, origin: tuple[str, str, int], name: str
) -> Conn:
    """Open a multiplexed connection to ``origin`` (its opener holds one stream)."""
    assert checkout_shared(state, streams, origin) == (None, True)
    conn = Conn(name)
    assert streams.reserve(conn)
    assert state.opened_multiplexed(conn, origin, streams.free(conn)) == []
    return conn


def end_stream(
    state: PoolState[Conn, str], streams: Streams, conn: Conn, now: float
) -> tuple[list[Waiter[Conn, str]], list[Conn]]:
    """What the I/O pool does when a stream ends: release the slot, tell the table."""
    streams.open[conn] -= 1
    return state.stream_freed(conn, streams.free(conn), now, idle=streams.open[conn] == 0)


T = ("https", "t.test", 443)


@pytest.mark.parametrize(
    ("expiry", "idle_for", "reused"),
    [(5.0, 4.99, True), (5.0, 5.0, False), (5.0, 60.0, False), (None, 1e9, True)],
)
def test_idle_multiplexed_connection_expires_on_checkout(
    expiry: float | None, idle_for: float, reused: bool
) -> None:
    state = make(max_connections=4, keepalive_expiry=expiry)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    assert end_stream(state, streams, h2, now=100.0) == ([], [])
    closed: list[Conn] = []
    got = checkout_shared(state, streams, S, now=100.0 + idle_for, closed=closed)
    if reused:
        assert got == (h2, False) and closed == []
    else:
        assert got == (None, True) and closed == [h2]
        assert not state.is_multiplexed(h2)
        assert state.total == 1  # the fresh connection's slot, not the expired one's
    check_invariants(state, in_use=1)


def test_busy_multiplexed_connection_never_expires() -> None:
    state = make(max_connections=4, keepalive_expiry=5.0)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    # Its stream is still open long after: it is in use, not idle.
    assert checkout_shared(state, streams, S, now=1000.0) == (h2, False)
    assert state.prune(now=2000.0) == []
    # One of two streams ends: still not idle.
    assert end_stream(state, streams, h2, now=3000.0) == ([], [])
    assert state.prune(now=9000.0) == []
    assert state.stats().idle == 0
    # The last ends: idle from now on, expiring 5 s later.
    assert end_stream(state, streams, h2, now=9000.0) == ([], [])
    assert state.stats().idle == 1
    assert state.prune(now=9004.9) == []
    assert state.prune(now=9005.0) == [h2]
    assert state.total == 0 and state.stats().idle == 0
    check_invariants(state, in_use=0)


def test_reused_idle_multiplexed_connection_restarts_its_idle_clock() -> None:
    state = make(max_connections=4, keepalive_expiry=5.0)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    end_stream(state, streams, h2, now=0.0)
    assert checkout_shared(state, streams, S, now=4.0) == (h2, False)
    end_stream(state, streams, h2, now=8.0)
    assert state.prune(now=12.9) == []
    assert checkout_shared(state, streams, S, now=12.9) == (h2, False)


def test_stream_end_and_checkin_prune_expired_connections_of_both_kinds() -> None:
    state = make(max_connections=4, keepalive_expiry=5.0)
    streams = Streams(limit=10)
    old_h2 = open_h2(state, streams, S, "old_h2")
    h1 = open_one(state, A, "h1")
    h2 = open_h2(state, streams, T, "h2")
    end_stream(state, streams, old_h2, now=0.0)
    # A stream ending later closes the expired idle multiplexed connection.
    assert end_stream(state, streams, h2, now=10.0) == ([], [old_h2])
    # An HTTP/1.1 check-in later still closes the expired idle multiplexed one.
    _, to_close = state.checkin(h1, now=20.0, reusable=True)
    assert to_close == [h2]
    assert state.prune(now=25.0) == [h1]
    assert state.total == 0
    check_invariants(state, in_use=0)


def test_prune_closes_the_coldest_idle_connections_of_both_kinds_in_order() -> None:
    state = make(max_connections=4, max_keepalive=None, keepalive_expiry=5.0)
    streams = Streams(limit=10)
    h1a = open_one(state, A, "h1a")
    h2s = open_h2(state, streams, S, "h2s")
    h1b = open_one(state, B, "h1b")
    state.checkin(h1a, now=0.0, reusable=True)
    end_stream(state, streams, h2s, now=1.0)
    state.checkin(h1b, now=2.0, reusable=True)
    assert state.prune(now=6.5) == [h1a, h2s]
    assert state.prune(now=7.0) == [h1b]
    check_invariants(state, in_use=0)


def test_idle_multiplexed_connection_is_evicted_for_a_waiter_of_another_origin() -> None:
    state = make(max_connections=1)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    # Pool full (one connection, in use): a request for A waits.
    assert state.checkout(A, now=0.0).must_wait
    waiter: Waiter[Conn, str] = Waiter(A, "wa")
    state.enqueue(waiter)
    # The h2 connection's last stream ends: it is worth less than the queued request.
    woken, to_close = end_stream(state, streams, h2, now=1.0)
    assert woken == [waiter] and waiter.may_open and to_close == [h2]
    assert not state.is_multiplexed(h2) and state.total == 1
    assert list(state.stats().origins) == [A]
    check_invariants(state, in_use=1)


def test_new_origin_evicts_an_idle_multiplexed_connection_when_the_pool_is_full() -> None:
    state = make(max_connections=1)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    end_stream(state, streams, h2, now=0.0)
    checkout = state.checkout(A, now=1.0)
    assert checkout.may_open and checkout.to_close == [h2]
    # The origin has no connection any more: the next S request opens a new one.
    assert checkout_shared(state, streams, S, now=1.0) == (None, False)
    check_invariants(state, in_use=1)


def test_eviction_takes_the_coldest_idle_connection_of_either_kind() -> None:
    state = make(max_connections=2)
    streams = Streams(limit=10)
    h1 = open_one(state, A, "h1")
    h2 = open_h2(state, streams, S, "h2")
    end_stream(state, streams, h2, now=1.0)
    state.checkin(h1, now=2.0, reusable=True)
    checkout = state.checkout(B, now=3.0)
    assert checkout.may_open and checkout.to_close == [h2]  # idle since 1.0, the coldest
    assert state.checkout(A, now=3.0).connection is h1
    check_invariants(state, in_use=2)


def test_max_keepalive_counts_idle_multiplexed_connections() -> None:
    state = make(max_connections=4, max_keepalive=1)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    h1 = open_one(state, A, "h1")
    end_stream(state, streams, h2, now=1.0)
    _, to_close = state.checkin(h1, now=2.0, reusable=True)
    assert to_close == [h2]
    assert state.stats().idle == 1
    check_invariants(state, in_use=0)


def test_close_all_includes_idle_multiplexed_connections() -> None:
    state = make(max_connections=4)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    busy = open_h2(state, streams, T, "busy")
    end_stream(state, streams, h2, now=1.0)
    assert state.close_all() == [h2, busy]
    assert state.total == 0 and not state.is_multiplexed(busy) and not state.is_multiplexed(h2)
    check_invariants(state, in_use=0)


def test_discarded_idle_multiplexed_connection_leaves_every_table() -> None:
    state = make(max_connections=2)
    streams = Streams(limit=10)
    h2 = open_h2(state, streams, S, "h2")
    end_stream(state, streams, h2, now=1.0)
    state.discard(h2)
    assert state.total == 0 and state.prune(now=100.0) == []
    assert checkout_shared(state, streams, S, now=2.0) == (None, True)
    check_invariants(state, in_use=1)


def test_connections_evicted_by_a_discard_are_handed_back_for_closing() -> None:
    state = make(max_connections=2)
    idle = open_one(state, A, "idle")
    busy = open_one(state, A, "busy")
    state.checkin(idle, now=0.0, reusable=True)
    first: Waiter[Conn, str] = Waiter(B, "w1")
    second: Waiter[Conn, str] = Waiter(B, "w2")
    state.enqueue(first)  # queued while an idle connection exists (a race the I/O pool allows)
    state.enqueue(second)
    woken = state.discard(busy)
    assert woken == [first, second] and first.may_open and second.may_open
    assert state.take_closing() == [idle]  # evicted for the second waiter: must be closed
    assert state.take_closing() == []
    assert state.total == 2 and state.idle_count == 0
