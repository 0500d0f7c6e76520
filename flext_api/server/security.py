"""Security headers and request-body guards.

:class:`SecurityHeadersMiddleware` adds safe defaults (HSTS only over https, where it means
something). :class:`RequestBodyGuardMiddleware` enforces, while the body streams in: a size
limit (413, at once on a declared ``Content-Length`` over it, otherwise as soon as the
received bytes cross it), a deadline for the whole body (408, against slow-drip clients) and
the allowed content types of POST/PUT/PATCH bodies (415).

This module must never buffer a body: chunks pass through as they arrive, only counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio

from flext_api.server.errors import (
    BodyRejected,
    PayloadTooLarge,
    RequestBodyTimeout,
    UnsupportedMediaType,
    send_failure,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "RequestBodyGuardMiddleware",
    "SecurityHeaderSet",
    "SecurityHeadersMiddleware",
    "add_missing_headers",
]

DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI and ReDoc load their scripts and styles from a CDN.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; worker-src blob:; frame-ancestors 'none'"
)


class SecurityHeaderSet:
    """The security headers a response gets, decided once per configuration.

    ``content_security_policy=None`` sends no CSP; ``path_csp`` overrides it for exact paths
    (the factory uses it for the docs pages). HSTS is only sent on https requests. The
    header tuples for each (CSP, https) combination are built here, not per request.
    """

    def __init__(
        self,
        *,
        content_security_policy: str | None = DEFAULT_CSP,
        path_csp: dict[str, str] | None = None,
        hsts_max_age: int = 31_536_000,
        frame_options: str = "DENY",
        referrer_policy: str = "no-referrer",
    ) -> None:
        fixed = (
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", frame_options.encode("latin-1")),
            (b"referrer-policy", referrer_policy.encode("latin-1")),
        )
        hsts = (
            None
            if hsts_max_age <= 0
            else (
                b"strict-transport-security",
                f"max-age={hsts_max_age}; includeSubDomains".encode(),
            )
        )

        def combine(csp: bytes | None, https: bool) -> tuple[tuple[bytes, bytes], ...]:
            extra = list(fixed)
            if csp is not None:
                extra.append((b"content-security-policy", csp))
            if https and hsts is not None:
                extra.append(hsts)
            return tuple(extra)

        default_csp = None if content_security_policy is None else content_security_policy.encode()
        self._default = (combine(default_csp, False), combine(default_csp, True))
        self._by_path = {
            path: (combine(csp.encode(), False), combine(csp.encode(), True))
            for path, csp in (path_csp or {}).items()
        }

    def for_request(self, scope: Scope) -> tuple[tuple[bytes, bytes], ...]:
        """The headers for this request (its path picks the CSP, its scheme decides HSTS)."""
        plain, https = self._by_path.get(scope["path"], self._default)
        return https if scope.get("scheme") == "https" else plain


def add_missing_headers(
    headers: list[tuple[bytes, bytes]], extra: tuple[tuple[bytes, bytes], ...]
) -> None:
    """Append to ``headers`` each of ``extra`` whose name the response did not set itself."""
    present = {name.lower() for name, _ in headers}
    headers.extend(item for item in extra if item[0] not in present)


class SecurityHeadersMiddleware:
    """Add the security headers the response did not set itself (:class:`SecurityHeaderSet`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        content_security_policy: str | None = DEFAULT_CSP,
        path_csp: dict[str, str] | None = None,
        hsts_max_age: int = 31_536_000,
        frame_options: str = "DENY",
        referrer_policy: str = "no-referrer",
    ) -> None:
        self.app = app
        self.headers = SecurityHeaderSet(
            content_security_policy=content_security_policy,
            path_csp=path_csp,
            hsts_max_age=hsts_max_age,
            frame_options=frame_options,
            referrer_policy=referrer_policy,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers.for_request(scope)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                add_missing_headers(headers, extra)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_secured)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestBodyGuardMiddleware:
    """Limit the body's size and read time, and the content types of POST/PUT/PATCH.

    ``allowed_content_types`` holds media types (``application/json``) or wildcards
    (``text/*``); ``None`` (or ``*/*`` among them) allows any. A request that declares no
    body (no ``Content-Length`` above 0 and no chunked transfer) needs no content type.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = 1_048_576,
        body_timeout: float | None = 30.0,
        allowed_content_types: Iterable[str] | None = (
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        kinds_given = None if allowed_content_types is None else tuple(allowed_content_types)
        if kinds_given is None or "*/*" in kinds_given:
            self.exact: frozenset[str] | None = None
            self.prefixes: tuple[str, ...] = ()
        else:
            kinds = [kind.strip().lower() for kind in kinds_given]
            self.exact = frozenset(kind for kind in kinds if not kind.endswith("/*"))
            self.prefixes = tuple(kind[:-1] for kind in kinds if kind.endswith("/*"))

    def _content_type_allowed(self, content_type: bytes | None) -> bool:
        if self.exact is None:
            return True
        if content_type is None:
            return False
        media_type = content_type.decode("latin-1").split(";", 1)[0].strip().lower()
        return media_type in self.exact or media_type.startswith(self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_length: int | None = None
        content_type: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    content_length = None
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        limit = self.max_body_bytes
        if content_length is not None and content_length > limit:
            await send_failure(send, _too_large(limit), close=True)
            return
        has_body = chunked or (content_length is not None and content_length > 0)
        if (
            has_body
            and scope["method"] in _BODY_METHODS
            and not self._content_type_allowed(content_type)
        ):
            await send_failure(
                send,
                UnsupportedMediaType(
                    "this endpoint does not accept that content type",
                    details={
                        "allowed": sorted(self.exact or ()) + [p + "*" for p in self.prefixes]
                    },
                ),
                close=True,
            )
            return
        if not has_body:
            await self.app(scope, receive, send)
            return
        await self._guarded(scope, receive, send, limit)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        body_done = False
        deadline = None if self.body_timeout is None else anyio.current_time() + self.body_timeout
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()
            if deadline is None:
                message = await receive()
            else:
                try:
                    with anyio.fail_after(max(deadline - anyio.current_time(), 0.0)):
                        message = await receive()
                except TimeoutError:
                    raise BodyRejected(
                        RequestBodyTimeout(
                            f"the request body did not arrive within {_seconds(self.body_timeout)}"
                        )
                    ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyRejected(_too_large(limit))
                if not message.get("more_body", False):
                    body_done = True
            return message

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, send_tracking)
        except BodyRejected as rejected:
            # Raised from receive() inside the app; FastAPI re-raises HTTPException subclasses
            # out of its body parsing, so this arrives here when no exception handler took it.
            if started:
                raise
            await send_failure(send, rejected.error, close=True)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than the limit of {limit} bytes",
        details={"max_body_bytes": limit},
    )


def _seconds(value: float | None) -> str:
    return f"{math.ceil(value or 0)} s"
