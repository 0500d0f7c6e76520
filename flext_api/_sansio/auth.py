"""Authentication decisions without I/O: secrets, header values, OAuth2 token state.

HTTP Digest (challenges and responses) is in :mod:`flext_api._sansio.digest`.

The I/O shell asks these objects what to put on a request and feeds them what came back (a
token endpoint's response). Nothing here awaits, sleeps, reads a clock (``now`` is a parameter)
or touches a socket.

What must never happen:

* A credential in a ``repr``, a log line or an error message. Secrets are held in
  :class:`Secret` (its ``repr``/``str`` are ``[secure]``; ``reveal()`` is the one way out), every
  auth object's ``repr`` shows only non-secret fields, and error messages built from a server's
  words go through :func:`redact_text` first.
* Credentials sent to another origin: the redirect module drops ``Authorization``, ``Cookie``
  and the header of an :class:`ApiKeyAuth` (``sensitive_header``) across origins.
* Two token refreshes for one expiry, or a loop of 401s. :class:`TokenState` counts token
  generations. The single-flight protocol for the shell (its lock is I/O and lives there)::

      seen = state.generation
      if state.needs_refresh(now):
          with lock:                            # or `async with`
              if state.generation == seen:      # nobody refreshed while we waited
                  state.begin_refresh()
                  ... send flow.token_request(state), then
                  state.complete_refresh(parse_token_response(status, body, now, state.token))

  On a 401, ``state.invalidate(generation_the_request_used)`` answers whether this caller must
  refresh (True) or someone already did (False: retry with the current token); either way the
  call retries at most once.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, Protocol
from urllib.parse import quote_plus

import msgspec

from flext_api._exceptions import TokenRefreshError
from flext_api._headers import Headers
from flext_api._sansio.multipart import encode_form
from flext_api._urls import URL

__all__ = [
    "REDACTED",
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "OAuth2Flow",
    "Secret",
    "TokenFlow",
    "TokenRequest",
    "TokenSet",
    "TokenState",
    "parse_token_response",
    "redact_text",
]

REDACTED: Final = "[secure]"


class Secret:
    """A credential that never prints itself. ``reveal()`` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        text = value.reveal() if isinstance(value, Secret) else value
        if not isinstance(text, str):
            raise TypeError(f"a secret must be a str, got {type(text).__name__}")
        self._value: str = text

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (
            hashlib.sha256(self._value.encode()).digest()
            == hashlib.sha256(other._value.encode()).digest()
        )

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value.encode()).digest())


def redact_text(text: str, secrets: Iterable[str | Secret | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``[secure]``.

    Longer secrets are replaced first, so a secret that contains another is not half-shown.
    """
    values = {s.reveal() if isinstance(s, Secret) else s for s in secrets if s}
    for value in sorted((v for v in values if v), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def _check_header_text(kind: str, value: str) -> None:
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError(f"{kind} holds a control character (CR, LF, NUL...); it cannot be sent")


# -- Basic, Bearer, API key ----------------------------------------------------------------


class BasicAuth:
    """RFC 7617 Basic credentials, encoded as UTF-8 (the ``charset="UTF-8"`` of the RFC)."""

    __slots__ = ("_header", "password", "username")

    def __init__(self, username: str, password: str | Secret) -> None:
        if ":" in username:
            raise ValueError("a Basic auth username cannot contain ':' (RFC 7617 section 2)")
        _check_header_text("the username", username)
        self.username = username
        self.password = Secret(password)
        raw = f"{username}:{self.password.reveal()}".encode()
        # Computed once: the header is the same on every request.
        self._header = Secret("Basic " + base64.b64encode(raw).decode("ascii"))

    def header_value(self) -> str:
        return self._header.reveal()

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password={REDACTED!r})"


class BearerAuth:
    """``Authorization: Bearer <token>`` from a fixed token or a callback asked per request.

    The callback runs in the caller's thread and must not block on I/O; a token that needs I/O
    to obtain belongs to :class:`OAuth2Flow` and :class:`TokenState`.
    """

    __slots__ = ("_token",)

    def __init__(self, token: str | Secret | Callable[[], str]) -> None:
        self._token: Secret | Callable[[], str] = token if callable(token) else Secret(token)

    def header_value(self) -> str:
        token = self._token.reveal() if isinstance(self._token, Secret) else self._token()
        _check_header_text("the bearer token", token)
        return "Bearer " + token

    def __repr__(self) -> str:
        return f"BearerAuth(token={REDACTED!r})"


class ApiKeyAuth:
    """An API key sent as a header, a query parameter or a cookie."""

    __slots__ = ("location", "name", "value")

    def __init__(
        self,
        name: str,
        value: str | Secret,
        location: Literal["header", "query", "cookie"] = "header",
    ) -> None:
        if location not in ("header", "query", "cookie"):
            raise ValueError(f"ApiKeyAuth location must be header, query or cookie: {location!r}")
        if not name:
            raise ValueError("ApiKeyAuth needs a non-empty name")
        self.name = name
        self.value = Secret(value)
        self.location = location
        _check_header_text("the API key", self.value.reveal())

    @property
    def sensitive_header(self) -> str | None:
        """The header to drop on a cross-origin redirect (None for query and cookie keys:
        ``Cookie`` is always dropped, and a query is never carried to a Location)."""
        return self.name.lower() if self.location == "header" else None

    def apply(self, url: URL, headers: Headers) -> URL:
        """Add the key: ``headers`` is changed in place; the URL to send is returned."""
        secret = self.value.reveal()
        if self.location == "header":
            headers[self.name] = secret
        elif self.location == "cookie":
            pair = f"{self.name}={secret}"
            existing = headers.get("cookie")
            headers["cookie"] = f"{existing}; {pair}" if existing else pair
        else:
            return url.copy_merge_params({self.name: secret})
        return url

    def __repr__(self) -> str:
        return f"ApiKeyAuth(name={self.name!r}, value={REDACTED!r}, location={self.location!r})"


# -- OAuth2 (RFC 6749) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSet:
    """One access token as issued. ``expires_at`` is on the caller's clock (None: unknown)."""

    access_token: Secret
    token_type: str = "Bearer"
    expires_at: float | None = None
    refresh_token: Secret | None = None
    scope: str | None = None


class TokenState:
    """The current token of one client and its generation counter (see the module docstring).

    ``generation`` grows by one each time a refresh installs a token; ``refreshing`` is True
    between ``begin_refresh`` and ``complete_refresh``.
    """

    __slots__ = ("generation", "refreshing", "token")

    def __init__(self, token: TokenSet | None = None) -> None:
        self.token = token
        self.generation = 0
        self.refreshing = False

    def __repr__(self) -> str:
        expires = None if self.token is None else self.token.expires_at
        return (
            f"TokenState(generation={self.generation}, has_token={self.token is not None}, "
            f"expires_at={expires}, refreshing={self.refreshing})"
        )

    def needs_refresh(self, now: float, skew: float = 30.0) -> bool:
        """No token, or one that expires within ``skew`` seconds."""
        token = self.token
        if token is None:
            return True
        return token.expires_at is not None and now >= token.expires_at - skew

    def begin_refresh(self) -> int:
        """Mark a refresh in flight; returns the generation it replaces."""
        self.refreshing = True
        return self.generation

    def complete_refresh(self, result: TokenSet | TokenRefreshError) -> None:
        """Install a new token (next generation) or, on an error, keep the old state."""
        self.refreshing = False
        if isinstance(result, TokenSet):
            self.token = result
            self.generation += 1

    def invalidate(self, generation: int) -> bool:
        """A request sent with the token of ``generation`` got a 401.

        True: that token is still current; it is marked expired and this caller refreshes.
        False: a newer token exists already; retry with it, do not refresh again.
        """
        if generation != self.generation or self.token is None:
            return False
        token = self.token
        self.token = TokenSet(
            token.access_token, token.token_type, float("-inf"), token.refresh_token, token.scope
        )
        return True

    def authorization(self) -> str | None:
        """The ``Authorization`` value for the current token, or None without one."""
        if self.token is None:
            return None
        return "Bearer " + self.token.access_token.reveal()


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A POST to the token endpoint: ``application/x-www-form-urlencoded`` ``fields``."""

    url: URL
    fields: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]

    @property
    def content(self) -> bytes:
        return encode_form(self.fields)

    def __repr__(self) -> str:
        shown = [(k, REDACTED if k in _SECRET_FIELDS else v) for k, v in self.fields]
        return f"TokenRequest(url={self.url!r}, fields={shown!r})"


_SECRET_FIELDS: Final = frozenset({"client_secret", "refresh_token", "password", "assertion"})
_FORM_TYPE: Final = ("content-type", "application/x-www-form-urlencoded")


class TokenFlow(Protocol):
    """What the OAuth2 layer asks of a grant: the token request that renews ``state``.

    :class:`OAuth2Flow` is one; the storage package's service-account (JWT bearer) flow another.
    """

    def token_request(self, state: TokenState) -> TokenRequest | TokenRefreshError: ...


class OAuth2Flow:
    """OAuth2 client-credentials or refresh-token grant against ``token_url``.

    ``client_auth="basic"`` sends the client id and secret as HTTP Basic (RFC 6749 section
    2.3.1, the method servers must support); ``"post"`` sends them as form fields.
    """

    __slots__ = (
        "audience",
        "client_auth",
        "client_id",
        "client_secret",
        "grant",
        "scope",
        "token_url",
    )

    def __init__(
        self,
        token_url: str | URL,
        client_id: str,
        client_secret: str | Secret | None = None,
        *,
        grant: Literal["client_credentials", "refresh_token"] = "client_credentials",
        scope: str | None = None,
        audience: str | None = None,
        client_auth: Literal["basic", "post"] = "basic",
    ) -> None:
        if grant not in ("client_credentials", "refresh_token"):
            raise ValueError(f"unsupported OAuth2 grant {grant!r}")
        if grant == "client_credentials" and not client_secret:
            raise ValueError("the client_credentials grant needs a client_secret")
        if client_auth not in ("basic", "post"):
            raise ValueError("client_auth must be 'basic' or 'post'")
        self.token_url = URL(token_url)
        self.client_id = client_id
        self.client_secret = None if client_secret is None else Secret(client_secret)
        self.grant = grant
        self.scope = scope
        self.audience = audience
        self.client_auth = client_auth

    def __repr__(self) -> str:
        return (
            f"OAuth2Flow(token_url={self.token_url!r}, client_id={self.client_id!r}, "
            f"grant={self.grant!r}, client_secret={REDACTED!r})"
        )

    def token_request(self, state: TokenState) -> TokenRequest | TokenRefreshError:
        """The request that gets the next token for ``state``.

        A refresh token, when the state has one, is used whatever the grant (RFC 6749 section
        6); otherwise client credentials, or an error for the refresh-token grant with no
        refresh token left (the application must obtain a new grant).
        """
        fields: list[tuple[str, str]] = []
        token = state.token
        if token is not None and token.refresh_token is not None:
            fields += [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.refresh_token.reveal()),
            ]
        elif self.grant == "client_credentials":
            fields.append(("grant_type", "client_credentials"))
        else:
            return TokenRefreshError(
                f"no refresh token to renew the access token from {self.token_url!r}; "
                "obtain a new grant and start a new TokenState",
                url=str(self.token_url),
            )
        if self.scope:
            fields.append(("scope", self.scope))
        if self.audience:
            fields.append(("audience", self.audience))
        headers = [_FORM_TYPE, ("accept", "application/json")]
        if self.client_auth == "basic" and self.client_secret is not None:
            # RFC 6749 section 2.3.1: form-encode id and secret before the Basic encoding.
            basic = BasicAuth(quote_plus(self.client_id), quote_plus(self.client_secret.reveal()))
            headers.append(("authorization", basic.header_value()))
        else:
            fields.append(("client_id", self.client_id))
            if self.client_secret is not None:
                fields.append(("client_secret", self.client_secret.reveal()))
        return TokenRequest(self.token_url, tuple(fields), tuple(headers))


def parse_token_response(
    status_code: int,
    body: bytes,
    now: float,
    previous: TokenSet | None = None,
    *,
    url: str | None = None,
) -> TokenSet | TokenRefreshError:
    """A token endpoint's answer as a ``TokenSet``, or a ``TokenRefreshError`` saying why not.

    A response without ``refresh_token`` keeps ``previous``'s (RFC 6749 section 6: the server
    may keep the old one valid). ``expires_in`` may be a number or a numeric string; absent, the
    expiry is unknown and a 401 triggers the refresh. The error message never quotes the body:
    it may echo a credential; the server's ``error_description`` is shown with known secrets
    redacted.
    """
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        data = None
    where = f" from {url}" if url else ""
    if not isinstance(data, dict):
        return TokenRefreshError(
            f"the token endpoint{where} answered {status_code} with a body that is not a JSON "
            "object; check the token URL",
            status_code=status_code,
            url=url,
        )
    secrets: list[str | Secret | None] = [
        data.get("access_token") if isinstance(data.get("access_token"), str) else None,
        data.get("refresh_token") if isinstance(data.get("refresh_token"), str) else None,
        previous.refresh_token if previous else None,
        previous.access_token if previous else None,
    ]
    error = data.get("error")
    if status_code >= 400 or error is not None:
        description = data.get("error_description")
        detail = f": {description}" if isinstance(description, str) and description else ""
        oauth_error = error if isinstance(error, str) else None
        return TokenRefreshError(
            redact_text(
                f"the token endpoint{where} refused the request ({status_code}, "
                f"{oauth_error or 'no error code'}){detail}",
                secrets,
            ),
            oauth_error=oauth_error,
            status_code=status_code,
            url=url,
        )
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        return TokenRefreshError(
            f"the token endpoint{where} answered {status_code} without an access_token",
            status_code=status_code,
            url=url,
        )
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return TokenRefreshError(
            f"the token endpoint{where} issued a {token_type!r} token; only Bearer tokens are "
            "supported",
            status_code=status_code,
            url=url,
        )
    expires_in = data.get("expires_in")
    expires_at: float | None = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + max(0.0, float(expires_in))
    elif isinstance(expires_in, str) and expires_in.strip().isdigit():
        expires_at = now + float(expires_in.strip())
    refresh = data.get("refresh_token")
    refresh_token = (
        Secret(refresh)
        if isinstance(refresh, str) and refresh
        else (previous.refresh_token if previous else None)
    )
    scope = data.get("scope")
    return TokenSet(
        Secret(access),
        "Bearer",
        expires_at,
        refresh_token,
        scope if isinstance(scope, str) else (previous.scope if previous else None),
    )
