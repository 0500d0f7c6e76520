"""The OAuth2 layer: one shared token, refreshed by exactly one caller at a time.

The flows and the token bookkeeping live in :mod:`flext_api._sansio.auth`; this layer holds the
lock, asks the token endpoint and puts the token on a copy of each request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flext_api._async.middleware.chain import (
    AsyncCallNext,
    R,
    discard,
    replayable,
    with_header,
)
from flext_api._exceptions import FlextApiError, TokenRefreshError
from flext_api._headers import Headers
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._sansio.auth import TokenFlow, TokenSet, TokenState, parse_token_response
from flext_api._synchronization import AsyncLock

if TYPE_CHECKING:
    from flext_api._models import Response

__all__ = ["AsyncOAuth2Middleware"]


class AsyncOAuth2Middleware:
    """An OAuth2 flow (client credentials, refresh token, a service account's JWT bearer
    grant...) with a shared, refreshed token.

    However many tasks (or threads, on the blocking client) see the token expire at once,
    exactly one asks the token endpoint; the others wait for it and use the new token. A 401
    with a token leads to at most one refresh and one retry per call. Token requests go
    through ``send`` (the client's transport), never through this middleware again.
    ``clock`` (monotonic seconds) decides expiry; tests pass a fake one to expire a token
    without waiting.
    """

    __slots__ = ("_clock", "_lock", "_send", "flow", "skew", "state")

    def __init__(
        self,
        flow: TokenFlow,
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
        result = await call_next(self._authorized(request))
        if isinstance(result, Failure) or result.value.status_code != 401:
            return result
        if not replayable(request):
            return result
        await discard(result.value)
        if self.state.invalidate(generation):
            failed = await self._refresh_if_needed(generation, force=True)
            if failed is not None:
                return failed
        return await call_next(self._authorized(request))

    def _authorized(self, request: Request) -> Request:
        value = self.state.authorization()
        return request if value is None else with_header(request, "Authorization", value)

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
