"""flext-api: typed, fast, honest HTTP clients for Python.

Every call that does I/O returns a ``FlextResult`` (``Success | Failure``); errors are
``FlextApiError`` subclasses with a stable ``code``. The blocking client is
``FlextApiClient``; ``AsyncFlextApiClient`` runs on asyncio and trio.
"""

from typing import TYPE_CHECKING

from flext_api._async.client import USE_CLIENT_DEFAULT, AsyncFlextApiClient
from flext_api._async.middleware import (
    AsyncCallNext,
    AsyncCircuitBreakerMiddleware,
    AsyncCookieMiddleware,
    AsyncErrorTransformer,
    AsyncMiddleware,
    AsyncRedirectMiddleware,
    AsyncRequestInterceptor,
    AsyncResponseProcessor,
    AsyncRetryMiddleware,
    ResponseLike,
)
from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._exceptions import (
    AuthError,
    CircuitOpenError,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    DecompressionBombError,
    DNSError,
    FlextApiError,
    HTTPStatusError,
    InvalidHeader,
    InvalidMethod,
    InvalidRedirectLocation,
    InvalidRequest,
    InvalidURL,
    LocalProtocolError,
    NetworkError,
    PoolClosed,
    PoolTimeout,
    ProtocolError,
    ProxyAuthRequired,
    ProxyError,
    ReadError,
    ReadTimeout,
    RedirectDowngrade,
    RedirectError,
    RemoteProtocolError,
    StreamError,
    TimeoutException,
    TLSError,
    TLSHandshakeError,
    TLSHostnameMismatch,
    TLSVerifyError,
    TokenRefreshError,
    TooManyRedirects,
    TransportError,
    UnsupportedScheme,
    WriteError,
    WriteTimeout,
)
from flext_api._headers import Headers
from flext_api._models import Limits, Request, Response, Timeout
from flext_api._request_context import current_request_id
from flext_api._result import Failure, FlextResult, Success, fail, ok
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, DigestAuth, OAuth2Flow, Secret
from flext_api._sansio.circuit import CircuitBreaker, CircuitStatus
from flext_api._sansio.cookies import Cookie, CookieJar
from flext_api._sansio.multipart import FormFile, json_part
from flext_api._sansio.pool_stats import OriginStats, PoolStats
from flext_api._sansio.proxy import Proxy
from flext_api._sansio.retry import RetryPolicy
from flext_api._ssl import InsecureTLSWarning
from flext_api._sync.client import FlextApiClient
from flext_api._sync.middleware import (
    CallNext,
    CircuitBreakerMiddleware,
    CookieMiddleware,
    ErrorTransformer,
    Middleware,
    RedirectMiddleware,
    RequestInterceptor,
    ResponseProcessor,
    RetryMiddleware,
)
from flext_api._sync.streaming import StreamingResponse
from flext_api._urls import URL

__version__ = "0.1.0"

# The server side needs the ``fastapi`` extra: its two entry points are importable from here,
# but FastAPI is imported only when one of them is first used, never by client-only code.
_SERVER_NAMES = frozenset({"FlextApiConfig", "create_fastapi_app"})

if TYPE_CHECKING:
    from flext_api.server import FlextApiConfig, create_fastapi_app


def __getattr__(name: str) -> object:
    if name in _SERVER_NAMES:
        from flext_api import server

        return getattr(server, name)
    raise AttributeError(f"module 'flext_api' has no attribute {name!r}")


__all__ = [
    "URL",
    "USE_CLIENT_DEFAULT",
    "__version__",
    "ApiKeyAuth",
    "AsyncCallNext",
    "AsyncCircuitBreakerMiddleware",
    "AsyncCookieMiddleware",
    "AsyncErrorTransformer",
    "AsyncFlextApiClient",
    "AsyncMiddleware",
    "AsyncRedirectMiddleware",
    "AsyncRequestInterceptor",
    "AsyncResponseProcessor",
    "AsyncRetryMiddleware",
    "AsyncStreamingResponse",
    "AuthError",
    "BasicAuth",
    "BearerAuth",
    "CallNext",
    "CircuitBreaker",
    "CircuitBreakerMiddleware",
    "CircuitOpenError",
    "CircuitStatus",
    "ConnectError",
    "ConnectTimeout",
    "Cookie",
    "CookieJar",
    "CookieMiddleware",
    "DNSError",
    "DecodingError",
    "DecompressionBombError",
    "DigestAuth",
    "ErrorTransformer",
    "Failure",
    "FlextApiClient",
    "FlextApiConfig",
    "FlextApiError",
    "FlextResult",
    "FormFile",
    "HTTPStatusError",
    "Headers",
    "InsecureTLSWarning",
    "InvalidHeader",
    "InvalidMethod",
    "InvalidRedirectLocation",
    "InvalidRequest",
    "InvalidURL",
    "Limits",
    "LocalProtocolError",
    "Middleware",
    "NetworkError",
    "OAuth2Flow",
    "OriginStats",
    "PoolClosed",
    "PoolStats",
    "PoolTimeout",
    "ProtocolError",
    "Proxy",
    "ProxyAuthRequired",
    "ProxyError",
    "ReadError",
    "ReadTimeout",
    "RedirectDowngrade",
    "RedirectError",
    "RedirectMiddleware",
    "RemoteProtocolError",
    "Request",
    "RequestInterceptor",
    "Response",
    "ResponseLike",
    "ResponseProcessor",
    "RetryMiddleware",
    "RetryPolicy",
    "Secret",
    "StreamError",
    "StreamingResponse",
    "Success",
    "TLSError",
    "TLSHandshakeError",
    "TLSHostnameMismatch",
    "TLSVerifyError",
    "Timeout",
    "TimeoutException",
    "TokenRefreshError",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedScheme",
    "WriteError",
    "WriteTimeout",
    "create_fastapi_app",
    "current_request_id",
    "fail",
    "json_part",
    "ok",
]
