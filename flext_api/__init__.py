"""flext-api: typed, fast, honest HTTP clients for Python.

Every call that does I/O returns a ``FlextResult`` (``Success | Failure``); errors are
``FlextApiError`` subclasses with a stable ``code``. The blocking client is
``FlextApiClient``; ``AsyncFlextApiClient`` runs on asyncio and trio.
"""

from flext_api._async.client import USE_CLIENT_DEFAULT, AsyncFlextApiClient
from flext_api._async.streaming import AsyncStreamingResponse
from flext_api._exceptions import (
    CircuitOpenError,
    ConnectError,
    ConnectTimeout,
    DecodingError,
    DNSError,
    FlextApiError,
    HTTPStatusError,
    InvalidHeader,
    InvalidMethod,
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
    RemoteProtocolError,
    StreamError,
    TimeoutException,
    TLSError,
    TLSHandshakeError,
    TLSHostnameMismatch,
    TLSVerifyError,
    TooManyRedirects,
    TransportError,
    UnsupportedScheme,
    WriteError,
    WriteTimeout,
)
from flext_api._headers import Headers
from flext_api._models import Limits, Request, Response, Timeout
from flext_api._result import Failure, FlextResult, Success, fail, ok
from flext_api._sansio.pool import OriginStats, PoolStats
from flext_api._sansio.proxy import Proxy
from flext_api._ssl import InsecureTLSWarning
from flext_api._sync.client import FlextApiClient
from flext_api._sync.streaming import StreamingResponse
from flext_api._urls import URL

__version__ = "0.1.0"

__all__ = [
    "URL",
    "USE_CLIENT_DEFAULT",
    "AsyncFlextApiClient",
    "AsyncStreamingResponse",
    "CircuitOpenError",
    "ConnectError",
    "ConnectTimeout",
    "DNSError",
    "DecodingError",
    "Failure",
    "FlextApiClient",
    "FlextApiError",
    "FlextResult",
    "HTTPStatusError",
    "Headers",
    "InsecureTLSWarning",
    "InvalidHeader",
    "InvalidMethod",
    "InvalidRequest",
    "InvalidURL",
    "Limits",
    "LocalProtocolError",
    "NetworkError",
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
    "RemoteProtocolError",
    "Request",
    "Response",
    "StreamError",
    "StreamingResponse",
    "Success",
    "TLSError",
    "TLSHandshakeError",
    "TLSHostnameMismatch",
    "TLSVerifyError",
    "Timeout",
    "TimeoutException",
    "TooManyRedirects",
    "TransportError",
    "UnsupportedScheme",
    "WriteError",
    "WriteTimeout",
    "__version__",
    "fail",
    "ok",
]
