"""The redirect layer: follow 3xx responses as :mod:`flext_api._sansio.redirects` plans them.

Each hop is a new request built from the previous one; the caller's request is never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from flext_api._async.middleware.chain import (
    AsyncCallNext,
    R,
    ResponseLike,
    discard,
    replayable,
)
from flext_api._exceptions import FlextApiError
from flext_api._headers import Headers
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._sansio.redirects import REDIRECT_STATUSES, RedirectPlan, RedirectTracker

__all__ = ["AsyncRedirectMiddleware"]


class AsyncRedirectMiddleware:
    """Follow 301/302/303/307/308 as RFC 9110 says (method and body rules), up to
    ``max_redirects`` (then ``TOO_MANY_REDIRECTS``). Credentials (Authorization, Cookie, and
    ``sensitive_headers``) never follow the request to another origin; https to http is
    refused (``REDIRECT_DOWNGRADE``) unless ``allow_downgrade``. The final response lists the
    responses that led to it in ``history``, oldest first. Every hop keeps the call's
    ``Timeout(total=...)`` deadline.

    A 307/308 whose body was streamed from an iterator cannot be replayed: that redirect
    response is returned as it is.
    """

    __slots__ = ("allow_downgrade", "max_redirects", "sensitive_headers")

    def __init__(
        self,
        *,
        max_redirects: int = 20,
        allow_downgrade: bool = False,
        sensitive_headers: Sequence[str] = (),
    ) -> None:
        if isinstance(max_redirects, bool) or max_redirects < 0:
            raise ValueError("max_redirects must be an int >= 0")
        self.max_redirects = max_redirects
        self.allow_downgrade = allow_downgrade
        self.sensitive_headers = tuple(sensitive_headers)

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        tracker = RedirectTracker(
            max_redirects=self.max_redirects,
            allow_downgrade=self.allow_downgrade,
            sensitive_headers=self.sensitive_headers,
        )
        history: list[ResponseLike] = []
        while True:
            result = await call_next(request)
            if isinstance(result, Failure):
                return result
            response = result.value
            if response.status_code not in REDIRECT_STATUSES:
                _set_history(response, history)
                return result
            plan = tracker.follow(
                request.method,
                request.url,
                response.status_code,
                response.headers.get("location"),
                request.headers,
            )
            if plan is None:
                _set_history(response, history)
                return result
            if isinstance(plan, FlextApiError):
                await discard(response)
                return Failure(plan)
            if not plan.drop_body and not replayable(request):
                _set_history(response, history)
                return result
            await discard(response)
            history.append(response)
            request = _redirected(request, plan)


def _set_history(response: ResponseLike, history: list[ResponseLike]) -> None:
    if history:
        response.history = history


def _redirected(request: Request, plan: RedirectPlan) -> Request:
    drop = {name.encode("ascii") for name in plan.headers_to_drop}
    fields = [field for field in request.headers._list if field[1] not in drop]
    if b"host" in drop:
        fields.insert(0, (b"Host", b"host", plan.url.host_header))
    return Request(
        plan.method,
        plan.url,
        Headers._from_fields(fields),
        content=None if plan.drop_body else request.content,
        stream=None if plan.drop_body else request.stream,
        timeout=request.timeout,
        deadline=request.deadline,
    )
