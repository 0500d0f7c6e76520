"""The pool's bookkeeping under any sequence of events: a hypothesis state machine.

The machine drives :class:`PoolState` the way the I/O pool does (check-out, opens that succeed
or fail, check-in, discard, waiters served or abandoned, HTTP/2 streams reserved and ended, a
server lowering MAX_CONCURRENT_STREAMS down to 0, time passing on a fake clock, shutdown) and
after every step checks what a user of the pool relies on:

* ``connections == idle + in_use + opening``, overall and per origin, with each term read from
  the pool's own tables, and ``connections <= max_connections``;
* every connection a request holds is in use, none that was closed is still in the pool;
* the pool's count of slots being opened matches the opens under way;
* a multiplexed connection with no stream open and no room for one is never kept (it would
  count as busy for ever and exhaust the pool);
* no idle connection outlives ``keepalive_expiry`` once the pool has looked at it.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from flext_api._sansio.pool import Checkout, PoolState, Waiter

Origin = tuple[str, str, int]
A: Origin = ("http", "a.test", 80)
B: Origin = ("http", "b.test", 80)
S: Origin = ("https", "s.test", 443)  # may share an HTTP/2 connection
ORIGINS = (A, B, S)
EXPIRY = 5.0


class Conn:
    """A stand-in connection; a multiplexed one counts its own streams, as the real one."""

    def __init__(self, name: str, origin: Origin, *, multiplexed: bool, limit: int) -> None:
        self.name = name
        self.origin = origin
        self.multiplexed = multiplexed
        self.limit = limit
        self.active = 0
        self.closed = False

    @property
    def free(self) -> int:
        return 0 if self.closed else max(0, self.limit - self.active)

    def reserve(self) -> bool:
        if self.closed or self.active >= self.limit:
            return False
        self.active += 1
        return True

    def __repr__(self) -> str:
        return self.name


Pool = PoolState[Conn, str]


class PoolMachine(RuleBasedStateMachine):
    """What requests hold: ``held`` (one entry per request: an HTTP/1.1 connection, or an
    HTTP/2 connection with one stream reserved for it) and ``opening`` (slots to open)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.state: Pool = PoolState(max_connections=1, max_keepalive=None, keepalive_expiry=1.0)
        self.held: list[Conn] = []
        self.opening: list[tuple[Origin, bool]] = []
        self.waiting: list[Waiter[Conn, str]] = []
        self.closed: list[Conn] = []
        self.made = 0

    @initialize(
        max_connections=st.sampled_from([1, 2, 3, None]),
        max_keepalive=st.sampled_from([1, 2, None]),
    )
    def setup(self, max_connections: int | None, max_keepalive: int | None) -> None:
        self.state = PoolState(
            max_connections=max_connections,
            max_keepalive=max_keepalive,
            keepalive_expiry=EXPIRY,
        )

    # -- what the I/O pool does around each transition -----------------------------------------

    def close(self, connections: list[Conn]) -> None:
        for connection in connections:
            assert connection not in self.held, f"{connection} closed while a request holds it"
            connection.closed = True
            self.closed.append(connection)

    def wake(self, woken: list[Waiter[Conn, str]]) -> None:
        for waiter in woken:
            self.waiting.remove(waiter)
            if waiter.connection is not None:
                if waiter.shared:
                    assert waiter.connection.active <= waiter.connection.limit
                self.held.append(waiter.connection)
            elif waiter.may_open:
                self.opening.append((waiter.origin, waiter.multiplex))
            else:
                assert waiter.retry
                self.request(waiter.origin)

    def reserve_shared(self, checkout: Checkout[Conn], origin: Origin) -> Checkout[Conn]:
        """``AsyncConnectionPool._reserve_shared``: a stream on the offered connection, or
        mark it full (closing it when nothing runs on it) and look again."""
        while checkout.shared:
            connection = checkout.connection
            assert connection is not None
            if connection.reserve():
                if not connection.free:
                    self.state.multiplexed_full(connection)
                return checkout
            self.state.multiplexed_full(connection)
            if connection.active == 0:
                self.state.discard(connection)
                self.close([connection, *self.state.take_closing()])
            self.close(checkout.to_close)
            checkout = self.state.checkout(origin, self.now, multiplex=True)
        return checkout

    def request(self, origin: Origin) -> None:
        multiplex = origin == S
        checkout = self.state.checkout(origin, self.now, multiplex=multiplex)
        if checkout.shared:
            checkout = self.reserve_shared(checkout, origin)
        self.close(checkout.to_close)
        if checkout.connection is not None:
            self.held.append(checkout.connection)
        elif checkout.may_open:
            self.opening.append((origin, multiplex))
        else:
            waiter: Waiter[Conn, str] = Waiter(origin, "event", multiplex=multiplex)
            self.state.enqueue(waiter)
            self.waiting.append(waiter)

    def give_back_stream(self, connection: Conn) -> None:
        """``AsyncConnectionPool._give_back_stream``."""
        connection.active -= 1
        if not connection.closed:
            woken, to_close = self.state.stream_freed(
                connection, connection.free, self.now, idle=connection.active == 0
            )
            for waiter in woken:
                if waiter.shared:
                    assert connection.reserve()
        else:
            self.state.multiplexed_full(connection)
            woken, to_close = [], []
            if connection.active == 0:
                woken = self.state.discard(connection)
                to_close = [connection, *self.state.take_closing()]
        self.close(to_close)
        self.wake(woken)

    # -- rules ---------------------------------------------------------------------------------

    @rule(origins=st.lists(st.sampled_from(ORIGINS), min_size=1, max_size=3))
    def send(self, origins: list[Origin]) -> None:
        for origin in origins:
            self.request(origin)

    @precondition(lambda self: bool(self.opening))
    @rule(
        index=st.integers(0, 10),
        ok=st.sampled_from([True, True, True, False]),
        h2=st.sampled_from([True, True, False]),
        limit=st.integers(0, 3),
    )
    def open_ends(self, index: int, ok: bool, h2: bool, limit: int) -> None:
        origin, multiplex = self.opening.pop(index % len(self.opening))
        if not ok:
            self.wake(self.state.open_failed(origin, multiplex=multiplex))
            self.close(self.state.take_closing())
            return
        self.made += 1
        if multiplex and h2:
            connection = Conn(f"h2-{self.made}", origin, multiplexed=True, limit=max(limit, 1))
            connection.reserve()  # the stream of the request that opened it
            woken = self.state.opened_multiplexed(connection, origin, connection.free)
            for waiter in woken:
                if waiter.shared:
                    assert connection.reserve()
        else:
            connection = Conn(f"h1-{self.made}", origin, multiplexed=False, limit=1)
            woken = self.state.opened(connection, origin, multiplex=multiplex)
        self.held.append(connection)
        self.wake(woken)

    @precondition(lambda self: bool(self.held))
    @rule(index=st.integers(0, 10), reusable=st.booleans())
    def exchange_ends(self, index: int, reusable: bool) -> None:
        connection = self.held.pop(index % len(self.held))
        if connection.multiplexed:
            if not reusable:  # the server sent GOAWAY: no new streams
                connection.closed = True
            self.give_back_stream(connection)
            return
        woken, to_close = self.state.checkin(connection, self.now, reusable=reusable)
        self.close(to_close)
        self.wake(woken)

    @precondition(lambda self: any(not c.multiplexed for c in self.held))
    @rule(index=st.integers(0, 10))
    def connection_breaks(self, index: int) -> None:
        plain = [c for c in self.held if not c.multiplexed]
        connection = plain[index % len(plain)]
        self.held.remove(connection)
        connection.closed = True
        self.wake(self.state.discard(connection))
        self.close(self.state.take_closing())

    @precondition(lambda self: any(c.multiplexed and not c.closed for c in self.held))
    @rule(limit=st.integers(0, 3))
    def server_changes_stream_limit(self, limit: int) -> None:
        """SETTINGS_MAX_CONCURRENT_STREAMS, 0 included, on a connection in use."""
        connection = next(c for c in self.held if c.multiplexed and not c.closed)
        connection.limit = limit
        if not connection.free:
            self.state.multiplexed_full(connection)

    @precondition(lambda self: bool(self.waiting))
    @rule(index=st.integers(0, 10))
    def waiter_gives_up(self, index: int) -> None:
        """A waiter timed out or was cancelled (``AsyncConnectionPool._abandon``)."""
        waiter = self.waiting[index % len(self.waiting)]
        assert self.state.remove_waiter(waiter), "a queued waiter is removable"
        self.waiting.remove(waiter)

    @rule(seconds=st.sampled_from([0.5, 2.0, EXPIRY, 10.0]), prune=st.booleans())
    def time_passes(self, seconds: float, prune: bool) -> None:
        self.now += seconds
        if prune:
            self.close(self.state.prune(self.now))
            for connection in self.idle_connections():
                assert self.now - self.idle_since(connection) < EXPIRY

    def teardown(self) -> None:
        """``aclose`` after each run: every connection closes, waiters leave, and requests
        still holding a connection give it back afterwards without a trace."""
        connections = self.state.close_all()
        requests = list(self.held)
        self.held.clear()
        self.close(connections)
        for waiter in self.state.all_waiters():
            assert self.state.remove_waiter(waiter)
            self.waiting.remove(waiter)
        for connection in requests:  # they end afterwards, each as the I/O pool would
            connection.closed = True
            if connection.multiplexed:
                connection.active -= 1
                self.state.multiplexed_full(connection)
                if connection.active == 0:
                    self.state.discard(connection)
            else:
                assert self.state.checkin(connection, self.now, reusable=False) == (
                    [],
                    [connection],
                )
        stats = self.state.stats()
        assert (stats.idle, stats.in_use, stats.waiters) == (0, 0, 0), stats
        assert stats.connections == stats.opening == len(self.opening)

    # -- what is checked after every step ------------------------------------------------------

    def idle_connections(self) -> list[Conn]:
        return [*self.state._idle_order, *self.state._idle_multiplexed]

    def idle_since(self, connection: Conn) -> float:
        since = self.state._idle_order.get(connection)
        return self.state._idle_multiplexed[connection] if since is None else since

    @invariant()
    def counts_add_up(self) -> None:
        stats = self.state.stats()
        assert stats.connections == self.state.total
        assert stats.connections == stats.idle + stats.in_use + stats.opening, stats
        for origin, counts in stats.origins.items():
            assert counts.connections == counts.idle + counts.in_use + counts.opening, (
                origin,
                counts,
            )
        assert sum(counts.connections for counts in stats.origins.values()) == stats.connections
        if self.state.max_connections is not None:
            assert stats.connections <= self.state.max_connections
        assert stats.opening == len(self.opening)
        assert stats.waiters == len(self.waiting)

    @invariant()
    def held_connections_are_in_use(self) -> None:
        for connection in self.held:
            assert self.state.owns(connection), connection
            assert connection not in self.idle_connections()
        in_use = {c for c in self.held if self.state.owns(c)}
        assert len(in_use) <= self.state.stats().in_use

    @invariant()
    def nothing_closed_stays_in_the_pool(self) -> None:
        for connection in self.closed:
            assert not self.state.owns(connection), connection

    @invariant()
    def no_connection_is_busy_with_nothing_to_run(self) -> None:
        """In use means serving a request: a connection no request holds and that is not
        idle must not exist (it would never come back)."""
        held = set(self.held)
        idle = set(self.idle_connections())
        for connection in self.state.connections():
            assert connection in held or connection in idle, (
                f"{connection} counts as in use but nothing runs on it"
            )


PoolMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=50, deadline=None, database=None
)
test_pool_state_machine = PoolMachine.TestCase
