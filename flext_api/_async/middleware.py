"""The middleware pipeline: a chain of handlers around the transport.

A middleware gets the request and ``call_next`` (the rest of the chain) and returns a result.
Order is fixed and documented: the first middleware of a client is the outermost, so it sees
the request first on the way out and the response last on the way back. Per-call middleware
runs inside the client's. The chain is built once per client; with no middleware at all the
client calls the transport directly and pays nothing for this module.

The same chain serves ``request()`` (a buffered :class:`Response`) and ``stream()`` (an
:class:`AsyncStreamingResponse`): a middleware only looks at ``status_code``, ``headers`` and
``request``, and gives back a response it will not return with :func:`discard` (which closes a
streamed one, so its connection goes back to the pool).

Decisions (when to retry, whether a circuit is open) come from ``flext_api._sansio``; this
module only acts on them: sleeps, calls again, counts. It never holds a lock across an await.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._content import ReplayableStream
from flext_api._exceptions import AuthError, FlextApiError, TokenRefreshError
from flext_api._headers import Headers
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._sansio.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    DigestAuth,
    OAuth2Flow,
    TokenSet,
    TokenState,
    parse_token_response,
)
from flext_api._sansio.circuit import CircuitBreaker, CircuitRegistry, CircuitState, Reject
from flext_api._sansio.cookies import CookieJar
from flext_api._sansio.redirects import REDIRECT_STATUSES, RedirectPlan, RedirectTracker
from flext_api._sansio.retry import GiveUp, RetryPolicy
from flext_api._synchronization import AsyncLock, AsyncThreadLock, async_sleep

if TYPE_CHECKING:
    from collections.abc import Awaitable  # unasync: remove

    from flext_api._models import Response

__all__ = [
    "AsyncApiKeyMiddleware",
    "AsyncCallNext",
    "AsyncCircuitBreakerMiddleware",
    "AsyncCookieMiddleware",
    "AsyncDigestAuthMiddleware",
    "AsyncErrorTransformer",
    "AsyncHeaderAuthMiddleware",
    "AsyncMiddleware",
    "AsyncOAuth2Middleware",
    "AsyncRedirectMiddleware",
    "AsyncRequestInterceptor",
    "AsyncResponseProcessor",
    "AsyncRetryMiddleware",
    "ResponseLike",
    "build_chain",
    "discard",
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


class AsyncMiddleware(Protocol):
    """One layer of the pipeline.

    ``handle`` is generic in the response type so one middleware serves ``request()`` and
    ``stream()``; it must return what ``call_next`` returned, or a failure, or call it again
    (after :func:`discard` on the response it drops).
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

    return call


async def discard(response: object) -> None:
    """Release a response a middleware will not return (a streamed one holds a connection)."""
    if isinstance(response, AsyncStreamingResponse):
        await response.aclose()


# -- adapters: plain functions as middleware -------------------------------------------------


class AsyncRequestInterceptor:
    """Run ``func(request)`` before the request goes on.

    ``func`` may change the request in place (headers), return a replacement ``Request``, or
    return a ``Failure`` to stop the call without sending anything.
    """

    __slots__ = ("_func",)

    def __init__(self, func: Callable[[Request], Request | Failure[FlextApiError] | None]) -> None:
        self._func = func

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        outcome = self._func(request)
        if isinstance(outcome, Failure):
            return outcome
        return await call_next(request if outcome is None else outcome)


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


# -- retries -----------------------------------------------------------------------------


def _replayable(request: Request) -> bool:
    # A body read from an iterator or a file is gone once sent: it cannot be sent again. A
    # multipart body of files on disk (ReplayableStream) starts over on each iteration.
    return request.stream is None or isinstance(request.stream, ReplayableStream)


class AsyncRetryMiddleware:
    """Retry failed attempts as ``policy`` decides: statuses, error codes, backoff with jitter,
    ``Retry-After``, a total deadline. Each call has its own state (nothing is shared between
    concurrent calls). A request whose body was streamed from an iterator is never retried.

    ``clock``, ``random`` and ``sleep`` are injectable for tests.
    """

    __slots__ = ("_clock", "_random", "_sleep", "policy")

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = async_sleep,  # unasync: remove
        # unasync: sync-only: sleep: Callable[[float], None] = sleep,
    ) -> None:
        self.policy = policy if policy is not None else RetryPolicy()
        self._clock = clock
        self._random = random
        self._sleep = sleep

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        state = self.policy.start(self._clock())
        while True:
            result = await call_next(request)
            if not _replayable(request):
                return result
            if isinstance(result, Success):
                response = result.value
                decision = state.decide(
                    request.method,
                    response.status_code,
                    None,
                    response.headers,
                    self._clock(),
                    random=self._random,
                    wall_clock=time.time(),
                )
            else:
                decision = state.decide(
                    request.method,
                    None,
                    result.error.code,
                    None,
                    self._clock(),
                    random=self._random,
                )
            if isinstance(decision, GiveUp):
                return result
            if isinstance(result, Success):
                await discard(result.value)
            await self._sleep(decision.wait_seconds)


# -- circuit breaker ---------------------------------------------------------------------


class AsyncCircuitBreakerMiddleware:
    """Fail fast with ``CIRCUIT_OPEN`` while an origin is unwell.

    One breaker per origin ``(scheme, host, port)``; ``states`` shows them all. Decisions
    are made under a lock that is never held across an await.
    """

    __slots__ = ("_clock", "_lock", "registry")

    def __init__(
        self,
        config: CircuitBreaker | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = CircuitRegistry(config if config is not None else CircuitBreaker())
        self._clock = clock
        self._lock = AsyncThreadLock()

    def state(self, origin: tuple[str, str, int]) -> CircuitState:
        """The breaker of one origin (closed until it has seen failures)."""
        with self._lock:
            return self.registry.get(origin)

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        origin = request.url.origin
        with self._lock:
            breaker = self.registry.get(origin)
            ticket = breaker.before_request(self._clock())
        if isinstance(ticket, Reject):
            return Failure(ticket.to_error(f"{origin[0]}://{origin[1]}:{origin[2]}", self._clock()))
        try:
            result = await call_next(request)
        except BaseException:
            with self._lock:
                breaker.on_abandon(ticket)
            raise
        config = self.registry.config
        if isinstance(result, Success):
            failed = config.is_failure(result.value.status_code, None)
        else:
            failed = config.is_failure(None, result.error.code)
        with self._lock:
            if failed:
                breaker.on_failure(self._clock(), ticket)
            else:
                breaker.on_success(self._clock(), ticket)
        return result


# -- redirects ---------------------------------------------------------------------------


class AsyncRedirectMiddleware:
    """Follow 301/302/303/307/308 as RFC 9110 says (method and body rules), up to
    ``max_redirects`` (then ``TOO_MANY_REDIRECTS``). Credentials (Authorization, Cookie, and
    ``sensitive_headers``) never follow the request to another origin; https to http is
    refused (``REDIRECT_DOWNGRADE``) unless ``allow_downgrade``. The final response lists the
    responses that led to it in ``history``, oldest first.

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
            if not plan.drop_body and not _replayable(request):
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
    )


# -- cookies -----------------------------------------------------------------------------


class AsyncCookieMiddleware:
    """A cookie jar for the client (RFC 6265: domain, path, secure, expiry).

    Sends the cookies that apply to each request and stores what ``Set-Cookie`` sets. With an
    empty jar and no ``Set-Cookie`` it costs one header lookup per response. ``clock`` is wall
    time (cookie expiry dates are absolute).
    """

    __slots__ = ("_clock", "_lock", "jar")

    def __init__(
        self, jar: CookieJar | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.jar = jar if jar is not None else CookieJar()
        self._clock = clock
        self._lock = AsyncThreadLock()

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        if len(self.jar):
            with self._lock:
                value = self.jar.header_for(request.url, self._clock())
            if value is not None:
                existing = request.headers.get("cookie")
                request.headers["Cookie"] = f"{existing}; {value}" if existing else value
        result = await call_next(request)
        if isinstance(result, Success):
            response = result.value
            set_cookies = response.headers.get_list("set-cookie")
            if set_cookies:
                with self._lock:
                    self.jar.extract(response.request.url, set_cookies, self._clock())
        return result


# -- authentication ----------------------------------------------------------------------


class AsyncHeaderAuthMiddleware:
    """Basic or Bearer credentials on every request that does not set its own
    ``Authorization`` (the value is computed once per request, never logged)."""

    __slots__ = ("auth",)

    def __init__(self, auth: BasicAuth | BearerAuth) -> None:
        self.auth = auth

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.auth!r})"

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        if "authorization" not in request.headers:
            try:
                request.headers["Authorization"] = self.auth.header_value()
            except ValueError as exc:  # a token callback returned something unsendable
                return Failure(_auth_error(f"cannot send these credentials: {exc}", exc))
        return await call_next(request)


class AsyncApiKeyMiddleware:
    """An API key in a header, the query or a cookie (see :class:`ApiKeyAuth`)."""

    __slots__ = ("auth",)

    def __init__(self, auth: ApiKeyAuth) -> None:
        self.auth = auth

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.auth!r})"

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        url = self.auth.apply(request.url, request.headers)
        if url is not request.url:
            request = Request(
                request.method,
                url,
                request.headers,
                content=request.content,
                stream=request.stream,
                timeout=request.timeout,
            )
        return await call_next(request)


class AsyncDigestAuthMiddleware:
    """HTTP Digest (RFC 7616): answer a 401 challenge once, then reuse the nonce on later
    requests with a counted ``nc``. A body streamed from an iterator cannot be sent twice, so
    such a request gets the 401 back."""

    __slots__ = ("_lock", "auth")

    def __init__(self, auth: DigestAuth) -> None:
        self.auth = auth
        self._lock = AsyncThreadLock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.auth!r})"

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        with self._lock:
            value = self.auth.authorization(request.method, request.url)
        if value is not None:
            request.headers["Authorization"] = value
        result = await call_next(request)
        if isinstance(result, Failure) or result.value.status_code != 401:
            return result
        challenges = result.value.headers.get_list("www-authenticate")
        with self._lock:
            retry = self.auth.on_challenge(challenges)
            value = self.auth.authorization(request.method, request.url) if retry is True else None
        if isinstance(retry, FlextApiError):
            await discard(result.value)
            return Failure(retry)
        if value is None or not _replayable(request):
            return result
        await discard(result.value)
        request.headers["Authorization"] = value
        return await call_next(request)


class AsyncOAuth2Middleware:
    """OAuth2 client-credentials or refresh-token flow with a shared, refreshed token.

    However many tasks (or threads, on the blocking client) see the token expire at once,
    exactly one asks the token endpoint; the others wait for it and use the new token. A 401
    with a token leads to at most one refresh and one retry per call. Token requests go
    through ``send`` (the client's transport), never through this middleware again.
    """

    __slots__ = ("_clock", "_lock", "_send", "flow", "skew", "state")

    def __init__(
        self,
        flow: OAuth2Flow,
        send: AsyncCallNext[Response],
        *,
        state: TokenState | None = None,
        skew: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flow = flow
        self.state = state if state is not None else TokenState()
        self.skew = skew
        self._send = send
        self._clock = clock
        self._lock = AsyncLock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.flow!r}, {self.state!r})"

    async def handle(
        self, request: Request, call_next: AsyncCallNext[R]
    ) -> Success[R] | Failure[FlextApiError]:
        if "authorization" in request.headers:  # the call brought its own credentials
            return await call_next(request)
        failed = await self._refresh_if_needed(self.state.generation, force=False)
        if failed is not None:
            return failed
        generation = self.state.generation
        self._authorize(request)
        result = await call_next(request)
        if isinstance(result, Failure) or result.value.status_code != 401:
            return result
        if not _replayable(request):
            return result
        await discard(result.value)
        if self.state.invalidate(generation):
            failed = await self._refresh_if_needed(generation, force=True)
            if failed is not None:
                return failed
        self._authorize(request)
        return await call_next(request)

    def _authorize(self, request: Request) -> None:
        value = self.state.authorization()
        if value is not None:
            request.headers["Authorization"] = value

    async def _refresh_if_needed(self, seen: int, *, force: bool) -> Failure[FlextApiError] | None:
        """Single flight: whoever takes the lock first while the token generation is still
        ``seen`` refreshes; everyone after finds a newer generation and just uses it."""
        state = self.state
        if not force and not state.needs_refresh(self._clock(), self.skew):
            return None
        async with self._lock:
            if state.generation != seen and state.token is not None:
                return None
            state.begin_refresh()
            try:
                outcome = await self._fetch_token()
            finally:
                if state.refreshing:  # cancelled mid-request: leave the old state usable
                    state.refreshing = False
            state.complete_refresh(outcome)
        if isinstance(outcome, FlextApiError):
            return Failure(outcome)
        return None

    async def _fetch_token(self) -> TokenSet | TokenRefreshError:
        token_request = self.flow.token_request(self.state)
        if isinstance(token_request, TokenRefreshError):
            return token_request
        url = token_request.url
        body = token_request.content
        headers = Headers(
            [
                ("Host", url.host_header.decode("ascii")),
                *token_request.headers,
                ("Content-Length", str(len(body))),
            ]
        )
        result = await self._send(Request("POST", url, headers, content=body))
        if isinstance(result, Failure):
            error = TokenRefreshError(
                f"could not reach the token endpoint {url.origin[1]}: {result.error.code}; "
                "check token_url and the network",
                url=str(url.copy_with(query="")),
            )
            error.__cause__ = result.error
            return error
        response = result.value
        return parse_token_response(
            response.status_code,
            response.content,
            self._clock(),
            self.state.token,
            url=str(url.copy_with(query="")),
        )


def _auth_error(message: str, cause: BaseException) -> AuthError:
    error = AuthError(message)
    error.__cause__ = cause
    return error
