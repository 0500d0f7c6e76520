"""flext_api.server: the FastAPI side of flext-api (async only, ASGI; the ``fastapi`` extra).

``create_fastapi_app`` composes every part below; each part is usable alone. Every middleware
here is pure ASGI: none runs the application in another task, so contextvars and background
tasks survive the whole stack. This package must never be imported by the client core (the
request-id contextvar the client reads lives in :mod:`flext_api.server.request_id`, which
imports no FastAPI).
"""

from flext_api.server.access_log import (
    AccessLineHandler,
    AccessLogMiddleware,
    configure_access_logging,
)
from flext_api.server.app import FlextFastAPI, create_fastapi_app
from flext_api.server.auth import (
    APIKeyAuth,
    Authenticator,
    JWTAuth,
    Principal,
    require_permissions,
    require_roles,
)
from flext_api.server.bookkeeping import RequestBookkeepingMiddleware
from flext_api.server.caching import ResponseCacheMiddleware, ResponseCaching, RouteCaching
from flext_api.server.config import FlextApiConfig, FlextApiConfigError
from flext_api.server.cors import CORSRejected, FlextCORSMiddleware
from flext_api.server.errors import (
    ErrorMiddleware,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestBodyTimeout,
    RequestRejected,
    Unauthorized,
    UnsupportedMediaType,
    error_response,
    install_error_handlers,
    result_response,
    send_error,
    send_failure,
    status_for_error,
)
from flext_api.server.health import (
    CheckFailed,
    ReadinessCheck,
    ReadinessChecks,
    health_router,
    redis_ping_check,
)
from flext_api.server.metrics import MetricsMiddleware, PrometheusMetrics
from flext_api.server.middleware import FlextApiMiddleware, ResponseHead
from flext_api.server.rate_limit import (
    InMemoryRateLimiter,
    RateLimitDecision,
    RateLimiter,
    RateLimiterUnavailable,
    RateLimitMiddleware,
    RedisRateLimiter,
    client_address,
)
from flext_api.server.request_id import (
    RequestIdLogFilter,
    RequestIdMiddleware,
    current_request_id,
    request_id_var,
)
from flext_api.server.security import RequestBodyGuardMiddleware, SecurityHeadersMiddleware
from flext_api.server.sse import EventSource
from flext_api.server.timing import TimingMiddleware

__all__ = [
    "APIKeyAuth",
    "AccessLineHandler",
    "AccessLogMiddleware",
    "Authenticator",
    "CORSRejected",
    "CheckFailed",
    "ErrorMiddleware",
    "EventSource",
    "FlextApiConfig",
    "FlextApiConfigError",
    "FlextApiMiddleware",
    "FlextCORSMiddleware",
    "FlextFastAPI",
    "Forbidden",
    "InMemoryRateLimiter",
    "JWTAuth",
    "MetricsMiddleware",
    "NotFound",
    "PayloadTooLarge",
    "Principal",
    "PrometheusMetrics",
    "RateLimitDecision",
    "RateLimitMiddleware",
    "RateLimited",
    "RateLimiter",
    "RateLimiterUnavailable",
    "ReadinessCheck",
    "ReadinessChecks",
    "RedisRateLimiter",
    "RequestBodyGuardMiddleware",
    "RequestBodyTimeout",
    "RequestBookkeepingMiddleware",
    "RequestIdLogFilter",
    "RequestIdMiddleware",
    "RequestRejected",
    "ResponseCacheMiddleware",
    "ResponseCaching",
    "ResponseHead",
    "RouteCaching",
    "SecurityHeadersMiddleware",
    "TimingMiddleware",
    "Unauthorized",
    "UnsupportedMediaType",
    "client_address",
    "configure_access_logging",
    "create_fastapi_app",
    "current_request_id",
    "error_response",
    "health_router",
    "install_error_handlers",
    "redis_ping_check",
    "request_id_var",
    "require_permissions",
    "require_roles",
    "result_response",
    "send_error",
    "send_failure",
    "status_for_error",
]
