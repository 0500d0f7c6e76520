"""The error tree: one root, families by what went wrong, a stable ``code`` on every class.

Every failure a ``FlextResult`` carries is an instance of :class:`FlextApiError`. The ``code``
is part of the public API (tests and dashboards match on it), so a code never changes once
released; the message may. Messages name the host and say what to do next.

Errors pickle (they cross process pools and logging queues): only plain data travels, the live
``response`` of an :class:`HTTPStatusError` is dropped on the way and comes back as ``None``.

Programming errors (a wrong argument type, an impossible combination of options) are *not* in
this tree: they raise ``TypeError``/``ValueError`` at the call, because no retry can fix them.

Errors are logged, shown and sent to dashboards, so they must never carry a secret: the password
of a URL (``http://user:pass@host/``) is replaced by ``[secure]`` in ``url`` and in the message,
here at the root, whatever layer built the error.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from flext_api._models import Response

__all__ = [
    "REDACTED",
    "AuthError",
    "CircuitOpenError",
    "ConnectError",
    "ConnectTimeout",
    "DNSError",
    "DecodingError",
    "DecompressionBombError",
    "EventLoopMismatch",
    "FlextApiError",
    "HTTPStatusError",
    "InvalidHeader",
    "InvalidMethod",
    "InvalidRedirectLocation",
    "InvalidRequest",
    "InvalidURL",
    "LocalProtocolError",
    "NetworkError",
    "PoolClosed",
    "PoolTimeout",
    "ProtocolError",
    "ProxyAuthRequired",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RedirectDowngrade",
    "RedirectError",
    "RemoteProtocolError",
    "StreamError",
    "TLSError",
    "TLSHandshakeError",
    "TLSHostnameMismatch",
    "TLSVerifyError",
    "TimeoutException",
    "TokenRefreshError",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedScheme",
    "WriteError",
    "WriteTimeout",
    "redact_url",
]

REDACTED: Final = "[secure]"
# "//user:" then the password, up to the last "@" before the path: a password may hold a raw
# "@" in text a user typed (the parsed URL writes it %40).
_URL_PASSWORD: Final = re.compile(r"(//[^/?#@:\s]*:)[^/?#\s]*@")


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``[secure]``."""
    if "@" not in text:
        return text  # the common case: no userinfo at all, nothing to scan
    return _URL_PASSWORD.sub(r"\1" + REDACTED + "@", text)


class FlextApiError(Exception):
    """Root of every error flext-api reports.

    ``code`` is stable; ``url`` names the request target when there is one. The original
    low-level exception, if any, is chained as ``__cause__``.
    """

    code: ClassVar[str] = "FLEXT_API_ERROR"

    # Set by the retry layer on the failure it gives up with (``None`` when no retry layer
    # ran): how many attempts were made, why it stopped (a ``GiveUpReason`` value such as
    # ``"retries_exhausted"`` or ``"deadline"``) and the last HTTP status seen, if any.
    attempts: int | None = None
    give_up_reason: str | None = None
    last_status: int | None = None

    def __init__(self, message: str, *, url: str | None = None) -> None:
        message = redact_url(message)
        super().__init__(message)
        self.message = message
        self.url = url

    @property
    def url(self) -> str | None:
        """The request target, its password (if any) replaced by ``[secure]``."""
        url: str | None = self.__dict__.get("_url")
        return url

    @url.setter
    def url(self, url: str | None) -> None:
        # Layers set it after construction (the client fills it in), so redact on every set.
        self.__dict__["_url"] = None if url is None else redact_url(url)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def _state(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("message", None)
        return state

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._state()))


def _rebuild(cls: type[FlextApiError], message: str, state: dict[str, Any]) -> FlextApiError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.message = message
    error.__dict__.update(state)
    return error


# --- transport: the exchange did not complete ----------------------------------------------


class TransportError(FlextApiError):
    """The request did not get a complete response (network, timeout, TLS, protocol)."""

    code = "TRANSPORT_ERROR"


class TimeoutException(TransportError):
    """A phase of the exchange took longer than its timeout (or the total budget ran out)."""

    code = "TIMEOUT"


class ConnectTimeout(TimeoutException):
    """DNS, TCP and TLS together took longer than ``Timeout.connect``."""

    code = "CONNECT_TIMEOUT"


class ReadTimeout(TimeoutException):
    """The server sent nothing for ``Timeout.read`` seconds while a response was due."""

    code = "READ_TIMEOUT"


class WriteTimeout(TimeoutException):
    """The request could not be sent within ``Timeout.write`` (the server stopped reading)."""

    code = "WRITE_TIMEOUT"


class PoolTimeout(TimeoutException):
    """No connection of the pool became free within ``Timeout.pool``; raise ``Limits``."""

    code = "POOL_TIMEOUT"


class NetworkError(TransportError):
    """The network failed under the exchange (refused, reset, unreachable)."""

    code = "NETWORK_ERROR"


class ConnectError(NetworkError):
    """The connection could not be opened (refused, unreachable); nothing was sent."""

    code = "CONNECT_ERROR"


class DNSError(ConnectError):
    """The host name did not resolve; nothing was sent."""

    code = "DNS_RESOLUTION_FAILED"


class ReadError(NetworkError):
    """Reading the response failed (the connection was reset or closed mid-response)."""

    code = "READ_ERROR"


class WriteError(NetworkError):
    """Sending the request failed (broken pipe, reset)."""

    code = "WRITE_ERROR"


class PoolClosed(TransportError):
    """The client (and so its pool) was closed before or during the request."""

    code = "POOL_CLOSED"


class TLSError(TransportError):
    """TLS failed: the secure channel to the server could not be set up or kept."""

    code = "TLS_ERROR"


class TLSVerifyError(TLSError):
    """The server's certificate chain is not trusted (unknown CA, expired, self-signed)."""

    code = "TLS_VERIFY_FAILED"


class TLSHostnameMismatch(TLSError):
    """The server's certificate is valid but names another host."""

    code = "TLS_HOSTNAME_MISMATCH"


class TLSHandshakeError(TLSError):
    """The TLS handshake failed (no common protocol or cipher, a broken peer)."""

    code = "TLS_HANDSHAKE_FAILED"


class ProxyError(TransportError):
    """The proxy refused to open a tunnel (a non-2xx answer to ``CONNECT``) or broke the
    exchange. ``proxy`` is the proxy URL without credentials; ``status_code`` the proxy's
    answer when it sent one."""

    code = "PROXY_ERROR"

    def __init__(
        self,
        message: str,
        *,
        proxy: str,
        status_code: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.proxy = proxy
        self.status_code = status_code


class ProxyAuthRequired(ProxyError):
    """The proxy answered 407: it wants (other) credentials in the proxy URL's userinfo."""

    code = "PROXY_AUTH_REQUIRED"


class ProtocolError(TransportError):
    """The exchange broke the rules of HTTP, on one side or the other."""

    code = "PROTOCOL_ERROR"


class LocalProtocolError(ProtocolError):
    """We were about to send something HTTP does not allow."""

    code = "LOCAL_PROTOCOL_ERROR"


class RemoteProtocolError(ProtocolError):
    """The server sent something HTTP does not allow (bad status line, wrong length...)."""

    code = "REMOTE_PROTOCOL_ERROR"


class StreamError(FlextApiError):
    """A streamed body was used in a way that cannot work (read twice, read after close)."""

    code = "STREAM_ERROR"


class EventLoopMismatch(FlextApiError):
    """An async client was used from an event loop other than the one it first ran on.

    Its connections belong to that loop (asyncio transports, trio sockets) and cannot serve
    another: one client per event loop (create it inside the function ``asyncio.run`` or
    ``trio.run`` runs)."""

    code = "EVENT_LOOP_MISMATCH"


class CircuitOpenError(FlextApiError):
    """The circuit breaker for this origin is open: the call failed fast without I/O."""

    code = "CIRCUIT_OPEN"


# --- the request itself is not valid ------------------------------------------------------


class InvalidRequest(FlextApiError):
    """The request cannot be sent as given; fix the call (nothing was sent)."""

    code = "INVALID_REQUEST"


class InvalidURL(InvalidRequest):
    """The URL cannot be parsed or lacks a part a request needs (scheme, host)."""

    code = "INVALID_URL"


class UnsupportedScheme(InvalidURL):
    """The URL's scheme is not http or https."""

    code = "UNSUPPORTED_SCHEME"


class InvalidHeader(InvalidRequest):
    """A header name or value cannot be sent (bad characters, bad framing)."""

    code = "HEADER_INVALID"


class InvalidMethod(InvalidRequest):
    """The method is not an HTTP token."""

    code = "METHOD_INVALID"


# --- completed exchanges that the caller asked to treat as failures -----------------------


class TooManyRedirects(FlextApiError):
    """Following redirects went past ``max_redirects``."""

    code = "TOO_MANY_REDIRECTS"


class RedirectError(FlextApiError):
    """A redirect that the client refuses to follow (the 3xx response itself is kept)."""

    code = "REDIRECT_ERROR"


class RedirectDowngrade(RedirectError):
    """An https URL redirected to http; followed only with ``allow_downgrade=True``."""

    code = "REDIRECT_DOWNGRADE"


class InvalidRedirectLocation(RedirectError):
    """The Location of a redirect is not a valid http(s) URL."""

    code = "REDIRECT_LOCATION_INVALID"


class DecodingError(FlextApiError):
    """The body could not be decoded (bad JSON, bad charset, corrupt compression)."""

    code = "DECODE_ERROR"


class DecompressionBombError(DecodingError):
    """A compressed body expanded past the configured size or ratio limit; decoding stopped
    before the output was held in memory."""

    code = "DECOMPRESSION_LIMIT"


class AuthError(FlextApiError):
    """Authentication could not be performed (an unsupported challenge, a bad token response).

    Messages never hold a credential: secrets are redacted before they reach one.
    """

    code = "AUTH_ERROR"


class TokenRefreshError(AuthError):
    """The OAuth2 token endpoint refused or garbled a token request.

    ``oauth_error`` is the endpoint's ``error`` field (``invalid_grant``...) when it sent one;
    ``status_code`` the HTTP status of the token response when known.
    """

    code = "TOKEN_REFRESH_FAILED"

    def __init__(
        self,
        message: str,
        *,
        oauth_error: str | None = None,
        status_code: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.oauth_error = oauth_error
        self.status_code = status_code


class HTTPStatusError(FlextApiError):
    """A 4xx or 5xx response, turned into a failure by ``raise_for_status()``.

    ``response`` is the full response (``None`` after unpickling).
    """

    code = "HTTP_STATUS"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        response: Response | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code
        self.response = response

    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["response"] = None
        return state
