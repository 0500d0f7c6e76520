"""Circuit breaker state per origin, without I/O: admit a call, or fail it fast.

The I/O shell asks ``before_request(now)`` before it takes a connection. ``Allow`` means go
ahead and report the outcome with ``on_success``/``on_failure`` (or ``on_abandon`` when the call
was cancelled and proved nothing); ``Reject(retry_at)`` means fail at once with
``CircuitOpenError`` (code ``CIRCUIT_OPEN``), without touching the network. Nothing here
awaits, sleeps, reads a clock (``now`` is the caller's monotonic time) or touches a socket.

States and transitions (the tests walk every row):

=========  ===========================================  ==========================================
state      event                                        next
=========  ===========================================  ==========================================
closed     failure, and the threshold is reached         open (``opened_at = now``)
closed     success                                      closed (consecutive mode: failures reset)
open       ``before_request`` before ``opened_at +       open, ``Reject(opened_at + open_duration)``
           open_duration``
open       ``before_request`` at or after it            half-open, then as below
half-open  ``before_request``, fewer than               half-open, ``Allow(trial=True)``
           ``half_open_max_calls`` trials in flight
half-open  ``before_request``, trials all in flight     half-open, ``Reject(now)``
half-open  trial success, ``success_threshold`` reached  closed (failures reset)
half-open  trial failure                                open again (``opened_at = now``)
=========  ===========================================  ==========================================

Failure counting (documented choice, one per breaker): with ``failure_window=None`` (default),
``failure_threshold`` *consecutive* failures open the circuit and any success resets the count:
O(1) state. With ``failure_window`` set, ``failure_threshold`` failures within the last
``failure_window`` seconds open it whatever successes came between; the timestamps kept are at
most ``failure_threshold`` (a bounded deque), so memory never grows with traffic.

Invariants:

* ``trials_in_flight <= half_open_max_calls``, and it is 0 outside half-open.
* Every ``Allow`` carries the ``generation`` it was issued in; the generation changes on every
  state change. An outcome reported with a ticket from an older generation is ignored, so a slow
  call admitted while closed cannot close (or re-open) a circuit that moved on since.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Final

from flext_api._exceptions import CircuitOpenError

__all__ = [
    "DEFAULT_FAILURE_ERROR_CODES",
    "DEFAULT_FAILURE_STATUSES",
    "Allow",
    "CircuitBreaker",
    "CircuitRegistry",
    "CircuitState",
    "CircuitStatus",
    "Reject",
]

Origin = tuple[str, str, int]

DEFAULT_FAILURE_STATUSES: Final = frozenset({500, 502, 503, 504})
# What says "this origin is unwell": it did not answer, or answered garbage. A 4xx, a TLS
# verification failure or an invalid request says nothing about the origin's health.
DEFAULT_FAILURE_ERROR_CODES: Final = frozenset(
    {
        "CONNECT_ERROR",
        "CONNECT_TIMEOUT",
        "READ_TIMEOUT",
        "WRITE_TIMEOUT",
        "READ_ERROR",
        "WRITE_ERROR",
        "REMOTE_PROTOCOL_ERROR",
    }
)


class CircuitStatus(enum.StrEnum):
    """Where an origin's breaker stands: closed (calls flow), open (calls fail fast with
    ``CIRCUIT_OPEN``) or half-open (a few trial calls decide)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Allow:
    """Go ahead. ``trial`` is true for a half-open probe; pass this ticket back with the
    outcome."""

    generation: int
    trial: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """Fail fast; the circuit may admit calls again from ``retry_at`` (caller's clock)."""

    retry_at: float

    def to_error(self, origin: str, now: float) -> CircuitOpenError:
        """The error the shell returns, naming the origin and when to try again."""
        wait = max(0.0, self.retry_at - now)
        return CircuitOpenError(
            f"circuit breaker for {origin} is open after repeated failures; the call was not "
            f"sent. It will admit a trial request in {wait:.1f}s; check the service's health",
            url=origin,
        )


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """Breaker configuration, shared by all origins of a client."""

    failure_threshold: int = 5
    failure_window: float | None = None
    open_duration: float = 30.0
    half_open_max_calls: int = 1
    success_threshold: int = 1
    failure_statuses: frozenset[int] = DEFAULT_FAILURE_STATUSES
    failure_error_codes: frozenset[str] = DEFAULT_FAILURE_ERROR_CODES

    def __post_init__(self) -> None:
        for name in ("failure_threshold", "half_open_max_calls", "success_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CircuitBreaker({name}=...) must be an int >= 1, got {value!r}")
        if not self.open_duration >= 0:
            raise ValueError("CircuitBreaker(open_duration=...) must be >= 0 seconds")
        if self.failure_window is not None and not self.failure_window > 0:
            raise ValueError("CircuitBreaker(failure_window=...) must be > 0 seconds or None")

    def is_failure(self, status_code: int | None, error_code: str | None) -> bool:
        """Whether an outcome counts against the origin's health."""
        if error_code is not None:
            return error_code in self.failure_error_codes
        return status_code in self.failure_statuses

    def new_state(self) -> CircuitState:
        return CircuitState(self)


class CircuitState:
    """One origin's breaker. Readable by callers: ``state``, ``failures``, ``opened_at``."""

    __slots__ = (
        "_failure_times",
        "config",
        "failures",
        "generation",
        "opened_at",
        "state",
        "successes",
        "trials_in_flight",
    )

    def __init__(self, config: CircuitBreaker) -> None:
        self.config = config
        self.state = CircuitStatus.CLOSED
        self.failures = 0  # consecutive failures, or failures within the window
        self.successes = 0  # trial successes while half-open
        self.trials_in_flight = 0
        self.opened_at: float | None = None
        self.generation = 0
        self._failure_times: deque[float] = deque(maxlen=config.failure_threshold)

    def __repr__(self) -> str:
        return (
            f"CircuitState(state={self.state.value}, failures={self.failures}, "
            f"opened_at={self.opened_at})"
        )

    def before_request(self, now: float) -> Allow | Reject:
        if self.state is CircuitStatus.CLOSED:
            return Allow(self.generation)
        if self.state is CircuitStatus.OPEN:
            assert self.opened_at is not None  # set whenever the state is OPEN
            retry_at = self.opened_at + self.config.open_duration
            if now < retry_at:
                return Reject(retry_at)
            self._move(CircuitStatus.HALF_OPEN)
        if self.trials_in_flight < self.config.half_open_max_calls:
            self.trials_in_flight += 1
            return Allow(self.generation, trial=True)
        return Reject(now)

    def on_success(self, now: float, ticket: Allow | None = None) -> None:
        if not self._current(ticket):
            return
        if self.state is CircuitStatus.HALF_OPEN:
            # max(): a ticket-less report must not push the count below zero.
            self.trials_in_flight = max(0, self.trials_in_flight - 1)
            self.successes += 1
            if self.successes >= self.config.success_threshold:
                self._move(CircuitStatus.CLOSED)
        elif self.state is CircuitStatus.CLOSED and self.config.failure_window is None:
            self.failures = 0

    def on_failure(self, now: float, ticket: Allow | None = None) -> None:
        if not self._current(ticket):
            return
        if self.state is CircuitStatus.HALF_OPEN:
            self._open(now)
        elif self.state is CircuitStatus.CLOSED:
            window = self.config.failure_window
            if window is None:
                self.failures += 1
            else:
                times = self._failure_times
                times.append(now)
                while times and times[0] <= now - window:
                    times.popleft()
                self.failures = len(times)
            if self.failures >= self.config.failure_threshold:
                self._open(now)

    def on_abandon(self, ticket: Allow) -> None:
        """A call admitted with ``ticket`` ended without an outcome (cancelled): free its
        trial slot so half-open does not wait forever for it."""
        if ticket.trial and self._current(ticket):
            self.trials_in_flight -= 1

    def _current(self, ticket: Allow | None) -> bool:
        return ticket is None or ticket.generation == self.generation

    def _open(self, now: float) -> None:
        self._move(CircuitStatus.OPEN)
        self.opened_at = now

    def _move(self, state: CircuitStatus) -> None:
        self.state = state
        self.generation += 1
        self.trials_in_flight = 0
        self.successes = 0
        if state is CircuitStatus.CLOSED:
            self.failures = 0
            self.opened_at = None
            self._failure_times.clear()


class CircuitRegistry:
    """The breakers of one client, keyed by origin ``(scheme, host, port)``, made on first use."""

    __slots__ = ("_states", "config")

    def __init__(self, config: CircuitBreaker) -> None:
        self.config = config
        self._states: dict[Origin, CircuitState] = {}

    def get(self, origin: Origin) -> CircuitState:
        state = self._states.get(origin)
        if state is None:
            state = self._states[origin] = CircuitState(self.config)
        return state

    def states(self) -> dict[Origin, CircuitState]:
        """A snapshot of every origin's breaker, for monitoring."""
        return dict(self._states)

    def reset(self, origin: Origin | None = None) -> None:
        """Forget one origin's breaker (it starts closed again), or all of them."""
        if origin is None:
            self._states.clear()
        else:
            self._states.pop(origin, None)
