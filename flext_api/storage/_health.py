"""A MultiBackend's health bookkeeping, without I/O: which backend is up, which is due a check.

Periodic work is lazy (DESIGN.md): nothing runs in the background. Each MultiBackend call asks
:meth:`HealthBoard.due` which checks the injected clock says are due, runs them, and reports
back; calls report their own outcomes too. ``failure_threshold`` consecutive failures mark a
backend down; a down backend is skipped (unless every backend is down) and probed again every
``probe_interval`` seconds until a probe succeeds; an up backend is checked every
``health_interval`` seconds (``None``: only calls tell).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flext_api.storage._errors import (
    StorageAccessDenied,
    StorageChecksumMismatch,
    StorageError,
    StorageUnavailable,
    StorageUploadFailed,
)

__all__ = ["BackendHealth", "HealthBoard", "counts_against"]


def counts_against(error: StorageError) -> bool:
    """Whether ``error`` says the backend is unwell (not an answer about the object or the
    call: ``NOT_FOUND``, ``PRECONDITION_FAILED``, ``INVALID_*``, ``UNSUPPORTED`` do not)."""
    return type(error) is StorageError or isinstance(
        error,
        StorageUnavailable | StorageAccessDenied | StorageUploadFailed | StorageChecksumMismatch,
    )


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """One backend's state: ``up``, its ``consecutive_failures``, the ``last_error`` code and
    when (on the injected clock) it is next checked or probed."""

    backend: str
    up: bool
    consecutive_failures: int
    last_error: str | None
    next_check_at: float | None


class _State:
    __slots__ = ("failures", "last_error", "next_check_at", "up")

    def __init__(self, next_check_at: float | None) -> None:
        self.up = True
        self.failures = 0
        self.last_error: str | None = None
        self.next_check_at = next_check_at


class HealthBoard:
    """The health of ``names`` (in priority order) against ``clock``."""

    __slots__ = ("_clock", "_health_interval", "_names", "_probe_interval", "_states", "_threshold")

    def __init__(
        self,
        names: Sequence[str],
        *,
        clock: Callable[[], float],
        failure_threshold: int,
        health_interval: float | None,
        probe_interval: float,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if probe_interval <= 0 or (health_interval is not None and health_interval <= 0):
            raise ValueError("health_interval and probe_interval are seconds > 0")
        self._names = tuple(names)
        self._clock = clock
        self._threshold = failure_threshold
        self._health_interval = health_interval
        self._probe_interval = probe_interval
        now = clock()
        first = None if health_interval is None else now + health_interval
        self._states = {name: _State(first) for name in self._names}

    def is_up(self, name: str) -> bool:
        return self._states[name].up

    def due(self) -> list[str]:
        """The backends whose check or probe is due now, in priority order."""
        now = self._clock()
        return [
            name
            for name in self._names
            if (at := self._states[name].next_check_at) is not None and at <= now
        ]

    def succeeded(self, name: str) -> None:
        state = self._states[name]
        state.up = True
        state.failures = 0
        state.next_check_at = self._next(self._health_interval)

    def failed(self, name: str, error: StorageError) -> None:
        """Count ``error`` against the backend when it says the backend is unwell."""
        if not counts_against(error):
            return
        state = self._states[name]
        state.failures += 1
        state.last_error = error.code
        if not state.up or state.failures >= self._threshold:
            state.up = False
            state.next_check_at = self._next(self._probe_interval)

    def snapshot(self) -> tuple[BackendHealth, ...]:
        return tuple(
            BackendHealth(name, s.up, s.failures, s.last_error, s.next_check_at)
            for name, s in ((name, self._states[name]) for name in self._names)
        )

    def _next(self, interval: float | None) -> float | None:
        return None if interval is None else self._clock() + interval
