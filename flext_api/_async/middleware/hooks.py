"""Plain functions as middleware: request interceptors, response processors, error transformers.

These adapters are also how the client runs its ``event_hooks``. A function given the request
gets a copy of it, so whatever it changes reaches the server but never the caller's request.
"""

from __future__ import annotations

from collections.abc import Callable

from flext_api._async.middleware.chain import AsyncCallNext, R, ResponseLike, derive, discard
from flext_api._exceptions import FlextApiError
from flext_api._models import Request
from flext_api._result import Failure, Success

__all__ = ["AsyncErrorTransformer", "AsyncRequestInterceptor", "AsyncResponseProcessor"]


class AsyncRequestInterceptor:
    """Run ``func(request)`` before the request goes on.

    ``func`` gets a copy of the request: it may change it in place (headers), return a
    replacement ``Request``, or return a ``Failure`` to stop the call without sending anything.
    """

    __slots__ = ("_func",)

    def __init__(self, func: Callable[[Request], Request | Failure[FlextApiError] | None]) -> None:
        self._func = func

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        copy = derive(request)
        outcome = self._func(copy)
        if isinstance(outcome, Failure):
            return outcome
        return await call_next(copy if outcome is None else outcome)


class AsyncResponseProcessor:
    """Run ``func(response)`` on every response that comes back.

    ``func`` returns ``None`` to keep the response as it is, or a ``Failure`` to turn it into
    one (for example: every 5xx becomes an error for this client).
    """

    __slots__ = ("_func",)

    def __init__(self, func: Callable[[ResponseLike], Failure[FlextApiError] | None]) -> None:
        self._func = func

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        result = await call_next(request)
        if isinstance(result, Success):
            verdict = self._func(result.value)
            if verdict is not None:
                await discard(result.value)
                return verdict
        return result


class AsyncErrorTransformer:
    """Run ``func(error)`` on every failure that comes back and return its error instead
    (add context, map codes, redact)."""

    __slots__ = ("_func",)

    def __init__(self, func: Callable[[FlextApiError], FlextApiError]) -> None:
        self._func = func

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        result = await call_next(request)
        if isinstance(result, Failure):
            return Failure(self._func(result.error))
        return result
