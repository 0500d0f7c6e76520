"""Retry decisions without I/O: should this attempt be retried, and after how long?

The I/O shell runs an attempt, then asks ``RetryState.decide(...)`` with what happened (a status
code or an error code), the response headers, ``now`` and a random source. The answer is
``Retry(wait_seconds)`` (sleep that long, then try again) or ``GiveUp(reason)``. Nothing here
sleeps, awaits, reads a clock (``now`` is a parameter, from the caller's monotonic clock) or
touches a socket.

Rules (each is a row in the tests):

* A ``RetryPolicy`` is frozen configuration, shared by every call of a client. A ``RetryState``
  belongs to one call and is never shared between concurrent calls, so no lock is needed and
  one call's attempts never consume another's budget.
* Only idempotent methods (RFC 9110 section 9.2.2, the one list in ``_sansio/replay``) are
  retried after the request may have reached the server, unless the call opts in
  (``policy.start(now, idempotent=True)``): the I/O shell does so for a request carrying an
  ``Idempotency-Key`` header, whatever its method (``replay.may_replay``). Errors in
  ``NOT_SENT_ERROR_CODES`` prove nothing was sent (the connection never opened), so they are
  retried for any method.
* ``max_retries`` counts retries, not attempts: ``max_retries=2`` allows three attempts.
* The wait is exponential backoff ``backoff_base * backoff_multiplier ** retries_so_far``,
  capped at ``backoff_max``, then jittered down by up to ``jitter`` of itself (``jitter=1`` is
  "full jitter": uniform in ``[0, backoff]``), so many clients do not retry in lockstep.
* ``Retry-After`` (delta-seconds, or an HTTP-date in IMF-fixdate, RFC 850 or asctime form) replaces
  the backoff when the response carries it, capped at ``backoff_max``. An HTTP-date is measured
  against the response's own ``Date`` header when present (no clock skew between us and the
  server), else against ``wall_clock`` (epoch seconds) if the shell passes one; without either
  the date cannot be placed and the backoff is used.
* With ``total_timeout`` set, the deadline is ``start + total_timeout`` across every attempt and
  wait. A retry whose wait would end at or after the deadline is not started: the call gives up
  with ``DEADLINE`` instead of sleeping into a certain timeout. ``remaining(now)`` tells the
  shell how much of the budget the next attempt may use.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Final

from flext_api._headers import Headers
from flext_api._sansio.replay import IDEMPOTENT_METHODS

__all__ = [
    "DEFAULT_RETRY_ERROR_CODES",
    "DEFAULT_RETRY_STATUSES",
    "IDEMPOTENT_METHODS",
    "NOT_SENT_ERROR_CODES",
    "GiveUp",
    "GiveUpReason",
    "Retry",
    "RetryPolicy",
    "RetryState",
    "parse_http_date",
    "parse_retry_after",
]

DEFAULT_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
# Failures before the request left this machine: retrying cannot repeat a side effect.
NOT_SENT_ERROR_CODES: Final = frozenset({"CONNECT_ERROR", "CONNECT_TIMEOUT"})
# A stale keep-alive connection shows up as a write that fails (broken pipe) or a server that
# closes without a response byte (REMOTE_PROTOCOL_ERROR) or resets (READ_ERROR); retried only
# for idempotent methods, since the server may have acted on the request before closing.
DEFAULT_RETRY_ERROR_CODES: Final = NOT_SENT_ERROR_CODES | frozenset(
    {"WRITE_ERROR", "READ_ERROR", "REMOTE_PROTOCOL_ERROR"}
)


class GiveUpReason(enum.StrEnum):
    NOT_RETRYABLE = "not_retryable"  # a status or error this policy does not retry
    NOT_IDEMPOTENT = "not_idempotent"  # the method may have had an effect; the call did not opt in
    RETRIES_EXHAUSTED = "retries_exhausted"
    DEADLINE = "deadline"  # the total budget is spent, or the next wait would outlast it
    BODY_NOT_REPLAYABLE = "body_not_replayable"  # the body was streamed once and is gone


@dataclass(frozen=True, slots=True)
class Retry:
    """Sleep ``wait_seconds``, then make attempt number ``attempt`` (the first one is 1)."""

    wait_seconds: float
    attempt: int
    from_retry_after: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: return the last response or error to the caller."""

    reason: GiveUpReason


def parse_http_date(value: str) -> float | None:
    """Epoch seconds of an HTTP-date (IMF-fixdate, RFC 850 or asctime), or None if invalid."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime carries no zone; HTTP dates are always GMT
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_retry_after(
    value: str, *, date_header: str | None = None, wall_clock: float | None = None
) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or None when it cannot be used.

    A date in the past means "now" (0). An HTTP-date is placed against ``date_header`` (the
    response's ``Date``) when it parses, else against ``wall_clock``; with neither it is None.
    """
    text = value.strip()
    if text.isdigit():  # delta-seconds = 1*DIGIT; isdigit() alone also accepts "²"
        if text.isascii():
            return float(int(text))
        return None
    when = parse_http_date(text)
    if when is None:
        return None
    reference = parse_http_date(date_header) if date_header else None
    if reference is None:
        reference = wall_clock
    if reference is None:
        return None
    return max(0.0, when - reference)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a client retries; shared, immutable. Start one ``RetryState`` per call."""

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_multiplier: float = 2.0
    backoff_max: float = 30.0
    jitter: float = 1.0
    statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    error_codes: frozenset[str] = DEFAULT_RETRY_ERROR_CODES
    methods: frozenset[str] = IDEMPOTENT_METHODS
    respect_retry_after: bool = True
    total_timeout: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(
                f"RetryPolicy(max_retries=...) must be an int, got {self.max_retries!r}"
            )
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy(max_retries=...) must be >= 0, got {self.max_retries}")
        for name in ("backoff_base", "backoff_max"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"RetryPolicy({name}=...) must be a finite number >= 0")
        if not (math.isfinite(self.backoff_multiplier) and self.backoff_multiplier >= 1):
            raise ValueError("RetryPolicy(backoff_multiplier=...) must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy(jitter=...) must be within [0, 1]")
        if self.total_timeout is not None and not self.total_timeout > 0:
            raise ValueError("RetryPolicy(total_timeout=...) must be > 0 seconds or None")
        # Upper-case once here so decide() compares without normalizing per call.
        object.__setattr__(self, "methods", frozenset(m.upper() for m in self.methods))

    def start(self, now: float, *, idempotent: bool | None = None) -> RetryState:
        """The state of one call starting at ``now``.

        ``idempotent=None`` decides by method; ``True`` opts a call in (a POST with an
        idempotency key), ``False`` opts it out whatever its method.
        """
        deadline = None if self.total_timeout is None else now + self.total_timeout
        return RetryState(self, deadline=deadline, idempotent=idempotent)

    def backoff(self, retries_so_far: int, random: Callable[[], float]) -> float:
        """The jittered wait before retry number ``retries_so_far + 1``."""
        try:
            raw = self.backoff_base * self.backoff_multiplier**retries_so_far
        except OverflowError:
            raw = math.inf
        capped = min(raw, self.backoff_max)
        return capped * (1.0 - self.jitter * random())


@dataclass(slots=True)
class RetryState:
    """One call's retry bookkeeping. Not thread-safe by design: one call, one owner."""

    policy: RetryPolicy
    deadline: float | None = None
    idempotent: bool | None = None
    retries: int = field(default=0)

    @property
    def attempts(self) -> int:
        """Attempts made or in flight (the first attempt counts)."""
        return self.retries + 1

    def remaining(self, now: float) -> float | None:
        """Seconds left before the total deadline (``None``: no deadline), never negative."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - now)

    def decide(
        self,
        method: str,
        status_code: int | None,
        error_code: str | None,
        headers: Headers | None,
        now: float,
        *,
        random: Callable[[], float],
        wall_clock: float | None = None,
    ) -> Retry | GiveUp:
        """What to do after an attempt that ended with ``status_code`` or ``error_code``.

        Exactly one of the two is given. ``random`` returns a float in ``[0, 1)`` (jitter);
        ``wall_clock`` is epoch seconds, used only for an HTTP-date ``Retry-After`` when the
        response has no ``Date``. A ``Retry`` answer counts the retry in this state.
        """
        if (status_code is None) == (error_code is None):
            raise ValueError("decide() takes exactly one of status_code and error_code")
        policy = self.policy
        if status_code is not None:
            if status_code not in policy.statuses:
                return GiveUp(GiveUpReason.NOT_RETRYABLE)
        elif error_code not in policy.error_codes:
            return GiveUp(GiveUpReason.NOT_RETRYABLE)
        if error_code not in NOT_SENT_ERROR_CODES:
            idempotent = self.idempotent
            if idempotent is None:
                idempotent = method.upper() in policy.methods
            if not idempotent:
                return GiveUp(GiveUpReason.NOT_IDEMPOTENT)
        if self.retries >= policy.max_retries:
            return GiveUp(GiveUpReason.RETRIES_EXHAUSTED)

        wait: float | None = None
        if policy.respect_retry_after and headers is not None:
            value = headers.get("retry-after")
            if value is not None:
                wait = parse_retry_after(
                    value, date_header=headers.get("date"), wall_clock=wall_clock
                )
        from_retry_after = wait is not None
        if wait is None:
            wait = policy.backoff(self.retries, random)
        else:
            wait = min(wait, policy.backoff_max)
        if self.deadline is not None and now + wait >= self.deadline:
            return GiveUp(GiveUpReason.DEADLINE)
        self.retries += 1
        return Retry(wait, self.retries + 1, from_retry_after)
