"""Pool bookkeeping without I/O: who gets which connection, which to open, which to close.

The I/O pools (``_async/pool.py`` and its generated twin) call these methods under their lock
and then act on the answer (open, close, wake) outside it. Nothing here awaits, sleeps, reads a
clock of its own (``now`` is passed in) or touches a socket, so the rules below are tested with a
table and a fake clock.

Invariants (checked by the tests after every step):

* ``total`` counts every connection that is open or being opened: idle + in use + opening,
  overall and per origin. This table is the one record of connections: the I/O pool keeps no
  set of its own, and shutdown (:meth:`PoolState.close_all`) reads the connections from here.
* a connection is in exactly one place: an origin's idle stack (or ``_idle_multiplexed``),
  ``_in_use``, or being closed (returned to the caller, forgotten here).
* a connection that cannot serve a request (a multiplexed one with no stream open and no room
  for one: MAX_CONCURRENT_STREAMS = 0) is never counted as in use: it is closed.
* ``idle[origin]`` is a LIFO stack (warmest connection first): ``dict`` keeps insertion order
  and ``popitem()`` takes the newest in O(1); ``_idle_order`` keeps all idle HTTP/1.1
  connections oldest first and ``_idle_multiplexed`` all idle multiplexed ones (see below), so
  evicting the coldest idle connection of any origin and kind is O(1) too (the older of the two
  heads). Nothing scans every connection per request.
* an idle connection of either kind that has been idle for ``keepalive_expiry`` or longer is
  never handed out: :meth:`PoolState.checkout` closes it instead, and :meth:`PoolState.checkin`,
  :meth:`PoolState.stream_freed` and :meth:`PoolState.prune` close every expired one.
* idle connections of both kinds count toward ``max_keepalive`` and are evicted (coldest
  first) when the pool is full and a request for another origin waits.
* waiters are served FIFO. A returned connection goes to the first waiter for its origin; a
  freed slot goes to the first waiter of any origin.
* ``total <= max_connections`` whenever ``max_connections`` is set.

Multiplexed (HTTP/2) connections count once toward ``total`` and are never in an idle stack.
Their stream count belongs to the connection object, never to this table: the I/O layer asks
the connection for a stream (``try_reserve_stream``) and tells this table only whether the
connection still has room (:meth:`PoolState.multiplexed_full`, :meth:`PoolState.stream_freed`).

* ``_available[origin]`` holds the multiplexed connections of ``origin`` believed to have a
  free stream, found in O(1) (``next(iter(...))``).
* ``_idle_multiplexed`` maps each multiplexed connection with no stream open (its last stream
  ended and no waiter took the room) to the time it became idle, oldest first; such a
  connection is also in ``_available``. :meth:`PoolState.checkout` takes it out of
  ``_idle_multiplexed`` when it offers it (the I/O layer then reserves a stream on it, and
  probes it before use: the connection knows whether it got GOAWAY or lost its socket).
  An evicted idle multiplexed connection leaves every table at once and is returned to close.
* while a connection that may turn out multiplexed (``multiplex=True``: ALPN may pick h2) is
  being opened to an origin not known to speak HTTP/1.1, further requests for that origin wait
  in ``_alpn_waiters[origin]`` instead of each opening a connection; the open's result serves
  them (h2: share it; HTTP/1.1 or failure: they look again, with ``retry``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from flext_api._sansio.pool_stats import OriginStats, PoolStats
from flext_api._sansio.replay import Origin

__all__ = ["Checkout", "PoolState", "Waiter"]

C = TypeVar("C", bound=Hashable)
E = TypeVar("E")


class Waiter(Generic[C, E]):
    """A request waiting for a connection. The pool fills in exactly one of ``connection``
    (an idle connection handed over) or ``may_open`` (a slot to open a new one), then the I/O
    layer sets ``event``."""

    __slots__ = ("connection", "event", "may_open", "multiplex", "origin", "retry", "shared")

    def __init__(self, origin: Origin, event: E, *, multiplex: bool = False) -> None:
        self.origin = origin
        self.event = event
        self.multiplex = multiplex  # it would share a multiplexed connection
        self.connection: C | None = None
        self.may_open = False
        # ``connection`` is multiplexed: the I/O layer reserved a stream on it for this waiter.
        self.shared = False
        # Nothing handed over: look again (an awaited open ended as HTTP/1.1 or failed, or a
        # multiplexed connection filled up before this waiter's turn).
        self.retry = False

    @property
    def served(self) -> bool:
        return self.connection is not None or self.may_open or self.retry


class Checkout(Generic[C]):
    """The pool's answer to "I need a connection to this origin"."""

    __slots__ = ("connection", "may_open", "shared", "to_close")

    def __init__(
        self, connection: C | None, may_open: bool, to_close: list[C], *, shared: bool = False
    ) -> None:
        self.connection = connection  # reuse this one
        self.may_open = may_open  # or open a new one (the slot is already counted)
        self.to_close = to_close  # close these (expired or evicted), outside the lock
        # ``connection`` is multiplexed and believed to have a free stream: reserve one on it,
        # or call multiplexed_full() and check out again.
        self.shared = shared

    @property
    def must_wait(self) -> bool:
        return self.connection is None and not self.may_open


class PoolState(Generic[C, E]):
    """The pool's state machine. Connections are opaque hashable objects here."""

    __slots__ = (
        "_alpn_waiters",
        "_available",
        "_closing",
        "_h1_origins",
        "_idle",
        "_idle_multiplexed",
        "_idle_order",
        "_in_use",
        "_multiplexed",
        "_opening",
        "_opening_multiplex",
        "_origin_of",
        "_per_origin",
        "keepalive_expiry",
        "max_connections",
        "max_keepalive",
        "total",
        "waiters",
    )

    def __init__(
        self,
        *,
        max_connections: int | None,
        max_keepalive: int | None,
        keepalive_expiry: float | None,
    ) -> None:
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self.total = 0
        self._idle: dict[Origin, dict[C, float]] = {}
        self._idle_order: dict[C, float] = {}
        self._origin_of: dict[C, Origin] = {}
        self._per_origin: dict[Origin, int] = {}
        # Connections serving a request (HTTP/1.1) or with a stream reserved (multiplexed),
        # and per origin the slots taken for a connect still under way: with the idle tables
        # they account for ``total`` (see the invariants above).
        self._in_use: dict[C, None] = {}
        self._opening: dict[Origin, int] = {}
        self.waiters: deque[Waiter[C, E]] = deque()
        # Idle connections evicted by a transition whose answer has no room for them
        # (discard, open_failed): the I/O pool collects them with take_closing().
        self._closing: list[C] = []
        # Every multiplexed connection (a set with insertion order).
        self._multiplexed: dict[C, None] = {}
        # Multiplexed connections with no stream open -> since when, oldest first.
        self._idle_multiplexed: dict[C, float] = {}
        self._available: dict[Origin, dict[C, None]] = {}
        self._opening_multiplex: dict[Origin, int] = {}
        self._alpn_waiters: dict[Origin, deque[Waiter[C, E]]] = {}
        self._h1_origins: set[Origin] = set()

    # -- queries ---------------------------------------------------------------------------

    @property
    def idle_count(self) -> int:
        return len(self._idle_order) + len(self._idle_multiplexed)

    def is_multiplexed(self, connection: C) -> bool:
        return connection in self._multiplexed

    def owns(self, connection: C) -> bool:
        """Whether ``connection`` is one of this pool's (idle or in use)."""
        return connection in self._origin_of

    def stats(self) -> PoolStats:
        """Counts read from the tables themselves (not derived from ``total``), so a test can
        check ``connections == idle + in_use + opening`` per origin. Scans: monitoring only."""
        idle: dict[Origin, int] = {}
        in_use: dict[Origin, int] = {}
        for table, counts in ((self._idle_order, idle), (self._idle_multiplexed, idle)):
            for connection in table:
                origin = self._origin_of[connection]
                counts[origin] = counts.get(origin, 0) + 1
        for connection in self._in_use:
            origin = self._origin_of[connection]
            in_use[origin] = in_use.get(origin, 0) + 1
        origins = {
            origin: OriginStats(
                count,
                idle.get(origin, 0),
                in_use=in_use.get(origin, 0),
                opening=self._opening.get(origin, 0),
            )
            for origin, count in self._per_origin.items()
            if count
        }
        waiting = len(self.waiters) + sum(len(queue) for queue in self._alpn_waiters.values())
        return PoolStats(
            self.total,
            self.idle_count,
            waiting,
            origins,
            in_use=len(self._in_use),
            opening=sum(self._opening.values()),
        )

    def _expired(self, since: float, now: float) -> bool:
        return self.keepalive_expiry is not None and now - since >= self.keepalive_expiry

    # -- transitions -----------------------------------------------------------------------

    def checkout(self, origin: Origin, now: float, *, multiplex: bool = False) -> Checkout[C]:
        """Take the warmest live idle connection of ``origin``, or a slot to open one.

        With ``multiplex`` (the request may share an HTTP/2 connection): first a multiplexed
        connection with room (``shared``), and no new slot while an open that may become
        multiplexed is under way (the caller waits: :meth:`enqueue` puts it behind that open).
        A multiplexed connection idle for ``keepalive_expiry`` is closed, not offered.
        """
        to_close: list[C] = []
        if multiplex:
            available = self._available.get(origin)
            while available:
                connection = next(iter(available))
                since = self._idle_multiplexed.pop(connection, None)
                if since is not None and self._expired(since, now):
                    del available[connection]
                    del self._multiplexed[connection]
                    self._forget(connection)
                    to_close.append(connection)
                    continue
                self._in_use[connection] = None
                return Checkout(connection, False, to_close, shared=True)
        stack = self._idle.get(origin)
        while stack:
            connection, since = stack.popitem()
            del self._idle_order[connection]
            if self._expired(since, now):
                self._forget(connection)
                to_close.append(connection)
                continue
            self._in_use[connection] = None
            return Checkout(connection, False, to_close)
        if multiplex and self._awaits_alpn(origin):
            return Checkout(None, False, to_close)
        if self.waiters and not self._has_free_slot():
            # Others queued first: a slot freed later is theirs (FIFO); evicting an idle
            # connection for this request would jump the queue.
            return Checkout(None, False, to_close)
        if self._take_slot(origin, to_close):
            if multiplex:
                self._opening_multiplex[origin] = self._opening_multiplex.get(origin, 0) + 1
            return Checkout(None, True, to_close)
        return Checkout(None, False, to_close)

    def _awaits_alpn(self, origin: Origin) -> bool:
        return origin not in self._h1_origins and self._opening_multiplex.get(origin, 0) > 0

    def enqueue(self, waiter: Waiter[C, E]) -> None:
        """Queue a waiter after a :meth:`checkout` that said ``must_wait`` (same lock block)."""
        if waiter.multiplex and self._awaits_alpn(waiter.origin):
            self._alpn_waiters.setdefault(waiter.origin, deque()).append(waiter)
        else:
            self.waiters.append(waiter)

    def remove_waiter(self, waiter: Waiter[C, E]) -> bool:
        """Drop a waiter that timed out or was cancelled. ``False`` if it was already served
        (then the caller must give back what it got: :meth:`checkin` or :meth:`discard`)."""
        if waiter.served:
            return False
        alpn = self._alpn_waiters.get(waiter.origin)
        if alpn is not None and waiter in alpn:
            alpn.remove(waiter)
            return True
        try:
            self.waiters.remove(waiter)
        except ValueError:  # pragma: no cover - a served waiter is never queued
            return False
        return True

    def opened(
        self, connection: C, origin: Origin, *, multiplex: bool = False
    ) -> list[Waiter[C, E]]:
        """A slot from :meth:`checkout` became a live HTTP/1.1 connection (now in use).

        ``multiplex``: the slot was taken with ``multiplex=True`` and the server chose
        HTTP/1.1: the origin is remembered as such, and the requests that waited for this
        open are returned (``retry``) to look again."""
        self._end_opening(origin)
        self._origin_of[connection] = origin
        self._in_use[connection] = None
        if not multiplex:
            return []
        self._h1_origins.add(origin)
        return self._end_multiplex_open(origin)

    def opened_multiplexed(self, connection: C, origin: Origin, free: int) -> list[Waiter[C, E]]:
        """A slot taken with ``multiplex=True`` became a multiplexed connection, in use by the
        request that opened it, with ``free`` more streams. Hands it to up to ``free``
        waiters for the origin (``shared``: the I/O layer reserves a stream for each); the
        rest of those that waited for this open look again (``retry``)."""
        self._end_opening(origin)
        self._origin_of[connection] = origin
        self._in_use[connection] = None
        self._multiplexed[connection] = None
        self._h1_origins.discard(origin)
        woken = self._share(connection, origin, free)
        return woken + self._end_multiplex_open(origin)

    def _end_multiplex_open(self, origin: Origin) -> list[Waiter[C, E]]:
        left = self._opening_multiplex[origin] - 1
        if left:
            self._opening_multiplex[origin] = left
            return []
        del self._opening_multiplex[origin]
        queue = self._alpn_waiters.pop(origin, None)
        if not queue:
            return []
        for waiter in queue:
            waiter.retry = True
        return list(queue)

    def open_failed(self, origin: Origin, *, multiplex: bool = False) -> list[Waiter[C, E]]:
        """A slot from :meth:`checkout` did not become a connection: free it."""
        self._end_opening(origin)
        self._release_slot(origin)
        woken = self._end_multiplex_open(origin) if multiplex else []
        return woken + self._grant_free_slots(self._closing)

    def multiplexed_full(self, connection: C) -> None:
        """The multiplexed ``connection`` refused a stream (full, or closing): stop offering
        it until :meth:`stream_freed` says it has room again."""
        origin = self._origin_of.get(connection)
        if origin is None:
            return  # close_all() forgot it already
        available = self._available.get(origin)
        if available is not None:
            available.pop(connection, None)
        if self._idle_multiplexed.pop(connection, None) is not None:
            self._in_use[connection] = None

    def stream_freed(
        self, connection: C, free: int, now: float, *, idle: bool
    ) -> tuple[list[Waiter[C, E]], list[C]]:
        """A stream of the multiplexed ``connection`` ended; it has ``free`` streams of room
        (0 if it is closing) and, with ``idle``, no stream open. Waiters for its origin get
        the room first (``shared``), FIFO; what is left makes it available again. An idle
        connection then counts as idle from ``now`` (expiry, ``max_keepalive``, eviction for
        another origin's waiter, exactly like an HTTP/1.1 check-in). Returns waiters to wake
        and connections to close (possibly ``connection`` itself).

        An idle connection with no room (the server set MAX_CONCURRENT_STREAMS to 0, or it is
        closing) can serve nobody: it is closed and its slot goes to the waiters, instead of
        counting as busy for ever."""
        if self._idle_multiplexed.pop(connection, None) is not None:
            self._in_use[connection] = None
        woken = self._share(connection, self._origin_of[connection], free)
        to_close: list[C] = []
        if woken or not idle:
            return woken, to_close
        if not free:
            self._drop_multiplexed(connection)
            to_close.append(connection)
            return self._grant_free_slots(to_close), to_close
        del self._in_use[connection]
        self._idle_multiplexed[connection] = now
        return self._keep_idle(now, to_close), to_close

    def _share(self, connection: C, origin: Origin, free: int) -> list[Waiter[C, E]]:
        woken: list[Waiter[C, E]] = []
        queue = self._alpn_waiters.get(origin)
        while free and queue:
            waiter = queue.popleft()
            waiter.connection = connection
            waiter.shared = True
            woken.append(waiter)
            free -= 1
        if free and self.waiters:
            # Requests queued because the pool was full: a stream is as good as a connection.
            # (A scan of the waiters only, never of the connections.)
            for waiter in list(self.waiters):
                if not free:
                    break
                if waiter.origin == origin and waiter.multiplex:
                    self.waiters.remove(waiter)
                    waiter.connection = connection
                    waiter.shared = True
                    woken.append(waiter)
                    free -= 1
        available = self._available.setdefault(origin, {})
        if free:
            available[connection] = None
        else:
            available.pop(connection, None)
        return woken

    def checkin(
        self, connection: C, now: float, *, reusable: bool
    ) -> tuple[list[Waiter[C, E]], list[C]]:
        """A request finished with ``connection``. Returns waiters to wake and connections to
        close (``connection`` itself when it cannot be kept)."""
        to_close: list[C] = []
        if not reusable:
            if connection in self._origin_of:  # else close_all() forgot it already
                self._forget(connection)
            to_close.append(connection)
            return self._grant_free_slots(to_close), to_close
        origin = self._origin_of[connection]
        for waiter in self.waiters:
            if waiter.origin == origin:
                self.waiters.remove(waiter)
                waiter.connection = connection
                return [waiter], to_close
        del self._in_use[connection]
        self._idle.setdefault(origin, {})[connection] = now
        self._idle_order[connection] = now
        return self._keep_idle(now, to_close), to_close

    def _keep_idle(self, now: float, to_close: list[C]) -> list[Waiter[C, E]]:
        """A connection just became idle: apply expiry and ``max_keepalive``, then serve
        waiters of other origins, evicting idle connections if the pool is full."""
        self._evict_expired(now, to_close)
        if self.max_keepalive is not None:
            while self.idle_count > self.max_keepalive:
                self._evict_oldest(to_close)
        woken = self._grant_free_slots(to_close)
        if self.waiters and self.max_connections is not None:
            # Waiters for other origins remain and the pool is full: an idle connection
            # to this origin is worth less than a queued request elsewhere.
            while self.waiters and self.idle_count and self.total >= self.max_connections:
                self._evict_oldest(to_close)
                woken.extend(self._grant_free_slots(to_close))
        return woken

    def discard(self, connection: C) -> list[Waiter[C, E]]:
        """``connection`` broke or was closed while in use: free its slot."""
        if connection in self._multiplexed:
            del self._multiplexed[connection]
            self._idle_multiplexed.pop(connection, None)
            available = self._available.get(self._origin_of[connection])
            if available is not None:
                available.pop(connection, None)
        if connection in self._idle_order:
            origin = self._origin_of[connection]
            del self._idle[origin][connection]
            del self._idle_order[connection]
        if connection in self._origin_of:
            self._forget(connection)
        return self._grant_free_slots(self._closing)

    def take_closing(self) -> list[C]:
        """Connections that :meth:`discard` or :meth:`open_failed` evicted to serve a waiter:
        the caller closes them (outside its lock)."""
        closing, self._closing = self._closing, []
        return closing

    def connections(self) -> list[C]:
        """Every connection this table knows, idle or in use (a forked child drops them)."""
        return list(self._origin_of)

    def all_waiters(self) -> list[Waiter[C, E]]:
        """Every queued waiter (for shutdown)."""
        queued = list(self.waiters)
        for queue in self._alpn_waiters.values():
            queued.extend(queue)
        return queued

    def close_all(self) -> list[C]:
        """Forget every connection, idle or in use (for shutdown), and return them to close.
        Slots being opened stay counted until their open ends (:meth:`opened` then
        :meth:`discard`, or :meth:`open_failed`)."""
        closed = [*self._idle_order, *self._idle_multiplexed, *self._in_use]
        self._idle.clear()
        self._idle_order.clear()
        self._idle_multiplexed.clear()
        self._in_use.clear()
        self._multiplexed.clear()
        self._available.clear()
        for connection in closed:
            self._release_slot(self._origin_of.pop(connection))
        return closed

    def prune(self, now: float) -> list[C]:
        """Close idle connections past their expiry (called opportunistically)."""
        to_close: list[C] = []
        self._evict_expired(now, to_close)
        return to_close

    # -- internals -------------------------------------------------------------------------

    def _has_free_slot(self) -> bool:
        return self.max_connections is None or self.total < self.max_connections

    def _take_slot(self, origin: Origin, to_close: list[C]) -> bool:
        if not self._has_free_slot():
            if not self.idle_count:
                return False
            self._evict_oldest(to_close)
        self.total += 1
        self._per_origin[origin] = self._per_origin.get(origin, 0) + 1
        self._opening[origin] = self._opening.get(origin, 0) + 1
        return True

    def _end_opening(self, origin: Origin) -> None:
        left = self._opening[origin] - 1
        if left:
            self._opening[origin] = left
        else:
            del self._opening[origin]

    def _release_slot(self, origin: Origin) -> None:
        self.total -= 1
        self._per_origin[origin] -= 1

    def _forget(self, connection: C) -> None:
        origin = self._origin_of.pop(connection)
        self._in_use.pop(connection, None)
        self._release_slot(origin)

    def _oldest_idle(self) -> tuple[C, float, bool] | None:
        """The coldest idle connection of any kind: (connection, idle since, multiplexed)."""
        plain = multiplexed = None
        if self._idle_order:
            plain = next(iter(self._idle_order.items()))
        if self._idle_multiplexed:
            multiplexed = next(iter(self._idle_multiplexed.items()))
        if multiplexed is not None and (plain is None or multiplexed[1] < plain[1]):
            return multiplexed[0], multiplexed[1], True
        if plain is not None:
            return plain[0], plain[1], False
        return None

    def _drop_multiplexed(self, connection: C) -> None:
        """Take a multiplexed connection out of every table and free its slot."""
        self._idle_multiplexed.pop(connection, None)
        del self._multiplexed[connection]
        available = self._available.get(self._origin_of[connection])
        if available is not None:
            available.pop(connection, None)
        self._forget(connection)

    def _evict_oldest(self, to_close: list[C]) -> None:
        oldest = self._oldest_idle()
        assert oldest is not None, "called only with an idle connection"
        connection, _, multiplexed = oldest
        if multiplexed:
            self._drop_multiplexed(connection)
        else:
            del self._idle_order[connection]
            del self._idle[self._origin_of[connection]][connection]
            self._forget(connection)
        to_close.append(connection)

    def _evict_expired(self, now: float, to_close: list[C]) -> None:
        if self.keepalive_expiry is None:
            return
        while True:
            oldest = self._oldest_idle()
            if oldest is None or not self._expired(oldest[1], now):
                return
            self._evict_oldest(to_close)

    def _grant_free_slots(self, to_close: list[C]) -> list[Waiter[C, E]]:
        woken: list[Waiter[C, E]] = []
        while self.waiters:
            waiter = self.waiters[0]
            if not self._take_slot(waiter.origin, to_close):
                break
            self.waiters.popleft()
            waiter.may_open = True
            if waiter.multiplex:
                origin = waiter.origin
                self._opening_multiplex[origin] = self._opening_multiplex.get(origin, 0) + 1
            woken.append(waiter)
        return woken
