"""The memory backend's store: an LRU dictionary bounded by entries and by bytes.

Every operation is O(1) except the sweep of expired entries, which runs at most once per
``cleanup_interval`` of the injected clock, on the call that finds it due (no thread, no
task). A lock makes it safe for threads; nothing here ever blocks on I/O or awaits, so the
async cache uses it directly.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryStore"]

# Per-entry bookkeeping counted against max_bytes besides the key and the value, so a flood of
# tiny entries cannot hold far more memory than the bound says.
_ENTRY_OVERHEAD = 64


class MemoryStore:
    """``key -> (value, expires_at)``, least recently used first."""

    __slots__ = (
        "_bytes",
        "_cleanup_interval",
        "_clock",
        "_entries",
        "_lock",
        "_max_bytes",
        "_max_entries",
        "_next_sweep",
    )

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        clock: Callable[[], float],
        cleanup_interval: float,
    ) -> None:
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        self._cleanup_interval = cleanup_interval
        self._next_sweep = clock() + cleanup_interval
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(key: str, value: bytes) -> int:
        return len(key) + len(value) + _ENTRY_OVERHEAD

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """What the entries count against ``max_bytes``."""
        return self._bytes

    def get(self, key: str) -> bytes | None:
        now = self._clock()
        with self._lock:
            self._sweep_if_due(now)
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, expires_at = entry
            if expires_at is not None and now >= expires_at:
                self._remove(key)
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        now = self._clock()
        size = self._size(key, value)
        with self._lock:
            self._sweep_if_due(now)
            self._remove(key)
            if size > self._max_bytes:
                return  # could never fit: storing it would evict everything for nothing
            self._entries[key] = (value, None if ttl is None else now + ttl)
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                oldest = next(iter(self._entries))
                self._remove(oldest)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= self._size(key, entry[0])
        return True

    def _sweep_if_due(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._cleanup_interval
        expired = [k for k, (_, exp) in self._entries.items() if exp is not None and now >= exp]
        for key in expired:
            self._remove(key)
