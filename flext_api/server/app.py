"""create_fastapi_app: a FastAPI application with the whole server stack composed in order.

Outermost first, every layer pure ASGI: request id, timing, access log, metrics and security
headers (one :class:`RequestBookkeepingMiddleware`), CORS, errors (folded into the first layer
when there is no CORS), rate limit, body guard; then the middleware the user adds with
``app.add_middleware`` (so it runs with the request id set and its failures are logged,
timed and counted), then FastAPI's own exception handlers and the router.

This module must never configure anything the config does not ask for, and never add a
``BaseHTTPMiddleware`` (it runs the app in another task, breaking contextvars and
background tasks).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from flext_api.server.access_log import configure_access_logging
from flext_api.server.bookkeeping import RequestBookkeepingMiddleware
from flext_api.server.caching import ResponseCacheMiddleware, ResponseCaching
from flext_api.server.config import FlextApiConfig, FlextApiConfigError
from flext_api.server.cors import FlextCORSMiddleware
from flext_api.server.errors import ErrorMiddleware, install_error_handlers
from flext_api.server.health import ReadinessChecks, add_health_routes, redis_ping_check
from flext_api.server.metrics import PrometheusMetrics
from flext_api.server.rate_limit import (
    InMemoryRateLimiter,
    RateLimiter,
    RateLimitMiddleware,
    RedisRateLimiter,
)
from flext_api.server.security import DOCS_CSP, RequestBodyGuardMiddleware
from flext_api.server.shutdown import DrainOnSigterm

if TYPE_CHECKING:
    from flext_api.server.telemetry import ServerTelemetry

__all__ = ["FlextFastAPI", "create_fastapi_app"]


class FlextFastAPI(FastAPI):
    """FastAPI that keeps the server stack outside the user's middleware.

    ``app.add_middleware`` inserts at the outside of the stack; this class builds the stack
    with ``server_middleware`` first, so user middleware runs inside it.
    """

    server_middleware: list[Middleware]

    def build_middleware_stack(self) -> ASGIApp:
        user_middleware = self.user_middleware
        self.user_middleware = [*self.server_middleware, *user_middleware]
        try:
            return super().build_middleware_stack()
        finally:
            self.user_middleware = user_middleware


def create_fastapi_app(
    config: FlextApiConfig | None = None,
    *,
    readiness: ReadinessChecks | None = None,
    rate_limiter: RateLimiter | None = None,
    caching: ResponseCaching | None = None,
    telemetry: ServerTelemetry | None = None,
    **overrides: Any,
) -> FastAPI:
    """Build the application.

    ``config=None`` reads ``FLEXT_API_*`` variables (:meth:`FlextApiConfig.from_env`);
    ``overrides`` win over both the config and the environment. ``readiness`` holds the
    checks ``/ready`` runs (a Redis ping is added when ``redis_url`` is set).
    ``rate_limiter`` replaces the limiter the config would build. ``caching`` turns on
    conditional GET (ETags, 304) and the response cache for GET routes
    (:class:`flext_api.server.ResponseCaching`); the app closes its cache at shutdown.
    ``telemetry`` (or ``otel=True`` in the config, with the global providers) adds
    OpenTelemetry server spans and metrics (:mod:`flext_api.server.telemetry`).
    """
    if config is None:
        config = FlextApiConfig.from_env(**overrides)
    elif overrides:
        config = config.replace(**overrides)
    checks = ReadinessChecks(config.ready_timeout_seconds) if readiness is None else readiness
    closers: list[Any] = []

    if rate_limiter is None and config.rate_limit is not None:
        if config.redis_url is not None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # One attempt per call, each socket wait bounded: a retry would multiply what a
            # hanging Redis costs every request.
            client = Redis.from_url(
                config.redis_url,
                socket_connect_timeout=config.redis_connect_timeout_seconds,
                socket_timeout=config.redis_timeout_seconds,
                retry=Retry(NoBackoff(), 0),
            )
            closers.append(client)
            checks.add("redis", redis_ping_check(client))
            rate_limiter = RedisRateLimiter(
                client,
                config.rate_limit,
                config.rate_limit_window_seconds,
                timeout=config.redis_connect_timeout_seconds + config.redis_timeout_seconds,
            )
        else:
            rate_limiter = InMemoryRateLimiter(config.rate_limit, config.rate_limit_window_seconds)

    drain = DrainOnSigterm(checks, config.shutdown_drain_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        drain.install()
        try:
            yield
        finally:
            drain.uninstall()
            for client in closers:
                await client.aclose()
            if caching is not None and caching.cache is not None:
                # Its connections belong to this event loop: close them before it ends.
                caching.cache.close()

    docs = config.docs_enabled
    app = FlextFastAPI(
        title=config.title,
        version=config.version,
        description=config.description,
        docs_url=config.docs_url if docs else None,
        redoc_url=config.redoc_url if docs else None,
        openapi_url=config.openapi_url if docs else None,
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.readiness = checks
    install_error_handlers(app)

    metrics = PrometheusMetrics() if config.metrics else None
    app.state.metrics = metrics
    add_health_routes(
        app.router,
        checks,
        metrics,
        health_path=config.health_path,
        ready_path=config.ready_path,
        metrics_path=config.metrics_path,
    )

    if config.access_log:
        configure_access_logging()
    docs_paths = [config.docs_url, config.redoc_url] if docs else []
    # One layer for request id, timing, access log, metrics and security headers: the same
    # behaviour as the separate middleware in that order, at a fraction of the cost.
    stack: list[Middleware] = [
        Middleware(
            RequestBookkeepingMiddleware,
            header_name=config.request_id_header,
            slow_threshold_ms=config.slow_request_ms,
            access_log=config.access_log,
            access_log_skip_paths=config.access_log_skip_paths,
            metrics=metrics,
            content_security_policy=config.content_security_policy,
            path_csp={path: DOCS_CSP for path in docs_paths if path},
            hsts_max_age=config.hsts_max_age,
            frame_options=config.frame_options.upper(),
            referrer_policy=config.referrer_policy,
            # Without CORS in between, the error layer would sit right inside: fold it in.
            handle_errors=not config.cors_origins,
        )
    ]
    if telemetry is not None or config.otel:
        # Right inside the request-id layer: the span gets the id, and sees the final status
        # of everything below it.
        stack.append(_telemetry_layer(telemetry))
    if config.cors_origins:
        stack.append(
            Middleware(
                FlextCORSMiddleware,
                allow_origins=config.cors_origins,
                allow_credentials=config.cors_allow_credentials,
                allow_methods=config.cors_allow_methods,
                allow_headers=config.cors_allow_headers,
                expose_headers=(config.request_id_header, "X-Response-Time", "Retry-After"),
            )
        )
        stack.append(Middleware(ErrorMiddleware))
    if rate_limiter is not None:
        stack.append(
            Middleware(
                RateLimitMiddleware,
                limiter=rate_limiter,
                exempt_paths=(config.health_path, config.ready_path, config.metrics_path),
                fail_open=config.rate_limit_fail_open,
            )
        )
    stack.append(
        Middleware(
            RequestBodyGuardMiddleware,
            max_body_bytes=config.max_body_bytes,
            body_timeout=config.body_timeout_seconds,
            allowed_content_types=config.allowed_content_types,
        )
    )
    if caching is not None:
        # Innermost: a 304 or a cached response still gets the request id, metrics and
        # security headers, and a rate-limited client is refused before the cache is read.
        stack.append(Middleware(ResponseCacheMiddleware, caching=caching))
    app.server_middleware = stack
    return app


def _telemetry_layer(telemetry: ServerTelemetry | None) -> Middleware:
    try:
        from flext_api.server.telemetry import OpenTelemetryASGIMiddleware
    except ImportError as exc:
        raise FlextApiConfigError(
            "otel", "needs OpenTelemetry: pip install 'flext-api[otel]'"
        ) from exc
    return Middleware(OpenTelemetryASGIMiddleware, telemetry=telemetry)
