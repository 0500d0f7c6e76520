"""The middleware contract and the chain that composes layers around the transport.

A middleware gets the request and ``call_next`` (the rest of the chain) and returns a result.
Order is fixed and documented: the first middleware of a client is the outermost, so it sees
the request first on the way out and the response last on the way back. Per-call middleware
runs inside the client's. The chain is built once per client; with no middleware at all the
client calls the transport directly and pays nothing for this module.

The same chain serves ``request()`` (a buffered :class:`Response`) and ``stream()`` (an
:class:`AsyncStreamingResponse`): a middleware only looks at ``status_code``, ``headers`` and
``request``, and gives back a response it will not return with :func:`discard` (which closes a
streamed one, so its connection goes back to the pool).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._content import ReplayableStream
from flext_api._exceptions import FlextApiError
from flext_api._headers import Headers
from flext_api._models import Request
from flext_api._result import Failure, Success

if TYPE_CHECKING:
    from collections.abc import Awaitable  # unasync: remove

    from flext_api._urls import URL

__all__ = [
    "AsyncCallNext",
    "AsyncMiddleware",
    "AsyncSleep",
    "Outcome",
    "R",
    "ResponseLike",
    "build_chain",
    "derive",
    "discard",
    "replayable",
    "streams",
    "with_header",
]


class ResponseLike(Protocol):
    """What every middleware may rely on, buffered or streamed."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    @property
    def request(self) -> Request: ...

    history: list[Any]


R = TypeVar("R", bound=ResponseLike)

Outcome: TypeAlias = "Success[R] | Failure[FlextApiError]"
"""What a handler returns: the response, or why there is none."""
# Spelled as strings: ``Awaitable`` exists only for type checkers (the sync twin has none).
AsyncCallNext: TypeAlias = "Callable[[Request], Awaitable[Outcome[R]]]"  # unasync: remove
# unasync: sync-only: CallNext: TypeAlias = "Callable[[Request], Outcome[R]]"
"""The rest of the chain as a middleware sees it: call it with a request to get a result."""
AsyncSleep: TypeAlias = "Callable[[float], Awaitable[None]]"  # unasync: remove
# unasync: sync-only: Sleep: TypeAlias = "Callable[[float], None]"
"""How the retry layer waits between attempts (injectable: tests pass a fake one)."""


class AsyncMiddleware(Protocol):
    """One layer of the pipeline.

    ``handle`` is generic in the response type so one middleware serves ``request()`` and
    ``stream()``; it must return what ``call_next`` returned, or a failure, or call it again
    (after :func:`discard` on the response it drops).

    A layer never mutates the request it receives: the caller's ``Request`` (its method, URL,
    headers and body) is the same after the call as before it. A layer that changes something
    (a header, the URL, the deadline) passes a copy on, made with :func:`derive`; a layer that
    sends the request again (retries, redirects, auth challenges) starts each attempt from the
    request it received, so nothing it added once is added twice.
    """

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]: ...


def build_chain(
    middleware: Sequence[AsyncMiddleware], transport: AsyncCallNext[R]
) -> AsyncCallNext[R]:
    """Compose ``middleware`` around ``transport``; the first one is the outermost."""
    handler = transport
    for layer in reversed(middleware):
        handler = _bind(layer, handler)
    return handler


def _bind(layer: AsyncMiddleware, call_next: AsyncCallNext[R]) -> AsyncCallNext[R]:
    async def call(request: Request) -> Success[R] | Failure[FlextApiError]:
        return await layer.handle(request, call_next)

    call.__dict__["streams"] = streams(call_next)
    return call


def streams(call_next: object) -> bool:
    """Whether ``call_next`` ends in the streaming transport (``client.stream()``): a layer
    that answers by itself (a cache hit) builds the response type the caller expects. The
    client marks that transport with a ``streams = True`` attribute; chains carry it outwards.
    """
    return getattr(call_next, "streams", False) is True


async def discard(response: object) -> None:
    """Release a response a middleware will not return (a streamed one holds a connection)."""
    if isinstance(response, AsyncStreamingResponse):
        await response.aclose()


def derive(
    request: Request,
    *,
    headers: Headers | None = None,
    url: URL | None = None,
    deadline: float | None = None,
) -> Request:
    """A copy of ``request`` to pass on, with ``headers``, ``url`` or ``deadline`` replaced.

    Without ``headers`` the copy gets its own copy of the headers, so the next layer may change
    them without touching the caller's. The body is shared: it is only read, never changed.
    """
    return Request(
        request.method,
        request.url if url is None else url,
        request.headers.copy() if headers is None else headers,
        content=request.content,
        stream=request.stream,
        timeout=request.timeout,
        deadline=request.deadline if deadline is None else deadline,
    )


def with_header(request: Request, name: str, value: str) -> Request:
    """A copy of ``request`` with ``name`` set to ``value`` (the caller's request is untouched)."""
    headers = request.headers.copy()
    headers[name] = value
    return derive(request, headers=headers)


def replayable(request: Request) -> bool:
    """Whether the body can be sent again.

    A body read from an iterator or a file is gone once sent. A multipart body of files on disk
    (ReplayableStream) starts over on each iteration.
    """
    return request.stream is None or isinstance(request.stream, ReplayableStream)
