"""Credentials for generated clients: which security alternative of an operation to apply, the
typed failure when none can be satisfied, and the OAuth2 flow run on the user's own client.

Split out of :mod:`flext_api.codegen_runtime`, which re-exports every public name here (the names
generated code uses). Deciding is pure; only the OAuth2 middleware sends (token requests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from flext_api._async.middleware.oauth2 import AsyncOAuth2Middleware
from flext_api._exceptions import FlextApiError, InvalidHeader, InvalidRequest
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Flow
from flext_api._sync.middleware.oauth2 import OAuth2Middleware
from flext_api.codegen_styles import cookie_header, serialize

if TYPE_CHECKING:
    from flext_api._async.client import AsyncFlextApiClient
    from flext_api._exceptions import FlextApiError
    from flext_api._models import Request, Response
    from flext_api._result import Failure, Success
    from flext_api._sync.client import FlextApiClient

__all__ = [
    "AsyncOAuth2",
    "AuthMissing",
    "Credential",
    "OAuth2",
    "RequestParts",
    "apply_security",
    "missing_security",
    "unsendable_field",
]

Credential = ApiKeyAuth | BasicAuth | BearerAuth | OAuth2Flow


@dataclass(frozen=True, slots=True)
class RequestParts:
    """Everything a generated request builder decided, before any I/O: compare two of them to
    test a builder. ``path`` is relative to the base URL and already percent-encoded; ``query``
    is a built query string (no ``?``)."""

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    content: bytes | IO[bytes] | None = None
    files: tuple[tuple[str, Any], ...] | None = None
    # why the request cannot be sent as given (the client fails with it, sending nothing)
    invalid: FlextApiError | None = None


def apply_security(
    parts: RequestParts,
    alternatives: Sequence[Sequence[tuple[str, str, str]]],
    credentials: Mapping[str, Credential],
) -> tuple[RequestParts, str | None]:
    """Add the credentials of the first alternative whose every scheme has a credential.

    ``alternatives`` is the operation's security requirement list (OR) of scheme lists (AND),
    each scheme as ``(scheme name, kind, detail)``; kind is ``apiKey`` (detail: location),
    ``http``, ``oauth2``, ``openIdConnect`` or ``mutualTLS`` (handled by the client's
    certificate, so always satisfied). Returns the new parts and the name of the OAuth2 scheme
    whose token flow must send the request (None when none). No satisfiable alternative leaves
    the request unchanged: the server answers 401, which the caller sees as a typed failure.
    """
    # ``{}`` (an empty alternative) makes auth optional, not absent: a credential the caller
    # gave for a listed scheme is still sent, so the empty alternative is the last resort.
    for alternative in alternatives:
        if alternative and all(
            kind == "mutualTLS" or name in credentials for name, kind, _ in alternative
        ):
            return _apply(parts, alternative, credentials)
    return parts, None


class AuthMissing(InvalidRequest):
    """The operation requires credentials and none of its alternatives could be satisfied
    with those the client was given; nothing was sent."""

    code = "AUTH_MISSING"


def missing_security(
    method: str,
    path: str,
    alternatives: Sequence[Sequence[tuple[str, str, str]]],
    credentials: Mapping[str, Credential],
) -> AuthMissing | None:
    """An :class:`AuthMissing` when the operation requires auth (no empty alternative) and no
    alternative has every credential; None when the request can go (checked before sending,
    so a missing credential is a typed failure instead of a 401 from a server)."""
    if not alternatives or any(not a for a in alternatives):
        return None
    for alternative in alternatives:
        if all(kind == "mutualTLS" or name in credentials for name, kind, _ in alternative):
            return None
    wanted = " or ".join(" and ".join(name for name, _, _ in a) for a in alternatives)
    return AuthMissing(
        f"{method} {path} requires credentials for {wanted}; pass them to the client "
        "constructor (nothing was sent)"
    )


def unsendable_field(parts: RequestParts) -> InvalidHeader | None:
    """An :class:`InvalidHeader` when a header or cookie parameter holds a character outside
    ISO-8859-1; None when every field can go.

    An HTTP field value is octets (RFC 9110 section 5.5): text outside ASCII travels as
    ``obs-text``, which servers read back one octet per character (ISO-8859-1: WSGI, ASGI,
    and the Fetch standard all do). A character beyond U+00FF has no such octet, so any
    encoding of it (UTF-8, say) reaches the server as other text; the request is refused
    before sending instead (checked on the builder's own fields, not on ``headers=``)."""
    for name, value in parts.headers:
        try:
            value.encode("latin-1")
        except UnicodeEncodeError as error:
            char = value[error.start]
            return InvalidHeader(
                f"{parts.method} {parts.path}: the {name!r} field holds {char!r} "
                f"(U+{ord(char):04X}), a character outside ISO-8859-1 that an HTTP field "
                "cannot carry (RFC 9110 section 5.5: a server reads other text); encode the "
                "value as the API documents (percent-encoding or base64, say) before passing "
                "it (nothing was sent)"
            )
    return None


def _apply(
    parts: RequestParts,
    alternative: Sequence[tuple[str, str, str]],
    credentials: Mapping[str, Credential],
) -> tuple[RequestParts, str | None]:
    headers = list(parts.headers)
    query = parts.query
    cookies: list[str] = []
    oauth: str | None = None
    for name, kind, _ in alternative:
        if kind == "mutualTLS":
            continue
        credential = credentials[name]
        if isinstance(credential, ApiKeyAuth):
            secret = credential.value.reveal()
            if credential.location == "header":
                headers.append((credential.name, secret))
            elif credential.location == "query":
                piece = serialize(credential.name, secret, "form", True)
                query = f"{query}&{piece}" if query else piece
            else:
                cookies.append(serialize(credential.name, secret, "form", True))
        elif isinstance(credential, OAuth2Flow):
            oauth = name
        else:
            headers.append(("Authorization", credential.header_value()))
    if cookies:
        existing = [v for k, v in headers if k.lower() == "cookie"]
        headers = [(k, v) for k, v in headers if k.lower() != "cookie"]
        headers.append(("Cookie", "; ".join([*existing, cookie_header(cookies)])))
    return (
        RequestParts(parts.method, parts.path, query, tuple(headers), parts.content, parts.files),
        oauth,
    )


_TOKEN_HEADERS_SET_BY_CLIENT = frozenset({"host", "content-length"})


class AsyncOAuth2(AsyncOAuth2Middleware):
    """The OAuth2 flow of one security scheme, run as per-call middleware on the client the
    user gave (its base URL, TLS, proxies and middleware), with the token cached across calls.
    Token requests go through that same client, without this middleware."""

    __slots__ = ()

    def __init__(self, client: AsyncFlextApiClient, flow: OAuth2Flow) -> None:
        async def send(request: Request) -> Success[Response] | Failure[FlextApiError]:
            headers = [
                (k, v)
                for k, v in request.headers.items()
                if k.lower() not in _TOKEN_HEADERS_SET_BY_CLIENT
            ]
            content = request.content if isinstance(request.content, bytes) else None
            return await client.request(
                request.method, str(request.url), headers=headers, content=content
            )

        super().__init__(flow, send)


class OAuth2(OAuth2Middleware):
    """:class:`AsyncOAuth2` for the blocking client."""

    __slots__ = ()

    def __init__(self, client: FlextApiClient, flow: OAuth2Flow) -> None:
        def send(request: Request) -> Success[Response] | Failure[FlextApiError]:
            headers = [
                (k, v)
                for k, v in request.headers.items()
                if k.lower() not in _TOKEN_HEADERS_SET_BY_CLIENT
            ]
            content = request.content if isinstance(request.content, bytes) else None
            return client.request(
                request.method, str(request.url), headers=headers, content=content
            )

        super().__init__(flow, send)
