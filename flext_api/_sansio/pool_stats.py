"""Pool statistics: what a monitoring dashboard reads from a client's connection pool.

Plain snapshots, built by :meth:`flext_api._sansio.pool.PoolState.stats` from the pool's own
tables (and summed over proxy pools by the client). Nothing here reads a pool or does I/O.
"""

from __future__ import annotations

from flext_api._sansio.replay import Origin

__all__ = ["OriginStats", "PoolStats"]


class OriginStats:
    """One origin's connections: ``connections == idle + in_use + opening``."""

    __slots__ = ("connections", "idle", "in_use", "opening")

    def __init__(
        self, connections: int, idle: int, *, in_use: int | None = None, opening: int = 0
    ) -> None:
        self.connections = connections
        self.idle = idle
        self.opening = opening  # slots taken by a connect still under way
        self.in_use = connections - idle - opening if in_use is None else in_use

    def __repr__(self) -> str:
        return (
            f"OriginStats(connections={self.connections}, idle={self.idle}, "
            f"in_use={self.in_use}, opening={self.opening})"
        )


class PoolStats:
    """A snapshot for monitoring: counts overall and per origin ``(scheme, host, port)``.

    ``connections`` counts every connection open or being opened: ``idle + in_use +
    opening``. A connection serving a request (or an HTTP/2 stream) is in use; an idle one
    waits for reuse or expiry."""

    __slots__ = ("connections", "idle", "in_use", "opening", "origins", "waiters")

    def __init__(
        self,
        connections: int,
        idle: int,
        waiters: int,
        origins: dict[Origin, OriginStats],
        *,
        in_use: int | None = None,
        opening: int = 0,
    ) -> None:
        self.connections = connections
        self.idle = idle
        self.waiters = waiters
        self.origins = origins
        self.opening = opening
        self.in_use = connections - idle - opening if in_use is None else in_use

    def __repr__(self) -> str:
        return (
            f"PoolStats(connections={self.connections}, idle={self.idle}, "
            f"in_use={self.in_use}, opening={self.opening}, waiters={self.waiters})"
        )
