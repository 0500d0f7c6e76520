"""The retry layer: send again as :mod:`flext_api._sansio.retry` decides; sleep between tries.

Every attempt starts from the request the layer received (so nothing a lower layer adds to
one attempt leaks into the next). With ``RetryPolicy(total_timeout=...)`` each attempt gets
what is left of that budget as its deadline and as the cap of each of its timeouts, so a
server that never answers ends the call when the budget is spent, not after the read timeout.
The failure a caller gets when the layer gives up carries ``attempts``, ``give_up_reason`` and
``last_status`` (see :class:`FlextApiError`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Final

from flext_api._async.middleware.chain import (
    AsyncCallNext,
    AsyncSleep,
    R,
    derive,
    discard,
    replayable,
)
from flext_api._exceptions import FlextApiError, TimeoutException
from flext_api._models import Request, Timeout
from flext_api._result import Failure, Success
from flext_api._sansio.replay import IDEMPOTENCY_KEY
from flext_api._sansio.retry import GiveUp, GiveUpReason, Retry, RetryPolicy, RetryState
from flext_api._synchronization import async_sleep

__all__ = ["AsyncRetryMiddleware"]

# The lower layers never wait less than a millisecond (see ``Request.limit``): a budget with
# less than that left is spent.
_SPENT: float = 0.001
_KEY: Final = IDEMPOTENCY_KEY.encode("ascii")


class AsyncRetryMiddleware:
    """Retry failed attempts as ``policy`` decides: statuses, error codes, backoff with jitter,
    ``Retry-After``, a total deadline. Each call has its own state (nothing is shared between
    concurrent calls). A request carrying an ``Idempotency-Key`` header is retried whatever its
    method; a request whose body was streamed from an iterator is never retried.

    ``clock`` (monotonic seconds), ``random`` and ``sleep`` are injectable, so tests move a
    fake clock instead of sleeping.
    """

    __slots__ = ("_clock", "_random", "_sleep", "policy")

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
        sleep: AsyncSleep = async_sleep,
    ) -> None:
        self.policy = policy if policy is not None else RetryPolicy()
        self._clock = clock
        self._random = random
        self._sleep = sleep

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        # A request carrying an Idempotency-Key opted in to replays (``replay.may_replay``);
        # scanned inline: this runs on every call of a client with retries.
        idempotent: bool | None = None
        for field in request.headers._list:
            if field[1] == _KEY:
                idempotent = True
                break
        state = self.policy.start(self._clock(), idempotent=idempotent)
        last_status: int | None = None
        capped = False
        while True:
            attempt = request
            if state.deadline is not None:
                attempt, capped = _bounded(request, state.remaining(self._clock()))
            result = await call_next(attempt)
            attempts = state.retries + 1
            now = self._clock()
            if isinstance(result, Success):
                response = result.value
                last_status = response.status_code
                decision = state.decide(
                    request.method,
                    last_status,
                    None,
                    response.headers,
                    now,
                    random=self._random,
                    wall_clock=time.time(),
                )
            else:
                decision = state.decide(
                    request.method, None, result.error.code, None, now, random=self._random
                )
            if type(decision) is Retry and not replayable(request):
                decision = GiveUp(GiveUpReason.BODY_NOT_REPLAYABLE)
            if isinstance(decision, GiveUp):
                if isinstance(result, Failure):
                    _report(
                        result.error,
                        state,
                        decision,
                        attempts=attempts,
                        last_status=last_status,
                        now=now,
                        capped=capped,
                    )
                return result
            if isinstance(result, Success):
                await discard(result.value)
            await self._sleep(decision.wait_seconds)


def _report(
    error: FlextApiError,
    state: RetryState,
    decision: GiveUp,
    *,
    attempts: int,
    last_status: int | None,
    now: float,
    capped: bool,
) -> None:
    """Write on the final error how many attempts were made and why the layer stopped."""
    reason = decision.reason
    remaining = state.remaining(now)
    if remaining is not None and (
        remaining <= _SPENT or (capped and isinstance(error, TimeoutException))
    ):
        reason = GiveUpReason.DEADLINE  # the attempt timed out because the budget ran out
    error.attempts = attempts
    error.give_up_reason = reason.value
    error.last_status = last_status


def _bounded(request: Request, left: float | None) -> tuple[Request, bool]:
    """The attempt to send with ``left`` seconds of the retry budget: its deadline is then, and
    each of its timeouts waits at most that long (the lower layers also cap each wait by the
    deadline; capping the phases keeps one phase from outliving the budget by itself). The
    second value says whether the budget is the tighter bound."""
    left = max(left if left is not None else 0.0, _SPENT)
    deadline = time.monotonic() + left
    if request.deadline is not None and request.deadline <= deadline:
        return request, False  # the call's own Timeout(total=...) ends first
    timeout = request.timeout
    bounded = Timeout(
        left,
        connect=_cap(timeout.connect, left),
        read=_cap(timeout.read, left),
        write=_cap(timeout.write, left),
        pool=_cap(timeout.pool, left),
        total=timeout.total,
    )
    attempt = derive(request, headers=request.headers, deadline=deadline)
    attempt.timeout = bounded
    return attempt, True


def _cap(phase: float | None, left: float) -> float:
    return left if phase is None or phase > left else phase
