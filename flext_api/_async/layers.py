"""The client's own middleware chain, built once from its options (auth, redirects, retries,
circuit breaker, event hooks), outermost first. The cookie jar is added innermost by the client
for each call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flext_api._async.middleware import (
    AsyncApiKeyMiddleware,
    AsyncCallNext,
    AsyncCircuitBreakerMiddleware,
    AsyncDigestAuthMiddleware,
    AsyncErrorTransformer,
    AsyncHeaderAuthMiddleware,
    AsyncMiddleware,
    AsyncOAuth2Middleware,
    AsyncRedirectMiddleware,
    AsyncRequestInterceptor,
    AsyncResponseProcessor,
    AsyncRetryMiddleware,
)
from flext_api._exceptions import FlextApiError
from flext_api._models import Response
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Flow
from flext_api._sansio.circuit import CircuitBreaker
from flext_api._sansio.digest import DigestAuth
from flext_api._sansio.retry import RetryPolicy

__all__ = ["AuthTypes", "EventHooks", "client_layers"]

AuthTypes = (
    tuple[str, str]
    | BasicAuth
    | BearerAuth
    | ApiKeyAuth
    | DigestAuth
    | OAuth2Flow
    | AsyncMiddleware
)
"""What ``auth=`` takes; a ``(username, password)`` tuple means Basic."""

EventHooks = Mapping[str, Sequence[Callable[..., object]]]
"""``{"request": [fn(request)], "response": [fn(response)], "error": [fn(error)]}``."""


def client_layers(
    middleware: Sequence[AsyncMiddleware],
    *,
    auth: AuthTypes | None,
    send: AsyncCallNext[Response],
    follow_redirects: bool,
    max_redirects: int,
    retry: RetryPolicy | None,
    circuit_breaker: CircuitBreaker | None,
    event_hooks: EventHooks | None,
) -> list[AsyncMiddleware]:
    """The client's chain, outermost first: event hooks see the call as the user made it,
    then the user's middleware, then auth, then redirects (each hop runs everything below),
    then retries around the circuit breaker (each attempt is counted by the breaker, and an
    open circuit stops the retries at once). ``send`` is the transport OAuth2 asks for tokens.
    """
    layers: list[AsyncMiddleware] = []
    if event_hooks:
        unknown = set(event_hooks) - {"request", "response", "error"}
        if unknown:
            raise ValueError(
                f"unknown event hook kinds {sorted(unknown)}; use 'request', 'response' or 'error'"
            )
        layers.extend(
            AsyncRequestInterceptor(_observer(hook)) for hook in event_hooks.get("request", ())
        )
        layers.extend(
            AsyncResponseProcessor(_observer(hook)) for hook in event_hooks.get("response", ())
        )
        layers.extend(
            AsyncErrorTransformer(_error_observer(hook)) for hook in event_hooks.get("error", ())
        )
    layers.extend(middleware)
    auth_layer = _auth_layer(auth, send)
    if auth_layer is not None:
        layers.append(auth_layer)
    if follow_redirects:
        sensitive = (
            (auth.sensitive_header,)
            if isinstance(auth, ApiKeyAuth) and auth.sensitive_header
            else ()
        )
        layers.append(
            AsyncRedirectMiddleware(max_redirects=max_redirects, sensitive_headers=sensitive)
        )
    if retry is not None:
        layers.append(AsyncRetryMiddleware(retry))
    if circuit_breaker is not None:
        layers.append(AsyncCircuitBreakerMiddleware(circuit_breaker))
    return layers


def _auth_layer(auth: AuthTypes | None, send: AsyncCallNext[Response]) -> AsyncMiddleware | None:
    if auth is None:
        return None
    if isinstance(auth, tuple):
        return AsyncHeaderAuthMiddleware(BasicAuth(*auth))
    if isinstance(auth, BasicAuth | BearerAuth):
        return AsyncHeaderAuthMiddleware(auth)
    if isinstance(auth, ApiKeyAuth):
        return AsyncApiKeyMiddleware(auth)
    if isinstance(auth, DigestAuth):
        return AsyncDigestAuthMiddleware(auth)
    if isinstance(auth, OAuth2Flow):
        return AsyncOAuth2Middleware(auth, send)
    if hasattr(auth, "handle"):
        return auth
    raise TypeError(
        "auth= takes (username, password), BasicAuth, BearerAuth, ApiKeyAuth, DigestAuth, "
        f"OAuth2Flow or a middleware, not {type(auth).__name__}"
    )


def _observer(hook: Callable[..., object]) -> Callable[[Any], None]:
    def observe(item: Any) -> None:
        hook(item)

    return observe


def _error_observer(hook: Callable[..., object]) -> Callable[[FlextApiError], FlextApiError]:
    def observe(error: FlextApiError) -> FlextApiError:
        hook(error)
        return error

    return observe
