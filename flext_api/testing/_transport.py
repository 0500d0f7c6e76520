"""The router as the end of a middleware chain: for unit tests of pipeline logic.

``mock_transport(router)`` is a ``CallNext`` (``mock_async_transport`` its async twin): give it
to a middleware's ``handle`` or to ``build_chain`` and each request is answered by the router
without any bytes, the ``Request`` object kept on the :class:`RecordedRequest` as
``original`` so a test can check what a layer passed on (a copy, never the caller's object).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from flext_api._exceptions import FlextApiError
from flext_api._models import Request, Response
from flext_api._result import Failure, Success
from flext_api.testing._router import MockRouter, RecordedRequest

__all__ = ["mock_async_transport", "mock_transport"]

Answer = Success[Response] | Failure[FlextApiError]


def _answer(router: MockRouter, request: Request) -> Answer:
    parts = urlsplit(str(request.url))
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    recorded = RecordedRequest(
        request.method,
        target,
        request.headers.copy(),
        request.content or b"",
        scheme=parts.scheme or "http",
    )
    recorded.original = request
    reply = router.handle(recorded)
    return Success(
        Response(reply.status_code, reply.headers.copy(), reply.content, request=request)
    )


def mock_transport(router: MockRouter) -> Callable[[Request], Answer]:
    """A blocking ``CallNext`` answered by ``router``."""

    def send(request: Request) -> Answer:
        return _answer(router, request)

    return send


def mock_async_transport(router: MockRouter) -> Callable[[Request], Awaitable[Answer]]:
    """An async ``CallNext`` answered by ``router`` (asyncio and trio)."""

    async def send(request: Request) -> Answer:
        return _answer(router, request)

    return send
