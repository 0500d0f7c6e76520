"""flext-api: typed, fast, honest HTTP clients for Python.

Every call that does I/O returns a ``FlextResult`` (``Success | Failure``); errors are
``FlextApiError`` subclasses with a stable ``code``. The blocking client is
``FlextApiClient``; ``AsyncFlextApiClient`` runs on asyncio and trio.
"""

import contextlib
import inspect
import sys
from typing import TYPE_CHECKING

from flext_api._async.client import USE_CLIENT_DEFAULT, AsyncFlextApiClient
from flext_api._async.download import async_download
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
from flext_api._downloads import DownloadResult, DownloadResumeError
from flext_api._exceptions import (
    AuthError,
    CircuitOpenError,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    DecompressionBombError,
    DNSError,
    EventLoopMismatch,
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
from flext_api._resolver import ResolvedAddress, Resolver, StaticResolver, SystemResolver
from flext_api._result import Failure, FlextResult, Success, fail, ok
from flext_api._sansio.auth import ApiKeyAuth, BasicAuth, BearerAuth, OAuth2Flow, Secret
from flext_api._sansio.circuit import CircuitBreaker, CircuitStatus
from flext_api._sansio.cookies import Cookie, CookieJar
from flext_api._sansio.digest import DigestAuth
from flext_api._sansio.multipart import FormFile, json_part
from flext_api._sansio.pool_stats import OriginStats, PoolStats
from flext_api._sansio.proxy import Proxy
from flext_api._sansio.retry import RetryPolicy
from flext_api._ssl import InsecureTLSWarning
from flext_api._sync.client import FlextApiClient
from flext_api._sync.download import download
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
from flext_api.protocols import ProtocolRegistry

__version__ = "0.1.0"
"""The installed release of flext-api."""

# The server side needs the ``fastapi`` extra: its two entry points are importable from here,
# but FastAPI is imported only when one of them is first used, never by client-only code.
_SERVER_NAMES = frozenset({"FlextApiConfig", "create_fastapi_app"})

if TYPE_CHECKING:
    from flext_api.server import FlextApiConfig, create_fastapi_app


def __getattr__(name: str) -> object:
    """The server entry points, imported (with FastAPI) on first use only."""
    if name in _SERVER_NAMES:
        from flext_api import server

        return _claim(getattr(server, name))
    raise AttributeError(f"module 'flext_api' has no attribute {name!r}")


def _claim(obj: object) -> object:
    """Report ``flext_api`` as the module of a public class or function: it is where users
    import it from, so reprs, tracebacks, docs and pickles name the path that stays stable
    while the private modules behind it move."""
    if isinstance(obj, type) or inspect.isfunction(obj):
        if isinstance(obj, type):
            _pin_annotations(obj)
        obj.__module__ = __name__
    return obj


def _pin_annotations(cls: type) -> None:
    """Resolve a class's own string annotations in the module that defined it, before its
    ``__module__`` changes: ``typing.get_type_hints`` looks names up in
    ``sys.modules[cls.__module__]``, which would then be this package, where names such as
    ``ClassVar`` do not live. A name that does not resolve (a ``TYPE_CHECKING`` import) stays a
    string, as it was."""
    own = inspect.get_annotations(cls)
    if not own:
        return
    namespace = vars(sys.modules[cls.__module__])
    pinned = dict(own)
    for name, annotation in own.items():
        if isinstance(annotation, str):
            with contextlib.suppress(Exception):
                pinned[name] = eval(annotation, namespace, dict(vars(cls)))
    cls.__annotations__ = pinned


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
    "DownloadResult",
    "DownloadResumeError",
    "EventLoopMismatch",
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
    "ProtocolRegistry",
    "Proxy",
    "ResolvedAddress",
    "Resolver",
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
    "StaticResolver",
    "StreamError",
    "StreamingResponse",
    "Success",
    "SystemResolver",
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
    "async_download",
    "create_fastapi_app",
    "current_request_id",
    "download",
    "fail",
    "json_part",
    "ok",
]

for _name in __all__:
    if _name not in _SERVER_NAMES:
        _claim(globals()[_name])
del _name
