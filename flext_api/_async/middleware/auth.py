"""Credential layers: Basic/Bearer, API keys and HTTP Digest (OAuth2 is in ``oauth2``).

The credential math lives in :mod:`flext_api._sansio.auth`. Each layer adds its credentials to
a copy of the request; a Digest resend starts again from the request it received.
"""

from __future__ import annotations

from flext_api._async.middleware.chain import (
    AsyncCallNext,
    R,
    derive,
    discard,
    replayable,
    with_header,
)
from flext_api._exceptions import AuthError, FlextApiError
from flext_api._headers import Headers
from flext_api._models import Request
from flext_api._result import Failure, Success
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth
from flext_api._sansio.digest import DigestAuth
from flext_api._synchronization import AsyncThreadLock

__all__ = ["AsyncApiKeyMiddleware", "AsyncDigestAuthMiddleware", "AsyncHeaderAuthMiddleware"]


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
        headers = request.headers
        if "authorization" in headers:
            return await call_next(request)
        try:
            value = self.auth.header_value()  # refuses control characters
        except ValueError as exc:  # a token callback returned something unsendable
            return Failure(auth_error(f"cannot send these credentials: {exc}", exc))
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raw = value.encode("utf-8")  # as Headers encodes values beyond latin-1
        # The copy is built inline (not with ``with_header``): this runs on every request of
        # a client with Basic or Bearer auth, and the name is known to be absent.
        sent = Request(
            request.method,
            request.url,
            Headers._from_fields([*headers._list, (b"Authorization", b"authorization", raw)]),
            content=request.content,
            stream=request.stream,
            timeout=request.timeout,
            deadline=request.deadline,
        )
        return await call_next(sent)


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
        headers = request.headers.copy()
        url = self.auth.apply(request.url, headers)
        return await call_next(derive(request, headers=headers, url=url))


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
        sent = request if value is None else with_header(request, "Authorization", value)
        result = await call_next(sent)
        if isinstance(result, Failure) or result.value.status_code != 401:
            return result
        challenges = result.value.headers.get_list("www-authenticate")
        with self._lock:
            retry = self.auth.on_challenge(challenges)
            value = self.auth.authorization(request.method, request.url) if retry is True else None
        if isinstance(retry, FlextApiError):
            await discard(result.value)
            return Failure(retry)
        if value is None or not replayable(request):
            return result
        await discard(result.value)
        return await call_next(with_header(request, "Authorization", value))


def auth_error(message: str, cause: BaseException) -> AuthError:
    """An ``AUTH_ERROR`` failure chained to what caused it."""
    error = AuthError(message)
    error.__cause__ = cause
    return error
