"""The cookie layer: send the jar's cookies with each request, store what ``Set-Cookie`` sets.

The jar's rules (RFC 6265) live in :mod:`flext_api._sansio.cookies`. The ``Cookie`` header is
added to a copy of the request, never to the caller's: a retried attempt, a redirect hop or an
auth resend each start from the request as the caller built it and get the jar's value once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flext_api._async.middleware.chain import AsyncCallNext, R, with_header
from flext_api._exceptions import FlextApiError
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._sansio.cookies import CookieJar
from flext_api._synchronization import AsyncThreadLock

__all__ = ["AsyncCookieMiddleware"]


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
                request = with_header(
                    request, "Cookie", f"{existing}; {value}" if existing else value
                )
        result = await call_next(request)
        if isinstance(result, Success):
            response = result.value
            set_cookies = response.headers.get_list("set-cookie")
            if set_cookies:
                with self._lock:
                    self.jar.extract(response.request.url, set_cookies, self._clock())
        return result
